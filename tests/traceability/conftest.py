"""Fixtures of the traceability tests that need the chain: clients, an approved supplier with
a registered batch, and a ``Trail`` helper that stores EPCIS documents and anchors them.

The session's anvil and deployment come from ``tests/conftest.py``; every test that uses
these fixtures runs between ``evm_snapshot`` and ``evm_revert`` there, so the batch is set
up again for each test (three transactions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from chain.accounts import dev_account
from chain.artifacts import Artifact
from chain.clients import Clients
from chain.deploy import Deployment
from chain.tx import TxSender
from traceability.epcis import (
    EpcisEvent,
    commissioning_event,
    digest_from_hash_id,
    dumps_document,
    hash_events_in_document,
    inspection_event,
    receiving_event,
    shipping_event,
)
from traceability.ipfs import EmbeddedDocumentStore, parse_cid
from traceability.merkle import BatchManifest, build_manifest

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()

GTIN14 = "09506000134352"
PREFIX = "9506000"  # GTIN14's GS1 Company Prefix, assigned to the trail's supplier
LOT = "LOT-2026/07"
FARM = "https://id.gs1.org/414/9506000134376"  # a GLN Digital Link
START = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def clients(
    w3: Web3, deployment: Deployment, tx_sender: TxSender, artifacts: dict[str, Artifact]
) -> Clients:
    return Clients.connect(w3, deployment, tx_sender, artifacts=artifacts)


@pytest.fixture
def doc_store(tmp_path: Path) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(tmp_path / "ipfs", durable=False)


@dataclass
class Anchored:
    hash_id: str
    cid: str
    receipt: TxReceipt | None = None


@dataclass
class Trail:
    """An approved supplier's batch, and helpers to put its events in IPFS and on chain."""

    clients: Clients
    store: EmbeddedDocumentStore
    platform: LocalAccount
    supplier: LocalAccount
    gtin14: str
    lot: str
    batch_id: bytes
    metadata_cid: str
    anchored: list[Anchored] = field(default_factory=list)

    def events(self, count: int = 3) -> list[EpcisEvent]:
        """Commissioning, shipping, inspection, ... of this batch, one hour apart."""
        makers = [
            lambda t: commissioning_event(
                gtin14=self.gtin14,
                lot=self.lot,
                quantity=500,
                event_time=t,
                location=FARM,
                origin_country="CN",
                harvest_date=t.date(),
            ),
            lambda t: shipping_event(
                gtin14=self.gtin14, lot=self.lot, quantity=500, event_time=t, location=FARM
            ),
            lambda t: inspection_event(
                gtin14=self.gtin14, lot=self.lot, event_time=t, location=FARM, passed=True
            ),
            lambda t: receiving_event(
                gtin14=self.gtin14, lot=self.lot, quantity=20, event_time=t, pickup_point=FARM
            ),
        ]
        return [makers[i % len(makers)](START + timedelta(hours=i)) for i in range(count)]

    def store_event(self, event: EpcisEvent) -> tuple[str, str]:
        """Store a one-event EPCIS document; return ``(event hash ID, document CID)``."""
        document = dumps_document([event], creation_date=START).encode()
        (hash_id,) = hash_events_in_document(document)
        return hash_id, self.store.put(document)

    def anchor_event(self, event: EpcisEvent) -> Anchored:
        hash_id, cid = self.store_event(event)
        receipt = self.clients.registry.anchor_event(
            self.batch_id, digest_from_hash_id(hash_id), parse_cid(cid), signer=self.supplier
        )
        item = Anchored(hash_id, cid, receipt)
        self.anchored.append(item)
        return item

    def anchor_root(
        self, entries: Sequence[tuple[str, str]], *, manifest: BatchManifest | None = None
    ) -> tuple[BatchManifest, str, TxReceipt]:
        """Anchor a Merkle root over ``(hash_id, cid)`` entries of this batch."""
        manifest = manifest or build_manifest(
            [(hash_id, cid, self.gtin14, self.lot) for hash_id, cid in entries]
        )
        manifest_cid = self.store.put(manifest.dumps())
        receipt = self.clients.registry.anchor_root(
            manifest.root, len(manifest.leaves), parse_cid(manifest_cid), signer=self.supplier
        )
        return manifest, manifest_cid, receipt


def approved_supplier(clients: Clients, store: EmbeddedDocumentStore, index: int) -> LocalAccount:
    platform, supplier = dev_account(0), dev_account(index)
    credential = parse_cid(store.put(b'{"licence": "SC-%d"}' % index))
    clients.registry.apply_as_supplier(credential, CREDENTIALS_DIGEST, signer=supplier)
    clients.registry.approve_supplier(supplier.address, signer=platform)
    return supplier


@pytest.fixture
def trail(clients: Clients, doc_store: EmbeddedDocumentStore) -> Trail:
    supplier = approved_supplier(clients, doc_store, 10)
    clients.registry.assign_company_prefix(PREFIX, supplier.address, signer=dev_account(0))
    metadata_cid = doc_store.put(b'{"product": "Yangshan peaches", "origin": "CN-32"}')
    batch_id = clients.registry.register_batch(
        GTIN14, LOT, parse_cid(metadata_cid), signer=supplier
    )
    return Trail(clients, doc_store, dev_account(0), supplier, GTIN14, LOT, batch_id, metadata_cid)
