"""The signature forms wallets give — ``v`` as 0/1 (some hardware wallets) and a high ``s`` (both
recover the same signer) — are relayed as the forwarder and the token take them (``v`` 27/28,
low ``s``: OpenZeppelin's ECDSA refuses the others).

Found in review: accept recovered the signer from either form and stored the bytes as posted.
A request next on chain was then refused by the forwarder's ``verify`` (400 bad_signature),
but one queued behind the signer's others — whose ``verify`` accept skips — was accepted
(202), sent, skipped by ``executeBatch`` as invalid and failed (``ERC2771ForwarderInvalidSigner``),
with the signer's later requests.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import make_deal, own_outbox, repeatable_call, signed_forward

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _v01(signature: bytes) -> bytes:
    return signature[:64] + bytes([signature[64] - 27])


def _high_s(signature: bytes) -> bytes:
    s = N - int.from_bytes(signature[32:64], "big")
    return signature[:32] + s.to_bytes(32, "big") + bytes([55 - signature[64]])


def test_v_as_0_1_and_a_high_s_are_relayed_in_their_canonical_form(
    services: Services, tmp_path
) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    forwarder = chain.clients.forwarder
    deal = make_deal(chain, min_quantity=1)
    signer, target, data = repeatable_call(chain, deal)

    def signed(nonce: int, form) -> dict:  # type: ignore[no-untyped-def,type-arg]
        body = signed_forward(chain, signer, target, data, nonce=nonce)
        signature = bytes.fromhex(body["signatures"]["request"].removeprefix("0x"))
        body["signatures"]["request"] = "0x" + form(signature).hex()
        return body

    with TestClient(create_app(own)) as client:
        ids = []
        for nonce, form in enumerate((_v01, _high_s, _v01, _high_s)):  # next on chain, then queued
            response = client.post("/v1/relay", json=signed(nonce, form))
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        worker = RelayWorker(own)
        for _ in ids:
            worker.run_once()
        statuses = [client.get(f"/v1/relay/{i}").json() for i in ids]
    assert [s["status"] for s in statuses] == ["mined"] * 4, statuses
    assert forwarder.nonces(signer.address) == 4
