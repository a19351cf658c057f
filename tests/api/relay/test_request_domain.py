"""A forward request must be signed under the forwarder's own EIP-712 domain — its name and
version and the standard domain type too, not only its chain id and address.

Found in review: accept compared only ``chainId`` and ``verifyingContract``, then recovered the
signer under the domain the client sent; the forwarder's own ``verify`` (which would refuse it)
is asked only for a request next on chain. So a request queued behind the signer's others,
signed under another domain name, was accepted (202), sent in a batch, skipped there as
invalid (``ERC2771ForwarderInvalidSigner``) and failed — with the signer's later requests.
"""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services

from .conftest import consumer, make_deal, own_outbox, prepare, relay, repeatable_call, sign


def test_a_request_signed_under_another_domain_name_is_refused_even_queued(
    services: Services, tmp_path
) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    forwarder = chain.clients.forwarder
    deal = make_deal(chain, min_quantity=1)
    signer, target, data = repeatable_call(chain, deal)

    def signed(nonce: int, salt: bool = False, **domain: object) -> dict:  # type: ignore[type-arg]
        typed = forwarder.prepare(
            sender=signer.address,
            target=target,
            data=data,
            gas=100_000,
        )
        typed["message"]["nonce"] = nonce
        typed["domain"].update(domain)
        if salt:  # a domain type with one more field: another domain separator
            typed["types"]["EIP712Domain"] = [
                *typed["types"]["EIP712Domain"],
                {"name": "salt", "type": "bytes32"},
            ]
            typed["domain"]["salt"] = "0x" + "11" * 32
        signature = signer.sign_typed_data(full_message=typed).signature.to_0x_hex()
        return {"payloads": {"request": typed}, "signatures": {"request": signature}}

    with TestClient(create_app(own)) as client:
        assert client.post("/v1/relay", json=signed(0)).status_code == 202
        for salt, domain in (
            (False, {"name": "Not the forwarder"}),
            (False, {"version": "2"}),
            (True, {}),
        ):
            response = client.post("/v1/relay", json=signed(1, salt, **domain))  # behind 0
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "wrong_domain"
        assert client.post("/v1/relay", json=signed(1)).status_code == 202


def test_a_queued_joins_permit_signed_under_another_token_domain_is_refused(
    services: Services, tmp_path
) -> None:
    """The same gap for a join's permit: its domain was checked on chain id and token address
    only, and a permit waiting behind a queued join's is simulated expecting the allowance to
    fail — so one signed under another token name was accepted (202), skipped by ``permitAll``
    (its signature is no owner's under the token's own domain) and the join failed inside the
    batch on the allowance, its nonce spent and the relayer's gas paid."""
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    first, second = make_deal(chain, min_quantity=1), make_deal(chain, min_quantity=1)
    buyer = consumer(chain)

    def join(deal):  # type: ignore[no-untyped-def]
        return {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address}

    with TestClient(create_app(own)) as client:
        relay(client, buyer, "join", join(first))
        prepared = prepare(client, "join", {"from": buyer.address, **join(second)})
        forged = copy.deepcopy(prepared)
        forged["payloads"]["permit"]["domain"]["name"] = "Not the token"
        response = client.post("/v1/relay", json=sign(buyer, forged))
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "wrong_domain"
        assert client.post("/v1/relay", json=sign(buyer, prepared)).status_code == 202
