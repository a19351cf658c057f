"""The indexer against a real anvil with real transactions: what it stores, and that it is
resumable, idempotent on replays, rebuildable from scratch with identical tables, safe against a
re-org (``evm_snapshot``/``evm_revert`` then different blocks), and not stopped by store misses."""

from __future__ import annotations

import json
import uuid

from eth_account import Account
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from api.db import models as m
from api.queries.common import company_prefixes
from api.services import Services
from traceability.epcis import (
    commissioning_event,
    digest_from_hash_id,
    hash_events_in_document,
    serialize_document,
)
from traceability.ipfs import StoreUnavailable, compute_cid, parse_cid
from traceability.merkle import build_manifest

from .conftest import dump_tables, make_indexer
from .world import (
    CREDENTIALS_DIGEST,
    GLN_FARM,
    T0,
    WORLD_PREFIX,
    World,
    batch_id,
    store_event,
    world_gtin,
)


def _events(engine, gtin: str, lot: str) -> list[m.AnchoredEvent]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(m.AnchoredEvent)
                .where(m.AnchoredEvent.batch_id == batch_id(gtin, lot))
                .order_by(m.AnchoredEvent.event_time)
            )
        )


def test_index_holds_the_world(world: World, services: Services, fresh_engine) -> None:
    engine = fresh_engine()
    result = make_indexer(engine, services).sync()
    assert result.to_block == result.head and result.reorg_from is None

    rice = _events(engine, *world.rice)
    assert [e.kind for e in rice] == ["single", "single", "single", "receipt"]
    assert all(e.verification == "verified" for e in rice)
    # Ordered by event time although anchored shipping-first.
    assert [e.biz_step for e in rice] == ["commissioning", "inspecting", "shipping", "receiving"]
    assert {f"ni:///sha-256;{e.event_hash[2:]}?ver=CBV2.0" for e in rice} == set(
        world.hash_ids["rice"] + world.hash_ids["receipt"]
    )

    pork = _events(engine, *world.pork)
    assert [e.kind for e in pork] == ["merkle", "merkle"]
    assert all(e.verification == "verified" and e.root == "0x" + world.root.hex() for e in pork)

    (ghost,) = _events(engine, *world.missing)
    assert ghost.verification == "missing"

    with Session(engine) as session:
        pork_batch = session.scalar(select(m.Batch).where(m.Batch.lot == world.pork[1]))
        assert pork_batch.breach_count == 1
        (breach,) = pork_batch.cold_chain["breaches"]
        assert (breach["value"], breach["limit"], breach["bound"]) == (7.5, 4.0, "max")
        assert len(pork_batch.cold_chain["readings"]) == 4
        assert pork_batch.metadata_json["cold_chain"] == {"min_c": 0, "max_c": 4}
        recalls = session.scalars(
            select(m.BatchStatusEvent.status).where(
                m.BatchStatusEvent.batch_id == batch_id(*world.recalled)
            )
        ).all()
        assert recalls == ["recalled"]
        outcomes = {(o.deal_id, o.kind) for o in session.scalars(select(m.DealOutcome)).all()}
        assert {(world.settled_deal, "settled"), (world.frozen_deal, "frozen")} <= outcomes
        orders = session.scalars(
            select(m.OrderEvent).where(m.OrderEvent.deal_id == world.settled_deal)
        ).all()
        assert sorted((o.kind, o.quantity) for o in orders) == [
            ("cancel", 1),
            ("join", 1),
            ("join", 2),
            ("join", 4),
        ]


def test_merkle_proofs_verify_on_chain(world: World, services: Services, fresh_engine) -> None:
    engine = fresh_engine()
    make_indexer(engine, services).sync()
    registry = services.chain.clients.registry
    for event in _events(engine, *world.pork):
        proof = [bytes.fromhex(p[2:]) for p in event.proof]
        assert registry.verify_event_in_root(
            event.actor, world.root, bytes.fromhex(event.event_hash[2:]), proof
        )


def test_resumes_range_by_range_to_the_same_tables(
    world: World, services: Services, fresh_engine
) -> None:
    whole, stepwise = fresh_engine(), fresh_engine()
    make_indexer(whole, services).sync()
    indexer = make_indexer(stepwise, services, range_size=7)
    first = indexer.sync(max_ranges=2)
    assert first.to_block < first.head  # stopped part way, as after a crash
    # A new indexer object (a restarted process) continues from the stored last block.
    make_indexer(stepwise, services, range_size=7).sync_until_idle()
    assert dump_tables(stepwise) == dump_tables(whole)


def test_bulk_inserts_store_what_sqlalchemy_inserts_store(
    world: World, services: Services, fresh_engine, monkeypatch
) -> None:
    """COPY (PostgreSQL) / one prepared executemany (SQLite) with the columns' own bind
    processors and scalar defaults: the same rows, value for value and type for type, as
    ``session.execute(insert(table), rows)``."""
    from api.indexer import core

    bulk, plain = fresh_engine(), fresh_engine()
    make_indexer(bulk, services).sync(enrich=False)
    monkeypatch.setattr(
        core,
        "bulk_insert",
        lambda session, table, rows: rows and session.execute(insert(table), rows),
    )
    make_indexer(plain, services).sync(enrich=False)
    assert dump_tables(bulk) == dump_tables(plain)
    assert dump_tables(bulk)["deals"]  # the world was indexed at all


def test_deal_totals_follow_each_commit_of_the_index(
    world: World, services: Services, fresh_engine
) -> None:
    """``/v1/deals``' total is kept per state of the index: every range the indexer commits
    (and a rebuild) gives the count of the deals then in the table, never a stale one."""
    from sqlalchemy import func

    from api.queries import list_deals

    engine = fresh_engine()
    indexer = make_indexer(engine, services, range_size=3)
    seen = []
    while True:
        result = indexer.sync(enrich=False, max_ranges=1)
        with Session(engine) as session:
            counted = session.scalar(select(func.count()).select_from(m.Deal))
            assert list_deals(session, limit=1)["total"] == counted
            assert list_deals(session, status="open", limit=200)["total"] == len(
                list_deals(session, status="open", limit=200)["items"]
            )
            seen.append(counted)
        if result.to_block >= result.head:
            break
    assert seen[0] < seen[-1]  # deals arrived part way, and the total moved with them
    indexer.rebuild()
    with Session(engine) as session:
        assert list_deals(session, limit=1)["total"] == seen[-1]


def test_replaying_blocks_changes_nothing(world: World, services: Services, fresh_engine) -> None:
    engine = fresh_engine()
    indexer = make_indexer(engine, services)
    indexer.sync()
    before = dump_tables(engine)
    # Forget the progress (a crash after the rows committed but before the state did).
    with Session(engine) as session, session.begin():
        session.execute(update(m.IndexerState).values(last_block=indexer.start_block - 1))
    result = indexer.sync()
    assert result.logs > 0 and result.rows == 0
    assert dump_tables(engine) == before


def test_rebuild_from_scratch_gives_identical_tables(
    world: World, services: Services, fresh_engine
) -> None:
    engine = fresh_engine()
    indexer = make_indexer(engine, services)
    indexer.sync()
    before = dump_tables(engine)
    assert before["anchored_events"] and before["deals"]
    indexer.rebuild()
    assert dump_tables(engine) == before


def test_reorg_rolls_back_to_the_fork_and_reindexes(
    world: World, services: Services, fresh_engine
) -> None:
    engine = fresh_engine()
    chain = services.chain
    indexer = make_indexer(engine, services)
    registry = chain.clients.registry
    provider = chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]
    fork_block = chain.w3.eth.block_number
    orphan = (world_gtin(), "ORPHAN")
    kept = (world_gtin(), "KEPT")
    try:
        registry.register_batch(*orphan, _meta(services), signer=world.supplier)
        indexer.sync()
        with Session(engine) as session:
            assert session.scalar(select(m.Batch).where(m.Batch.gtin == orphan[0])) is not None
    finally:
        provider.make_request("evm_revert", [snapshot])
        chain.sender.reset_all_nonces()
    # The other branch: different transactions at the same heights.
    registry.register_batch(*kept, _meta(services), signer=world.supplier)
    registry.register_batch(
        world_gtin(),
        "KEPT2",
        _meta(services),
        signer=world.supplier,
    )
    result = indexer.sync()
    assert result.reorg_from is not None and result.reorg_from <= fork_block
    with Session(engine) as session:
        gtins = set(session.scalars(select(m.Batch.gtin)).all())
        assert orphan[0] not in gtins and kept[0] in gtins
        (row,) = session.scalars(select(m.Batch).where(m.Batch.gtin == kept[0])).all()
        on_chain = chain.w3.eth.get_block(row.block_number)["hash"]
        stored = session.get(m.IndexedBlock, row.block_number)
        assert stored is not None and stored.hash == "0x" + bytes(on_chain).hex()
    # And the result equals a fresh index of the surviving chain.
    fresh = fresh_engine()
    make_indexer(fresh, services).sync()
    assert dump_tables(engine) == dump_tables(fresh)


_DIGITS = str.maketrans("abcdef", "123456")


def test_reorg_between_reading_logs_and_headers_keeps_no_orphan(
    world: World, services: Services, fresh_engine
) -> None:
    """A re-org after ``eth_getLogs`` read a range but before its block hashes were read: the
    orphaned logs must not be stored under the new branch's hashes (the re-org check would agree
    with them forever, and the new branch's logs at those heights would never be read)."""
    engine = fresh_engine()
    chain = services.chain
    indexer = make_indexer(engine, services)
    indexer.sync()
    registry = chain.clients.registry
    provider = chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]
    orphan = (world_gtin(), "ORPHAN")
    kept = (world_gtin(), "KEPT")
    registry.register_batch(*orphan, _meta(services), signer=world.supplier)
    read_logs = indexer.source.logs
    reorged: list[bool] = []

    def logs_then_reorg(from_block: int, to_block: int) -> list:
        found = read_logs(from_block, to_block)
        if not reorged:  # the node switches branches right after answering eth_getLogs
            reorged.append(True)
            provider.make_request("evm_revert", [snapshot])
            chain.sender.reset_all_nonces()
            registry.register_batch(*kept, _meta(services), signer=world.supplier)
        return found

    indexer.source.logs = logs_then_reorg  # type: ignore[method-assign]
    try:
        indexer.sync_until_idle()
    finally:
        indexer.source.logs = read_logs  # type: ignore[method-assign]
    assert reorged
    indexer.sync_until_idle()
    with Session(engine) as session:
        gtins = set(session.scalars(select(m.Batch.gtin)).all())
    assert orphan[0] not in gtins and kept[0] in gtins
    fresh = fresh_engine()
    make_indexer(fresh, services).sync()
    assert dump_tables(engine) == dump_tables(fresh)


def test_store_miss_is_retried_and_does_not_stop_indexing(
    world: World, services: Services, fresh_engine
) -> None:
    engine = fresh_engine()

    class DownStore:
        """The embedded store, unreachable (a Kubo daemon that is down)."""

        def get(self, cid: str) -> bytes:
            raise StoreUnavailable("kubo", "connection refused")

    indexer = make_indexer(engine, services)
    real_store = indexer.enricher.store
    indexer.enricher.store = DownStore()  # type: ignore[assignment]
    result = indexer.sync()
    assert result.to_block == result.head  # indexing went on
    with Session(engine) as session:
        statuses = set(session.scalars(select(m.AnchoredEvent.verification)).all())
        assert statuses == {"missing"}
        roots = set(session.scalars(select(m.MerkleRoot.manifest_status)).all())
        assert roots == {"missing"}
    indexer.enricher.store = real_store
    indexer.sync()
    rice = _events(engine, *world.rice)
    assert rice and all(e.verification == "verified" for e in rice)
    assert [e.verification for e in _events(engine, *world.pork)] == ["verified", "verified"]


def test_document_arriving_late_becomes_verified(
    world: World, services: Services, fresh_engine
) -> None:
    chain = services.chain
    gtin, lot = world_gtin(), "LATE"
    registry = chain.clients.registry
    bid = registry.register_batch(gtin, lot, _meta(services), signer=world.supplier)
    event = commissioning_event(gtin14=gtin, lot=lot, quantity=3, event_time=T0, location=GLN_FARM)
    document = json.dumps(serialize_document([event])).encode()
    hash_id = hash_events_in_document(document)[0]
    # Anchored with the document's CID, but the document is not in the store yet.
    registry.anchor_event(
        bid, digest_from_hash_id(hash_id), parse_cid(compute_cid(document)), signer=world.supplier
    )
    engine = fresh_engine()
    indexer = make_indexer(engine, services)
    indexer.sync()
    (row,) = _events(engine, gtin, lot)
    assert row.verification == "missing"
    services.store.put(document)
    indexer.sync()
    (row,) = _events(engine, gtin, lot)
    assert row.verification == "verified" and row.biz_step == "commissioning"


def test_lot_master_data_arriving_late_loads_and_moves_the_index_version(
    world: World, services: Services, fresh_engine
) -> None:
    """A batch whose master data reaches the store after it was indexed gets its product once
    the data is there, and that pass moves the index's version: pages and answers cached by
    version (the read cache) must not keep showing the batch without its product."""
    # A document no earlier run put in the session's shared store (each backend runs this test).
    gtin, lot = world_gtin(), f"LATE-{uuid.uuid4().hex[:8]}"
    data = json.dumps({"lot": lot, "product": {"en": "Late rice", "zh": "迟到的米"}}).encode()
    services.chain.clients.registry.register_batch(
        gtin, lot, parse_cid(compute_cid(data)), signer=world.supplier
    )
    engine = fresh_engine()
    indexer = make_indexer(engine, services)
    indexer.sync()

    def batch_and_version() -> tuple[m.Batch, int]:
        with Session(engine) as session:
            batch = session.scalars(
                select(m.Batch).where(m.Batch.batch_id == batch_id(gtin, lot))
            ).one()
            return batch, session.scalars(select(m.IndexerState.version)).one()

    batch, before = batch_and_version()
    assert batch.metadata_status == "missing" and batch.metadata_json is None
    services.store.put(data)
    indexer.sync()
    batch, after = batch_and_version()
    assert batch.metadata_status == "loaded"
    assert batch.metadata_json["product"]["en"] == "Late rice"
    assert after > before


def test_tampered_document_is_a_mismatch(world: World, services: Services, fresh_engine) -> None:
    """A document whose event does not hash to the anchored hash is flagged, not trusted."""
    chain = services.chain
    gtin, lot = world_gtin(), "TAMPER"
    registry = chain.clients.registry
    bid = registry.register_batch(gtin, lot, _meta(services), signer=world.supplier)
    real = commissioning_event(gtin14=gtin, lot=lot, quantity=10, event_time=T0, location=GLN_FARM)
    fake = commissioning_event(gtin14=gtin, lot=lot, quantity=99, event_time=T0, location=GLN_FARM)
    real_hash = digest_from_hash_id(hash_events_in_document(serialize_document([real]))[0])
    fake_cid = services.store.put(json.dumps(serialize_document([fake])).encode())
    registry.anchor_event(bid, real_hash, parse_cid(fake_cid), signer=world.supplier)
    engine = fresh_engine()
    make_indexer(engine, services).sync()
    (row,) = _events(engine, gtin, lot)
    assert row.verification == "mismatch"


def test_one_event_hash_anchored_under_two_batches_indexes_twice(
    world: World, services: Services, fresh_engine
) -> None:
    """Anchors are unique per batch: another batch anchoring the same hash (a copy from the
    mempool, say) is a row of its own, and neither batch's trail loses or gains a row."""
    registry = services.chain.clients.registry
    gtin = world_gtin()
    ours = registry.register_batch(gtin, "OURS", _meta(services), signer=world.supplier)
    theirs = registry.register_batch(gtin, "THEIRS", _meta(services), signer=world.supplier)
    event = commissioning_event(
        gtin14=gtin, lot="OURS", quantity=5, event_time=T0, location=GLN_FARM
    )
    cid = services.store.put(json.dumps(serialize_document([event])).encode())
    digest = digest_from_hash_id(hash_events_in_document(serialize_document([event]))[0])
    registry.anchor_event(theirs, digest, parse_cid(cid), signer=world.supplier)
    registry.anchor_event(ours, digest, parse_cid(cid), signer=world.supplier)
    engine = fresh_engine()
    make_indexer(engine, services).sync()
    (mine,) = _events(engine, gtin, "OURS")
    (copy,) = _events(engine, gtin, "THEIRS")
    assert mine.event_hash == copy.event_hash == "0x" + digest.hex()
    assert (mine.batch_id, copy.batch_id) == ("0x" + ours.hex(), "0x" + theirs.hex())
    assert mine.verification == "verified"


def test_one_root_anchored_by_two_suppliers_indexes_as_two_roots(
    world: World, services: Services, fresh_engine
) -> None:
    """Roots are unique per anchorer: another supplier anchoring a copy of the root first (from
    the mempool, say) is a root of its own; the victim's anchor still counts its batch's leaves,
    the copy's do not (its anchorer may not anchor that batch)."""
    chain, registry = services.chain, services.chain.clients.registry
    copier = Account.create()
    chain.sender.send(chain.platform, to=copier.address, value=10**18)
    registry.apply_as_supplier(_meta(services), CREDENTIALS_DIGEST, signer=copier)
    registry.approve_supplier(copier.address, signer=chain.platform)
    gtin = world_gtin()
    registry.register_batch(gtin, "ROOT", _meta(services), signer=world.supplier)
    event = commissioning_event(
        gtin14=gtin, lot="ROOT", quantity=5, event_time=T0, location=GLN_FARM
    )
    _, hash_id, cid = store_event(services.store, event)
    manifest = build_manifest([(hash_id, cid, gtin, "ROOT")])
    manifest_cid = parse_cid(services.store.put(manifest.dumps()))
    registry.anchor_root(manifest.root, 1, manifest_cid, signer=copier)  # the front-run
    registry.anchor_root(manifest.root, 1, manifest_cid, signer=world.supplier)
    engine = fresh_engine()
    make_indexer(engine, services).sync()
    with Session(engine) as session:
        roots = session.scalars(
            select(m.MerkleRoot).where(m.MerkleRoot.root == "0x" + manifest.root.hex())
        ).all()
    assert sorted(r.anchorer for r in roots) == sorted((copier.address, world.supplier.address))
    assert {r.manifest_status for r in roots} == {"loaded"}
    (leaf,) = _events(engine, gtin, "ROOT")
    assert leaf.actor == world.supplier.address
    assert leaf.verification == "verified"
    proof = [bytes.fromhex(p[2:]) for p in leaf.proof]
    for anchorer in (world.supplier.address, copier.address):
        assert registry.verify_event_in_root(
            anchorer, manifest.root, digest_from_hash_id(hash_id), proof
        )


def _meta(services: Services) -> bytes:
    return parse_cid(services.store.put(b'{"product": {"en": "test"}}'))


def test_blocks_within_confirmations_are_provisional(
    world: World, services: Services, fresh_engine
) -> None:
    from api import queries

    engine = fresh_engine()
    head = services.chain.w3.eth.block_number
    rice_blocks = [e.block_number for e in _events(services.engine, *world.rice)] or [0]
    confirmations = head - min(rice_blocks) + 1  # every rice anchor is still unconfirmed
    make_indexer(engine, services, confirmations=confirmations).sync()
    with Session(engine) as session:
        body = queries.provenance(session, *world.rice)
    assert body["events"] and all(e["anchor"]["provisional"] for e in body["events"])
    settled = fresh_engine()
    make_indexer(settled, services, confirmations=0).sync()
    with Session(settled) as session:
        body = queries.provenance(session, *world.rice)
    assert not any(e["anchor"]["provisional"] for e in body["events"])


def test_company_prefixes_are_indexed_and_held_until_revoked(
    world: World, services: Services, fresh_engine
) -> None:
    """CompanyPrefixAssigned / Revoked become rows; a supplier holds a prefix from its latest
    assignment until it is revoked, and a reassigned prefix moves to its new holder."""
    chain, registry = services.chain, services.chain.clients.registry
    other = Account.create()
    chain.sender.send(chain.platform, to=other.address, value=10**18)
    registry.apply_as_supplier(_meta(services), CREDENTIALS_DIGEST, signer=other)
    kept, moved = (
        "1" + uuid.uuid4().hex[:8].translate(_DIGITS),
        "1" + uuid.uuid4().hex[:9].translate(_DIGITS),
    )
    registry.assign_company_prefix(kept, world.supplier.address, signer=chain.platform)
    registry.assign_company_prefix(moved, world.supplier.address, signer=chain.platform)
    registry.revoke_company_prefix(moved, signer=chain.platform)
    registry.assign_company_prefix(moved, other.address, signer=chain.platform)  # a pending one
    engine = fresh_engine()
    make_indexer(engine, services).sync()
    with Session(engine) as session:
        rows = session.scalars(
            select(m.CompanyPrefixEvent)
            .where(m.CompanyPrefixEvent.prefix == moved)
            .order_by(m.CompanyPrefixEvent.block_number)
        ).all()
        assert [(r.action, r.supplier, r.by) for r in rows] == [
            ("assigned", world.supplier.address, chain.platform.address),
            ("revoked", world.supplier.address, chain.platform.address),
            ("assigned", other.address, chain.platform.address),
        ]
        held = company_prefixes(session)
        mine = company_prefixes(session, world.supplier.address)
    assert kept in held[world.supplier.address] and moved not in held[world.supplier.address]
    assert held[other.address] == [moved]
    assert mine == {world.supplier.address: held[world.supplier.address]}
    assert WORLD_PREFIX in mine[world.supplier.address]
