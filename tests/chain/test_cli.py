"""``tuanchain deploy`` and ``tuanchain node`` through typer's CliRunner, against real anvil nodes.

``deploy`` runs against the session's anvil (inside the per-test snapshot, so what it deploys is
rolled back) with its own deployments directory; ``node`` starts its own anvil on a free port
from a worker thread, and is stopped the way Ctrl-C stops it (the stop flag its SIGINT handler
sets); one test sends a real SIGINT to a ``tuanchain node`` subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import httpx
import pytest
from typer.testing import CliRunner, Result
from web3 import Web3

from chain import cli as chain_cli
from chain.anvil import Anvil, free_port, pid_alive
from chain.artifacts import REPO_ROOT
from tuanchain_cli import app

CONTRACTS = {
    "GroupBuyEscrow",
    "GroupBuyDeals",
    "GroupBuyLastMile",
    "ProvenanceRegistry",
    "TestStablecoin",
    "PermitBatcher",
    "TuanchainForwarder",
    "EntryPoint",
    "PasskeyAccountFactory",
    "ConsumerPaymaster",
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _rpc(url: str, method: str, params: list[object] | None = None) -> object:
    response = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=5
    )
    return response.json()["result"]


# ---------------------------------------------------------------------- deploy


def _deploy(runner: CliRunner, rpc_url: str, deployments: Path, *args: str) -> Result:
    env = {"TUANCHAIN_RPC_URL": rpc_url, "TUANCHAIN_DEPLOYMENTS_DIR": str(deployments)}
    return runner.invoke(app, ["deploy", *args], env=env)


def test_deploy_writes_the_manifest_then_reuses_it(
    runner: CliRunner, anvil_node: Anvil, w3: Web3, tmp_path: Path
) -> None:
    first = _deploy(runner, anvil_node.rpc_url, tmp_path)
    assert first.exit_code == 0, first.output
    manifest = tmp_path / "31337.json"
    assert f"manifest: {manifest}" in first.output
    recorded = json.loads(manifest.read_text())["contracts"]
    assert set(recorded) == CONTRACTS
    for name, entry in recorded.items():
        assert entry["address"] in first.output  # every address is printed
        assert bytes(w3.eth.get_code(entry["address"])), name  # and holds code

    second = _deploy(runner, anvil_node.rpc_url, tmp_path, "--json")
    assert second.exit_code == 0, second.output
    printed = json.loads(second.output)
    assert printed["manifest"] == str(manifest)
    assert {n: c["address"] for n, c in printed["contracts"].items()} == {
        n: c["address"] for n, c in recorded.items()
    }
    third = _deploy(runner, anvil_node.rpc_url, tmp_path)
    assert "deployed: nothing (every contract reused)" in third.output


def test_deploy_exits_1_with_one_line_when_the_node_is_down(
    runner: CliRunner, tmp_path: Path, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = _deploy(runner, url, tmp_path)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: no Ethereum JSON-RPC node answers at " + url)
    assert "Traceback" not in result.output
    assert not (tmp_path / "31337.json").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "06901234500011", "R2025-10A"],
        ["keeper", "--once"],
        ["seed"],
        ["index", "--once"],
    ],
    ids=lambda args: args[0],
)
def test_commands_that_ask_the_chain_say_in_one_line_that_no_node_answers(
    runner: CliRunner, tmp_path: Path, closed_port: int, args: list[str]
) -> None:
    """Found in the operations review: with the node down, ``deploy`` said what to do, but
    ``verify``, ``keeper``, ``seed`` and ``index`` printed the HTTP client's text about the
    refused connection (a 300-character ``HTTPConnectionPool(...)``) and no way out."""
    url = f"http://127.0.0.1:{closed_port}"
    env = {
        "TUANCHAIN_RPC_URL": url,
        "TUANCHAIN_DATA_DIR": str(tmp_path),
        "TUANCHAIN_DATABASE_URL": f"sqlite:///{tmp_path}/index.db",
        "TUANCHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
    }
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    said = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(said) == 1, result.output
    assert f"no Ethereum JSON-RPC node answers at {url} " in said[0]
    assert said[0].endswith("start one with `tuanchain node` or set TUANCHAIN_RPC_URL")


@pytest.mark.parametrize("args", [["serve", "--port", "0"], ["worker"]], ids=lambda a: a[0])
def test_service_commands_say_in_one_line_that_the_database_does_not_answer(
    runner: CliRunner, tmp_path: Path, closed_port: int, args: list[str]
) -> None:
    """Found in the operations review: ``serve``, ``worker``, ``run``, ``keeper`` and ``seed``
    with the database unreachable ended in a 150-line traceback of the driver's connect."""
    env = {
        "TUANCHAIN_RPC_URL": f"http://127.0.0.1:{closed_port}",
        "TUANCHAIN_DATA_DIR": str(tmp_path),
        "TUANCHAIN_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x",
        "TUANCHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
    }
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # said, not raised
    said = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(said) == 1, result.output
    assert said[0].startswith("error: the database (TUANCHAIN_DATABASE_URL): ")
    assert "Connection refused" in said[0] or "connection failed" in said[0]


def test_deploy_exits_1_on_a_chain_id_mismatch(
    runner: CliRunner, anvil_node: Anvil, tmp_path: Path
) -> None:
    result = _deploy(runner, anvil_node.rpc_url, tmp_path, "--chain-id", "1337")
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "31337" in result.output


# ---------------------------------------------------------------------- node


class NodeRun:
    """``tuanchain node`` invoked by CliRunner in a worker thread."""

    def __init__(self, runner: CliRunner, port: int, state: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.result: Result | None = None
        args = ["node", "--port", str(port), "--state", str(state)]
        self.thread = threading.Thread(target=self._run, args=(runner, args), daemon=True)

    def _run(self, runner: CliRunner, args: list[str]) -> None:
        self.result = runner.invoke(app, args)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def wait_ready(self) -> None:
        for _ in range(600):  # polls for readiness only; nothing asserts on elapsed time
            if not self.thread.is_alive():
                break
            try:
                _rpc(self.url, "eth_chainId")
                return
            except (httpx.HTTPError, KeyError):
                threading.Event().wait(0.05)
        raise AssertionError(f"node did not start: {self.result.output if self.result else ''}")

    def stop(self) -> Result:
        chain_cli.request_stop()
        self.thread.join(60)
        assert self.result is not None
        return self.result

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.stop()


@pytest.fixture
def node_port() -> Iterator[int]:
    yield free_port()


def _pid_from(output: str) -> int:
    for token in output.replace(")", " ").split():
        if token.isdigit() and f"pid {token}" in output:
            return int(token)
    raise AssertionError(f"no pid in {output!r}")


def test_node_keeps_its_chain_across_restarts(
    runner: CliRunner, node_port: int, tmp_path: Path
) -> None:
    state = tmp_path / "anvil-state.json"
    with NodeRun(runner, node_port, state) as run:
        run.wait_ready()
        assert int(str(_rpc(run.url, "eth_chainId")), 16) == 31337
        _rpc(run.url, "anvil_mine", ["0x7"])
        result = run.stop()
    assert result.exit_code == 0, result.output
    assert "anvil stopped; state saved to" in result.output
    assert state.is_file()
    assert not pid_alive(_pid_from(result.output))  # stopped by PID, nothing left behind

    with NodeRun(runner, node_port, state) as again:
        again.wait_ready()
        assert int(str(_rpc(again.url, "eth_blockNumber")), 16) >= 7  # the state was loaded
        assert again.stop().exit_code == 0


def test_node_exits_1_when_the_port_is_taken(
    runner: CliRunner, anvil_node: Anvil, tmp_path: Path
) -> None:
    result = runner.invoke(
        app, ["node", "--port", str(anvil_node.port), "--state", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: port")
    assert "Traceback" not in result.output


def test_node_stops_cleanly_on_a_real_sigint(node_port: int, tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to ``tuanchain node``; anvil saves its state."""
    state = tmp_path / "anvil-state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "tuanchain_cli.py"),
            "node",
            "--port",
            str(node_port),
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # "anvil listening on ... pid N)" once it answers
        assert first.startswith("anvil listening on"), first
        anvil_pid = _pid_from(first)
        _rpc(f"http://127.0.0.1:{node_port}", "anvil_mine", ["0x3"])
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "anvil stopped" in output
    assert not pid_alive(anvil_pid)
    assert state.is_file() and json.loads(state.read_text())  # a real anvil state dump
