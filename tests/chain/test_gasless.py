"""End to end, gasless: a consumer with zero ETH joins, cancels and is refunded through the
forwarder (ERC-2771 request + EIP-2612 permit, both signed with eth-account), a relayer pays the
gas; replayed and expired requests are refused with the forwarder's named errors."""

from __future__ import annotations

from typing import Any

import pytest

from chain import errors
from chain.clients import DealStatus
from chain.eip712 import sign_typed_data

from .conftest import TOP_PRICE, Market, advance_time, chain_now


def _relay(
    m: Market, fn_name: str, *args: Any, deadline: int | None = None, gas: int | None = None
) -> tuple[dict[str, Any], bytes]:
    """The consumer signs a forward request for escrow.<fn_name>(*args); returns it unsent."""
    escrow = m.clients.escrow
    typed = m.clients.forwarder.prepare(
        sender=m.consumer.address,
        target=escrow.address,
        data=escrow.calldata(fn_name, *args),
        deadline=deadline,
        gas=gas,
    )
    return typed, sign_typed_data(m.consumer, typed).signature


def _signed_join(m: Market, quantity: int, gas: int | None = None) -> tuple[dict[str, Any], bytes]:
    permit_deadline = chain_now(m.w3) + 600
    permit = m.clients.token.sign_permit(
        m.consumer,
        spender=m.clients.escrow.address,
        value=quantity * TOP_PRICE,
        deadline=permit_deadline,
    )
    return _relay(
        m,
        "joinWithPermit",
        m.deal_id,
        quantity,
        m.leader.address,
        permit_deadline,
        permit.v,
        permit.r,
        permit.s,
        gas=gas,
    )


def test_gasless_join_then_cancel_refunds_in_full(market: Market) -> None:
    m, escrow, token = market, market.clients.escrow, market.clients.token
    typed, signature = _signed_join(m, 3)
    receipt = m.clients.forwarder.execute(typed, signature, relayer=m.relayer)

    (joined,) = escrow.events_in(receipt, "Joined")
    assert joined["args"]["buyer"] == m.consumer.address
    assert joined["args"]["leader"] == m.leader.address
    assert joined["args"]["paid"] == 3 * TOP_PRICE
    assert escrow.order(m.deal_id, m.consumer.address).quantity == 3
    assert token.balance_of(m.consumer.address) == 100 * 10**6 - 3 * TOP_PRICE
    assert token.balance_of(escrow.address) == 3 * TOP_PRICE

    with pytest.raises(errors.ERC2771ForwarderInvalidSigner):  # the same request again
        m.clients.forwarder.execute(typed, signature, relayer=m.relayer)

    expired_typed, expired_sig = _relay(m, "cancel", m.deal_id, deadline=chain_now(m.w3) - 1)
    with pytest.raises(errors.ERC2771ForwarderExpiredRequest):
        m.clients.forwarder.execute(expired_typed, expired_sig, relayer=m.relayer)

    cancel_typed, cancel_sig = _relay(m, "cancel", m.deal_id)
    receipt = m.clients.forwarder.execute(cancel_typed, cancel_sig, relayer=m.relayer)
    (cancelled,) = escrow.events_in(receipt, "Cancelled")
    assert cancelled["args"]["refunded"] == 3 * TOP_PRICE
    assert token.balance_of(m.consumer.address) == 100 * 10**6
    assert token.balance_of(escrow.address) == 0
    assert m.w3.eth.get_balance(m.consumer.address) == 0  # never held any ETH


def test_gasless_refund_of_a_failed_deal(market: Market) -> None:
    m, escrow, token = market, market.clients.escrow, market.clients.token
    typed, signature = _signed_join(m, 2)  # 2 < the minimum of 5: the deal will fail
    m.clients.forwarder.execute(typed, signature, relayer=m.relayer)
    advance_time(m.w3, 3601)
    assert escrow.deal_status(m.deal_id) == DealStatus.FAILED
    assert escrow.owed(m.deal_id, m.consumer.address) == 2 * TOP_PRICE

    with pytest.raises(errors.DealClosed):  # found while estimating, before anyone signs
        _signed_join(m, 1)
    late_typed, late_sig = _signed_join(m, 1, gas=300_000)
    with pytest.raises(errors.DealClosed) as closed:  # found by the relayer's dry run
        m.clients.forwarder.execute(late_typed, late_sig, relayer=m.relayer)
    assert closed.value.args == {"dealId": m.deal_id, "joinDeadline": m.join_deadline}

    withdraw_typed, withdraw_sig = _relay(m, "withdraw", m.deal_id)
    receipt = m.clients.forwarder.execute(withdraw_typed, withdraw_sig, relayer=m.relayer)
    (withdrawn,) = escrow.events_in(receipt, "Withdrawn")
    assert withdrawn["args"]["account"] == m.consumer.address
    assert token.balance_of(m.consumer.address) == 100 * 10**6
    assert escrow.owed(m.deal_id, m.consumer.address) == 0
    assert m.w3.eth.get_balance(m.consumer.address) == 0


def test_a_forged_request_is_refused(market: Market) -> None:
    """A relayer (or a compromised API) cannot act for the consumer with its own signature."""
    m = market
    typed, _ = _relay(m, "cancel", m.deal_id, gas=200_000)
    forged = sign_typed_data(m.relayer, typed).signature
    assert not m.clients.forwarder.verify(typed, forged)
    with pytest.raises(errors.ERC2771ForwarderInvalidSigner) as refused:
        m.clients.forwarder.execute(typed, forged, relayer=m.relayer)
    assert refused.value.signer == m.relayer.address
    assert refused.value.args["from"] == m.consumer.address


# ---------------------------------------------------------------- what the relayer uses, in chain/


def test_simulate_calls_the_target_as_the_forwarder_does(market: Market) -> None:
    """The one simulation of a forwarded call: named errors of the target, now or on a past
    block (a mined failure's replay), and the forwarder's own checks through check_execute."""
    m, escrow, forwarder = market, market.clients.escrow, market.clients.forwarder
    cancel = escrow.calldata("cancel", m.deal_id)
    with pytest.raises(errors.NoOrder) as no_order:  # the consumer has no order yet
        forwarder.simulate(sender=m.consumer.address, target=escrow.address, data=cancel)
    assert no_order.value.buyer == m.consumer.address  # the appended signer, as ERC-2771 says
    typed, signature = _signed_join(m, 2)
    assert forwarder.execution_of(m.consumer.address, 0, from_block=0) is None
    receipt = forwarder.execute(typed, signature, relayer=m.relayer)
    assert forwarder.simulate(sender=m.consumer.address, target=escrow.address, data=cancel) == b""
    with pytest.raises(errors.NoOrder):  # the same call on the block before the join
        forwarder.simulate(
            sender=m.consumer.address,
            target=escrow.address,
            data=cancel,
            block=receipt["blockNumber"] - 1,
        )
    assert forwarder.execution_of(m.consumer.address, 0, from_block=0) == (
        receipt["transactionHash"].to_0x_hex(),
        receipt["blockNumber"],
        True,
    )
    assert forwarder.execution_of(m.consumer.address, 1, from_block=0) is None
    with pytest.raises(errors.ERC2771ForwarderInvalidSigner):  # its nonce is spent now
        forwarder.check_execute(typed, signature, relayer=m.relayer.address)
    cancel_typed, cancel_sig = _relay(m, "cancel", m.deal_id)
    forwarder.check_execute(cancel_typed, cancel_sig, relayer=m.relayer.address)  # would pass


def test_a_signed_permit_is_submitted_from_its_message(market: Market) -> None:
    """What the relayer does with a join's permit: anyone may submit it, from the signed
    message and signature alone (v as 27/28 or 0/1)."""
    m, token, escrow = market, market.clients.token, market.clients.escrow
    typed = token.permit_typed_data(
        owner=m.consumer.address, spender=escrow.address, value=7, deadline=chain_now(m.w3) + 60
    )
    signature = sign_typed_data(m.consumer, typed).signature
    as_zero_one = signature[:64] + bytes([signature[64] - 27])
    data = token.permit_calldata(typed["message"], as_zero_one)
    assert data == token.permit_calldata(typed["message"], signature)
    m.clients.forwarder.sender.send(m.relayer, to=token.address, data=data)
    assert token.allowance(m.consumer.address, escrow.address) == 7
    with pytest.raises(errors.InvalidSignature):
        token.permit_calldata(typed["message"], signature[:64])
