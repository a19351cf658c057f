"""Verification of a batch's whole trail on anvil: honest trails verify, tampering is named.

The trail is written the way the service writes it (one-event EPCIS documents in the
embedded store, ``anchorEvent`` per event, ``anchorRoot`` with a manifest for batches of
events); the verifier reads only chain logs and the store.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace

from eth_account.signers.local import LocalAccount

from chain.accounts import dev_account
from chain.clients import DealParams, PriceTier
from traceability.epcis import digest_from_hash_id, dumps_document, receiving_event
from traceability.ipfs import KUBO_DEFAULT_V0, EmbeddedDocumentStore, parse_cid
from traceability.merkle import BatchManifest, build_manifest
from traceability.verify import (
    RECEIPT_QUANTITY_FIELD,
    ItemKind,
    ItemStatus,
    batch_id_of,
    receipt_quantity_problems,
    verify_batch,
)

from .conftest import FARM, GTIN14, LOT, START, Trail, approved_supplier

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()


def _by_kind(report, kind: ItemKind) -> list:  # type: ignore[no-untyped-def]
    return [i for i in report.items if i.kind is kind]


def test_an_honest_trail_verifies(trail: Trail) -> None:
    commissioning, shipping, *batched = trail.events(5)
    single = [trail.anchor_event(commissioning), trail.anchor_event(shipping)]
    entries = [trail.store_event(e) for e in batched]
    manifest, _, root_receipt = trail.anchor_root(entries)

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    assert report.ok, report.to_text()
    assert report.registered and report.batch_status == "active"
    assert report.supplier == trail.supplier.address
    assert report.batch_id == "0x" + trail.batch_id.hex() == "0x" + batch_id_of(GTIN14, LOT).hex()
    assert report.counts() == {"verified": 6, "mismatch": 0, "missing": 0}
    (metadata,) = _by_kind(report, ItemKind.BATCH_METADATA)
    assert metadata.document_cid == trail.metadata_cid

    events = _by_kind(report, ItemKind.EVENT)
    assert [(i.event_hash_id, i.document_cid) for i in events] == [
        (a.hash_id, a.cid) for a in single
    ]
    for item, anchored in zip(events, single, strict=True):
        assert anchored.receipt is not None
        assert item.block_number == anchored.receipt["blockNumber"]
        assert item.tx_hash == "0x" + bytes(anchored.receipt["transactionHash"]).hex()

    leaves = _by_kind(report, ItemKind.MERKLE_LEAF)
    assert [(i.event_hash_id, i.document_cid) for i in leaves] == list(entries)
    assert {i.merkle_root for i in leaves} == {"0x" + manifest.root.hex()}
    assert {i.block_number for i in leaves} == {root_receipt["blockNumber"]}
    assert "VERIFIED: 6 verified" in report.to_text()
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_gtin_forms_name_the_same_batch(trail: Trail) -> None:
    trail.anchor_event(trail.events(1)[0])
    report = verify_batch(trail.clients, trail.store, GTIN14.lstrip("0"), LOT)  # a GTIN-13
    assert report.ok and report.gtin14 == GTIN14


def test_a_changed_document_is_a_mismatch(trail: Trail) -> None:
    first, second = trail.events(2)
    kept, changed = trail.anchor_event(first), trail.anchor_event(second)
    # someone edits the stored document on disk (the store's files are the only copy here)
    path = trail.store.blocks.path_for(parse_cid(changed.cid))
    path.write_bytes(path.read_bytes().replace(b"in_transit", b"destroyed!"))

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    assert not report.ok
    status = {i.document_cid: i for i in _by_kind(report, ItemKind.EVENT)}
    assert status[kept.cid].status is ItemStatus.VERIFIED
    assert status[changed.cid].status is ItemStatus.MISMATCH
    assert any("altered" in r for r in status[changed.cid].reasons)
    assert "NOT VERIFIED" in report.to_text()


def test_a_swapped_event_is_a_mismatch(trail: Trail) -> None:
    real, other = trail.events(2)
    real_hash_id, _ = trail.store_event(real)
    _, other_cid = trail.store_event(other)
    # the anchor claims `real` but points at the document of `other`
    trail.clients.registry.anchor_event(
        trail.batch_id,
        digest_from_hash_id(real_hash_id),
        parse_cid(other_cid),
        signer=trail.supplier,
    )

    (item,) = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.EVENT)

    assert item.status is ItemStatus.MISMATCH
    assert any("does not contain the anchored event" in r for r in item.reasons)


def test_a_swapped_event_in_a_merkle_batch_is_a_mismatch(trail: Trail) -> None:
    a, b, c = trail.events(3)
    entries = [trail.store_event(e) for e in (a, b, c)]
    entries[1] = (entries[1][0], entries[2][1])  # leaf 1 points at the document of event c
    trail.anchor_root(entries)

    leaves = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.MERKLE_LEAF)

    assert [i.status for i in leaves] == [
        ItemStatus.VERIFIED,
        ItemStatus.MISMATCH,
        ItemStatus.VERIFIED,
    ]
    assert any("does not contain the anchored event" in r for r in leaves[1].reasons)


def test_a_forged_proof_is_a_mismatch(trail: Trail) -> None:
    entries = [trail.store_event(e) for e in trail.events(4)]
    honest = build_manifest([(h, c, GTIN14, LOT) for h, c in entries])
    forged_leaf = replace(honest.leaves[2], proof=(b"\x42" * 32, *honest.leaves[2].proof[1:]))
    forged = BatchManifest(honest.root, (*honest.leaves[:2], forged_leaf, honest.leaves[3]))
    trail.anchor_root(entries, manifest=forged)

    leaves = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.MERKLE_LEAF)

    assert [i.status for i in leaves] == [
        ItemStatus.VERIFIED,
        ItemStatus.VERIFIED,
        ItemStatus.MISMATCH,
        ItemStatus.VERIFIED,
    ]
    assert any("rejected on chain" in r for r in leaves[2].reasons)


def test_a_leaf_smuggled_into_a_manifest_is_a_mismatch(trail: Trail) -> None:
    entries = [trail.store_event(e) for e in trail.events(3)]
    anchored = build_manifest([(h, c, GTIN14, LOT) for h, c in entries[:2]])
    listed = build_manifest([(h, c, GTIN14, LOT) for h, c in entries])  # claims 3 leaves
    trail.anchor_root(entries[:2], manifest=BatchManifest(anchored.root, listed.leaves))

    leaves = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.MERKLE_LEAF)

    assert len(leaves) == 3
    assert all(i.status is ItemStatus.MISMATCH for i in leaves)  # proofs are of another tree
    assert all(any("rejected on chain" in r for r in i.reasons) for i in leaves)


def test_a_document_nobody_has_is_missing(trail: Trail, tmp_path) -> None:  # type: ignore[no-untyped-def]
    elsewhere = EmbeddedDocumentStore(tmp_path / "elsewhere", durable=False)
    event = trail.events(1)[0]
    hash_id, cid = Trail(**{**trail.__dict__, "store": elsewhere, "anchored": []}).store_event(
        event
    )
    trail.clients.registry.anchor_event(
        trail.batch_id, digest_from_hash_id(hash_id), parse_cid(cid), signer=trail.supplier
    )

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    (item,) = _by_kind(report, ItemKind.EVENT)
    assert item.status is ItemStatus.MISSING and not report.ok
    assert report.counts()["missing"] == 1


def test_receipts_are_found_by_their_digest(trail: Trail) -> None:
    recorder = dev_account(12)
    registry = trail.clients.registry
    registry.grant_role("RECEIPT_RECORDER_ROLE", recorder.address, signer=trail.platform)
    hash_id, cid = trail.store_event(trail.events(4)[3])  # the receiving event
    leader = dev_account(11).address
    registry._send(
        recorder,
        "anchorReceipt",
        trail.batch_id,
        digest_from_hash_id(hash_id),
        parse_cid(cid)[-32:],
        leader,
    )

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    (item,) = _by_kind(report, ItemKind.RECEIPT)
    assert item.status is ItemStatus.VERIFIED, item.reasons
    assert (item.document_cid, item.event_hash_id) == (cid, hash_id)


def test_other_batches_are_left_out(trail: Trail) -> None:
    trail.anchor_event(trail.events(1)[0])
    other_lot = "LOT-OTHER"
    other_batch = trail.clients.registry.register_batch(
        GTIN14, other_lot, parse_cid(trail.metadata_cid), signer=trail.supplier
    )
    other = replace(trail, lot=other_lot, batch_id=other_batch, anchored=[])
    other.anchor_event(other.events(2)[1])
    # one root mixing both batches: each report takes only its own leaves
    mixed = [(*trail.store_event(e), GTIN14, LOT) for e in trail.events(3)[2:]]
    mixed += [(*other.store_event(e), GTIN14, other_lot) for e in other.events(3)[2:]]
    manifest = build_manifest(mixed)
    trail.anchor_root([], manifest=manifest)

    mine = verify_batch(trail.clients, trail.store, GTIN14, LOT)
    theirs = verify_batch(trail.clients, trail.store, GTIN14, other_lot)

    assert mine.ok and theirs.ok
    assert len(_by_kind(mine, ItemKind.EVENT)) == len(_by_kind(theirs, ItemKind.EVENT)) == 1
    assert [i.event_hash_id for i in _by_kind(mine, ItemKind.MERKLE_LEAF)] == [mixed[0][0]]
    assert [i.event_hash_id for i in _by_kind(theirs, ItemKind.MERKLE_LEAF)] == [mixed[1][0]]


def test_a_root_another_supplier_anchors_adds_nothing_to_the_batch(trail: Trail) -> None:
    # Any approved supplier may anchor a root, and a manifest names each leaf's batch itself:
    # a stranger's root listing well-formed events "of" this batch must not enter its trail.
    stranger = approved_supplier(trail.clients, trail.store, 11)
    forged = build_manifest([(*trail.store_event(e), GTIN14, LOT) for e in trail.events(2)])
    forged_cid = trail.store.put(forged.dumps())
    trail.clients.registry.anchor_root(
        forged.root, len(forged.leaves), parse_cid(forged_cid), signer=stranger
    )

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    assert _by_kind(report, ItemKind.MERKLE_LEAF) == []
    assert report.ok  # a stranger cannot spoil the batch's verdict either
    assert any(stranger.address in w for w in report.warnings)


def test_a_root_copied_and_anchored_first_by_another_supplier_does_not_block_ours(
    trail: Trail,
) -> None:
    # Roots are unique per anchorer: a stranger copying our pending root from the mempool and
    # anchoring it first neither makes our anchor revert nor takes its leaves' place.
    stranger = approved_supplier(trail.clients, trail.store, 11)
    ours = build_manifest([(*trail.store_event(e), GTIN14, LOT) for e in trail.events(2)])
    cid = parse_cid(trail.store.put(ours.dumps()))
    registry = trail.clients.registry
    registry.anchor_root(ours.root, len(ours.leaves), cid, signer=stranger)
    registry.anchor_root(ours.root, len(ours.leaves), cid, signer=trail.supplier)

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    leaves = _by_kind(report, ItemKind.MERKLE_LEAF)
    assert len(leaves) == 2 and all(i.status is ItemStatus.VERIFIED for i in leaves)
    assert report.ok
    assert any(stranger.address in w for w in report.warnings)  # the copy's leaves: not counted


def test_a_root_of_a_writer_the_supplier_allowed_counts(trail: Trail) -> None:
    writer = approved_supplier(trail.clients, trail.store, 12)  # e.g. a distributor
    trail.clients.registry.set_batch_writer(
        trail.batch_id, writer.address, True, signer=trail.supplier
    )
    manifest = build_manifest([(*trail.store_event(e), GTIN14, LOT) for e in trail.events(2)])
    trail.clients.registry.anchor_root(
        manifest.root,
        len(manifest.leaves),
        parse_cid(trail.store.put(manifest.dumps())),
        signer=writer,
    )

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    assert report.ok, report.to_text()
    assert len(_by_kind(report, ItemKind.MERKLE_LEAF)) == 2


def test_a_recall_and_its_reason_are_reported(trail: Trail) -> None:
    trail.anchor_event(trail.events(1)[0])
    reason = trail.store.put(b'{"reason": "Listeria found in sample 7"}')
    trail.clients.registry.recall_batch(trail.batch_id, parse_cid(reason), signer=trail.supplier)

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    assert report.batch_status == "recalled"
    (recall,) = _by_kind(report, ItemKind.RECALL)
    assert recall.status is ItemStatus.VERIFIED and recall.document_cid == reason


def test_an_unavailable_manifest_is_a_warning_not_a_verdict(trail: Trail, tmp_path) -> None:  # type: ignore[no-untyped-def]
    trail.anchor_event(trail.events(1)[0])
    elsewhere = EmbeddedDocumentStore(tmp_path / "elsewhere", durable=False)
    manifest = build_manifest([(*trail.store_event(trail.events(2)[1]), GTIN14, LOT)])
    manifest_cid = elsewhere.put(manifest.dumps())
    trail.clients.registry.anchor_root(
        manifest.root, 1, parse_cid(manifest_cid), signer=trail.supplier
    )

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    assert report.ok  # every item found verified; the root may concern other batches
    assert any(manifest_cid in w and "not available" in w for w in report.warnings)


def test_an_unregistered_batch_is_not_verified(clients, doc_store) -> None:  # type: ignore[no-untyped-def]
    approved_supplier(clients, doc_store, 10)
    report = verify_batch(clients, doc_store, GTIN14, "NEVER")
    assert not report.registered and not report.ok and report.items == []
    assert report.batch_status == "unknown"
    assert "NOT REGISTERED" in report.to_text()


def test_a_receipt_stored_as_cidv0_is_found_and_verified(trail: Trail) -> None:
    """A leader's app may have stored its document with kubo's default CIDv0 import."""
    recorder = dev_account(12)
    registry = trail.clients.registry
    registry.grant_role("RECEIPT_RECORDER_ROLE", recorder.address, signer=trail.platform)
    v0_store = EmbeddedDocumentStore(trail.store.root, profile=KUBO_DEFAULT_V0, durable=False)
    hash_id, _ = trail.store_event(trail.events(4)[3])
    document = dumps_document([trail.events(4)[3]], creation_date=START).encode()
    cid = v0_store.put(document)
    assert cid.startswith("Qm")
    registry._send(
        recorder,
        "anchorReceipt",
        trail.batch_id,
        digest_from_hash_id(hash_id),
        parse_cid(cid)[-32:],
        dev_account(11).address,
    )

    (item,) = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.RECEIPT)

    assert item.status is ItemStatus.VERIFIED, item.reasons
    assert item.event_hash_id == hash_id


def test_a_hostile_document_is_a_mismatch_not_a_crash(trail: Trail) -> None:
    """JSON nested 100,000 deep would overflow the C stack of an unguarded parser."""
    hostile = trail.store.put(b"[" * 100_000 + b"]" * 100_000)
    hash_id, _ = trail.store_event(trail.events(1)[0])
    trail.clients.registry.anchor_event(
        trail.batch_id, digest_from_hash_id(hash_id), parse_cid(hostile), signer=trail.supplier
    )

    (item,) = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.EVENT)

    assert item.status is ItemStatus.MISMATCH
    assert any("nested 100000 levels" in r for r in item.reasons)


# ------------------------------------------------------- registration block, receipts, no index


def test_the_scan_starts_at_the_batch_registration(trail: Trail) -> None:
    """A root anchored before a batch was registered cannot be part of its trail: the verifier
    reads logs from ``registeredAtBlock`` on, not from block 0."""
    late_lot = "LOT-LATE"
    late = replace(trail, lot=late_lot, anchored=[])
    early = build_manifest([(*late.store_event(late.events(1)[0]), GTIN14, late_lot)])
    trail.anchor_root([], manifest=early)
    late_batch = trail.clients.registry.register_batch(
        GTIN14, late_lot, parse_cid(trail.metadata_cid), signer=trail.supplier
    )
    late = replace(late, batch_id=late_batch)
    registered_at = trail.clients.registry.batch_info(late_batch).registered_at_block
    anchored = late.anchor_event(late.events(2)[1])

    report = verify_batch(trail.clients, trail.store, GTIN14, late_lot)

    assert report.ok, report.to_text()
    assert _by_kind(report, ItemKind.MERKLE_LEAF) == []  # the early root is not read
    assert [i.event_hash_id for i in _by_kind(report, ItemKind.EVENT)] == [anchored.hash_id]
    assert min(i.block_number for i in report.items) == registered_at
    # Scanning from block 0 (the old behaviour) would have picked the early root up.
    everything = verify_batch(trail.clients, trail.store, GTIN14, late_lot, from_block=0)
    assert len(_by_kind(everything, ItemKind.MERKLE_LEAF)) == 1


def _deal_with_orders(trail: Trail, units: int) -> tuple[int, LocalAccount]:
    """A deal selling the trail's batch, ``units`` ordered under one leader, succeeded."""
    clients, platform = trail.clients, trail.platform
    leader, buyer = dev_account(11), dev_account(13)
    clients.registry.apply_as_leader(
        parse_cid(trail.metadata_cid), CREDENTIALS_DIGEST, signer=leader
    )
    clients.registry.approve_leader(leader.address, signer=platform)
    now = int(clients.escrow.w3.eth.get_block("latest")["timestamp"])
    deal_id = clients.escrow.create_deal(
        DealParams(
            supplier=trail.supplier.address,
            token=clients.token.address,
            price_tiers=[PriceTier(0, 1_000_000)],
            min_total_quantity=1,
            max_total_quantity=100,
            per_buyer_limit=50,
            join_deadline=now + 3600,
            delivery_deadline=now + 7200,
            dispute_window=86_400,
            answer_window=86_400,
            commission_bps=1000,
            platform_fee_bps=200,
            batch_ids=[trail.batch_id],
        ),
        signer=platform,
    )
    clients.token.mint(buyer.address, units * 1_000_000, signer=platform)
    clients.token.approve(clients.escrow.address, units * 1_000_000, signer=buyer)
    clients.escrow.join(deal_id, units, leader.address, signer=buyer)
    w3 = clients.escrow.w3
    w3.provider.make_request("evm_increaseTime", [3601])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return deal_id, leader


def _confirm(
    trail: Trail,
    deal_id: int,
    leader: LocalAccount,
    quantity: float,
    *,
    received: int | None = None,
) -> str:
    """The leader confirms receipt with a receiving event stating ``quantity`` deal units; the
    receipt records ``received`` units (default: everything the group ordered)."""
    event = receiving_event(
        gtin14=GTIN14, lot=LOT, quantity=quantity, uom="EA", event_time=START, pickup_point=FARM
    )
    hash_id, cid = trail.store_event(event)
    trail.clients.escrow.confirm_receipt(
        deal_id,
        trail.batch_id,
        digest_from_hash_id(hash_id),
        parse_cid(cid)[-32:],
        received_quantity=received,
        signer=leader,
    )
    return hash_id


def test_a_short_receipt_matching_its_receiving_event_verifies(trail: Trail) -> None:
    """5 of 7 units arrived: the event says 5 and so does the receipt (RECEIPT_QUANTITY_FIELD)."""
    deal_id, leader = _deal_with_orders(trail, units=7)
    _confirm(trail, deal_id, leader, 5, received=5)
    (logged,) = trail.clients.escrow.get_events("ReceiptConfirmed", from_block=0)
    assert (logged["args"][RECEIPT_QUANTITY_FIELD], logged["args"]["delivered"]) == (5, 5)
    (item,) = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.RECEIPT)
    assert item.status is ItemStatus.VERIFIED, item.reasons


def test_a_receipt_matching_the_escrows_quantity_verifies(trail: Trail) -> None:
    deal_id, leader = _deal_with_orders(trail, units=7)
    hash_id = _confirm(trail, deal_id, leader, 7)
    (logged,) = trail.clients.escrow.get_events("ReceiptConfirmed", from_block=0)
    assert logged["args"][RECEIPT_QUANTITY_FIELD] == 7

    (item,) = _by_kind(verify_batch(trail.clients, trail.store, GTIN14, LOT), ItemKind.RECEIPT)

    assert item.status is ItemStatus.VERIFIED, item.reasons
    assert item.event_hash_id == hash_id


def test_a_receipt_whose_event_states_another_quantity_is_a_mismatch(trail: Trail) -> None:
    """The document says 9 received; what the receipt recorded on chain is the leader's 7."""
    deal_id, leader = _deal_with_orders(trail, units=7)
    _confirm(trail, deal_id, leader, 9)

    report = verify_batch(trail.clients, trail.store, GTIN14, LOT)

    (item,) = _by_kind(report, ItemKind.RECEIPT)
    assert item.status is ItemStatus.MISMATCH and not report.ok
    assert item.reasons == ["the receiving event states 9 received, the receipt on chain 7"]


def test_receipt_quantity_rules() -> None:
    """The comparison itself: only the lot's elements count, in deal units."""
    lot_uri = "https://id.gs1.org/01/09506000134352/10/LOT-2026%2F07"
    other = {"epcClass": "https://id.gs1.org/01/09506000134352/10/OTHER", "quantity": 5}
    event = {"quantityList": [{"epcClass": lot_uri, "quantity": 3, "uom": "EA"}, other]}
    assert receipt_quantity_problems(event, lot_uri=lot_uri, recorded=3) == []
    assert receipt_quantity_problems(event, lot_uri=lot_uri, recorded=8) != []
    kilos = {"quantityList": [{"epcClass": lot_uri, "quantity": 3, "uom": "KGM"}]}
    assert "counts ['KGM']" in receipt_quantity_problems(kilos, lot_uri=lot_uri, recorded=3)[0]
    assert receipt_quantity_problems({}, lot_uri=lot_uri, recorded=3) != []


def test_the_verifier_imports_no_index() -> None:
    """In a fresh process: verifying (and the CLI module) loads neither api/ nor SQLAlchemy."""
    code = (
        "import sys, traceability.verify, traceability.cli, chain.cli; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('api', 'sqlalchemy')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
