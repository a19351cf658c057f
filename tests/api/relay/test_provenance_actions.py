"""Gasless provenance writes: a supplier with no ETH registers a batch (its lot master data stored
as a document) and anchors an EPCIS event (one document per event, CBV 2.0 hash anchored with the
document's CID); an account that is not a batch writer is refused with the registry's named error;
a malformed EPCIS event is a 400 with its JSON path. And, for any single tampered field of a signed
request, the relay answers 400 and queues nothing (hypothesis)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from api.db import session_factory
from api.relayer.models import RelayRequest
from api.relayer.prepare import cid_digest, json_bytes
from api.relayer.worker import RelayWorker
from api.services import Services
from traceability.epcis import commissioning_event, hash_events_in_document, serialize_document
from traceability.ipfs import compute_cid, parse_cid

from .conftest import (
    CREDENTIAL,
    assign_new_prefix,
    funded,
    new_gtin,
    new_prefix,
    prepare,
    relay_and_mine,
    sign,
)

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()


@pytest.fixture(scope="module")
def gasless_supplier(services: Services):
    """An approved supplier that never holds ETH (it applies through the relayer too)."""
    chain = services.chain
    supplier = Account.create()
    registry = chain.clients.registry
    typed = chain.clients.forwarder.prepare(
        sender=supplier.address,
        target=registry.address,
        data=registry.calldata("applyAsSupplier", CREDENTIAL, CREDENTIALS_DIGEST),
    )
    signature = supplier.sign_typed_data(full_message=typed).signature
    chain.clients.forwarder.execute(typed, signature, relayer=chain.relayer)
    registry.approve_supplier(supplier.address, signer=chain.platform)
    return supplier


@pytest.fixture(scope="module")
def gasless_prefix(services: Services, gasless_supplier) -> str:
    """The gasless supplier's GS1 Company Prefix: the GTINs whose batches it may register."""
    return assign_new_prefix(services.chain, gasless_supplier.address)


def _event(gtin: str, lot: str) -> dict:
    event = commissioning_event(
        gtin14=gtin,
        lot=lot,
        quantity=500,
        event_time=datetime(2026, 9, 1, 8, tzinfo=UTC),
        location="geo:45.75,126.63",
        origin_country="CN",
        producer="Wuchang Rice Co-op",
    )
    return serialize_document([event])["epcisBody"]["eventList"][0]


def test_a_supplier_registers_a_batch_and_anchors_an_event_without_gas(
    client: TestClient, services: Services, worker: RelayWorker, gasless_supplier, gasless_prefix
) -> None:
    chain, supplier = services.chain, gasless_supplier
    registry = chain.clients.registry
    gtin, lot = new_gtin(gasless_prefix), "RICE-2026-09"
    metadata = {"product": "五常大米 Wuchang rice", "origin": "Heilongjiang"}
    status = status_batch = relay_and_mine(
        client,
        worker,
        supplier,
        "register_batch",
        {"gtin14": gtin, "lot": lot, "metadata": metadata},
    )
    batch_id = registry.compute_batch_id(gtin, lot)
    assert status["details"]["batch_id"] == "0x" + batch_id.hex()
    info = registry.batch_info(batch_id)
    assert info.supplier == supplier.address and (info.gtin14, info.lot) == (gtin, lot)
    assert json.loads(services.store.get(status["details"]["metadata_cid"])) == metadata
    assert info.metadata_digest == cid_digest(status["details"]["metadata_cid"])

    status = relay_and_mine(
        client,
        worker,
        supplier,
        "anchor_event",
        {"gtin14": gtin, "lot": lot, "event": _event(gtin, lot)},
    )
    details = status["details"]
    document = json.loads(services.store.get(details["document_cid"]))
    assert document["type"] == "EPCISDocument" and len(document["epcisBody"]["eventList"]) == 1
    assert hash_events_in_document(document) == [details["event_hash_id"]]
    anchor = registry.anchor_of(batch_id, bytes.fromhex(details["event_hash"][2:]))
    assert anchor.batch_id == batch_id and anchor.actor == supplier.address
    assert anchor.document_digest == cid_digest(details["document_cid"])
    (log,) = registry.get_events(
        "EventAnchored", from_block=status["block_number"], to_block=status["block_number"]
    )
    assert bytes(log["args"]["documentCid"]) == parse_cid(details["document_cid"])
    assert chain.w3.eth.get_balance(supplier.address) == 0
    # Only what a verified, signed request anchors is pinned; a merely prepared document is not
    # (preparing is unauthenticated, so it must not be a way to fill the store for good).
    store = services.store
    assert store.is_pinned(details["document_cid"])  # type: ignore[attr-defined]
    assert store.is_pinned(status_batch["details"]["metadata_cid"])  # type: ignore[attr-defined]
    unsent = prepare(client, "anchor_event", {
        "from": supplier.address, "gtin14": gtin, "lot": lot,
        "event": {**_event(gtin, lot), "eventTime": "2026-09-02T08:00:00.000Z"},
    })  # fmt: skip
    assert not store.is_pinned(unsent["details"]["document_cid"])  # type: ignore[attr-defined]


def test_provenance_writes_are_refused_with_reasons(
    client: TestClient, services: Services, gasless_supplier
) -> None:
    gtin, lot = new_gtin(), "LOT-X"
    stranger = Account.create()
    metadata = {"lot of": stranger.address}  # unique to this test
    response = client.post(
        "/v1/actions/register_batch/prepare",
        json={"from": stranger.address, "gtin14": gtin, "lot": lot, "metadata": metadata},
    )
    assert response.status_code == 409
    assert response.json()["details"]["error"] == "NotApprovedSupplier"
    # A doomed prepare stores nothing (the metadata document's CID is not in the store).
    assert not services.store.has(compute_cid(json_bytes(metadata), profile=services.store.profile))

    # An approved supplier, but the GTIN is under nobody's prefix, or a restricted-circulation
    # (in-store) number: refused before signing, the contract's reason named.
    for gtin14, error in (
        (gtin, "GtinNotOwned"),
        ("02000000000008", "RestrictedCirculationGtin"),
    ):
        response = client.post(
            "/v1/actions/register_batch/prepare",
            json={"from": gasless_supplier.address, "gtin14": gtin14, "lot": lot, "metadata": {}},
        )
        assert response.status_code == 409, response.text
        assert response.json()["details"]["error"] == error

    bad_event = {**_event(gtin, lot), "action": "TELEPORT"}
    response = client.post(
        "/v1/actions/anchor_event/prepare",
        json={"from": gasless_supplier.address, "gtin14": gtin, "lot": lot, "event": bad_event},
    )
    assert response.status_code == 400

    response = client.post(
        "/v1/actions/file_claim/prepare",
        json={
            "from": stranger.address,
            "deal_id": 1,
            "quantity": 1,
            "evidence_cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        },
    )
    assert response.status_code == 400 and response.json()["code"] == "evidence_not_stored"


def test_a_prepared_document_gone_before_the_relay_is_refused_not_anchored(
    client: TestClient, services: Services, worker: RelayWorker, gasless_supplier
) -> None:
    """A prepared (unpinned) document a garbage collection took before the request was relayed:
    the relay refuses it (409) rather than anchor a CID whose document nobody has; prepared again,
    the document is stored again and the request accepted. Under a Merkle root, a leaf's too."""
    supplier, store = gasless_supplier, services.store
    gtin, lot = new_gtin(), "LOST-1"
    relay_and_mine(
        client, worker, supplier, "register_batch",
        {"gtin14": gtin, "lot": lot, "metadata": {"lost": gtin}},
    )  # fmt: skip
    single = {"from": supplier.address, "gtin14": gtin, "lot": lot, "event": _event(gtin, lot)}
    other = {**_event(gtin, lot), "eventTime": "2026-09-03T08:00:00.000Z"}
    root = {
        "from": supplier.address,
        "events": [{"gtin14": gtin, "lot": lot, "event": e} for e in (_event(gtin, lot), other)],
    }
    before = _requests_of(services, supplier.address)
    for action, body, lost in (
        ("anchor_event", single, lambda d: d["document_cid"]),
        ("anchor_root", root, lambda d: d["manifest_cid"]),
        ("anchor_root", root, lambda d: _leaf_cids(store, d["manifest_cid"])[1]),
    ):
        prepared = prepare(client, action, body)
        store.blocks.delete(parse_cid(lost(prepared["details"])))  # type: ignore[attr-defined]
        response = client.post("/v1/relay", json=sign(supplier, prepared))
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "document_not_stored"
        assert lost(prepared["details"]) in response.json()["message"]
    assert _requests_of(services, supplier.address) == before
    again = prepare(client, "anchor_event", single)
    assert client.post("/v1/relay", json=sign(supplier, again)).status_code == 202
    worker.run_once()


def _requests_of(services: Services, signer: str) -> int:
    with session_factory(services.engine)() as session:
        return session.scalar(
            select(func.count()).select_from(RelayRequest).where(RelayRequest.signer == signer)
        )


def _leaf_cids(store, manifest_cid: str) -> list[str]:
    return [leaf["documentCid"] for leaf in json.loads(store.get(manifest_cid))["leaves"]]


def test_nan_and_infinity_are_refused_not_stored(client: TestClient, gasless_supplier) -> None:
    """Python reads NaN and Infinity in a request body (no other JSON parser does): a document
    holding one would be anchored where nobody could read it. 400, naming where; nothing kept."""
    gtin, lot = new_gtin(), "NAN-1"
    event = _event(gtin, lot)
    event["quantityList"][0]["quantity"] = "__BAD__"
    for action, body in (
        ("register_batch", {"gtin14": gtin, "lot": lot, "metadata": {"weight": "__BAD__"}}),
        ("anchor_event", {"gtin14": gtin, "lot": lot, "event": event}),
    ):
        for bad in ("NaN", "Infinity", "-Infinity"):
            text = json.dumps({"from": gasless_supplier.address, **body}).replace('"__BAD__"', bad)
            response = client.post(
                f"/v1/actions/{action}/prepare",
                content=text,
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code == 400, (action, bad, response.text)
            assert "NaN or Infinity" in response.json()["message"]


def test_a_named_document_the_store_lacks_is_refused(
    client: TestClient, services: Services, worker: RelayWorker, gasless_supplier
) -> None:
    """``metadata_cid`` / ``reason_cid`` name a document uploaded before: one the store does not
    hold is a 400 saying so, not a batch or recall anchored with a document nobody can read."""
    gtin, lot = new_gtin(), "NAMED-1"
    absent = compute_cid(gtin.encode(), profile=services.store.profile)
    body = {"from": gasless_supplier.address, "gtin14": gtin, "lot": lot}
    for action, extra, code in (
        ("register_batch", {"metadata_cid": absent}, "metadata_not_stored"),
        ("recall_batch", {"reason_cid": absent}, "reason_not_stored"),
    ):
        if action == "recall_batch":
            relay_and_mine(client, worker, gasless_supplier, "register_batch", {
                "gtin14": gtin, "lot": lot, "metadata": {"named": gtin},
            })  # fmt: skip
        response = client.post(f"/v1/actions/{action}/prepare", json={**body, **extra})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == code and absent in response.json()["message"]
    stored = services.store.put(json.dumps({"recall": gtin}).encode())
    assert prepare(client, "recall_batch", {**body, "reason_cid": stored})["details"]["reason_cid"]


FIELDS = ["from", "to", "value", "gas", "nonce", "deadline", "data"]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    field=st.sampled_from(FIELDS + ["chainId", "verifyingContract", "name"]),
    seed=st.integers(1, 2**40),
)
def test_any_tampered_field_is_refused_and_queues_nothing(
    client: TestClient, services: Services, gasless_supplier, gasless_prefix, field: str, seed: int
) -> None:
    prepared = prepare(
        client,
        "register_batch",
        {
            "from": gasless_supplier.address,
            "gtin14": new_gtin(gasless_prefix),
            "lot": "H1",
            "metadata": {"seed": seed},
        },
    )
    signed = sign(gasless_supplier, prepared)
    tampered = copy.deepcopy(signed)
    request = tampered["payloads"]["request"]
    if field in FIELDS:
        value = request["message"][field]
        if isinstance(value, int):
            request["message"][field] = value + 1 + seed % 1000
        elif field == "data":
            request["message"][field] = value + f"{seed % 256:02x}"
        else:
            request["message"][field] = Account.create().address
    elif field == "chainId":
        request["domain"]["chainId"] += 1 + seed % 1000
    elif field == "verifyingContract":
        request["domain"]["verifyingContract"] = Account.create().address
    else:
        request["domain"]["name"] = f"Forwarder{seed}"
    with session_factory(services.engine)() as session:
        queued = session.scalar(select(func.count()).select_from(RelayRequest))
    response = client.post("/v1/relay", json=tampered)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in {
        "bad_signature",
        "wrong_domain",
        "untrusted_target",
        "invalid_request",
        "nonce_ahead",
        "expired",
    }
    with session_factory(services.engine)() as session:
        assert session.scalar(select(func.count()).select_from(RelayRequest)) == queued


def test_the_platform_assigns_a_prefix_and_only_its_holder_registers_under_it(
    client: TestClient, services: Services, worker: RelayWorker, gasless_supplier
) -> None:
    """Action company_prefix: the platform's signed assignment, relayed; then the holder's batch
    registers and another supplier's copy of it is refused with the reason."""
    chain = services.chain
    registry = chain.clients.registry
    prefix = new_prefix()
    body = {"supplier": gasless_supplier.address, "decision": "assign"}
    for bad in ("12345", "0412345", "2123456", "12345678901234", "12a4567"):
        refused = client.post(
            "/v1/actions/company_prefix/prepare",
            json={"from": chain.platform.address, "prefix": bad, **body},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["details"]["errors"][0]["loc"] == ["prefix"]
    stranger = Account.create()
    denied = client.post(
        "/v1/actions/company_prefix/prepare",
        json={"from": stranger.address, "prefix": prefix, **body},
    )
    assert denied.status_code == 409
    assert denied.json()["details"]["error"] == "AccessControlUnauthorizedAccount"

    relay_and_mine(client, worker, chain.platform, "company_prefix", {"prefix": prefix, **body})
    assert registry.company_prefix_owner(prefix) == gasless_supplier.address
    gtin = new_gtin(prefix)
    relay_and_mine(
        client,
        worker,
        gasless_supplier,
        "register_batch",
        {"gtin14": gtin, "lot": "OWN", "metadata": {}},
    )
    other = funded(chain)  # an approved supplier, of no prefix
    registry.apply_as_supplier(CREDENTIAL, CREDENTIALS_DIGEST, signer=other)
    registry.approve_supplier(other.address, signer=chain.platform)
    copied = client.post(
        "/v1/actions/register_batch/prepare",
        json={"from": other.address, "gtin14": gtin, "lot": "COPY", "metadata": {}},
    )
    assert copied.status_code == 409 and copied.json()["code"] == "gtin_not_owned"
    assert (
        f"its GS1 Company Prefix is held by {gasless_supplier.address}" in copied.json()["message"]
    )

    relay_and_mine(
        client,
        worker,
        chain.platform,
        "company_prefix",
        {**body, "prefix": prefix, "decision": "revoke"},
    )
    assert registry.company_prefix_owner(prefix) is None
