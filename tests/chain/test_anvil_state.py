"""A saved anvil chain comes back as the same chain: its genesis, and a clock that never runs back.

What anvil 1.7 does by itself (measured, see chain.anvil_state): each start adds a genesis block
stamped with the current time to the state it dumps next, and a later reload may pick it, so the
chain's genesis hash changes; and the clock restarts from the wall clock, so the first block after
a restart can be hours older than the last one (after the demo's ``evm_increaseTime``).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.anvil import Anvil, anvil_binary, free_port, port_is_free
from chain.anvil_state import AnvilStateError, header_hash


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    body = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10
    ).json()
    return body["result"]


def block(url: str, number: int | str) -> dict[str, Any]:
    tag = hex(number) if isinstance(number, int) else number
    return rpc(url, "eth_getBlockByNumber", [tag, False])


def geneses(state: Path) -> list[dict[str, Any]]:
    blocks = json.loads(state.read_text())["blocks"]
    return [b for b in blocks if int(b["header"]["number"], 16) == 0]


def test_genesis_and_clock_survive_two_restarts_after_a_time_jump(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Anvil(state_path=state) as node:
        genesis = block(node.rpc_url, 0)["hash"]
        rpc(node.rpc_url, "anvil_mine", ["0x3"])
        rpc(node.rpc_url, "evm_increaseTime", [10_847])  # the demo's jumps, about 3 hours
        rpc(node.rpc_url, "evm_mine")
        last = block(node.rpc_url, "latest")
    for _restart in range(2):
        with Anvil(state_path=state) as node:
            assert block(node.rpc_url, 0)["hash"] == genesis
            first = block(node.rpc_url, int(last["number"], 16) + 1)
            assert int(first["timestamp"], 16) >= int(last["timestamp"], 16) + 1
            rpc(node.rpc_url, "evm_mine")  # and the clock keeps going forward from there
            latest = block(node.rpc_url, "latest")
            assert int(latest["timestamp"], 16) >= int(first["timestamp"], 16)
            last = latest
        assert len(geneses(state)) == 1


def test_a_state_with_stray_geneses_loads_with_the_real_one(tmp_path: Path) -> None:
    """A state file as older code left it: anvil alone, restarted with another genesis time."""
    state = tmp_path / "state.json"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    real = None
    for genesis_time in (1_700_000_000, 1_700_000_500):  # two starts, two distinct geneses
        process = subprocess.Popen(
            [str(anvil_binary()), "--port", str(port), "--state", str(state)]
            + ["--timestamp", str(genesis_time)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30  # a guard; the loop waits for the node to answer
            while True:
                try:
                    genesis = block(url, 0)["hash"]
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline and process.poll() is None
                    time.sleep(0.05)
            real = real or genesis  # the first start's: block 1 is mined on it
            rpc(url, "evm_mine")
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert len(geneses(state)) == 2  # the defect this works around
    with Anvil(state_path=state, port=port) as node:
        assert block(node.rpc_url, 0)["hash"] == real
        assert block(node.rpc_url, 1)["parentHash"] == real
    assert len(geneses(state)) == 1
    assert port_is_free(port)


def test_header_hash_is_the_nodes_block_hash(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Anvil(state_path=state) as node:
        rpc(node.rpc_url, "anvil_mine", ["0x2"])
        hashes = {n: block(node.rpc_url, n)["hash"] for n in range(3)}
    blocks = json.loads(state.read_text())["blocks"]
    assert {int(b["header"]["number"], 16): header_hash(b["header"]) for b in blocks} == hashes


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b'{"blocks": [{"header": 3}]}',
        b'{"blocks": [{"header": {"number": "0x0"}}]}',
    ],
)
def test_an_unreadable_state_is_refused_with_what_to_do(tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    node = Anvil(state_path=state, fresh_hint="tuanchain run --fresh")
    with pytest.raises(AnvilStateError, match=r"unreadable .*`tuanchain run --fresh`"):
        node.start()
    assert node.process is None
    assert state.read_bytes() == content  # left as it was, for the user to inspect
