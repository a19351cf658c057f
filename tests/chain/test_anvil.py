"""The anvil launcher: readiness, persistent state, and no process left behind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from web3 import Web3

import chain.anvil as anvil_module
from chain.accounts import dev_account
from chain.anvil import Anvil, AnvilError, free_port, pid_alive, port_is_free
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


@pytest.mark.parametrize("listening", [True, False], ids=["listening", "bound"])
def test_a_picked_port_taken_before_anvil_binds_it_is_replaced(
    listening: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race free_port() leaves open: another process takes the port between the pick and
    anvil's bind (other test sessions and services start nodes on this machine too). Listening,
    it is seen before anvil starts; only bound (a client socket's port), anvil itself fails to
    bind. Either way a port Anvil picked is replaced; a port the caller gave is not (above)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        if listening:
            held.listen()
        taken = held.getsockname()[1]
        picks = iter([taken])
        monkeypatch.setattr(
            anvil_module, "free_port", lambda host="127.0.0.1": next(picks, None) or free_port(host)
        )
        with Anvil() as node:
            assert node.port != taken
            assert Web3(Web3.HTTPProvider(node.rpc_url)).eth.chain_id == node.chain_id
