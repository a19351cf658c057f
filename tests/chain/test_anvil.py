"""The anvil launcher: readiness, persistent state, and no process left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from chain.accounts import dev_account
from chain.anvil import Anvil, AnvilError, pid_alive, port_is_free
from chain.errors import NodeUnavailable
from chain.tx import TxSender


def test_start_stop_leaves_no_process_and_frees_the_port() -> None:
    with Anvil() as node:
        pid, port = node.pid, node.port
        assert pid is not None and pid_alive(pid)
        assert not port_is_free(port)
        assert Web3(Web3.HTTPProvider(node.rpc_url)).eth.chain_id == 31337
    assert not pid_alive(pid)
    assert port_is_free(port)
    node.stop()  # idempotent


def test_stop_on_exception_inside_the_context() -> None:
    with pytest.raises(RuntimeError), Anvil() as node:
        pid = node.pid
        raise RuntimeError("boom")
    assert pid is not None and not pid_alive(pid)


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    recipient = dev_account(7).address
    with Anvil(state_path=state) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        TxSender(w3).send(dev_account(6), to=recipient, value=12345)
        balance = w3.eth.get_balance(recipient)
        block = w3.eth.block_number
    assert state.is_file()
    with Anvil(state_path=state) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.get_balance(recipient) == balance
        assert w3.eth.block_number >= block


def test_a_port_in_use_is_refused() -> None:
    with Anvil() as first:
        second = Anvil(port=first.port, startup_timeout=10)
        try:
            with pytest.raises(AnvilError, match="already in use"):
                second.start()
            assert second.process is None
        finally:
            second.stop()


def test_sending_to_a_dead_node_raises_node_unavailable() -> None:
    with Anvil() as node:
        url = node.rpc_url
    sender = TxSender(Web3(Web3.HTTPProvider(url)))
    with pytest.raises(NodeUnavailable):
        sender.send(dev_account(1), to=dev_account(2).address, value=1)
