"""A signer may have several requests waiting: contiguous forwarder (and permit) nonces, sent in
nonce order; a failed one fails the requests queued behind it with a reason, and its nonce is
handed out again. Plus: the next-nonce rule as a property, and the age-based collection of
prepared-but-never-anchored documents."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from api.app import create_app
from api.db import session_factory
from api.relayer.models import RelayRequest
from api.relayer.queue import MAX_PENDING_PER_SIGNER, SignerQueue
from api.relayer.worker import UNPINNED_TTL_SECONDS, RelayWorker
from api.services import Services
from traceability.ipfs import EmbeddedDocumentStore

from .conftest import (
    TOP_PRICE,
    advance_time,
    chain_now,
    consumer,
    make_deal,
    own_outbox,
    prepare,
    relay,
    repeatable_call,
    sign,
    signed_forward,
)


def _join(deal: Any, quantity: int = 1) -> dict[str, Any]:
    return {"deal_id": deal.deal_id, "quantity": quantity, "leader": deal.leader.address}


def _status(client: TestClient, request_id: str) -> dict[str, Any]:
    return client.get(f"/v1/relay/{request_id}").json()


def test_two_joins_signed_back_to_back_are_both_queued_and_mined_in_order(
    client: TestClient, services: Services, worker: RelayWorker
) -> None:
    chain = services.chain
    forwarder, token, escrow = chain.clients.forwarder, chain.clients.token, chain.clients.escrow
    first_deal, second_deal = make_deal(chain), make_deal(chain)
    buyer = consumer(chain)
    start = token.balance_of(buyer.address)

    first = relay(client, buyer, "join", _join(first_deal, 2))
    second = relay(client, buyer, "join", _join(second_deal, 3))  # before the first is mined
    assert (first["nonce"], second["nonce"]) == (0, 1)
    assert first["status"] == second["status"] == "queued"

    # A third one must take nonce 2 (and permit nonce 2): skipping or reusing one is refused.
    prepared = prepare(client, "join", {"from": buyer.address, **_join(second_deal)})
    assert prepared["payloads"]["request"]["message"]["nonce"] == 2
    assert prepared["payloads"]["permit"]["message"]["nonce"] == 2
    for nonce, code in ((3, "nonce_ahead"), (1, "replayed_nonce")):
        bad = copy.deepcopy(prepared)
        bad["payloads"]["request"]["message"]["nonce"] = nonce
        response = client.post("/v1/relay", json=sign(buyer, bad))
        assert response.status_code == 400 and response.json()["code"] == code, response.text
        assert response.json()["details"]["expected"] == 2
    reused_permit = copy.deepcopy(prepared)
    reused_permit["payloads"]["permit"]["message"]["nonce"] = 1  # the second join's permit nonce
    response = client.post("/v1/relay", json=sign(buyer, reused_permit))
    assert response.status_code == 400 and response.json()["code"] == "replayed_nonce"
    assert response.json()["details"]["expected"] == 2
    response = client.post("/v1/relay", json=sign(buyer, prepared))
    assert response.status_code == 202, response.text
    third = response.json()
    assert third["nonce"] == 2

    worker.run_once()  # one pass sends all three, one after the other
    statuses = [_status(client, r["id"]) for r in (first, second, third)]
    assert [s["status"] for s in statuses] == ["mined"] * 3, statuses
    assert statuses[0]["block_number"] < statuses[1]["block_number"] < statuses[2]["block_number"]
    assert forwarder.nonces(buyer.address) == 3 and token.nonces(buyer.address) == 3
    assert escrow.order(first_deal.deal_id, buyer.address).quantity == 2
    assert escrow.order(second_deal.deal_id, buyer.address).quantity == 3 + 1
    spent = (2 + 3 + 1) * TOP_PRICE  # every join escrows the top price
    assert token.balance_of(buyer.address) == start - spent


def test_a_failed_request_fails_the_ones_queued_behind_it_and_frees_its_nonce(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    forwarder = chain.clients.forwarder
    closing, open_deal = make_deal(chain, join_window=600), make_deal(chain)
    buyer = consumer(chain)
    first = relay(client, buyer, "join", _join(closing))
    second = relay(client, buyer, "join", _join(open_deal))
    advance_time(chain, closing.join_deadline - chain_now(chain))  # the first deal closes

    worker.run_once()
    failed, behind = _status(client, first["id"]), _status(client, second["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "DealClosed"
    assert behind["status"] == "failed" and behind["tx_hash"] is None
    assert behind["error"]["code"] == "previous_request_failed"
    assert behind["error"]["args"] == {"previous": first["id"], "previous_error": "DealClosed"}
    assert forwarder.nonces(buyer.address) == 0  # nothing executed

    # Signing again takes the freed nonce, and goes through.
    again = relay(client, buyer, "join", _join(open_deal))
    assert again["nonce"] == 0
    worker.run_once()
    assert _status(client, again["id"])["status"] == "mined"
    assert chain.clients.escrow.order(open_deal.deal_id, buyer.address).quantity == 1


def test_a_request_whose_predecessor_vanished_fails_with_nonce_gap(
    client: TestClient, services: Services, worker: RelayWorker
) -> None:
    """As if the first request had failed while ``accept`` was queueing the second (a race)."""
    chain = services.chain
    deal, buyer = make_deal(chain), consumer(chain)
    first = relay(client, buyer, "join", _join(deal))
    second = relay(client, buyer, "join", _join(deal))
    with session_factory(services.engine)() as session:
        session.execute(
            update(RelayRequest).where(RelayRequest.id == first["id"]).values(status="failed")
        )
        session.commit()
    worker.run_once()
    status = _status(client, second["id"])
    assert status["status"] == "failed" and status["error"]["code"] == "nonce_gap"
    assert status["error"]["args"] == {"expected_nonce": 0}
    assert chain.clients.forwarder.nonces(buyer.address) == 0


_requests = st.lists(
    st.tuples(st.integers(0, 50), st.none() | st.integers(0, 50)),
    max_size=8,
    unique_by=lambda t: t[0],
)


@given(chain_nonce=st.integers(0, 50), token_nonce=st.integers(0, 50), pending=_requests)
def test_the_next_nonces_follow_the_chain_and_every_queued_request(
    chain_nonce: int, token_nonce: int, pending: list[tuple[int, int | None]]
) -> None:
    rows = tuple(
        SimpleNamespace(
            nonce=n, permit=None if p is None else {"message": {"nonce": p}}, id=f"r{n}"
        )
        for n, p in pending
    )
    queue = SignerQueue(chain_nonce, token_nonce, rows)  # type: ignore[arg-type]
    nxt, permit = queue.next_nonce, queue.next_permit_nonce
    assert nxt >= chain_nonce and all(nxt > n for n, _ in pending)
    assert nxt in (chain_nonce, *(n + 1 for n, _ in pending))  # the next one, never a gap
    assert permit >= token_nonce and all(permit > p for _, p in pending if p is not None)
    assert queue.holder_of(nxt) is None
    for n, _ in pending:
        assert queue.holder_of(n).nonce == n  # type: ignore[union-attr]
    # Queued from the chain's nonce on, contiguously: the next is right after them.
    contiguous = SignerQueue(
        chain_nonce,
        token_nonce,
        tuple(SimpleNamespace(nonce=chain_nonce + i, permit=None) for i in range(len(pending))),  # type: ignore[arg-type]
    )
    assert contiguous.next_nonce == chain_nonce + len(pending)


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_unpinned_documents_are_collected_once_old_and_pinned_ones_never(
    services: Services, tmp_path: Path
) -> None:
    store = EmbeddedDocumentStore(tmp_path / "ipfs", durable=False)
    own = Services(services.settings, store, services.engine, _chain=services.chain)
    worker = RelayWorker(own)
    pinned = store.put(b'{"certificate": "organic"}')
    stale = store.put(b'{"prepared": "never anchored"}', pin=False)
    fresh = store.put(b'{"prepared": "a minute ago"}', pin=False)
    again = store.put(b'{"prepared": "twice"}', pin=False)

    old = UNPINNED_TTL_SECONDS + 3600
    for path in (tmp_path / "ipfs").rglob("*"):
        if path.is_file():
            _age(path, old)  # everything looks two days old...
    for mark in (fresh,):
        _age(tmp_path / "ipfs" / "recent" / mark, 60)  # ...but this was stored a minute ago
    assert store.put(b'{"prepared": "twice"}', pin=False) == again  # stored again: fresh mark

    assert worker.collect_garbage() == 1
    assert store.has(pinned) and store.has(fresh) and store.has(again)
    assert not store.has(stale)
    assert store.get(fresh) == b'{"prepared": "a minute ago"}'
    assert worker.collect_garbage() == 0  # nothing else is old
    assert store.gc() == 2  # without an age, every unpinned document goes
    assert store.pins() == [pinned] and store.get(pinned) == b'{"certificate": "organic"}'


def test_a_signer_may_not_fill_the_outbox(services: Services, tmp_path: Path) -> None:
    """Every queued request is read on each accept of its signer and carried by the relayer: the
    one past MAX_PENDING_PER_SIGNER is refused (429), and taken once the queue is mined."""
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    deal = make_deal(chain, min_quantity=1)
    signer, target, data = repeatable_call(chain, deal)

    def signed(nonce: int) -> dict[str, Any]:
        return signed_forward(chain, signer, target, data, nonce=nonce)

    with TestClient(create_app(own)) as client:
        for nonce in range(MAX_PENDING_PER_SIGNER):
            assert client.post("/v1/relay", json=signed(nonce)).status_code == 202
        refused = client.post("/v1/relay", json=signed(MAX_PENDING_PER_SIGNER))
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["code"] == "too_many_pending"
        assert body["details"]["pending"] == MAX_PENDING_PER_SIGNER
        worker = RelayWorker(own)
        while worker.run_once():
            pass
        again = client.post("/v1/relay", json=signed(MAX_PENDING_PER_SIGNER))
        assert again.status_code == 202, again.text
