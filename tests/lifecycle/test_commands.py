"""``tuanchain node``, ``keeper``, ``index`` and ``serve``: each stops on a real signal, exit 0.

On a copy of the seeded demo: ``node`` runs the chain; the keeper, the indexer and the server run
against it one after another (two keepers with one key would race for its nonces), each stopped
by a different signal; the server in the middle of a burst of relayed joins, its accepted
requests left in the outbox. Last, ``node`` itself: anvil gone (PID and port), state saved.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx

from api.demo import catalog
from chain.anvil import pid_alive, port_is_free

from .burst import burst, consumers
from .conftest import DemoHome, connect_to, outbox, saved_chain
from .processes import STOP_GUARD_SECONDS, Command, Home, anvil_pid, assert_anvil_gone, wait_until


class NoticeStream:
    """A page's notice stream (server-sent events) held open in a thread while the server runs."""

    def __init__(self, api_url: str, address: str) -> None:
        self.url = f"{api_url}/v1/notices/{address}/stream"
        self.opened = threading.Event()
        self.result: str | None = None
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        assert self.opened.wait(STOP_GUARD_SECONDS), self.result

    def _listen(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=STOP_GUARD_SECONDS) as response:
                for line in response.iter_lines():
                    if line.startswith("retry:"):
                        self.opened.set()
            self.result = "ended"
        except httpx.HTTPError as exc:
            self.result = f"{type(exc).__name__}: {exc}"
        finally:
            self.opened.set()

    def outcome(self) -> str | None:
        self.thread.join(STOP_GUARD_SECONDS)
        return self.result


def test_node_keeper_index_and_serve_stop_cleanly(demo_home: DemoHome, tmp_path: Path) -> None:
    home = demo_home.copy(tmp_path / "home")
    _, last_before, _ = saved_chain(home)
    node = Command(home, ["node"], tmp_path / "node.log")
    others: list[Command] = []
    try:
        node.wait_for(r"anvil listening on .*pid \d+")
        pid = anvil_pid(node.output)

        keeper = Command(home, ["keeper", "--interval", "0.5"], tmp_path / "keeper.log")
        others.append(keeper)
        keeper.wait_for("keeper running")
        assert keeper.stop(signal.SIGTERM) == 0, keeper.output[-3000:]
        assert "stopped cleanly (SIGTERM)" in keeper.output

        index = Command(
            home,
            ["index", "--poll", "0.2"],
            tmp_path / "index.log",
            TUANCHAIN_DATABASE_URL="sqlite:///" + str(tmp_path / "own-index.db"),
        )
        others.append(index)
        index.wait_for(r"indexed up to block \d+")
        assert index.stop(signal.SIGINT, group=True) == 0, index.output[-3000:]
        assert "stopped cleanly (SIGINT)" in index.output

        serve = Command(home, ["serve", "--port", str(home.api_port)], tmp_path / "serve.log")
        others.append(serve)
        serve.wait_for("Uvicorn running")
        stream = NoticeStream(home.api_url, catalog.CONSUMERS[0].address)
        accounts = consumers(connect_to(home), 6)
        result = burst(
            home.api_url,
            accounts,
            deal_id=demo_home.deals["rice_open"],
            leader=catalog.LEADERS[2].address,
            on_first_accepted=lambda: serve.signal(signal.SIGHUP),  # the terminal was closed
        )
        assert serve.process.wait(timeout=STOP_GUARD_SECONDS) == 0, serve.output[-3000:]
        assert "stopped cleanly (SIGHUP)" in serve.output
        # An open notice stream was ended by the shutdown itself (a complete response), not
        # cut when the connections' grace period ran out.
        assert stream.outcome() == "ended", stream.outcome()
        assert result.ids, result.refused
        stored = outbox(home)
        assert {stored.get(i) for i in result.ids} <= {"queued", "sending", "sent", "mined"}

        assert node.stop(signal.SIGTERM) == 0, node.output[-3000:]
        assert "anvil stopped; state saved" in node.output
    finally:
        for command in (*others, node):
            command.kill()
    assert_anvil_gone(pid, home.rpc_port)
    assert saved_chain(home)[1] > last_before  # saved on exit, with what happened meanwhile


def test_a_node_killed_outright_still_stops_its_anvil(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: Linux's parent-death signal sends anvil SIGTERM, so it saves
    its state and exits rather than run on, orphaned, holding the port."""
    home = Home(tmp_path / "home")
    home.root.mkdir()
    node = Command(home, ["node"], tmp_path / "node.log")
    try:
        node.wait_for(r"anvil listening on .*pid \d+")
        pid = anvil_pid(node.output)
        httpx.post(
            home.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": ["0x5"]},
            timeout=30,
        )
        node.signal(signal.SIGKILL)
        assert node.process.wait(timeout=STOP_GUARD_SECONDS) == -signal.SIGKILL
        wait_until(
            lambda: not pid_alive(pid) and port_is_free(home.rpc_port),
            guard=STOP_GUARD_SECONDS,
            what="anvil to stop after its parent died",
        )
    finally:
        node.kill()
    assert saved_chain(home)[1] >= 5


def test_http_only_serve_beside_one_worker_on_sqlite(demo_home: DemoHome, tmp_path: Path) -> None:
    """The rush's split (docs/relayer-rush.md): ``serve --no-background`` accepts, one ``worker``
    relays, on one SQLite file. A second process wanting the background roles there is refused
    (exit 1, saying what to do): two relay workers on one file could send a request twice."""
    home = demo_home.copy(tmp_path / "home")
    node = Command(home, ["node"], tmp_path / "node.log")
    others: list[Command] = []
    try:
        node.wait_for(r"anvil listening on .*pid \d+")
        worker = Command(home, ["worker"], tmp_path / "worker.log")
        others.append(worker)
        worker.wait_for("worker running")

        refused_ones = [
            Command(home, args, tmp_path / f"refused-{args[0]}.log")
            for args in (["worker"], ["serve", "--port", str(home.api_port)])
        ]
        others += refused_ones
        for refused in refused_ones:
            assert refused.process.wait(timeout=STOP_GUARD_SECONDS) == 1, refused.output[-3000:]
            assert f"another process (pid {worker.process.pid}) runs the background roles" in (
                refused.output
            )
            assert "--no-background" in refused.output

        http = Command(
            home, ["serve", "--no-background", "--port", str(home.api_port)], tmp_path / "http.log"
        )
        others.append(http)
        http.wait_for("Uvicorn running")
        assert "background roles off" in http.output
        result = burst(
            home.api_url,
            consumers(connect_to(home), 3),
            deal_id=demo_home.deals["rice_open"],
            leader=catalog.LEADERS[2].address,
            joins_each=1,
        )
        assert len(result.ids) == 3, result.refused
        # Accepted by the HTTP process, mined by the worker.
        wait_until(
            lambda: {outbox(home).get(i) for i in result.ids} == {"mined"},
            guard=STOP_GUARD_SECONDS,
            what="the worker to mine the joins the HTTP process accepted",
        )
        for command in (http, worker):
            assert command.stop(signal.SIGTERM) == 0, command.output[-3000:]
    finally:
        for command in (*others, node):
            command.kill()
