"""A small community built with real transactions, for the indexer and read-API tests.

Parties, batches with EPCIS events (documents in the embedded store, anchored singly and in a
Merkle root), a cold-chain breach, a recall, and deals: one joined and settled, one cancelled
from, one failed. Everything is keyed by this module's own GTINs and the deal ids it creates,
because the session's chain is shared with other service tests.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.accounts import dev_account
from chain.clients import DealParams, PriceTier
from chain.context import Chain
from traceability.epcis import (
    EpcisEvent,
    TemperatureReading,
    cold_chain_event,
    commissioning_event,
    digest_from_hash_id,
    hash_events_in_document,
    inspection_event,
    receiving_event,
    serialize_document,
    shipping_event,
)
from traceability.ipfs import DocumentStore, parse_cid
from traceability.merkle import build_manifest

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()

GLN_FARM = "9506000000008"
GLN_HUB = "9506000000015"
GLN_PICKUP = "9506000000022"
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


# The world's supplier's GS1 Company Prefix: every GTIN it registers is "1" + this + 6 digits.
WORLD_PREFIX = "695000"


def world_gtin() -> str:
    """A fresh GTIN-14 (indicator 1) under the world supplier's prefix."""
    return gtin_with_check("1" + WORLD_PREFIX + str(uuid.uuid4().int)[:6])


def gtin_with_check(body13: str) -> str:
    """GTIN-14 from 13 digits plus its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


def store_event(store: DocumentStore, event: EpcisEvent) -> tuple[bytes, str, str]:
    """Put a one-event EPCIS document in the store: (event hash digest, hash id, CID)."""
    document = serialize_document([event])
    hash_id = hash_events_in_document(document)[0]
    cid = store.put(json.dumps(document, separators=(",", ":")).encode())
    return digest_from_hash_id(hash_id), hash_id, cid


@dataclass
class World:
    chain: Chain
    store: DocumentStore
    supplier: LocalAccount
    leader: LocalAccount
    buyers: list[LocalAccount]
    rice: tuple[str, str] = ("", "")  # events anchored singly
    pork: tuple[str, str] = ("", "")  # events in a Merkle root, with a cold-chain breach
    recalled: tuple[str, str] = ("", "")
    missing: tuple[str, str] = ("", "")  # an anchored event whose document is not in the store
    hash_ids: dict[str, list[str]] = field(default_factory=dict)
    root: bytes = b""
    settled_deal: int = 0
    failed_deal: int = 0
    open_deal: int = 0
    frozen_deal: int = 0
    ghost_document: bytes = b""  # anchored, but kept out of the store


def now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def create_deal(
    chain: Chain, supplier: str, batches: list[bytes], *, min_quantity: int, open_for: int = 3600
) -> int:
    """A rice-priced deal (10.00, 8.00 from 5) over ``batches``, open ``open_for`` seconds."""
    t = now(chain)
    return chain.clients.escrow.create_deal(
        DealParams(
            supplier=supplier,
            token=chain.clients.token.address,
            price_tiers=[PriceTier(0, 10_000_000), PriceTier(5, 8_000_000)],
            min_total_quantity=min_quantity,
            max_total_quantity=100,
            per_buyer_limit=10,
            join_deadline=t + open_for,
            delivery_deadline=t + open_for + 3600,
            dispute_window=600,
            answer_window=600,
            commission_bps=1000,
            platform_fee_bps=200,
            batch_ids=batches,
        ),
        signer=chain.platform,
    )


def advance(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def build_world(chain: Chain, store: DocumentStore, tag: str) -> World:
    """Create the world on chain; ``tag`` keeps GTINs and lots unique per call."""
    c = chain.clients
    platform = chain.platform
    supplier, leader = dev_account(12), dev_account(13)
    credential = parse_cid(store.put(b'{"licence": "SC-' + tag.encode() + b'"}'))
    if not c.registry.is_approved_supplier(supplier.address):
        c.registry.apply_as_supplier(credential, CREDENTIALS_DIGEST, signer=supplier)
        c.registry.approve_supplier(supplier.address, signer=platform)
    if c.registry.company_prefix_owner(WORLD_PREFIX) is None:
        c.registry.assign_company_prefix(WORLD_PREFIX, supplier.address, signer=platform)
    if not c.registry.is_approved_leader(leader.address):
        c.registry.apply_as_leader(credential, CREDENTIALS_DIGEST, signer=leader)
        c.registry.approve_leader(leader.address, signer=platform)
    world = World(chain, store, supplier, leader, [dev_account(i) for i in (14, 15, 16)])
    digits = str(int(hashlib.sha256(tag.encode()).hexdigest(), 16) % 10**3).zfill(3)
    world.rice = (gtin_with_check("1" + WORLD_PREFIX + digits + "001"), f"RICE-{tag}")
    world.pork = (gtin_with_check("1" + WORLD_PREFIX + digits + "002"), f"PORK-{tag}")
    world.recalled = (gtin_with_check("1" + WORLD_PREFIX + digits + "003"), f"ORANGE-{tag}")
    world.missing = (gtin_with_check("1" + WORLD_PREFIX + digits + "004"), f"GHOST-{tag}")
    batch_ids = {}
    for name, (gtin, lot) in {
        "rice": world.rice,
        "pork": world.pork,
        "recalled": world.recalled,
        "missing": world.missing,
    }.items():
        meta = {"product": {"en": name, "zh": name}, "origin": "Heilongjiang", "producer": "Farm"}
        if name == "pork":
            meta["cold_chain"] = {"min_c": 0, "max_c": 4}
        meta_cid = parse_cid(store.put(json.dumps(meta).encode()))
        batch_ids[name] = c.registry.register_batch(gtin, lot, meta_cid, signer=supplier)

    # Rice: three events anchored one by one (shipping listed first, anchored out of time order).
    gtin, lot = world.rice
    rice_events = [
        shipping_event(
            gtin14=gtin,
            lot=lot,
            quantity=500,
            event_time=T0 + timedelta(days=2),
            location=GLN_FARM,
            to_gln=GLN_HUB,
        ),
        commissioning_event(
            gtin14=gtin,
            lot=lot,
            quantity=1000,
            event_time=T0,
            location=GLN_FARM,
            origin_country="CN",
        ),
        inspection_event(
            gtin14=gtin, lot=lot, event_time=T0 + timedelta(days=1), location=GLN_FARM, passed=True
        ),
    ]
    world.hash_ids["rice"] = []
    for event in rice_events:
        digest, hash_id, cid = store_event(store, event)
        c.registry.anchor_event(batch_ids["rice"], digest, parse_cid(cid), signer=supplier)
        world.hash_ids["rice"].append(hash_id)

    # Pork: commissioning + a cold-chain report with one reading above 4 °C, in one Merkle root.
    gtin, lot = world.pork
    pork_events = [
        commissioning_event(gtin14=gtin, lot=lot, quantity=200, event_time=T0, location=GLN_FARM),
        cold_chain_event(
            gtin14=gtin,
            lot=lot,
            event_time=T0 + timedelta(hours=6),
            location=GLN_HUB,
            readings=[
                TemperatureReading(T0 + timedelta(hours=h), c)
                for h, c in ((1, 2.5), (2, 3.0), (3, 7.5), (4, 3.5))
            ],
            min_c=0,
            max_c=4,
        ),
    ]
    entries = []
    world.hash_ids["pork"] = []
    for event in pork_events:
        _, hash_id, cid = store_event(store, event)
        entries.append((hash_id, cid, gtin, lot))
        world.hash_ids["pork"].append(hash_id)
    # The manifest exactly as traceability.merkle writes it (the format the indexer reads).
    manifest = build_manifest(entries)
    manifest_cid = store.put(manifest.dumps())
    c.registry.anchor_root(manifest.root, len(entries), parse_cid(manifest_cid), signer=supplier)
    world.root = manifest.root

    # A batch whose only event document never reaches the store.
    gtin, lot = world.missing
    ghost = commissioning_event(gtin14=gtin, lot=lot, quantity=1, event_time=T0, location=GLN_FARM)
    document = serialize_document([ghost])
    ghost_hash = hash_events_in_document(document)[0]
    from traceability.ipfs import compute_cid

    world.ghost_document = json.dumps(document).encode()
    ghost_cid = compute_cid(world.ghost_document)
    c.registry.anchor_event(
        batch_ids["missing"], digest_from_hash_id(ghost_hash), parse_cid(ghost_cid), signer=supplier
    )
    world.hash_ids["missing"] = [ghost_hash]

    # Deals over rice: one to settle (joins, a cancel, a receipt), one to fail.
    token = c.token
    for buyer in world.buyers:
        token.mint(buyer.address, 1_000 * 10**6, signer=platform)
        token.approve(c.escrow.address, 2**255, signer=buyer)

    def deal(min_quantity: int, batches: list[bytes], *, open_for: int = 3600) -> int:
        return create_deal(
            chain, supplier.address, batches, min_quantity=min_quantity, open_for=open_for
        )

    world.settled_deal = deal(3, [batch_ids["rice"]])
    world.failed_deal = deal(50, [batch_ids["rice"]])
    world.frozen_deal = deal(1, [batch_ids["recalled"]])
    b0, b1, b2 = world.buyers
    c.escrow.join(world.settled_deal, 4, leader.address, signer=b0)
    c.escrow.join(world.settled_deal, 2, leader.address, signer=b1)
    c.escrow.join(world.settled_deal, 1, leader.address, signer=b2)
    c.escrow.cancel(world.settled_deal, signer=b2)
    c.escrow.join(world.failed_deal, 1, leader.address, signer=b2)
    c.escrow.join(world.frozen_deal, 2, leader.address, signer=b1)
    # Recall: the registry notifies the escrow, which freezes the unsettled deal selling the batch
    # in the same transaction; its orders become refundable.
    reason = parse_cid(store.put(b'{"reason": "label error"}'))
    c.registry.recall_batch(batch_ids["recalled"], reason, signer=supplier)
    advance(chain, 3601)
    gtin, lot = world.rice
    receipt = receiving_event(
        gtin14=gtin, lot=lot, quantity=6, event_time=T0 + timedelta(days=3), pickup_point=GLN_PICKUP
    )
    digest, hash_id, cid = store_event(store, receipt)
    _, _, cid_digest = _split(cid)
    c.escrow.confirm_receipt(
        world.settled_deal, batch_ids["rice"], digest, cid_digest, signer=leader
    )
    world.hash_ids["receipt"] = [hash_id]
    advance(chain, 7200)
    c.escrow.settle(world.settled_deal, signer=chain.keeper)
    c.escrow.withdraw(world.failed_deal, signer=b2)
    c.escrow.withdraw(world.settled_deal, signer=supplier)
    # Open for a month: other modules share this chain and some move its clock forward.
    world.open_deal = deal(2, [batch_ids["pork"]], open_for=30 * 86400)
    c.escrow.join(world.open_deal, 1, leader.address, signer=b0)
    return world


def _split(cid: str) -> tuple[int, int, bytes]:
    from traceability.ipfs.cid import split_cid

    return split_cid(parse_cid(cid))


def batch_id(gtin: str, lot: str) -> str:
    return "0x" + Web3.keccak(Web3().codec.encode(["string", "string"], [gtin, lot])).hex()
