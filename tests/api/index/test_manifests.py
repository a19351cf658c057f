"""The enrichment pass over Merkle roots: a manifest becomes one event row per leaf only when it
rebuilds the root anchored on chain; any other manifest leaves the root ``invalid`` and adds no
rows (SQLite and PostgreSQL). Roots are inserted as the log handler writes them, so each case
needs no transaction on the shared chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.indexer.enrich import Enricher, batch_id_of
from traceability import merkle
from traceability.ipfs import EmbeddedDocumentStore, compute_cid

GTIN = "09506000134352"
SUPPLIER = "0x" + "11" * 20  # the batch's supplier, who anchors the roots below


def _manifest(n: int) -> merkle.BatchManifest:
    entries = [
        (
            f"ni:///sha-256;{(bytes([i + 1]) * 32).hex()}?ver=CBV2.0",
            compute_cid(b"document %d" % i),
            GTIN,
            "M1",
        )
        for i in range(n)
    ]
    return merkle.build_manifest(entries)


def _enrich(
    engine,
    store,
    anchored_root: bytes,
    leaf_count: int,
    manifest_cid: str,
    *,
    anchorer: str = SUPPLIER,
) -> tuple:
    """Insert the batch and a RootAnchored row, run the pass, return (status, leaf rows)."""
    with Session(engine) as session:
        session.add(
            m.Batch(
                block_number=0,
                tx_hash="0x" + "bb" * 32,
                log_index=0,
                block_time=datetime(2026, 9, 1, tzinfo=UTC),
                batch_id=batch_id_of(GTIN, "M1"),
                gtin=GTIN,
                lot="M1",
                supplier=SUPPLIER,
            )
        )
        session.add(
            m.MerkleRoot(
                block_number=1,
                tx_hash="0x" + "aa" * 32,
                log_index=0,
                block_time=datetime(2026, 9, 1, tzinfo=UTC),
                root=merkle.to_hex(anchored_root),
                leaf_count=leaf_count,
                anchorer=anchorer,
                manifest_cid=manifest_cid,
                manifest_status="pending",
            )
        )
        session.commit()
        Enricher(store).run(session)
        session.commit()
        status = session.scalar(select(m.MerkleRoot.manifest_status))
        rows = session.scalars(select(m.AnchoredEvent).order_by(m.AnchoredEvent.leaf_index)).all()
        return status, rows


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(tmp_path / "ipfs")


def test_a_matching_manifest_gives_one_row_per_leaf_with_a_valid_proof(fresh_engine, store) -> None:
    manifest = _manifest(5)
    status, rows = _enrich(fresh_engine(), store, manifest.root, 5, store.put(manifest.dumps()))
    assert status == "loaded"
    assert [r.leaf_index for r in rows] == [0, 1, 2, 3, 4]
    assert {r.batch_id for r in rows} == {batch_id_of(GTIN, "M1")}
    for row, leaf in zip(rows, manifest.leaves, strict=True):
        assert row.kind == "merkle" and row.root == merkle.to_hex(manifest.root)
        assert row.event_hash == merkle.to_hex(leaf.event_hash)
        assert row.document_cid == leaf.document_cid
        assert merkle.verify(manifest.root, leaf.event_hash, row.proof)


def test_a_root_of_someone_else_adds_no_leaf_to_the_batch(fresh_engine, store) -> None:
    # Any approved supplier may anchor a root, and the manifest names each leaf's batch
    # itself: a stranger's root must not put events in another supplier's batch trail.
    manifest = _manifest(3)
    status, rows = _enrich(
        fresh_engine(),
        store,
        manifest.root,
        3,
        store.put(manifest.dumps()),
        anchorer="0x" + "22" * 20,
    )
    assert status == "loaded"
    assert rows == []


def _tampered(manifest: merkle.BatchManifest) -> bytes:
    doc = json.loads(manifest.dumps())
    other = "77" * 32  # another event, consistently named: only the root can tell
    doc["leaves"][2]["eventHash"] = "0x" + other
    doc["leaves"][2]["eventHashId"] = f"ni:///sha-256;{other}?ver=CBV2.0"
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "case", ["tampered leaf", "wrong leaf count", "another root", "not a manifest"]
)
def test_a_manifest_that_does_not_fit_the_anchored_root_is_invalid(
    fresh_engine, store, case: str
) -> None:
    manifest = _manifest(4)
    anchored, count, raw = manifest.root, 4, manifest.dumps()
    if case == "tampered leaf":
        raw = _tampered(manifest)
    elif case == "wrong leaf count":
        count = 5
    elif case == "another root":
        anchored = b"\x99" * 32  # the manifest is of some other root
    else:
        raw = b'{"leaves": []}'
    status, rows = _enrich(fresh_engine(), store, anchored, count, store.put(raw))
    assert status == "invalid"
    assert rows == []
