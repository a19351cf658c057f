"""``POST /v1/relay`` refuses, before anything is queued: forged or tampered signatures, expired
requests, used or skipped nonces, other chains' domains, and requests the contract would reject
(409 with the contract's own named error). A client retry of the same request is idempotent, and a
request that becomes doomed after acceptance fails in the worker with the decoded error, unsent."""

from __future__ import annotations

import copy

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from api.db import session_factory
from api.relayer.gas import MAX_REQUEST_GAS
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import (
    Crash,
    CrashBeforeBroadcast,
    advance_time,
    chain_now,
    consumer,
    make_deal,
    own_outbox,
    prepare,
    relay,
    relay_and_mine,
    sign,
)


def _outbox_size(services: Services) -> int:
    with session_factory(services.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(RelayRequest)) or 0)


@pytest.fixture
def joined(client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None):
    """A deal, and a consumer who joined it gaslessly (so cancel/withdraw have something to do)."""
    # The join window is shorter than a request's lifetime, so a signed request outlives the deal.
    deal = make_deal(services.chain, join_window=600)
    buyer = consumer(services.chain)
    relay_and_mine(
        client,
        worker,
        buyer,
        "join",
        {"deal_id": deal.deal_id, "quantity": 2, "leader": deal.leader.address},
    )
    return deal, buyer


def test_a_request_signed_by_someone_else_is_refused(
    client: TestClient, services: Services, joined
) -> None:
    deal, buyer = joined
    prepared = prepare(client, "cancel", {"from": buyer.address, "deal_id": deal.deal_id})
    forged = sign(Account.create(), prepared)
    queued = _outbox_size(services)
    response = client.post("/v1/relay", json=forged)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_signature"
    assert _outbox_size(services) == queued


def test_a_tampered_request_no_longer_matches_its_signature(
    client: TestClient, services: Services, joined
) -> None:
    deal, buyer = joined
    signed = sign(
        buyer, prepare(client, "cancel", {"from": buyer.address, "deal_id": deal.deal_id})
    )
    tampered = copy.deepcopy(signed)
    tampered["payloads"]["request"]["message"]["gas"] += 1
    response = client.post("/v1/relay", json=tampered)
    assert response.status_code == 400 and response.json()["code"] == "bad_signature"
    garbage = {**signed, "signatures": {"request": "0x1234"}}
    response = client.post("/v1/relay", json=garbage)
    assert response.status_code == 400 and response.json()["code"] == "bad_signature"


def test_a_request_asking_more_gas_than_a_batch_reserves_is_refused(
    client: TestClient, services: Services, joined
) -> None:
    """``request.gas`` is signed by the user; the relayer reserves it in a batch, so it is capped
    at accept (api.relayer.gas), with the cap in the answer."""
    deal, buyer = joined
    prepared = prepare(client, "cancel", {"from": buyer.address, "deal_id": deal.deal_id})
    greedy = copy.deepcopy(prepared)
    greedy["payloads"]["request"]["message"]["gas"] = MAX_REQUEST_GAS + 1
    queued = _outbox_size(services)
    response = client.post("/v1/relay", json=sign(buyer, greedy))
    assert response.status_code == 400
    assert response.json()["code"] == "gas_too_high"
    assert response.json()["details"]["max_gas"] == MAX_REQUEST_GAS
    assert _outbox_size(services) == queued
    at_cap = copy.deepcopy(prepared)
    at_cap["payloads"]["request"]["message"]["gas"] = MAX_REQUEST_GAS
    assert client.post("/v1/relay", json=sign(buyer, at_cap)).status_code == 202


def test_expired_and_replayed_requests_are_refused(
    client: TestClient, services: Services, worker: RelayWorker, joined
) -> None:
    deal, buyer = joined
    signed = sign(
        buyer, prepare(client, "cancel", {"from": buyer.address, "deal_id": deal.deal_id})
    )
    first = client.post("/v1/relay", json=signed)
    assert first.status_code == 202
    again = client.post("/v1/relay", json=signed)  # a client retry: the same outbox row
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    worker.run_once()
    assert client.get(f"/v1/relay/{first.json()['id']}").json()["status"] == "mined"

    # Posted again once it ran (its first answer lost, say): its row, not a refusal that would
    # read as the cancel having failed.
    replay = client.post("/v1/relay", json=signed)
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert replay.json()["status"] == "mined"

    # Mined on a chain that is gone (a reset node: api.binding), the row is not the answer: the
    # request is checked afresh against this chain, where its nonce is spent.
    with session_factory(services.engine)() as session:
        session.execute(
            update(RelayRequest)
            .where(RelayRequest.id == first.json()["id"])
            .values(chain_key="0x" + "00" * 32)
        )
        session.commit()
    replay = client.post("/v1/relay", json=signed)
    assert replay.status_code == 400 and replay.json()["code"] == "replayed_nonce"


def test_a_skipped_nonce_a_foreign_domain_and_an_expired_request_are_refused(
    client: TestClient, services: Services, joined
) -> None:
    deal, buyer = joined
    prepared = prepare(client, "cancel", {"from": buyer.address, "deal_id": deal.deal_id})
    ahead = copy.deepcopy(prepared)
    ahead["payloads"]["request"]["message"]["nonce"] += 1
    response = client.post("/v1/relay", json=sign(buyer, ahead))
    assert response.status_code == 400 and response.json()["code"] == "nonce_ahead"
    foreign = copy.deepcopy(prepared)
    foreign["payloads"]["request"]["domain"]["chainId"] = 1
    response = client.post("/v1/relay", json=sign(buyer, foreign))
    assert response.status_code == 400 and response.json()["code"] == "wrong_domain"

    late = sign(buyer, prepared)
    advance_time(services.chain, 2 * 3600)  # past the request's one-hour deadline
    expired = client.post("/v1/relay", json=late)
    assert expired.status_code == 400 and expired.json()["code"] == "expired"


def test_a_doomed_request_is_refused_with_the_contracts_named_error(
    client: TestClient, services: Services, joined
) -> None:
    deal, buyer = joined
    # Signed while the deal was open; by the time it is submitted the join deadline has passed.
    signed = sign(
        buyer, prepare(client, "cancel", {"from": buyer.address, "deal_id": deal.deal_id})
    )
    advance_time(services.chain, deal.join_deadline - chain_now(services.chain))
    response = client.post("/v1/relay", json=signed)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["details"]["error"] == "DealClosed"
    assert body["details"]["args"] == {"dealId": deal.deal_id, "joinDeadline": deal.join_deadline}

    # prepare already simulates: nothing to sign for a call that would revert.
    response = client.post(
        "/v1/actions/cancel/prepare", json={"from": buyer.address, "deal_id": deal.deal_id}
    )
    assert response.status_code == 409 and response.json()["details"]["error"] == "DealClosed"


def test_a_request_doomed_after_acceptance_fails_unsent_with_the_decoded_error(
    client: TestClient, services: Services, worker: RelayWorker, joined
) -> None:
    deal, buyer = joined
    accepted = relay(client, buyer, "cancel", {"deal_id": deal.deal_id})
    # The deal closes before the worker gets to it.
    advance_time(services.chain, deal.join_deadline - chain_now(services.chain))
    worker.run_once()
    status = client.get(f"/v1/relay/{accepted['id']}").json()
    assert status["status"] == "failed" and status["tx_hash"] is None
    assert status["error"]["code"] == "DealClosed"
    assert status["error"]["args"]["dealId"] == deal.deal_id


def test_join_needs_its_permit_and_refuses_an_unaffordable_one(
    client: TestClient, services: Services, chain_snapshot: None
) -> None:
    deal = make_deal(services.chain)
    poor = consumer(services.chain, tokens=5_000_000)
    body = {
        "from": poor.address,
        "deal_id": deal.deal_id,
        "quantity": 1,
        "leader": deal.leader.address,
    }
    response = client.post("/v1/actions/join/prepare", json=body)
    assert response.status_code == 409 and response.json()["code"] == "insufficient_balance"

    buyer = consumer(services.chain)
    prepared = prepare(client, "join", {**body, "from": buyer.address})
    signed = sign(buyer, prepared)
    no_permit = {
        **signed,
        "payloads": {"request": signed["payloads"]["request"]},
        "signatures": {"request": signed["signatures"]["request"]},
    }
    response = client.post("/v1/relay", json=no_permit)
    assert response.status_code == 400 and response.json()["code"] == "permit_required"
    stranger_permit = copy.deepcopy(signed)
    stranger_permit["signatures"]["permit"] = sign(Account.create(), prepared)["signatures"][
        "permit"
    ]
    response = client.post("/v1/relay", json=stranger_permit)
    assert response.status_code == 400 and response.json()["code"] == "bad_signature"


def test_bad_input_is_a_4xx_with_a_reason(client: TestClient, services: Services) -> None:
    response = client.post("/v1/actions/teleport/prepare", json={"from": "0x" + "11" * 20})
    assert response.status_code == 404 and response.json()["code"] == "unknown_action"
    response = client.post("/v1/actions/cancel/prepare", json={"from": "nobody", "deal_id": 1})
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"
    response = client.post("/v1/relay", json={"payloads": "x"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"
    response = client.post(
        "/v1/actions/cancel/prepare", json={"from": "0x" + "11" * 20, "deal_id": 10**9}
    )
    assert response.status_code == 404 and response.json()["details"]["error"] == "DealNotFound"
    response = client.get("/v1/relay/does-not-exist")
    assert response.status_code == 404 and response.json()["code"] == "relay_request_not_found"


def test_a_stored_transaction_that_reverts_on_chain_is_failed_with_the_decoded_error(
    services: Services, chain_snapshot: None, tmp_path
) -> None:
    """Signed and stored, the worker dies; meanwhile the deal closes. The stored transaction is
    still broadcast as it is (it may already be in a mempool); its call fails inside the mined
    batch (the forwarder only says ``success=false``) and the request is failed with the
    target's named error, read from a trace of the transaction."""
    own = own_outbox(services, tmp_path)  # no other test's rows
    with TestClient(create_app(own)) as own_client:
        deal = make_deal(services.chain, join_window=600)
        buyer = consumer(services.chain)
        relay_and_mine(
            own_client, RelayWorker(own), buyer, "join",
            {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address},
        )  # fmt: skip
        accepted = relay(own_client, buyer, "cancel", {"deal_id": deal.deal_id})
        with pytest.raises(Crash):
            CrashBeforeBroadcast(own).run_once()
        advance_time(services.chain, deal.join_deadline - chain_now(services.chain))
        RelayWorker(own).run_once()
        status = own_client.get(f"/v1/relay/{accepted['id']}").json()
    assert status["status"] == "failed" and status["tx_hash"] and status["block_number"]
    receipt = services.chain.w3.eth.get_transaction_receipt(status["tx_hash"])
    assert receipt["status"] == 1  # the batch ran; only this request's call failed
    executed = services.chain.clients.forwarder.executions_in(receipt)
    assert executed == {(buyer.address, 1): False}  # its nonce is spent
    assert status["error"]["code"] == "DealClosed"
    assert services.chain.clients.escrow.order(deal.deal_id, buyer.address).quantity == 1
