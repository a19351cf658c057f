"""The platform's escrow settings through the relayer, as the operators' pages send them:
``create_deal`` (checked by :mod:`chain.deal_checks` before anyone signs), ``set_token_allowed``
and ``set_fee_recipient``; signed with eth-account, checked, simulated and mined on anvil."""

from __future__ import annotations

from eth_account import Account
from fastapi.testclient import TestClient

from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import chain_now, make_deal, relay_and_mine


def test_the_platform_lists_a_deal_sets_a_token_and_the_fee_recipient(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    escrow = chain.clients.escrow
    setup = make_deal(chain)  # an approved supplier with an active batch
    now = chain_now(chain)
    listing = {
        "supplier": setup.supplier.address,
        "price_tiers": [
            {"min_quantity": 0, "unit_price": 12_000_000},
            {"min_quantity": 10, "unit_price": 9_900_000},
        ],
        "min_total_quantity": 4,
        "max_total_quantity": 50,
        "per_buyer_limit": 6,
        "join_deadline": now + 3600,
        "delivery_deadline": now + 7200,
        "dispute_window": 3600,
        "answer_window": 1800,
        "commission_bps": 800,
        "commission_tiers": [{"min_volume": 8, "commission_bps": 1100}],
        "platform_fee_bps": 150,
        "batch_ids": ["0x" + setup.batch_id.hex()],
    }
    expected = escrow.deal_count() + 1
    status = relay_and_mine(client, worker, chain.platform, "create_deal", listing)
    assert status["action"] == "create_deal"
    params = escrow.deal_params(expected)
    assert [(t.min_quantity, t.unit_price) for t in params.price_tiers] == [
        (0, 12_000_000),
        (10, 9_900_000),
    ]
    assert (params.commission_tiers[0].min_volume, params.platform_fee_bps) == (8, 150)

    # A past join deadline: refused before signing, with the contract's error and arguments.
    late = client.post(
        "/v1/actions/create_deal/prepare",
        json={"from": chain.platform.address, **listing, "join_deadline": now - 1},
    )
    assert late.status_code == 409, late.text
    assert late.json()["details"]["error"] == "InvalidDeadlines"

    token, recipient = Account.create().address, Account.create().address
    relay_and_mine(client, worker, chain.platform, "set_token_allowed", {"token": token})
    assert escrow.is_token_allowed(token)
    stranger = Account.create().address
    refused = client.post(
        "/v1/actions/set_fee_recipient/prepare",
        json={"from": stranger, "fee_recipient": recipient},
    )
    assert refused.status_code == 409
    assert refused.json()["details"]["error"] == "AccessControlUnauthorizedAccount"
    relay_and_mine(
        client, worker, chain.platform, "set_fee_recipient", {"fee_recipient": recipient}
    )
    assert escrow.fee_recipient() == recipient
    assert client.get(f"/v1/roles/{chain.platform.address}").json()["escrow"] == {
        "DEFAULT_ADMIN_ROLE": True,
        "PLATFORM_ROLE": True,
        "ARBITER_ROLE": True,
    }
