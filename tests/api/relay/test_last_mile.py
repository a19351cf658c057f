"""The last mile end to end on anvil, through the API (issue 11 §3–§4): pickup codes signed by
buyers and handed over by the leader gaslessly (one, then a queue with a code the escrow skips),
a no-show in a short group closed out and refunded by the keeper, and a cash order booked by a
leader that makes the group and is refunded to that leader apart."""

from __future__ import annotations

import secrets
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.bundler.worker import BundlerWorker
from api.indexer import Indexer
from api.keeper import Keeper
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.aa import compact
from chain.aa.userop import UserOperation
from chain.aa.webauthn import SoftwarePasskey, account_signature, base64url
from chain.clients import DealStatus

from .conftest import (
    TIER_PRICE,
    TOP_PRICE,
    advance_time,
    chain_now,
    consumer,
    make_deal,
    prepare,
    relay_and_mine,
)


def _code(client: TestClient, buyer: LocalAccount, deal_id: int, **extra: Any) -> dict[str, Any]:
    """The buyer's QR code: the Handover typed data prepared by the API, signed in the wallet."""
    prepared = prepare(
        client, "handover_code", {"from": buyer.address, "deal_id": deal_id, **extra}
    )
    typed = prepared["payloads"]["handover"]
    signature = buyer.sign_typed_data(full_message=typed).signature.to_0x_hex()
    message = typed["message"]
    return {
        "buyer": message["buyer"],
        "quantity": message["quantity"],
        "expiry": message["expiry"],
        "signature": signature,
    }


def _sync(services: Services) -> None:
    Indexer(engine=services.engine, chain=services.chain, store=services.store).sync_until_idle()


def _buyers(
    client: TestClient, worker: RelayWorker, services: Services, deal: Any, units: list[int]
) -> list[LocalAccount]:
    buyers = [consumer(services.chain) for _ in units]
    for buyer, quantity in zip(buyers, units, strict=True):
        relay_and_mine(
            client, worker, buyer, "join",
            {"deal_id": deal.deal_id, "quantity": quantity, "leader": deal.leader.address},
        )  # fmt: skip
    return buyers


def _receive(
    client: TestClient, worker: RelayWorker, services: Services, deal: Any, quantity: int
) -> None:
    chain = services.chain
    if chain_now(chain) < deal.join_deadline:
        advance_time(chain, deal.join_deadline - chain_now(chain))
    relay_and_mine(
        client, worker, deal.leader, "confirm_receipt",
        {"deal_id": deal.deal_id, "gtin14": deal.gtin14, "lot": deal.lot,
         "pickup_point": "geo:1,2", "quantity": quantity},
    )  # fmt: skip


def test_handover_one_then_a_queue_with_a_code_the_escrow_skips(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    escrow = chain.clients.escrow
    deal = make_deal(chain, min_quantity=3, join_window=600, pickup_window=7200)
    first, second, third = _buyers(client, worker, services, deal, [2, 1, 2])
    _receive(client, worker, services, deal, 5)

    # One code: the buyer's page prepares and signs it; the leader scans and submits it.
    status = relay_and_mine(
        client, worker, deal.leader, "handover",
        {"deal_id": deal.deal_id, "items": [_code(client, first, deal.deal_id)]},
    )  # fmt: skip
    assert status["action"] == "handover"
    assert escrow.pickup(deal.deal_id, first.address).quantity == 2

    # A queue: a tampered code (refused when preparing, and skipped on chain), a code for fewer
    # units than ordered in a full group (only the escrow can tell: skipped on chain), a good one.
    # Tampered: the last bit of r flipped, v kept, so it recovers another signer or none, on the
    # page as on chain. (It was s's last byte set to 1b and v to 0: off chain v 0 means 27, so a
    # signature of a fresh random buyer that ended in 1b1b stayed valid, one run in 512.)
    tampered = _code(client, second, deal.deal_id)
    signature = tampered["signature"]  # 0x, r (64 hex digits), s (64), v (2)
    tampered["signature"] = signature[:65] + f"{int(signature[65], 16) ^ 1:x}" + signature[66:]
    fewer = _code(client, third, deal.deal_id, quantity=1)
    good = _code(client, second, deal.deal_id)
    body = {"deal_id": deal.deal_id, "items": [tampered, fewer, good]}
    prepared = prepare(client, "handover", {"from": deal.leader.address, **body})
    assert prepared["details"]["skipped"] == [{"buyer": second.address, "reason": "bad_signature"}]
    relay_and_mine(client, worker, deal.leader, "handover", body)
    assert escrow.pickup(deal.deal_id, second.address).quantity == 1
    assert escrow.pickup(deal.deal_id, third.address).at == 0

    # Every code refused: nothing is prepared.
    response = client.post(
        "/v1/actions/handover/prepare",
        json={"from": deal.leader.address, "deal_id": deal.deal_id, "items": [tampered]},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "nothing_to_hand_over"

    _sync(services)
    detail = client.get(f"/v1/deals/{deal.deal_id}").json()
    (group,) = detail["leaders"]
    pickups = {o["buyer"]: o["pickup"] for o in group["orders"]}
    assert pickups[first.address]["status"] == "picked_up" and pickups[first.address]["time"]
    assert pickups[third.address]["status"] == "awaiting_pickup"
    assert group["pickup"]["handed_over"] == 3 and group["pickup"]["to_pick_up"] == 2
    reasons = sorted((s["buyer"], s["reason"]) for s in group["pickup"]["skipped"])
    assert reasons == sorted(
        [(second.address, "bad_signature"), (third.address, "invalid_quantity")]
    )
    mine = client.get(f"/v1/buyers/{third.address}/orders").json()["orders"][0]
    assert mine["pickup"]["status"] == "awaiting_pickup"
    assert mine["deal"]["pickup_deadline"] == escrow.deal_params(deal.deal_id).pickup_deadline


def test_a_no_show_in_a_short_group_is_closed_out_and_refunded_by_the_keeper(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """5 ordered (2 + 3), 4 delivered: the first buyer takes 1 of 2 (1 short, refunded in full);
    the second never comes: 3 no-show units, 0 short units left, so they count as delivered."""
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, min_quantity=5, join_window=600, pickup_window=7200)
    came, absent = _buyers(client, worker, services, deal, [2, 3])
    start = {b.address: token.balance_of(b.address) for b in (came, absent)}  # after paying
    _receive(client, worker, services, deal, 4)
    relay_and_mine(
        client, worker, deal.leader, "handover",
        {"deal_id": deal.deal_id, "items": [_code(client, came, deal.deal_id, quantity=1)]},
    )  # fmt: skip
    assert escrow.pickup(deal.deal_id, came.address).short_quantity == 1

    params = escrow.deal_params(deal.deal_id)
    advance_time(chain, params.pickup_deadline - chain_now(chain))
    _sync(services)
    keeper = Keeper(chain, deal_ids={deal.deal_id}, index=services.engine)
    report = keeper.run_once()
    assert "close_out" in [a.kind for a in report.done]
    _sync(services)
    detail = client.get(f"/v1/deals/{deal.deal_id}").json()
    (group,) = detail["leaders"]
    statuses = {o["buyer"]: o["pickup"]["status"] for o in group["orders"]}
    assert statuses == {came.address: "picked_up", absent.address: "no_show"}
    assert group["pickup"]["closed_out"] is True

    advance_time(chain, params.dispute_window + 1)
    Keeper(chain, deal_ids={deal.deal_id}, index=services.engine).run_once()
    assert escrow.deal_status(deal.deal_id) == DealStatus.SETTLED
    Keeper(chain, deal_ids={deal.deal_id}, index=services.engine).run_once()
    back = {b: token.balance_of(b) - start[b] for b in (came.address, absent.address)}
    # 5 units reached the tier: rebates on every unit; the short unit back at the final price.
    assert back[came.address] == 2 * (TOP_PRICE - TIER_PRICE) + TIER_PRICE
    assert back[absent.address] == 3 * (TOP_PRICE - TIER_PRICE)  # delivered: waited for them
    assert escrow.owed(deal.deal_id, deal.supplier.address) == 0


def test_a_cash_order_makes_the_group_and_is_refunded_to_the_leader(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, min_quantity=5, join_window=600, pickup_window=3600, cash_cap=3)
    token.mint(deal.leader.address, 100 * 10**6, signer=chain.platform)
    before = token.balance_of(deal.leader.address)
    _buyers(client, worker, services, deal, [3])

    # Over the cap: refused when preparing, with the escrow's error.
    over = client.post(
        "/v1/actions/book_cash_order/prepare",
        json={"from": deal.leader.address, "deal_id": deal.deal_id, "quantity": 4,
              "beneficiary": "王阿姨 138-0000-0001"},
    )  # fmt: skip
    assert over.status_code == 409 and "CashCapExceeded" in over.text
    status = relay_and_mine(
        client, worker, deal.leader, "book_cash_order",
        {"deal_id": deal.deal_id, "quantity": 2, "beneficiary": "王阿姨 138-0000-0001"},
    )  # fmt: skip
    assert status["action"] == "book_cash_order"
    ref = status["details"]["beneficiary_ref"]
    assert escrow.deal_totals(deal.deal_id).total_quantity == 5  # 成团 with the cash order
    advance_time(chain, deal.join_deadline - chain_now(chain))
    assert escrow.deal_status(deal.deal_id) == DealStatus.SUCCEEDED
    _receive(client, worker, services, deal, 5)
    relay_and_mine(
        client, worker, deal.leader, "hand_over_cash",
        {"deal_id": deal.deal_id, "beneficiary_ref": ref, "quantity": 2},
    )  # fmt: skip
    assert escrow.cash_order(deal.deal_id, deal.leader.address, bytes.fromhex(ref[2:])).picked_up_at

    _sync(services)
    summary = client.get(f"/v1/deals/{deal.deal_id}").json()
    assert summary["sold"] == 5 and summary["cash_sold"] == 2 and summary["status"] == "succeeded"
    advance_time(chain, 3600 + 86_400 + 1)
    keeper = Keeper(chain, deal_ids={deal.deal_id}, index=services.engine)
    keeper.run_once()  # settles
    _sync(services)
    owed = client.get(f"/v1/leaders/{deal.leader.address}/cash-orders").json()
    assert owed["cash_owed_back"] == 2 * (TOP_PRICE - TIER_PRICE)
    (cash_order,) = owed["deals"][0]["cash_orders"]
    assert cash_order["pickup"]["status"] == "picked_up"
    Keeper(chain, deal_ids={deal.deal_id}, index=services.engine).run_once()  # pushes
    assert escrow.cash_owed(deal.deal_id, deal.leader.address, bytes.fromhex(ref[2:])) == 0
    assert escrow.cash_totals(deal.deal_id, deal.leader.address) == (
        2,
        2 * (TOP_PRICE - TIER_PRICE),
    )
    _sync(services)
    owed = client.get(f"/v1/leaders/{deal.leader.address}/cash-orders").json()
    assert owed["cash_owed_back"] == 0
    assert owed["deals"][0]["cash_refunded"] == 2 * (TOP_PRICE - TIER_PRICE)
    # The leader paid 2 units at the top price and got back the rebate; commission apart.
    commission = escrow.leader_info(deal.deal_id, deal.leader.address).commission
    assert token.balance_of(deal.leader.address) == (
        before - 2 * TOP_PRICE + 2 * (TOP_PRICE - TIER_PRICE) + commission
    )


def test_the_keeper_alone_refunds_a_failed_deals_cash_orders_to_their_leader(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """No index beside it (``tuanchain keeper``: the escrow's logs): the keeper finds the cash
    orders from CashOrderBooked and pays their refunds to the leader, apart from owed()."""
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, min_quantity=50, join_window=600, cash_cap=4)
    token.mint(deal.leader.address, 100 * 10**6, signer=chain.platform)
    before = token.balance_of(deal.leader.address)
    keeper = Keeper(chain, deal_ids={deal.deal_id})
    keeper.run_once()  # the first pass reads the logs so far
    refs = []
    for neighbour in ("李叔 138-0000-0002", "赵阿姨"):
        status = relay_and_mine(
            client, worker, deal.leader, "book_cash_order",
            {"deal_id": deal.deal_id, "quantity": 2, "beneficiary": neighbour},
        )  # fmt: skip
        refs.append(status["details"]["beneficiary_ref"])
    assert len(set(refs)) == 2  # a fresh salt each: the same name twice would not collide either
    advance_time(chain, deal.join_deadline - chain_now(chain))
    assert escrow.deal_status(deal.deal_id) == DealStatus.FAILED
    assert escrow.owed(deal.deal_id, deal.leader.address) == 0
    report = keeper.run_once()
    assert [a.kind for a in report.done] == ["pay_cash_refunds"]
    assert token.balance_of(deal.leader.address) == before
    assert escrow.cash_totals(deal.deal_id, deal.leader.address) == (4, 4 * TOP_PRICE)


def test_a_passkey_accounts_pickup_code_is_signed_through_erc1271_and_handed_over(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """A consumer with a passkey account (ERC-4337) signs the Handover code: the service gives the
    ERC-7739 challenge (what wallet.js's signOnly run asks passkey.js for), the escrow's
    SignatureChecker asks the account (ERC-1271); another passkey's code is skipped."""
    chain = services.chain
    deal = make_deal(chain, min_quantity=1, join_window=600, pickup_window=7200)
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    keys = {"qx": "0x" + key.qx.hex(), "qy": "0x" + key.qy.hex()}
    address = chain.passkeys.account_address(key)
    assert client.post("/v1/faucet", json={"address": address}).status_code == 200
    join = client.post(
        "/v1/actions/join/prepare-userop",
        json={**keys, "deal_id": deal.deal_id, "quantity": 2, "leader": deal.leader.address},
    ).json()
    signed = chain.passkeys.sign(UserOperation.from_rpc(join["userOperation"]), key)
    client.post(
        "/v1/bundler",
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendUserOperation",
              "params": [signed.to_rpc(), join["entryPoint"]]},
    )  # fmt: skip
    BundlerWorker(services).run_once()
    assert chain.clients.escrow.order(deal.deal_id, address).quantity == 2
    _receive(client, worker, services, deal, 2)

    def code_signed_by(signing_key: SoftwarePasskey) -> dict[str, Any]:
        typed = prepare(client, "handover_code", {"from": address, "deal_id": deal.deal_id})[
            "payloads"
        ]["handover"]
        answer = client.post(
            "/v1/passkeys/sign-typed-data", json={**keys, "typed_data": typed}
        ).json()
        assertion = signing_key.assertion(bytes.fromhex(answer["challenge"][2:]))
        inner = account_signature([(bytes.fromhex(answer["signer"][2:]), assertion)])
        message = typed["message"]
        return {
            "buyer": address,
            "quantity": message["quantity"],
            "expiry": message["expiry"],
            "signature": "0x" + inner.hex() + answer["suffix"][2:],
        }

    def short(code: dict[str, Any]) -> dict[str, Any]:
        """The pickup code's short form (pickup.js): the passkey's compact assertion only."""
        full = bytes.fromhex(code["signature"][2:])
        rest = {k: v for k, v in code.items() if k != "signature"}
        return {**rest, "webauthn": base64url(compact.compact_signature(full))}

    forged = code_signed_by(SoftwarePasskey.from_secret(secrets.token_bytes(32)))
    for item in (forged, short(forged)):
        refused = client.post(
            "/v1/actions/handover/prepare",
            json={"from": deal.leader.address, "deal_id": deal.deal_id, "items": [item]},
        )
        assert refused.status_code == 409, refused.text
        skipped = refused.json()["details"]["skipped"]
        assert skipped == [{"buyer": address, "reason": "bad_signature"}]
    # Not both signature forms (422); a scrap for the compact one is refused as a bad signature.
    genuine = code_signed_by(key)
    both = {**short(genuine), "signature": genuine["signature"]}
    scrap = {**short(genuine), "webauthn": "A" * 120}
    for bad, status in ((both, 422), (scrap, 409)):
        answer = client.post(
            "/v1/actions/handover/prepare",
            json={"from": deal.leader.address, "deal_id": deal.deal_id, "items": [bad]},
        )
        assert answer.status_code == status, answer.text
    assert answer.json()["details"]["skipped"][0]["reason"] == "bad_signature"

    # A code of the first form (the whole signature in hex) is still taken.
    first_form = prepare(
        client,
        "handover",
        {"from": deal.leader.address, "deal_id": deal.deal_id, "items": [genuine]},
    )
    assert first_form["details"]["skipped"] == []
    # The short one: the service rebuilds the account's signature; the escrow checks it (ERC-1271).
    compact_code = short(code_signed_by(key))
    assert len(compact_code["webauthn"]) < 250
    relay_and_mine(
        client, worker, deal.leader, "handover",
        {"deal_id": deal.deal_id, "items": [compact_code]},
    )  # fmt: skip
    assert chain.clients.escrow.pickup(deal.deal_id, address).quantity == 2
