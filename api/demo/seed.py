"""``seed(services)``: the demo community, written on chain and in the document store.

Idempotent: every step first reads the chain (party status, batch status, anchors, deals found
by their parameters, orders, receipts, claims) and only sends what is missing, and every
document is built from fixed data and the seed epoch so it gets the same CID and event hash
each time. Re-running on a seeded chain sends no transaction.

The seed epoch is the chain time of the first seed's first transaction (the rice farm's first
``PartyApplied``), read back from the chain's logs on every run: the demo trails are dated days
before it (api.demo.catalog.DemoClock) and the receipts after it, so a trail's timeline runs
forward without a jump, and a rerun (even much later, with another data dir) dates every event
exactly as the first run did.

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
from api.demo import trails
from api.demo.catalog import Actor, DealSpec, DemoClock, Product
from api.demo.documents import certificate, claim_evidence, credential, profile, recall_notice
from api.private import store as private_store
from api.services import Services
from chain import deal_rules
from chain import errors as chain_errors
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
from chain.clients.escrow import beneficiary_ref
from chain.context import Chain
from chain.eip712 import sign_typed_data
from traceability.epcis import (
    EpcisEvent,
    dumps_document,
    event_hash_digest,
    event_hash_id,
    receiving_event,
)
from traceability.epcis.hashing import HASH_RULES_VERSION
from traceability.ipfs import DocumentStore, parse_cid
from traceability.ipfs.cid import split_cid
from traceability.merkle import build_manifest

logger = logging.getLogger(__name__)

USD = 10**6  # TestStablecoin has 6 decimals


class SeedError(RuntimeError):
    """The demo cannot be seeded here (for instance: not a local chain with dev accounts)."""


class StaleDemo(SeedError):
    """The demo on this chain was seeded by other code: adding this code's events would mix."""


@dataclass
class SeedReport:
    """What one ``seed`` run did: transactions sent and the demo's identifiers."""

    transactions: int = 0
    documents: int = 0
    time_jumps: int = 0
    epoch: int = 0  # chain time the demo's dates count back from (DemoClock)
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


# ---------------------------------------------------------------------------- the run


class _Seeder:
    def __init__(self, services: Services, report: SeedReport) -> None:
        self.services = services
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

    def put_private(self, actor: Actor, data: Any) -> bytes:
        """Keep ``data`` in the private store as ``actor``'s credential; returns its SHA-256."""
        body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
        stored = private_store.put(
            self.services,
            owner=actor.address,
            data=body,
            content_type="application/json",
            purpose=private_store.Purpose.CREDENTIAL,
            deal_id=0,
            now=self.now(),
        )
        return bytes.fromhex(stored.sha256)

    def put(self, data: Any) -> str:
        return put_json(self.store, data, self.report)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def chain_time(self) -> datetime:
        """The chain's current time in China Standard Time, to the second."""
        return datetime.fromtimestamp(self.now(), UTC).astimezone(c.CST)

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
        apply, approve = {
            PartyKind.SUPPLIER: (registry.apply_as_supplier, registry.approve_supplier),
            PartyKind.LEADER: (registry.apply_as_leader, registry.approve_leader),
        }[kind]
        status = registry.party(kind, actor.address).status
        if status == PartyStatus.APPROVED:
            return
        if status == PartyStatus.NONE:
            issued = self.chain_time().date().isoformat()
            cid = parse_cid(self.put(profile(actor, issued)))
            credentials = self.put_private(actor, credential(actor, issued))
            self.send(apply, cid, credentials, signer=actor.account)
        self.send(approve, actor.address, signer=self.platform)

    def ensure_prefixes(self, supplier: Actor) -> None:
        """Assign the supplier its GS1 Company Prefixes (those nobody holds yet)."""
        registry = self.clients.registry
        for prefix in supplier.company_prefixes:
            if registry.company_prefix_owner(prefix) is None:
                self.send(
                    registry.assign_company_prefix, prefix, supplier.address, signer=self.platform
                )

    def seed_epoch(self) -> int:
        """Chain time of the first seed's first transaction: the rice farm's first application.

        Read from the logs (immutable, unlike the party record, which a later revoke/approve
        rewrites), so every run dates the demo alike. Without such a log (the farm onboarded
        some other way) the registry's deployment block stands in: just as fixed.
        """
        registry = self.clients.registry
        start = self.chain.deployment.contracts["ProvenanceRegistry"].block
        applied = [
            log["blockNumber"]
            for log in registry.get_events(
                "PartyApplied",
                from_block=start,
                argument_filters={"account": c.RICE_FARM.address},
            )
            if int(log["args"]["kind"]) == PartyKind.SUPPLIER
        ]
        block = min(applied, default=start)
        return int(self.w3.eth.get_block(block)["timestamp"])

    # -- batches and events

    def refuse_other_codes_demo(
        self,
        batches: dict[str, bytes],
        demo_trails: dict[str, trails.Trail],
        products: dict[str, Product],
    ) -> None:
        """:class:`StaleDemo` if a demo batch carries anchors but not this code's first event.

        The seed anchors each trail's first event before any other of the batch, so a batch with
        anchors lacks it only if another version of the code seeded it: other EPCIS hash rules
        (``HASH_RULES_VERSION``) or other demo trails. This code's events would then sit beside
        the old ones, every hash of one kind unverifiable by the other. (Events people added to
        a demo batch while playing with it do not matter: the first event is still there.)
        """
        registry = self.clients.registry
        start = self.chain.deployment.contracts["ProvenanceRegistry"].block
        for key, trail in demo_trails.items():
            if not trail.single:
                continue
            first = event_hash_digest(trail.single[0][0])
            if registry.anchor_of(batches[key], first).anchored_at_block:
                continue
            anchored = registry.get_events(
                "EventAnchored", from_block=start, argument_filters={"batchId": batches[key]}
            )
            if anchored:
                product = products[key]
                raise StaleDemo(
                    f"the demo on {self.chain.identity.describe()} was seeded by another version "
                    f"of tuanchain: batch {product.gtin14}/{product.lot} has anchored events, "
                    f"but not this version's (EPCIS hash rules {HASH_RULES_VERSION}); seeding "
                    "would mix the two: start a new demo chain with `tuanchain run --fresh`"
                )

    def ensure_batch(self, product: Product, clock: DemoClock) -> bytes:
        registry = self.clients.registry
        batch_id = registry.compute_batch_id(product.gtin14, product.lot)
        self.report.batches[product.key] = f"{product.gtin14}/{product.lot}"
        if registry.batch_info(batch_id).status == BatchStatus.UNKNOWN:
            cid = parse_cid(self.put(product.metadata(clock)))
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
        if registry.anchor_of(batch_id, digest).anchored_at_block == 0:
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
        if registry.root_info(signer.address, manifest.root).anchored_at_block == 0:
            self.send(
                registry.anchor_root,
                manifest.root,
                len(entries),
                parse_cid(manifest_cid),
                signer=signer,
            )

    def allow_carrier(self, batch_id: bytes) -> None:
        """The carrier anchors the pork's cold-chain event itself: make it a batch writer."""
        registry, carrier = self.clients.registry, c.CARRIER
        if (
            not registry.is_batch_writer(batch_id, carrier.address)
            and registry.batch_status(batch_id) == BatchStatus.ACTIVE
        ):
            self.send(
                registry.set_batch_writer,
                batch_id,
                carrier.address,
                True,
                signer=c.PORK.supplier.account,
            )

    def recall_oranges(self, batch_id: bytes, clock: DemoClock) -> None:
        reason = self.put(recall_notice(clock))
        # The recall event is anchored while the batch is still active, then the batch recalled.
        event = trails.orange_recall(clock, f"ipfs://{reason}")
        self.anchor(batch_id, event, c.ORANGES.supplier.account)
        registry = self.clients.registry
        if registry.batch_status(batch_id) == BatchStatus.ACTIVE:
            self.send(
                registry.recall_batch,
                batch_id,
                parse_cid(reason),
                signer=c.ORANGES.supplier.account,
            )

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

    def ensure_deal(self, spec: DealSpec, batch_id: bytes) -> int:
        supplier = spec.product.supplier.address
        deal_id = self.find_deal(supplier, batch_id, spec.max_quantity)
        if deal_id is None:
            now = self.now()
            params = DealParams(
                supplier=supplier,
                token=self.clients.token.address,
                price_tiers=[PriceTier(q, round(price * USD)) for q, price in spec.tiers],
                min_total_quantity=spec.min_quantity,
                max_total_quantity=spec.max_quantity,
                per_buyer_limit=20,
                join_deadline=now + spec.join_in,
                delivery_deadline=now + spec.deliver_in,
                pickup_deadline=now
                + (spec.deliver_in if spec.pickup_in is None else spec.pickup_in),
                cash_cap_per_leader=spec.cash_cap,
                dispute_window=spec.dispute_window,
                answer_window=spec.answer_window,
                commission_bps=spec.commission_bps,
                platform_fee_bps=200,
                batch_ids=[batch_id],
            )
            deal_id = self.send(self.clients.escrow.create_deal, params, signer=self.platform)
            self.fresh_deals = True
        self.report.deals[spec.name] = deal_id
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

    def receive(
        self, deal_id: int, product: Product, batch_id: bytes, leader: Actor, *, short: int = 0
    ) -> None:
        """The leader's pickup: a receiving EPCIS event at chain time, anchored by the escrow;
        ``short`` units fewer than ordered arrived (refunded to the group at settlement)."""
        escrow = self.clients.escrow
        info = escrow.leader_info(deal_id, leader.address)
        if info.received_at or escrow.deal_status(deal_id) != DealStatus.SUCCEEDED:
            return
        # The leader's units, counted as the receipt counts them ("EA": deal units), so the
        # event's quantity is the one the escrow records (tuanchain verify checks it).
        event = receiving_event(
            gtin14=product.gtin14,
            lot=product.lot,
            quantity=info.quantity - short,
            uom="EA",
            event_time=self.chain_time(),
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
            received_quantity=info.quantity - short,
            signer=leader.account,
        )

    # -- the last mile (issue 11)

    def book_cash(self, deal_id: int, leader: Actor) -> bytes:
        """The leader books bags for a neighbour who paid cash (counted toward 成团 and tiers)."""
        escrow, token = self.clients.escrow, self.clients.token
        ref = beneficiary_ref(c.CASH_SALT, c.CASH_NEIGHBOUR)
        if escrow.cash_order(deal_id, leader.address, ref).quantity:
            return ref
        if escrow.deal_status(deal_id) != DealStatus.OPEN:
            return ref
        amount = escrow.deal_params(deal_id).price_tiers[0].unit_price * c.CASH_QUANTITY
        if token.balance_of(leader.address) < amount:
            self.send(token.mint, leader.address, 500 * USD, signer=self.platform)
        if token.allowance(leader.address, escrow.address) < amount:
            self.send(token.approve, escrow.address, 2**255, signer=leader.account)
        self.send(escrow.book_cash_order, deal_id, c.CASH_QUANTITY, ref, signer=leader.account)
        return ref

    def hand_over(self, deal_id: int, leader: Actor, pickups: Sequence[tuple[Actor, int]]) -> None:
        """Buyers show their signed pickup codes (Handover, EIP-712) and the leader records
        them in one call (批量核销)."""
        escrow = self.clients.escrow
        if escrow.deal_status(deal_id) != DealStatus.SUCCEEDED:
            return
        expiry = self.now() + 15 * 60
        items = []
        for buyer, quantity in pickups:
            if escrow.pickup(deal_id, buyer.address).at:
                continue
            typed = escrow.handover_typed_data(
                deal_id, buyer.address, leader.address, quantity, expiry
            )
            signature = sign_typed_data(buyer.account, typed).signature
            items.append((buyer.address, quantity, expiry, signature))
        if items:
            self.send(escrow.hand_over, deal_id, items, signer=leader.account)

    def hand_over_cash(self, deal_id: int, leader: Actor, ref: bytes) -> None:
        escrow = self.clients.escrow
        order = escrow.cash_order(deal_id, leader.address, ref)
        succeeded = escrow.deal_status(deal_id) == DealStatus.SUCCEEDED
        if order.quantity and not order.picked_up_at and succeeded:
            self.send(escrow.hand_over_cash, deal_id, ref, order.quantity, signer=leader.account)

    def close_out(self, deal_id: int, leader: Actor) -> None:
        """The keeper's part at the pickup deadline: the group's no-shows closed out."""
        escrow = self.clients.escrow
        if escrow.deal_status(deal_id) != DealStatus.SUCCEEDED:
            return
        try:
            self.send(escrow.close_out, deal_id, leader.address, signer=self.chain.keeper)
        except chain_errors.ContractRevert as exc:  # already closed out on an earlier run
            if exc.name != "NothingToCloseOut":
                raise

    def claim(self, deal_id: int, buyer: Actor, quantity: int) -> None:
        escrow = self.clients.escrow
        if escrow.claim(deal_id, buyer.address).status != ClaimStatus.NONE:
            return
        if escrow.order(deal_id, buyer.address).claimed_quantity:
            return
        evidence = self.put(claim_evidence(deal_id))
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
            self.ensure_prefixes(supplier)
        for leader in c.LEADERS:
            self.ensure_party(leader, PartyKind.LEADER)
        self.report.epoch = self.seed_epoch()
        clock = DemoClock(self.report.epoch)

        batches = {p.key: self.ensure_batch(p, clock) for p in c.PRODUCTS}
        self.allow_carrier(batches["pork"])
        certificates = {p.key: f"ipfs://{self.put(certificate(p))}" for p in c.PRODUCTS}
        by_key = {p.key: p for p in c.PRODUCTS}
        demo_trails = trails.trails(clock, certificates)
        self.refuse_other_codes_demo(batches, demo_trails, by_key)
        in_root: list[tuple[Product, EpcisEvent]] = []
        for key, trail in demo_trails.items():
            for event, signer in trail.single:
                self.anchor(batches[key], event, signer.account)
            in_root += [(by_key[key], event) for event in trail.merkle]
        # The rice and the oranges share a supplier, hence one Merkle root for both.
        self.merkle_batch(in_root, c.RICE_FARM.account)

        deals = {spec.name: self.ensure_deal(spec, batches[spec.product.key]) for spec in c.DEALS}
        for order in c.ORDERS:
            self.join(deals[order.deal], order.buyer, order.quantity, order.leader)

        cash_ref = self.book_cash(deals["rice_settled"], c.LEADERS[0])
        self.recall_oranges(batches["oranges"], clock)
        escrow = self.clients.escrow
        frozen = deals["oranges_frozen"]
        # The recall froze the deal in its own transaction (the registry notifies the escrow); the
        # permissionless freeze is the fallback should that notification have failed.
        if escrow.deal_status(frozen) not in (DealStatus.FROZEN, DealStatus.SETTLED):
            self.send(escrow.freeze, frozen, signer=self.chain.keeper)

        settled, claimed = deals["rice_settled"], deals["pork_claim"]
        w, li, _ = c.LEADERS
        join_deadline = escrow.deal_params(settled).join_deadline
        if not self.advance_to(join_deadline + 60, "deals reach their join deadline"):
            return
        self.receive(settled, c.RICE, batches["rice"], w)
        # One bag of 李姐's four never arrived: her group's buyer gets it back at settlement.
        self.receive(settled, c.RICE, batches["rice"], li, short=1)
        self.receive(claimed, c.PORK, batches["pork"], li)
        self.claim(claimed, c.CONSUMERS[1], 1)
        # Pickup (核销): 张伟 takes his 4 bags at 王姐's with his signed code, and the cash
        # neighbour's 2 are handed over by 王姐 alone; 陈静 (3 bags) never comes: a no-show. At 李姐's,
        # 刘洋 signs for the 3 bags that arrived of his 4 (the short one is his, refunded in full).
        b1, b2, _b3 = c.CONSUMERS[:3]
        self.hand_over(settled, w, [(b1, 4)])
        self.hand_over_cash(settled, w, cash_ref)
        self.hand_over(settled, li, [(b2, 3)])
        params = escrow.deal_params(settled)
        if not self.advance_to(params.pickup_deadline + 60, "the rice deal's pickup deadline"):
            return
        self.close_out(settled, w)
        last_pickup = max(
            escrow.pickup(settled, b.address).at for b in (b1, b2)
        )  # the handovers' after-sales windows run from their pickups
        settle_at = deal_rules.settleable_at(
            delivery_deadline=params.delivery_deadline,
            dispute_window=params.dispute_window,
            last_receipt_at=escrow.deal_totals(settled).last_receipt_at,
            pickup_deadline=params.pickup_deadline,
            last_pickup_at=last_pickup,
        )
        if self.advance_to(settle_at + 60, "the rice deal becomes settleable"):
            buyers = [o.buyer.address for o in c.ORDERS if o.deal == "rice_settled"]
            payees = [c.RICE.supplier.address, w.address, li.address, escrow.fee_recipient()]
            self.settle_and_pay(settled, payees + buyers)
            if escrow.cash_owed(settled, w.address, cash_ref):  # the cash neighbour's rebate
                self.send(
                    escrow.pay_cash_refunds,
                    settled,
                    w.address,
                    [cash_ref],
                    signer=self.chain.keeper,
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
