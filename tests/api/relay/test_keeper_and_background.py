"""The keeper from the terminal (``tuanchain keeper --dry-run | --once``) and the service's
background relay worker.

A failed deal's consumer (who joined gaslessly and holds no ETH) is refunded by the keeper
without doing anything: the dry run only prints the plan and moves no money, ``--once`` pushes the
refund. A keeper pointed at a node that is down exits 1 with a message, not a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.indexer import Indexer
from api.keeper import Keeper
from api.relayer import worker as relay_worker
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.clients import DealStatus
from tuanchain_cli import app

from .conftest import (
    CREDENTIAL,
    PNG,
    TIER_PRICE,
    TOP_PRICE,
    advance_time,
    chain_now,
    consumer,
    funded,
    make_deal,
    prepare,
    relay,
    relay_and_mine,
    upload,
)


def _env(services: Services, tmp_path: Path, rpc_url: str | None = None) -> dict[str, str]:
    s = services.settings
    return {
        "TUANCHAIN_RPC_URL": rpc_url or s.rpc_url,
        "TUANCHAIN_DEPLOYMENTS_DIR": str(s.deployments_dir),
        "TUANCHAIN_DATA_DIR": str(tmp_path / "data"),
        "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(tmp_path / "data" / "keeper.db"),
    }


def test_keeper_refunds_a_failed_deal_and_its_dry_run_moves_nothing(
    client: TestClient,
    services: Services,
    worker: RelayWorker,
    chain_snapshot: None,
    tmp_path: Path,
) -> None:
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, min_quantity=5, join_window=600)
    buyer = consumer(chain)
    start = token.balance_of(buyer.address)
    relay_and_mine(
        client,
        worker,
        buyer,
        "join",
        {"deal_id": deal.deal_id, "quantity": 2, "leader": deal.leader.address},
    )
    advance_time(chain, deal.join_deadline - chain_now(chain))  # 2 < 5: the deal failed
    assert escrow.owed(deal.deal_id, buyer.address) == 2 * TOP_PRICE

    runner = CliRunner()
    dry = runner.invoke(app, ["keeper", "--dry-run"], env=_env(services, tmp_path))
    assert dry.exit_code == 0, dry.output
    assert (
        f"would push_payouts deal {deal.deal_id} 1 account(s): deal failed: refunds" in dry.output
    )
    assert token.balance_of(buyer.address) == start - 2 * TOP_PRICE  # nothing moved

    once = runner.invoke(
        app, ["keeper", "--once", "--deal", str(deal.deal_id)], env=_env(services, tmp_path)
    )
    assert once.exit_code == 0, once.output
    assert f"done: push_payouts deal {deal.deal_id}" in once.output
    assert token.balance_of(buyer.address) == start
    assert escrow.owed(deal.deal_id, buyer.address) == 0
    assert chain.w3.eth.get_balance(buyer.address) == 0


def test_keeper_against_a_node_that_is_down_exits_1(
    services: Services, tmp_path: Path, closed_port: int
) -> None:
    down = f"http://127.0.0.1:{closed_port}"
    result = CliRunner().invoke(app, ["keeper", "--once"], env=_env(services, tmp_path, down))
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_the_background_worker_sends_what_the_api_accepts(
    client: TestClient, services: Services, chain_snapshot: None
) -> None:
    deal = make_deal(services.chain)
    buyer = consumer(services.chain)
    stop = relay_worker.start_background(services)
    try:
        accepted = relay(
            client,
            buyer,
            "join",
            {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address},
        )
        status = accepted
        for _ in range(600):  # waits for the thread; bounded so a bug cannot hang the suite
            status = client.get(f"/v1/relay/{accepted['id']}").json()
            if status["status"] in ("mined", "failed"):
                break
            time.sleep(0.05)
        assert status["status"] == "mined", status
    finally:
        stop()
    assert services.chain.clients.escrow.order(deal.deal_id, buyer.address).quantity == 1


def test_keeper_upholds_an_unanswered_claim_then_settles(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """A supplier who does not answer loses the claim: the keeper finalizes it, settles, pays."""
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, join_window=600)
    buyer = consumer(chain)
    start = token.balance_of(buyer.address)
    relay_and_mine(
        client, worker, buyer, "join",
        {"deal_id": deal.deal_id, "quantity": 3, "leader": deal.leader.address},
    )  # fmt: skip
    advance_time(chain, deal.join_deadline - chain_now(chain))
    relay_and_mine(
        client, worker, deal.leader, "confirm_receipt",
        {"deal_id": deal.deal_id, "gtin14": deal.gtin14, "lot": deal.lot, "pickup_point": "geo:1,2"},
    )  # fmt: skip
    evidence = upload(client, buyer, PNG + b"claim", deal_id=deal.deal_id).json()["cid"]
    relay_and_mine(
        client, worker, buyer, "file_claim",
        {"deal_id": deal.deal_id, "quantity": 1, "evidence_cid": evidence},
    )  # fmt: skip
    advance_time(chain, 86_400)  # answer window and dispute window both over, no answer

    keeper = Keeper(chain, deal_ids={deal.deal_id})
    planned = [(a.kind, a.accounts) for a in keeper.plan() if a.deal_id == deal.deal_id]
    assert planned[:2] == [("finalize_claim", (buyer.address,)), ("settle", ())]
    keeper.run_once()
    assert escrow.order(deal.deal_id, buyer.address).upheld_quantity == 1
    # 3 units at the top price (no tier reached), one refunded in full by the upheld claim.
    assert start - token.balance_of(buyer.address) == 2 * TOP_PRICE
    assert escrow.owed(deal.deal_id, buyer.address) == 0


def test_a_recall_stops_sales_at_once_and_the_keeper_refunds(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """The recall's own transaction freezes the open deal (the registry notifies the escrow): the
    next join is refused on chain, and the keeper pushes the gasless consumer's full refund."""
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, join_window=600)
    buyer = consumer(chain)
    start = token.balance_of(buyer.address)
    join = {"deal_id": deal.deal_id, "quantity": 2, "leader": deal.leader.address}
    relay_and_mine(client, worker, buyer, "join", join)
    recall = {"gtin14": deal.gtin14, "lot": deal.lot, "reason": {"reason": "label error"}}
    prepared = prepare(client, "recall_batch", {"from": deal.supplier.address, **recall})
    assert prepared["details"]["frozen_deals"] == [deal.deal_id]
    status = relay_and_mine(client, worker, deal.supplier, "recall_batch", recall)
    assert status["details"]["batch_id"] == "0x" + deal.batch_id.hex()
    assert services.store.is_pinned(status["details"]["reason_cid"])  # type: ignore[attr-defined]
    assert escrow.deal_status(deal.deal_id) == DealStatus.FROZEN  # no keeper pass needed

    refused = client.post("/v1/actions/join/prepare", json={"from": buyer.address, **join})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "deal_is_frozen"

    keeper = Keeper(chain, deal_ids={deal.deal_id})
    assert [(a.kind, a.reason) for a in keeper.plan()] == [
        ("push_payouts", "batch recalled: refunds")
    ]
    keeper.run_once()
    assert token.balance_of(buyer.address) == start


def test_the_keeper_freezes_a_deal_whose_recall_notification_was_missed(
    services: Services, chain_snapshot: None
) -> None:
    """Recovery: with the escrow unregistered, a recall freezes nothing; the keeper's next pass
    freezes the deal (permissionless ``freeze``) and the pass after refunds it."""
    chain = services.chain
    registry, escrow = chain.clients.registry, chain.clients.escrow
    deal = make_deal(chain, join_window=600)
    buyer = funded(chain)
    chain.clients.token.mint(buyer.address, TOP_PRICE, signer=chain.platform)
    chain.clients.token.approve(escrow.address, TOP_PRICE, signer=buyer)
    escrow.join(deal.deal_id, 1, deal.leader.address, signer=buyer)
    registry.remove_escrow(escrow.address, signer=chain.platform)
    receipt = registry.recall_batch(deal.batch_id, CREDENTIAL, signer=deal.supplier)
    assert escrow.events_in(receipt, "DealFrozen") == []
    assert escrow.deal_status(deal.deal_id) == DealStatus.OPEN

    keeper = Keeper(chain, deal_ids={deal.deal_id})
    assert [a.kind for a in keeper.run_once().done] == ["freeze"]
    assert escrow.deal_status(deal.deal_id) == DealStatus.FROZEN
    assert [a.kind for a in keeper.run_once().done] == ["push_payouts"]
    assert escrow.owed(deal.deal_id, buyer.address) == 0


def test_a_short_delivery_is_refunded_to_the_groups_buyers(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """The leader's gasless receipt states 3 of the 5 units ordered (the receiving event says 3):
    at settlement the keeper pays the supplier, fee and commission on 3 units only, and the two
    buyers get back the 2 missing units at the final price, shared by their units, exactly."""
    chain = services.chain
    token, escrow = chain.clients.token, chain.clients.escrow
    deal = make_deal(chain, min_quantity=5, join_window=600)
    buyers = [consumer(chain), consumer(chain)]
    start = {b.address: token.balance_of(b.address) for b in buyers}
    for buyer, units in zip(buyers, (3, 2), strict=True):
        relay_and_mine(
            client, worker, buyer, "join",
            {"deal_id": deal.deal_id, "quantity": units, "leader": deal.leader.address},
        )  # fmt: skip
    advance_time(chain, deal.join_deadline - chain_now(chain))
    receipt = {
        "deal_id": deal.deal_id, "gtin14": deal.gtin14, "lot": deal.lot,
        "pickup_point": "geo:1,2", "quantity": 3,
    }  # fmt: skip
    status = relay_and_mine(client, worker, deal.leader, "confirm_receipt", receipt)
    assert status["details"]["received_quantity"] == 3
    document = json.loads(services.store.get(status["details"]["document_cid"]))
    (event,) = document["epcisBody"]["eventList"]
    assert event["quantityList"][0]["quantity"] == 3  # the anchored event says what arrived
    assert escrow.deal_totals(deal.deal_id).received_quantity == 3

    advance_time(chain, 3600 + 86_400)
    Keeper(chain, deal_ids={deal.deal_id}).run_once()
    assert escrow.deal_status(deal.deal_id) == DealStatus.SETTLED
    # 5 units reached the 5-unit tier: each buyer gets the rebate on its units, and the group
    # the 2 missing units at the final price.
    refunds = sum(
        token.balance_of(b.address) - (start[b.address] - units * TOP_PRICE)
        for b, units in zip(buyers, (3, 2), strict=True)
    )
    assert refunds == 5 * (TOP_PRICE - TIER_PRICE) + 2 * TIER_PRICE
    totals = escrow.deal_totals(deal.deal_id)
    revenue = 3 * TIER_PRICE
    assert totals.platform_fee == revenue * 200 // 10_000
    assert escrow.leader_info(deal.deal_id, deal.leader.address).commission == revenue // 10
    assert all(
        escrow.owed(deal.deal_id, a) == 0
        for a in (*[b.address for b in buyers], deal.supplier.address, deal.leader.address)
    )
    # The read API's mirror of the rule (api/queries.py) agrees with the contract.
    Indexer(engine=services.engine, chain=chain, store=services.store).sync_until_idle()
    detail = client.get(f"/v1/deals/{deal.deal_id}").json()
    (group,) = detail["leaders"]
    assert (group["receipt"]["delivered"], group["receipt"]["short"]) == (3, 2)
    assert group["receipt"]["short_refund"] == 2 * TIER_PRICE
    assert group["commission"] == escrow.leader_info(deal.deal_id, deal.leader.address).commission
