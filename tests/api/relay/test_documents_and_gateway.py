"""Signed uploads (``POST /v1/documents``) and the trustless gateway (``GET /ipfs/{cid}``).

Uploads: only registered accounts or an order's buyer, only allowed types whose bytes match, under
the size limit, with a fresh and unused ``personal_sign`` signature. Gateway: raw blocks and CARs a
client verifies against the CID itself (hashing the bytes here, trusting nothing of the server),
immutable caching headers, 304 on a matching ETag, 400 for a bad CID, 404 for an unknown one.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.routes import documents
from api.services import Services
from traceability.ipfs import iter_car, parse_cid
from traceability.ipfs.cid import split_cid
from traceability.ipfs.reader import verify_block

from .conftest import CREDENTIAL, PNG, funded, upload

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()


@pytest.fixture(scope="module")
def supplier(services: Services):
    """An approved supplier (registered once for this module)."""
    chain = services.chain
    account = funded(chain)
    chain.clients.registry.apply_as_supplier(CREDENTIAL, CREDENTIALS_DIGEST, signer=account)
    chain.clients.registry.approve_supplier(account.address, signer=chain.platform)
    return account


def test_an_approved_supplier_uploads_a_certificate(
    client: TestClient, services: Services, supplier
) -> None:
    pdf = b"%PDF-1.7\n" + secrets.token_bytes(2000) + b"\n%%EOF"
    response = upload(client, supplier, pdf, content_type="application/pdf")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == "supplier" and body["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert services.store.get(body["cid"]) == pdf


def test_uploads_are_refused_with_reasons(client: TestClient, services: Services, supplier) -> None:
    stranger = Account.create()
    response = upload(client, stranger, PNG)
    assert response.status_code == 403 and response.json()["code"] == "not_authorized"

    response = upload(
        client, supplier, b"MZ\x90\x00 a program", content_type="application/x-msdownload"
    )
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    response = upload(client, supplier, b"MZ\x90\x00 not a png", content_type="image/png")
    assert response.status_code == 415 and response.json()["code"] == "content_mismatch"

    response = upload(client, supplier, PNG, timestamp=int(time.time()) - 3600)
    assert response.status_code == 400 and response.json()["code"] == "expired"
    response = upload(client, supplier, PNG, signer=stranger)  # signed by someone else
    assert response.status_code == 400 and response.json()["code"] == "bad_signature"


def test_a_signed_upload_cannot_be_replayed(client: TestClient, supplier) -> None:
    photo = PNG + secrets.token_bytes(16)
    ts = int(time.time())
    assert upload(client, supplier, photo, timestamp=ts).status_code == 201
    replay = upload(client, supplier, photo, timestamp=ts)  # the same signature again
    assert replay.status_code == 400 and replay.json()["code"] == "replayed_signature"


# secp256k1's group order: (r, s, v) and (r, n - s, v ^ 1) both recover the same signer.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _malleated(signature: bytes) -> bytes:
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28


def test_a_signed_upload_cannot_be_replayed_with_a_malleated_signature(
    client: TestClient, supplier
) -> None:
    """Other bytes, the same signed message: the replay check is keyed on what was signed."""
    photo = PNG + secrets.token_bytes(16)
    ts = int(time.time())
    assert upload(client, supplier, photo, timestamp=ts).status_code == 201
    replay = upload(client, supplier, photo, timestamp=ts, reencode=_malleated)
    assert replay.status_code == 400 and replay.json()["code"] == "replayed_signature"


def test_the_size_limit_is_413(
    client: TestClient, supplier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_UPLOAD_BYTES", 1024)
    response = upload(client, supplier, PNG + bytes(2048))
    assert response.status_code == 413 and response.json()["code"] == "document_too_large"


def _verified_car(cid: str, car: bytes) -> dict[bytes, bytes]:
    roots, sections = iter_car(io.BytesIO(car))
    assert roots == [parse_cid(cid)]
    blocks = {}
    for block_cid, data in sections:
        verify_block(block_cid, data)  # the client's own hash check
        blocks[block_cid] = data
    return blocks


def test_gateway_serves_verifiable_raw_blocks_and_cars(
    client: TestClient, services: Services
) -> None:
    big = secrets.token_bytes(3 * 1024 * 1024 + 17)  # several 1 MiB chunks: a real DAG
    cid = services.store.put(big)

    raw = client.get(f"/ipfs/{cid}", headers={"Accept": "application/vnd.ipld.raw"})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/vnd.ipld.raw"
    assert raw.headers["cache-control"] == "public, max-age=29030400, immutable"
    assert raw.headers["x-content-type-options"] == "nosniff"
    verify_block(parse_cid(cid), raw.content)

    car = client.get(f"/ipfs/{cid}?format=car")
    assert car.headers["content-type"].startswith("application/vnd.ipld.car")
    blocks = _verified_car(cid, car.content)
    leaves = [d for c, d in blocks.items() if split_cid(c)[1] == 0x55]
    assert len(leaves) == 4 and sum(map(len, leaves)) == len(big)

    whole = client.get(f"/ipfs/{cid}")
    assert whole.content == big and whole.headers["content-type"] == "application/octet-stream"
    etag = car.headers["etag"]
    again = client.get(f"/ipfs/{cid}?format=car", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content


def test_gateway_refuses_bad_and_unknown_cids(client: TestClient) -> None:
    response = client.get("/ipfs/not-a-cid")
    assert response.status_code == 400 and response.json()["code"] == "invalid_cid"
    unknown = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    response = client.get(f"/ipfs/{unknown}")
    assert response.status_code == 404 and response.json()["code"] == "document_not_found"
    response = client.get(f"/ipfs/{unknown}?format=zip")
    assert response.status_code == 400


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(min_size=1, max_size=5000))
def test_any_stored_bytes_come_back_verifiable_in_every_format(
    client: TestClient, services: Services, data: bytes
) -> None:
    cid = services.store.put(data)
    assert client.get(f"/ipfs/{cid}").content == data
    raw = client.get(f"/ipfs/{cid}", headers={"Accept": "application/vnd.ipld.raw"}).content
    verify_block(parse_cid(cid), raw)
    car = client.get(f"/ipfs/{cid}", headers={"Accept": "application/vnd.ipld.car"}).content
    assert parse_cid(cid) in _verified_car(cid, car)
