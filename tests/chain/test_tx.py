"""Transaction sending: concurrent nonces, gas, named reverts, timeouts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from web3 import Web3
from web3.contract import Contract

from chain import errors
from chain.accounts import dev_account
from chain.tx import TxSender, node_rejected


def test_concurrent_sends_from_one_account_get_contiguous_nonces(
    w3: Web3, tx_sender: TxSender, probe: Contract
) -> None:
    account = dev_account(8)
    start_nonce = w3.eth.get_transaction_count(account.address)
    start_total = probe.functions.total().call()

    def worker(thread: int) -> list[int]:
        nonces = []
        for i in range(25):
            receipt = tx_sender.transact(account, probe.functions.bump(thread * 100 + i))
            assert receipt["status"] == 1
            nonces.append(w3.eth.get_transaction(receipt["transactionHash"])["nonce"])
        return nonces

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(worker, range(4)))

    nonces = sorted(n for thread_nonces in results for n in thread_nonces)
    assert nonces == list(range(start_nonce, start_nonce + 100))
    assert w3.eth.get_transaction_count(account.address) == start_nonce + 100
    expected = sum(t * 100 + i for t in range(4) for i in range(25))
    assert probe.functions.total().call() == start_total + expected
    assert probe.functions.bumpsBy(account.address).call() == 100


def test_nonce_resyncs_after_an_external_send(
    w3: Web3, tx_sender: TxSender, probe: Contract
) -> None:
    """A transaction sent by someone else with the same key makes the local counter stale."""
    account = dev_account(8)
    tx_sender.transact(account, probe.functions.bump(1))
    other = TxSender(w3, registry=tx_sender.registry)
    other.transact(account, probe.functions.bump(2))
    receipt = tx_sender.transact(account, probe.functions.bump(3))  # resynced, sent again
    assert receipt["status"] == 1
    assert probe.functions.bumpsBy(account.address).call() == 3


def test_a_transaction_the_node_refuses_is_a_chain_error(w3: Web3, tx_sender: TxSender) -> None:
    from eth_account import Account

    broke = Account.create()
    with pytest.raises(errors.NodeRejected):
        tx_sender.send(broke, to=dev_account(1).address, value=1, gas=21_000)


def test_gas_is_estimated_with_margin(tx_sender: TxSender, probe: Contract, w3: Web3) -> None:
    receipt = tx_sender.transact(dev_account(8), probe.functions.bump(5))
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert receipt["gasUsed"] < tx["gas"] <= receipt["gasUsed"] * 2
    assert tx["type"] == 2  # EIP-1559


def test_a_transaction_mined_as_failed_is_decoded_by_replay(
    tx_sender: TxSender, probe: Contract
) -> None:
    """With an explicit gas limit nothing is estimated: the revert is found after mining."""
    with pytest.raises(errors.Closed) as closed:
        tx_sender.send(
            dev_account(8),
            to=probe.address,
            data=probe.functions.failClosed(77)._encode_transaction_data(),
            gas=100_000,
        )
    assert closed.value.id == 77


def test_a_transaction_never_mined_times_out(
    w3: Web3, tx_sender: TxSender, probe: Contract
) -> None:
    sender = TxSender(w3, registry=tx_sender.registry, timeout=0.3)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        with pytest.raises(errors.TransactionTimeout) as timeout:
            sender.transact(dev_account(8), probe.functions.bump(1))
        assert timeout.value.tx_hash.startswith("0x")
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


# ---------------------------------------------------------------- the steps of a send, one by one


def test_sign_broadcast_and_wait_one_by_one(w3: Web3, tx_sender: TxSender, probe: Contract) -> None:
    """What the relayer does: sign (nothing sent), record, broadcast, wait for the receipt."""
    account = dev_account(7)
    data = probe.functions.bump(4)._encode_transaction_data()
    before = w3.eth.get_transaction_count(account.address)
    signed = tx_sender.sign(account, to=probe.address, data=data, gas=100_000)
    assert signed.nonce == before and signed.raw.startswith("0x") and len(signed.hash) == 66
    assert tx_sender.receipt(signed.hash) is None  # signed only: the node has never seen it
    assert w3.eth.get_transaction_count(account.address) == before
    assert tx_sender.broadcast(signed.raw) == signed.hash
    receipt = tx_sender.wait(signed.hash)
    assert receipt["status"] == 1 and receipt["transactionHash"].to_0x_hex() == signed.hash
    assert tx_sender.receipt(signed.hash) == receipt
    # The same raw transaction again: its nonce is spent now.
    with pytest.raises(errors.NonceTooLow):
        tx_sender.broadcast(signed.raw)


def test_a_pending_transaction_broadcast_again_is_already_known(
    w3: Web3, tx_sender: TxSender, probe: Contract
) -> None:
    account = dev_account(7)
    signed = tx_sender.sign(
        account,
        to=probe.address,
        data=probe.functions.bump(1)._encode_transaction_data(),
        gas=100_000,
    )
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        tx_sender.broadcast(signed.raw)
        with pytest.raises(errors.AlreadyKnown):
            tx_sender.broadcast(signed.raw)
        stop = threading.Event()
        stop.set()
        with pytest.raises(errors.ReceiptWaitStopped) as stopped:
            tx_sender.wait(signed.hash, stop=stop)
        assert stopped.value.tx_hash == signed.hash
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert tx_sender.wait(signed.hash)["status"] == 1


class ResendingSender(TxSender):
    """Hands every raw transaction to the node twice, as a request resent on a kept-alive
    connection the node had closed may (chain.rpc_http retries once): what the node says of the
    second copy is what ``broadcast`` raises."""

    def broadcast(self, raw_tx: bytes | str) -> str:
        super().broadcast(raw_tx)
        return super().broadcast(raw_tx)


@pytest.mark.parametrize("automine", [True, False])
def test_the_same_transaction_handed_over_twice_is_sent_once(
    w3: Web3, tx_sender: TxSender, probe: Contract, automine: bool
) -> None:
    """Mined by the second copy ("nonce too low") or still pooled ("already known"): it is this
    very transaction, so send() must not sign the call again with the next nonce."""
    account = dev_account(7)
    sender = ResendingSender(w3, registry=tx_sender.registry)
    nonce, bumps = (
        w3.eth.get_transaction_count(account.address),
        probe.functions.bumpsBy(account.address).call(),
    )
    w3.provider.make_request("evm_setAutomine", [automine])  # type: ignore[arg-type]
    try:
        sent = sender.send(
            account,
            to=probe.address,
            data=probe.functions.bump(1)._encode_transaction_data(),
            gas=100_000,
            wait=False,
        )
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert sender.wait(sent)["status"] == 1
    assert w3.eth.get_transaction_count(account.address) == nonce + 1  # one transaction
    assert probe.functions.bumpsBy(account.address).call() == bumps + 1


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("already known", errors.AlreadyKnown),
        ("ALREADY_EXISTS: already imported", errors.AlreadyKnown),
        ("nonce too low: next nonce 5, tx nonce 4", errors.NonceTooLow),
        ("Nonce is too low", errors.NonceTooLow),
        ("nonce too high", errors.NonceRejected),
        ("insufficient funds for gas * price + value", errors.NodeRejected),
    ],
)
def test_node_refusals_are_typed(message: str, kind: type[errors.NodeRejected]) -> None:
    refused = node_rejected(message)
    assert type(refused) is kind and str(refused) == message
