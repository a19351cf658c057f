"""The demo seed: every deal state on chain, full trails, and idempotence (a rerun sends nothing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from pydantic import SecretStr
from sqlalchemy import func, select

from api.db import models as m
from api.demo import catalog
from api.demo import seed as seed_module
from api.demo.seed import SeedError, SeedReport, StaleDemo, seed
from api.indexer.runner import make_indexer
from api.services import Services
from chain.clients import BatchStatus, ClaimStatus, DealStatus, PartyKind, PartyStatus
from chain.settings import Settings
from traceability.ipfs import EmbeddedDocumentStore


def test_deals_in_every_state(demo: Any) -> None:
    escrow = demo.services.chain.clients.escrow
    deals = demo.report.deals
    states = {name: escrow.deal_status(deal_id) for name, deal_id in deals.items()}
    assert states == {
        "rice_settled": DealStatus.SETTLED,
        "rice_open": DealStatus.OPEN,
        "pork_claim": DealStatus.SUCCEEDED,
        "pork_failed": DealStatus.FAILED,
        "oranges_frozen": DealStatus.FROZEN,
    }
    # The settled deal paid everyone out (pushed by the keeper account): nothing left owed.
    settled = deals["rice_settled"]
    supplier, leader = catalog.RICE.supplier.address, catalog.LEADERS[0].address
    assert escrow.owed(settled, supplier) == 0 and escrow.owed(settled, leader) == 0
    assert escrow.leader_info(settled, leader).paid_out
    # 李姐's group was delivered one bag short, and its buyer signed for 3 of his 4 at pickup: the
    # short bag is his (refunded in full), so nothing is left for no-shows to share.
    li = catalog.LEADERS[1].address
    shortfall = escrow.shortfall(settled, li)
    assert shortfall.short and shortfall.delivered == 3
    assert shortfall.refund_per_unit == 0
    # The pork deal has a leader's receipt and a buyer's open quality claim.
    claimed = deals["pork_claim"]
    assert escrow.leader_info(claimed, catalog.LEADERS[1].address).received_at > 0
    claim = escrow.claim(claimed, catalog.CONSUMERS[1].address)
    assert claim.status == ClaimStatus.FILED and claim.quantity == 1


def test_parties_and_batches(demo: Any) -> None:
    registry = demo.services.chain.clients.registry
    for supplier in (catalog.RICE_FARM, catalog.PORK_FARM):
        assert registry.party(PartyKind.SUPPLIER, supplier.address).status == PartyStatus.APPROVED
    for leader in catalog.LEADERS:
        assert registry.party(PartyKind.LEADER, leader.address).status == PartyStatus.APPROVED
    statuses = {
        p.key: registry.batch_status(registry.compute_batch_id(p.gtin14, p.lot))
        for p in catalog.PRODUCTS
    }
    assert statuses == {
        "rice": BatchStatus.ACTIVE,
        "pork": BatchStatus.ACTIVE,
        "oranges": BatchStatus.RECALLED,
    }


def test_trails_are_complete_and_verified(demo: Any) -> None:
    from sqlalchemy.orm import Session

    from api import queries

    with Session(demo.services.engine) as session:
        trails = {p.key: queries.provenance(session, p.gtin14, p.lot) for p in catalog.PRODUCTS}
    steps = {key: [e["biz_step"] for e in t["events"]] for key, t in trails.items()}
    for key, trail_steps in steps.items():
        assert any("commissioning" in (s or "") for s in trail_steps), key
        assert trails[key]["verification"]["status"] == "verified", key
        assert trails[key]["batch"]["metadata"]["product"]["zh"]
    assert any("receiving" in (s or "") for s in steps["rice"])
    assert any("sensor_reporting" in (s or "") for s in steps["pork"])
    assert any("holding" in (s or "") for s in steps["oranges"])
    assert trails["pork"]["cold_chain"]["breaches"]


def test_seed_twice_changes_nothing(demo: Any) -> None:
    """Idempotence: the second run finds everything on chain and sends no transaction."""
    with demo.services.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(m.AnchoredEvent)).scalar()
    block = demo.services.chain.w3.eth.block_number
    again = seed(demo.services)
    assert again.transactions == 0 and again.time_jumps == 0 and not again.waiting
    assert again.deals == demo.report.deals and again.batches == demo.report.batches
    assert again.epoch == demo.report.epoch  # read back from the chain, not from a clock
    assert demo.services.chain.w3.eth.block_number == block
    make_indexer(demo.services).sync_until_idle()
    with demo.services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.AnchoredEvent)).scalar() == before


def test_a_demo_seeded_under_other_hash_rules_is_refused_not_mixed(
    demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code whose EPCIS hashes differ (a change of rules, HASH_RULES_VERSION) on a chain seeded by
    the old code: the seed refuses, naming the command, before sending anything."""
    original = seed_module.event_hash_digest
    monkeypatch.setattr(
        seed_module, "event_hash_digest", lambda event: keccak(b"v2" + original(event))
    )
    block = demo.services.chain.w3.eth.block_number
    with pytest.raises(StaleDemo, match=r"another version .* `tuanchain run --fresh`"):
        seed(demo.services)
    assert demo.services.chain.w3.eth.block_number == block


def test_epoch_is_the_rice_farms_first_application(demo: Any) -> None:
    """The demo's dates count back from the first seed transaction's block, read from logs."""
    chain = demo.services.chain
    applied = [
        log
        for log in chain.clients.registry.get_events(
            "PartyApplied", argument_filters={"account": catalog.RICE_FARM.address}
        )
        if int(log["args"]["kind"]) == PartyKind.SUPPLIER
    ]
    first = min(log["blockNumber"] for log in applied)
    assert demo.report.epoch == chain.w3.eth.get_block(first)["timestamp"]


def _trails(demo: Any) -> list[tuple[catalog.Product, dict[str, Any]]]:
    from sqlalchemy.orm import Session

    from api import queries

    with Session(demo.services.engine) as session:
        return [(p, queries.provenance(session, p.gtin14, p.lot)) for p in catalog.PRODUCTS]


def test_trails_run_up_to_chain_time_without_a_jump(demo: Any) -> None:
    """Every event is dated at most a few weeks before the block that anchored it (the seed's
    dates follow the chain's clock) and never after it; catalog events precede the seed epoch,
    receipts follow it; the lot master data's harvest date is the commissioning event's."""
    clock = catalog.DemoClock(demo.report.epoch)
    epoch = datetime.fromtimestamp(demo.report.epoch, UTC)
    for product, trail in _trails(demo):
        assert trail["batch"]["metadata"]["harvest_date"] == clock.harvest(product).isoformat()
        for event in trail["events"]:
            # The document's own eventTime (with its +08:00 offset), not the index column.
            event_time = datetime.fromisoformat(event["document"]["eventTime"])
            anchored = datetime.fromisoformat(event["anchor"]["time"])
            assert timedelta(0) <= anchored - event_time < timedelta(days=21), event
            before = "receiving" not in (event["biz_step"] or "")
            assert (event_time < epoch) == before, event


def test_indexed_event_time_is_the_documents(demo: Any) -> None:
    """The index's event_time is the document's instant (the pages' timeline shows it); on SQLite
    this once read 8 h late, the +08:00 offset dropped by its DateTime."""
    for _, trail in _trails(demo):
        for event in trail["events"]:
            assert datetime.fromisoformat(event["event_time"]) == datetime.fromisoformat(
                event["document"]["eventTime"]
            ), event


def test_first_seed_did_real_work(demo: Any) -> None:
    report: SeedReport = demo.report
    assert report.transactions > 40 and report.time_jumps == 2 and not report.waiting


def test_seed_refuses_a_public_chain(tmp_path) -> None:
    """The demo's accounts are public dev keys: no seed on a non-local chain (nothing sent)."""
    keys = {
        name: SecretStr(Account.create().key.hex())
        for name in ("platform_key", "relayer_key", "keeper_key")
    }
    settings = Settings(
        rpc_url="https://rpc.example.org",
        chain_id=11155111,
        data_dir=tmp_path,
        deployments_dir=tmp_path,
        document_key=Account.create().key.hex(),
        **keys,
    )
    services = Services(
        settings=settings, store=EmbeddedDocumentStore(tmp_path / "ipfs"), engine=None
    )  # type: ignore[arg-type]
    with pytest.raises(SeedError, match="not a local chain"):
        seed(services)


def test_every_anchored_event_hashes_as_gs1s_generator(demo: Any) -> None:
    """Every event the demo anchors (single, receipt, Merkle leaf) carries the hash ID GS1's
    reference generator gives for its stored document, and each batch verifies from the chain
    and the documents alone (receipt quantities included)."""
    from traceability.verify import verify_batch

    from ...traceability.gs1_reference import reference_hash_ids

    clients, store = demo.services.chain.clients, demo.services.store
    anchored = []
    for product in catalog.PRODUCTS:
        report = verify_batch(clients, store, product.gtin14, product.lot)
        assert report.ok, report.to_text()
        for item in report.items:
            if item.kind.value in ("event", "receipt", "merkle-leaf"):
                document = json.loads(store.get(item.document_cid))
                assert item.event_hash_id in reference_hash_ids(document), item
                anchored.append(item.event_hash_id)
    assert len(anchored) == len(set(anchored)) == 16


def test_the_last_mile_is_in_the_demo(demo: Any) -> None:
    """The rice deal shows a handover signed by its buyer, a no-show and a cash order counted
    toward the group and refunded to the leader apart (issue 11)."""
    escrow = demo.services.chain.clients.escrow
    settled = demo.report.deals["rice_settled"]
    wang, li = catalog.LEADERS[0].address, catalog.LEADERS[1].address
    b1, b2, b3 = (b.address for b in catalog.CONSUMERS[:3])
    assert escrow.pickup(settled, b1).quantity == 4  # his signed code, at 王姐's
    assert (escrow.pickup(settled, b2).quantity, escrow.pickup(settled, b2).short_quantity) == (
        3,
        1,
    )
    assert escrow.pickup(settled, b3).at == 0  # the no-show
    ref = keccak(catalog.CASH_SALT + catalog.CASH_NEIGHBOUR.encode())
    cash = escrow.cash_order(settled, wang, ref)
    assert cash.quantity == catalog.CASH_QUANTITY and cash.picked_up_at and cash.paid_out
    assert escrow.cash_totals(settled, wang)[1] > 0  # the rebate went back to 王姐, apart
    assert escrow.leader_info(settled, wang).quantity == 4 + 3 + catalog.CASH_QUANTITY
    assert escrow.leader_info(settled, li).quantity == 4
