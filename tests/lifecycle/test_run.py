"""``tuanchain run`` stopped by a real signal in the middle of a burst of relayed joins, twice.

The seeded demo chain (its own ``run`` was the first life) is restarted twice:

1. ``run``, on the folder as older code left it (a stray genesis in anvil's saved state, an index
   recording no chain): the chain, contracts and demo are reused as they were, the index is
   rebuilt (and verifies the rice trail). A burst of relayed joins, and
   SIGTERM as soon as the first join is accepted, while the others are in flight. Exit code 0,
   anvil gone (its PID and its port), its state saved, and every request the API accepted in the
   outbox, none failed (parked, not lost).
2. ``run`` again: chain time resumes after the last block (never earlier), the genesis is the
   same, every demo deal is in the state it was seeded in (the failed deal refuses a new order),
   the parked requests are all mined, and each consumer's order is exactly what was accepted
   (nothing lost, nothing twice). Another burst, and Ctrl-C (SIGINT to the process group, as a
   terminal sends it) in the middle of it: the same clean stop.
"""

from __future__ import annotations

import copy
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from api.demo import catalog
from chain.context import Chain

from .burst import burst, consumers
from .conftest import DemoHome, connect_to, outbox, saved_chain, statuses
from .processes import STOP_GUARD_SECONDS, Command, Home, anvil_pid, assert_anvil_gone, wait_until

PENDING_OR_MINED = {"queued", "sending", "sent", "mined"}


def check_the_chain_came_back(home: Home, demo: DemoHome, saved: tuple[str, int, int]) -> Chain:
    genesis, last_number, last_time = saved
    chain = connect_to(home)
    assert chain.w3.eth.get_block(0)["hash"].to_0x_hex() == genesis
    first_after = chain.w3.eth.get_block(last_number + 1)
    assert first_after["timestamp"] >= last_time + 1, "chain time ran backwards on restart"
    assert statuses(chain, demo.deals) == demo.statuses
    return chain


def refuses_a_join(home: Home, deal_id: int) -> dict[str, Any]:
    """A fresh consumer's join of the failed deal: the contract's checks run at prepare."""
    response = httpx.post(
        f"{home.api_url}/v1/actions/join/prepare",
        json={
            "from": "0x000000000000000000000000000000000000dEaD",
            "deal_id": deal_id,
            "quantity": 1,
            "leader": catalog.LEADERS[1].address,
        },
        timeout=60,
    )
    assert response.status_code == 409, response.text
    return response.json()


def start(home: Home, log: Path) -> Command:
    run = Command(home, ["run", "--port", str(home.api_port)], log)
    run.wait_for(r"Uvicorn running")
    return run


def test_run_stops_cleanly_under_load_and_comes_back_as_it_was(
    demo_home: DemoHome, tmp_path: Path
) -> None:
    home = demo_home.copy(tmp_path / "home")
    rice_open = demo_home.deals["rice_open"]

    # -- first restart, of a folder as older code left it; a burst, and SIGTERM (what systemd and
    # docker send) while it is in flight
    saved = saved_chain(home)
    as_older_code_left_it(home)
    run = start(home, tmp_path / "run-1.log")
    try:
        assert "reusing GroupBuyEscrow" in run.output  # the chain was kept: nothing redeployed
        assert "seed: 0 transactions, 0 time jumps" in run.output  # nor seeded again
        assert "(an index written by older code); the index is rebuilt" in run.output
        pid = anvil_pid(run.output)
        chain = check_the_chain_came_back(home, demo_home, saved)
        refuses_a_join(home, demo_home.deals["pork_failed"])
        proof = httpx.get(
            f"{home.api_url}/v1/batches/{catalog.RICE.gtin14}/{catalog.RICE.lot}", timeout=30
        )
        assert proof.json()["verification"]["status"] == "verified"
        first = burst(
            home.api_url,
            consumers(chain, 8),
            deal_id=rice_open,
            leader=catalog.LEADERS[0].address,
            joins_each=2,
            on_first_accepted=lambda: run.signal(signal.SIGTERM),
        )
        code = run.process.wait(timeout=STOP_GUARD_SECONDS)
    finally:
        run.kill()
    assert code == 0, run.output[-4000:]
    assert "stopped cleanly (SIGTERM)" in run.output
    assert "anvil stopped (state saved)" in run.output
    assert_anvil_gone(pid, home.rpc_port)
    assert first.ids, first.refused
    parked_intact(home, first.ids)

    # -- second restart: same chain, parked requests sent once each; then Ctrl-C under load
    saved = saved_chain(home)
    run = start(home, tmp_path / "run-2.log")
    try:
        pid = anvil_pid(run.output)
        chain = check_the_chain_came_back(home, demo_home, saved)
        refuses_a_join(home, demo_home.deals["pork_failed"])

        def all_mined() -> bool:
            states = {
                httpx.get(f"{home.api_url}/v1/relay/{i}", timeout=30).json()["status"]
                for i in first.ids
            }
            assert "failed" not in states, states
            return states == {"mined"}

        wait_until(all_mined, guard=STOP_GUARD_SECONDS, what="the parked requests to be mined")
        escrow = chain.clients.escrow
        for address, ids in first.accepted.items():
            assert escrow.order(rice_open, address).quantity == len(ids), address
        second = burst(
            home.api_url,
            consumers(chain, 8),
            deal_id=rice_open,
            leader=catalog.LEADERS[1].address,
            joins_each=2,
            on_first_accepted=lambda: run.signal(signal.SIGINT, group=True),  # a terminal's Ctrl-C
        )
        code = run.process.wait(timeout=STOP_GUARD_SECONDS)
    finally:
        run.kill()
    assert code == 0, run.output[-4000:]
    assert "stopped cleanly (SIGINT)" in run.output
    assert_anvil_gone(pid, home.rpc_port)
    assert second.ids, second.refused
    parked_intact(home, second.ids)
    saved_chain(home)  # saved, loadable, one genesis


def as_older_code_left_it(home: Home) -> None:
    """A stray genesis in the saved chain (what anvil adds at each start, and may reload: the
    issue's "new genesis" after a restart) and an index that records no chain (older code)."""
    state = json.loads(home.state_file.read_text())
    [genesis] = [b for b in state["blocks"] if int(b["header"]["number"], 16) == 0]
    stray = copy.deepcopy(genesis)
    stray["header"]["timestamp"] = hex(int(genesis["header"]["timestamp"], 16) + 3600)
    state["blocks"].append(stray)
    home.state_file.write_text(json.dumps(state))
    with sqlite3.connect(home.database) as db:
        db.execute("DELETE FROM chain_binding")


def parked_intact(home: Home, ids: list[str]) -> None:
    """Every accepted request is in the outbox, waiting or mined: none lost, none failed."""
    stored = outbox(home)
    lost_or_failed = {i: stored.get(i) for i in ids if stored.get(i) not in PENDING_OR_MINED}
    assert not lost_or_failed, "accepted requests lost or failed"
