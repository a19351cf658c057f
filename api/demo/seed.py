"""``seed(services)``: the demo community, written on chain and in the document store.

Idempotent: every step first reads the chain (party status, batch status, anchors, deals found
by their parameters, orders, receipts, claims) and only sends what is missing, and every
document is built from fixed data so it gets the same CID and event hash each time. Re-running
on a seeded chain sends no transaction.

Deals reach their deadlines by an anvil time jump, and only on a local chain whose demo deals
this very run created (a fresh chain): a public chain's clock is never touched; there the
remaining steps wait for real time and the keeper.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from api.demo import catalog as c
from api.demo.catalog import Actor, Product, at
from api.services import Services
from chain.accounts import LOCAL_CHAIN_IDS
from chain.clients import (
    BatchStatus,
    ClaimStatus,
    Clients,
    DealParams,
    DealStatus,
    PartyKind,
    PartyStatus,
    PriceTier,
)
from chain.context import Chain
from traceability.epcis import (
    EpcisEvent,
    LotQuantity,
    TemperatureReading,
    cold_chain_event,
    commissioning_event,
    dumps_document,
    event_hash_digest,
    event_hash_id,
    inspection_event,
    processing_event,
    recall_event,
    receiving_event,
    shipping_event,
)
from traceability.ipfs import DocumentStore, parse_cid
from traceability.ipfs.cid import split_cid
from traceability.merkle import build_manifest

logger = logging.getLogger(__name__)

USD = 10**6  # TestStablecoin has 6 decimals
HOUR = 3600
DAY = 24 * HOUR


class SeedError(RuntimeError):
    """The demo cannot be seeded here (for instance: not a local chain with dev accounts)."""


@dataclass
class SeedReport:
    """What one ``seed`` run did: transactions sent and the demo's identifiers."""

    transactions: int = 0
    documents: int = 0
    time_jumps: int = 0
    deals: dict[str, int] = field(default_factory=dict)
    batches: dict[str, str] = field(default_factory=dict)  # key -> "gtin/lot"
    waiting: list[str] = field(default_factory=list)  # steps left for real time / the keeper


# ---------------------------------------------------------------------------- documents


def put_json(store: DocumentStore, data: Any, report: SeedReport) -> str:
    """Store canonical JSON (sorted keys, UTF-8) so the same data always has the same CID."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    report.documents += 1
    return store.put(text.encode("utf-8"))


def put_event(store: DocumentStore, event: EpcisEvent, report: SeedReport) -> str:
    """One EPCIS 2.0 document per event (the anchoring convention), created at the event time."""
    report.documents += 1
    return store.put(dumps_document([event], creation_date=event.eventTime).encode("utf-8"))


def credential(actor: Actor) -> dict[str, Any]:
    kind = {"supplier": "供应商资质 supplier licence", "leader": "团长审核 leader vetting"}
    return {
        "type": "tuanchain:Credential",
        "kind": kind.get(actor.role, actor.role),
        "holder": {
            "zh": actor.name_zh,
            "en": actor.name_en,
            "gln": actor.gln,
            "address": actor.address,
        },
        "place": {"zh": actor.place_zh, "en": actor.place_en},
        "issued": "2025-09-01",
        "issuer": "tuanchain platform (demo)",
    }


# ---------------------------------------------------------------------------- the run


class _Seeder:
    def __init__(self, services: Services, report: SeedReport) -> None:
        self.chain: Chain = services.chain
        self.store = services.store
        self.clients: Clients = self.chain.clients
        self.w3: Web3 = self.chain.w3
        self.platform = self.chain.platform
        self.report = report
        self.local = services.settings.is_local and self.chain.chain_id in LOCAL_CHAIN_IDS
        self.fresh_deals = False

    # -- helpers

    def send(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.report.transactions += 1
        return action(*args, **kwargs)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_to(self, timestamp: int, why: str) -> bool:
        """Make chain time reach ``timestamp``; jump only on a fresh local chain."""
        if self.now() >= timestamp:
            return True
        if not (self.local and self.fresh_deals):
            self.report.waiting.append(why)
            return False
        delta = timestamp - self.now()
        self.w3.provider.make_request("evm_increaseTime", [delta])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        self.report.time_jumps += 1
        logger.info("time jump of %d s: %s", delta, why)
        return True

    # -- parties

    def ensure_party(self, actor: Actor, kind: PartyKind) -> None:
        registry = self.clients.registry
        status = registry.party(kind, actor.address).status
        if status == PartyStatus.APPROVED:
            return
        if status == PartyStatus.NONE:
            cid = parse_cid(put_json(self.store, credential(actor), self.report))
            apply = (
                registry.apply_as_supplier
                if kind == PartyKind.SUPPLIER
                else registry.apply_as_leader
            )
            self.send(apply, cid, signer=actor.account)
        approve = (
            registry.approve_supplier if kind == PartyKind.SUPPLIER else registry.approve_leader
        )
        self.send(approve, actor.address, signer=self.platform)

    # -- batches and events

    def ensure_batch(self, product: Product) -> bytes:
        registry = self.clients.registry
        batch_id = registry.compute_batch_id(product.gtin14, product.lot)
        self.report.batches[product.key] = f"{product.gtin14}/{product.lot}"
        if registry.batch_info(batch_id).status == BatchStatus.UNKNOWN:
            cid = parse_cid(put_json(self.store, product.metadata(), self.report))
            self.send(
                registry.register_batch,
                product.gtin14,
                product.lot,
                cid,
                signer=product.supplier.account,
            )
        return batch_id

    def anchor(self, batch_id: bytes, event: EpcisEvent, signer: LocalAccount) -> str:
        """Store the event's document and anchor it singly unless it already is."""
        cid = put_event(self.store, event, self.report)
        digest = event_hash_digest(event)
        registry = self.clients.registry
        if registry.anchor_of(digest).anchored_at_block == 0:
            if registry.batch_status(batch_id) != BatchStatus.ACTIVE:
                self.report.waiting.append(f"event {event_hash_id(event)}: batch not active")
                return cid
            self.send(registry.anchor_event, batch_id, digest, parse_cid(cid), signer=signer)
        return cid

    def merkle_batch(
        self, events: Sequence[tuple[Product, EpcisEvent]], signer: LocalAccount
    ) -> None:
        """Anchor several events (of one supplier's batches) under one Merkle root.

        The manifest (traceability.merkle) lists each leaf's event hash, document CID and batch,
        with its proof; the root and the manifest CID go on chain in one transaction.
        """
        entries = [
            (event_hash_id(event), put_event(self.store, event, self.report), p.gtin14, p.lot)
            for p, event in events
        ]
        manifest = build_manifest(entries)
        manifest_cid = self.store.put(manifest.dumps())
        self.report.documents += 1
        registry = self.clients.registry
        if registry.root_info(manifest.root).anchored_at_block == 0:
            self.send(
                registry.anchor_root,
                manifest.root,
                len(entries),
                parse_cid(manifest_cid),
                signer=signer,
            )

    def certificate(self, title_zh: str, title_en: str, product: Product, number: str) -> str:
        """A certificate document in the store; its ``ipfs://`` URI goes in certificationInfo."""
        cid = put_json(
            self.store,
            {
                "type": "tuanchain:Certificate",
                "title": {"zh": title_zh, "en": title_en},
                "number": number,
                "subject": {"gtin": product.gtin14, "lot": product.lot},
                "issuer": {
                    "zh": "国家食品质量检验检测中心（演示）",
                    "en": "National food inspection centre (demo)",
                    "gln": c.INSPECTION_GLN,
                },
                "result": "合格 pass",
            },
            self.report,
        )
        return f"ipfs://{cid}"

    def rice_trail(self, batch_id: bytes) -> list[EpcisEvent]:
        p, s = c.RICE, c.RICE.supplier
        day = p.harvest
        cert = self.certificate(
            "大米质量检验报告", "Rice quality inspection report", p, "QI-2510-0042"
        )
        for event in (
            commissioning_event(
                gtin14=p.gtin14,
                lot=p.lot,
                quantity=p.quantity_kg,
                event_time=at(day, 8),
                location=p.farm_gln,
                origin_country="CN",
                producer=s.gln,
                harvest_date=day,
                certifications=p.certifications,
            ),
            processing_event(
                inputs=[LotQuantity(c.with_check("0690123450010"), "PADDY-2510", 7000)],
                outputs=[LotQuantity(p.gtin14, p.lot, p.quantity_kg)],
                event_time=at(day.replace(day=5), 9),
                location=c.MILL_GLN,
            ),
        ):
            self.anchor(batch_id, event, s.account)
        # Inspection and shipping go into the supplier's Merkle root (see merkle_batch).
        return [
            inspection_event(
                gtin14=p.gtin14,
                lot=p.lot,
                event_time=at(day.replace(day=6), 15),
                location=c.INSPECTION_GLN,
                passed=True,
                certification_info=[cert],
            ),
            shipping_event(
                gtin14=p.gtin14,
                lot=p.lot,
                quantity=1000,
                event_time=at(day.replace(day=8), 7),
                location=c.MILL_GLN,
                from_gln=s.gln,
                to_gln=c.LEADERS[0].gln,
            ),
        ]

    def pork_trail(self, batch_id: bytes) -> None:
        p, s, carrier = c.PORK, c.PORK.supplier, c.CARRIER
        day = p.harvest
        registry = self.clients.registry
        if (
            not registry.is_batch_writer(batch_id, carrier.address)
            and registry.batch_status(batch_id) == BatchStatus.ACTIVE
        ):
            self.send(registry.set_batch_writer, batch_id, carrier.address, True, signer=s.account)
        cert = self.certificate(
            "动物检疫合格证明", "Animal quarantine certificate", p, "AQ-3307-1107"
        )
        low, high = p.cold_chain or (0.0, 4.0)
        readings = [
            TemperatureReading(at(day, 13 + 2 * i, 45), celsius)
            for i, celsius in enumerate((2.1, 2.8, 3.5, 6.2, 3.0, 2.4))  # 19:45 is a breach
        ]
        steps: Sequence[tuple[EpcisEvent, LocalAccount]] = (
            (
                commissioning_event(
                    gtin14=p.gtin14,
                    lot=p.lot,
                    quantity=p.quantity_kg,
                    event_time=at(day, 6),
                    location=p.farm_gln,
                    origin_country="CN",
                    producer=s.gln,
                    harvest_date=day,
                    certifications=p.certifications,
                ),
                s.account,
            ),
            (
                processing_event(
                    inputs=[LotQuantity(c.with_check("0690123450020"), "CARCASS-1107", 1100)],
                    outputs=[LotQuantity(p.gtin14, p.lot, p.quantity_kg)],
                    event_time=at(day, 10),
                    location=p.farm_gln,
                ),
                s.account,
            ),
            (
                inspection_event(
                    gtin14=p.gtin14,
                    lot=p.lot,
                    event_time=at(day, 12),
                    location=c.INSPECTION_GLN,
                    passed=True,
                    certification_info=[cert],
                ),
                s.account,
            ),
            (
                shipping_event(
                    gtin14=p.gtin14,
                    lot=p.lot,
                    quantity=300,
                    event_time=at(day, 13, 30),
                    location=p.farm_gln,
                    from_gln=s.gln,
                    to_gln=c.LEADERS[1].gln,
                ),
                s.account,
            ),
            (
                cold_chain_event(
                    gtin14=p.gtin14,
                    lot=p.lot,
                    event_time=at(day, 23, 50),
                    location=carrier.gln,
                    readings=readings,
                    min_c=low,
                    max_c=high,
                    device_id="urn:epc:id:giai:6901234.T42",
                ),
                carrier.account,
            ),
        )
        for event, signer in steps:
            self.anchor(batch_id, event, signer)

    def orange_trail(self, batch_id: bytes) -> list[EpcisEvent]:
        p, s = c.ORANGES, c.ORANGES.supplier
        day = p.harvest
        cert = self.certificate(
            "有机产品认证证书", "Organic product certificate", p, "CN-ORG-2025-077"
        )
        for event in (
            commissioning_event(
                gtin14=p.gtin14,
                lot=p.lot,
                quantity=p.quantity_kg,
                event_time=at(day, 7),
                location=p.farm_gln,
                origin_country="CN",
                producer=s.gln,
                harvest_date=day,
                certifications=p.certifications,
            ),
        ):
            self.anchor(batch_id, event, s.account)
        return [
            inspection_event(
                gtin14=p.gtin14,
                lot=p.lot,
                event_time=at(day.replace(day=13), 10),
                location=c.INSPECTION_GLN,
                passed=True,
                certification_info=[cert],
            ),
            shipping_event(
                gtin14=p.gtin14,
                lot=p.lot,
                quantity=500,
                event_time=at(day.replace(day=14), 8),
                location=p.farm_gln,
                from_gln=s.gln,
                to_gln=c.LEADERS[2].gln,
            ),
        ]

    def recall_oranges(self, batch_id: bytes) -> None:
        p, s = c.ORANGES, c.ORANGES.supplier
        reason = put_json(
            self.store,
            {
                "type": "tuanchain:RecallNotice",
                "subject": {"gtin": p.gtin14, "lot": p.lot},
                "reason": {
                    "zh": "抽检发现农药残留（多菌灵）超标，主动召回。",
                    "en": "Spot check found carbendazim residue above the limit; voluntary recall.",
                },
                "date": "2025-11-20",
            },
            self.report,
        )
        event = recall_event(
            gtin14=p.gtin14,
            lot=p.lot,
            event_time=at(p.harvest.replace(day=20), 16),
            location=p.farm_gln,
            reason_uri=f"ipfs://{reason}",
        )
        # The recall event is anchored while the batch is still active, then the batch recalled.
        self.anchor(batch_id, event, s.account)
        registry = self.clients.registry
        if registry.batch_status(batch_id) == BatchStatus.ACTIVE:
            self.send(registry.recall_batch, batch_id, parse_cid(reason), signer=s.account)

    # -- deals

    def find_deal(self, supplier: str, batch_id: bytes, max_quantity: int) -> int | None:
        """A demo deal is recognised on chain by supplier, batch and its (unique) stock size."""
        escrow = self.clients.escrow
        for deal_id in range(escrow.deal_count(), -1, -1):
            if escrow.deal_status(deal_id) == DealStatus.NONE:
                continue
            params = escrow.deal_params(deal_id)
            if (
                params.supplier == supplier
                and params.batch_ids == [batch_id]
                and params.max_total_quantity == max_quantity
            ):
                return deal_id
        return None

    def ensure_deal(
        self,
        name: str,
        product: Product,
        batch_id: bytes,
        *,
        tiers: Sequence[tuple[int, float]],
        min_quantity: int,
        max_quantity: int,
        join_in: int,
        deliver_in: int,
        dispute_window: int,
        answer_window: int = DAY,
        commission_bps: int = 1000,
    ) -> int:
        supplier = product.supplier.address
        deal_id = self.find_deal(supplier, batch_id, max_quantity)
        if deal_id is None:
            now = self.now()
            params = DealParams(
                supplier=supplier,
                token=self.clients.token.address,
                price_tiers=[PriceTier(q, round(price * USD)) for q, price in tiers],
                min_total_quantity=min_quantity,
                max_total_quantity=max_quantity,
                per_buyer_limit=20,
                join_deadline=now + join_in,
                delivery_deadline=now + deliver_in,
                dispute_window=dispute_window,
                answer_window=answer_window,
                commission_bps=commission_bps,
                platform_fee_bps=200,
                batch_ids=[batch_id],
            )
            deal_id = self.send(self.clients.escrow.create_deal, params, signer=self.platform)
            self.fresh_deals = True
        self.report.deals[name] = deal_id
        return deal_id

    def join(self, deal_id: int, buyer: Actor, quantity: int, leader: Actor) -> None:
        escrow, token = self.clients.escrow, self.clients.token
        if (
            escrow.order(deal_id, buyer.address).quantity
            or escrow.deal_status(deal_id) != DealStatus.OPEN
        ):
            return
        price = escrow.deal_params(deal_id).price_tiers[0].unit_price
        amount = price * quantity
        if token.balance_of(buyer.address) < amount:
            self.send(token.mint, buyer.address, 500 * USD, signer=self.platform)
        if token.allowance(buyer.address, escrow.address) < amount:
            self.send(token.approve, escrow.address, 2**255, signer=buyer.account)
        self.send(escrow.join, deal_id, quantity, leader.address, signer=buyer.account)

    def receive(self, deal_id: int, product: Product, batch_id: bytes, leader: Actor) -> None:
        """The leader's pickup: a receiving EPCIS event, anchored through the escrow."""
        escrow = self.clients.escrow
        info = escrow.leader_info(deal_id, leader.address)
        if info.received_at or escrow.deal_status(deal_id) != DealStatus.SUCCEEDED:
            return
        when = datetime.fromtimestamp(self.now(), UTC).astimezone(c.CST).replace(microsecond=0)
        event = receiving_event(
            gtin14=product.gtin14,
            lot=product.lot,
            quantity=info.quantity * 5,
            event_time=when,
            pickup_point=leader.gln,
            from_gln=product.supplier.gln,
            to_gln=leader.gln,
            purchase_order=f"urn:tuanchain:deal:{deal_id}",
        )
        cid = put_event(self.store, event, self.report)
        digest = split_cid(parse_cid(cid))[2]
        self.send(
            escrow.confirm_receipt,
            deal_id,
            batch_id,
            event_hash_digest(event),
            digest,
            signer=leader.account,
        )

    def claim(self, deal_id: int, buyer: Actor, quantity: int) -> None:
        escrow = self.clients.escrow
        if escrow.claim(deal_id, buyer.address).status != ClaimStatus.NONE:
            return
        if escrow.order(deal_id, buyer.address).claimed_quantity:
            return
        evidence = put_json(
            self.store,
            {
                "type": "tuanchain:QualityClaimEvidence",
                "deal": deal_id,
                "text": {
                    "zh": "收到的一份猪肉有异味，包装漏气。",
                    "en": "One pack smelled off; the packaging leaked.",
                },
                "photos": [],
            },
            self.report,
        )
        self.send(escrow.file_claim, deal_id, quantity, parse_cid(evidence), signer=buyer.account)

    def settle_and_pay(self, deal_id: int, accounts: Sequence[str]) -> None:
        escrow = self.clients.escrow
        if escrow.deal_status(deal_id) == DealStatus.SUCCEEDED:
            self.send(escrow.settle, deal_id, signer=self.chain.keeper)
        due = [a for a in dict.fromkeys(accounts) if escrow.owed(deal_id, a)]
        if due and escrow.deal_status(deal_id) == DealStatus.SETTLED:
            self.send(escrow.push_payouts, deal_id, due, signer=self.chain.keeper)

    # -- the whole community

    def run(self) -> None:
        for supplier in (c.RICE_FARM, c.PORK_FARM):
            self.ensure_party(supplier, PartyKind.SUPPLIER)
        for leader in c.LEADERS:
            self.ensure_party(leader, PartyKind.LEADER)

        rice, pork, oranges = (self.ensure_batch(p) for p in c.PRODUCTS)
        rice_batched = self.rice_trail(rice)
        self.pork_trail(pork)
        orange_batched = self.orange_trail(oranges)
        self.merkle_batch(
            [(c.RICE, e) for e in rice_batched] + [(c.ORANGES, e) for e in orange_batched],
            c.RICE_FARM.account,
        )

        w, li, chen = c.LEADERS
        b1, b2, b3, b4, b5 = c.CONSUMERS
        # Prices per 5 kg bag (rice) / 1 kg pack (pork) / 5 kg box (oranges), falling by tier.
        settled = self.ensure_deal(
            "rice_settled",
            c.RICE,
            rice,
            tiers=[(0, 45), (10, 39.9)],
            min_quantity=5,
            max_quantity=200,
            join_in=HOUR,
            deliver_in=3 * HOUR,
            dispute_window=HOUR,
        )
        open_ = self.ensure_deal(
            "rice_open",
            c.RICE,
            rice,
            tiers=[(0, 45), (20, 36.8)],
            min_quantity=10,
            max_quantity=300,
            join_in=30 * DAY,
            deliver_in=33 * DAY,
            dispute_window=3 * DAY,
        )
        claimed = self.ensure_deal(
            "pork_claim",
            c.PORK,
            pork,
            tiers=[(0, 68), (5, 59)],
            min_quantity=5,
            max_quantity=120,
            join_in=HOUR,
            deliver_in=2 * DAY,
            dispute_window=7 * DAY,
            answer_window=3 * DAY,
            commission_bps=1200,
        )
        failed = self.ensure_deal(
            "pork_failed",
            c.PORK,
            pork,
            tiers=[(0, 68)],
            min_quantity=50,
            max_quantity=121,
            join_in=HOUR,
            deliver_in=2 * DAY,
            dispute_window=DAY,
        )
        frozen = self.ensure_deal(
            "oranges_frozen",
            c.ORANGES,
            oranges,
            tiers=[(0, 52), (8, 46)],
            min_quantity=4,
            max_quantity=150,
            join_in=2 * DAY,
            deliver_in=4 * DAY,
            dispute_window=DAY,
        )

        self.join(settled, b1, 4, w)
        self.join(settled, b2, 4, li)
        self.join(settled, b3, 3, w)
        self.join(open_, b1, 2, w)
        self.join(open_, b4, 3, chen)
        self.join(claimed, b2, 3, li)
        self.join(claimed, b4, 3, chen)
        self.join(failed, b3, 2, li)
        self.join(frozen, b1, 2, chen)
        self.join(frozen, b5, 1, chen)

        self.recall_oranges(oranges)
        escrow = self.clients.escrow
        if escrow.deal_status(frozen) not in (DealStatus.FROZEN, DealStatus.SETTLED):
            self.send(escrow.freeze, frozen, signer=self.chain.keeper)

        join_deadline = escrow.deal_params(settled).join_deadline
        if self.advance_to(join_deadline + 60, "deals reach their join deadline"):
            self.receive(settled, c.RICE, rice, w)
            self.receive(settled, c.RICE, rice, li)
            self.receive(claimed, c.PORK, pork, li)
            self.claim(claimed, b2, 1)
            params = escrow.deal_params(settled)
            settle_at = max(
                params.delivery_deadline,
                escrow.deal_totals(settled).last_receipt_at + params.dispute_window,
            )
            if self.advance_to(settle_at + 60, "the rice deal becomes settleable"):
                fee_recipient = escrow.fee_recipient()
                self.settle_and_pay(
                    settled,
                    [
                        c.RICE.supplier.address,
                        w.address,
                        li.address,
                        fee_recipient,
                        b1.address,
                        b2.address,
                        b3.address,
                    ],
                )


def seed(services: Services) -> SeedReport:
    """Seed the demo community on ``services``' chain and store; returns what was done."""
    report = SeedReport()
    settings = services.settings
    # Demo accounts are anvil's public dev keys: never fund or use them on a real chain. The
    # configuration is checked before connecting, the node's own chain id after.
    if not settings.is_local or services.chain.chain_id not in LOCAL_CHAIN_IDS:
        raise SeedError(
            f"the demo uses anvil's public development accounts; chain {settings.chain_id} at "
            f"{settings.rpc_url} is not a local chain"
        )
    _Seeder(services, report).run()
    logger.info(
        "seed: %d transactions, %d time jumps, deals %s",
        report.transactions,
        report.time_jumps,
        report.deals,
    )
    return report
