"""One function per contract event: a decoded log becomes the rows it stands for.

Handlers only translate; they never read other rows or the store (enrichment does that), so
replaying a range always produces the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table

from api.db import models as m
from api.indexer.logs import DecodedLog, hex0x
from chain import deal_rules
from chain.address import checksum_address
from traceability.ipfs import InvalidCid, format_cid
from traceability.ipfs.cid import raw_cid_of_digest

PARTY_KINDS = {0: "supplier", 1: "leader"}


class Row(NamedTuple):
    """A row to insert: its table and column values (columns left out take their defaults).

    Plain values rather than ORM instances: the indexer inserts them in bulk, one multi-row
    INSERT per table and range, and building instrumented ORM objects was a third of its time
    (issue 15)."""

    table: Table
    values: dict[str, Any]

    @classmethod
    def of(cls, model: type[m.Base], **values: Any) -> Row:
        return cls(model.__table__, values)  # type: ignore[arg-type]


def cid_text(raw: bytes) -> str | None:
    """A CID's canonical text, or None for empty/unparseable bytes (kept out of the way)."""
    if not raw:
        return None
    try:
        return format_cid(bytes(raw))
    except InvalidCid:
        return None


def _addr(value: str) -> str:
    # Remembered, in the cache accept's checks share (chain.address): the same suppliers,
    # leaders and tokens recur in every range, and checksumming (a keccak plus eth-utils'
    # checks) was a fifth of the indexer's time; web3's own checksum, called here for each
    # fresh consumer, was 2.6 % of the service under the rush (issue 15).
    return checksum_address(value)


def _struct(value: Any, names: list[str]) -> dict[str, Any]:
    """A decoded ABI tuple as a dict, whether web3 returned a mapping or a sequence."""
    if isinstance(value, Mapping):
        return dict(value)
    return dict(zip(names, value, strict=False))


DEAL_FIELDS = [
    "supplier",
    "token",
    "priceTiers",
    "minTotalQuantity",
    "maxTotalQuantity",
    "perBuyerLimit",
    "joinDeadline",
    "deliveryDeadline",
    "disputeWindow",
    "answerWindow",
    "commissionBps",
    "commissionTiers",
    "platformFeeBps",
    "batchIds",
    "pickupDeadline",
    "cashCapPerLeader",
]


def _pairs(tiers: Any, names: list[str]) -> list[list[int]]:
    out = []
    for tier in tiers:
        t = _struct(tier, names)
        out.append([int(t[names[0]]), int(t[names[1]])])
    return out


Handler = Callable[[DecodedLog, dict[str, Any]], list[Row]]


def _party(action: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        by = a.get("approver") or a.get("rejecter") or a.get("revoker")
        credentials = a.get("credentialsDigest")
        return [
            Row.of(
                m.PartyEvent,
                **pos,
                kind=PARTY_KINDS.get(int(a["kind"]), str(a["kind"])),
                account=_addr(a["account"]),
                action=action,
                profile_cid=cid_text(a["profileCid"]) if "profileCid" in a else None,
                credentials_digest="0x" + bytes(credentials).hex() if credentials else None,
                reason_cid=cid_text(a["reasonCid"]) if "reasonCid" in a else None,
                by=_addr(by) if by else None,
            )
        ]

    return handle


def _company_prefix(action: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        return [
            Row.of(
                m.CompanyPrefixEvent,
                **pos,
                prefix=a["prefix"],
                supplier=_addr(a["supplier"]),
                action=action,
                by=_addr(a.get("assigner") or a["revoker"]),
            )
        ]

    return handle


def _batch_registered(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.Batch,
            **pos,
            batch_id=hex0x(a["batchId"]),
            gtin=a["gtin14"],
            lot=a["lot"],
            supplier=_addr(a["supplier"]),
            metadata_cid=cid_text(a["metadataCid"]),
            metadata_status="pending" if a["metadataCid"] else "none",
        )
    ]


def _batch_status(status: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        return [
            Row.of(
                m.BatchStatusEvent,
                **pos,
                batch_id=hex0x(a["batchId"]),
                status=status,
                actor=_addr(a["actor"]),
                reason_cid=cid_text(a["reasonCid"]),
            )
        ]

    return handle


def _writer_set(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.BatchWriter,
            **pos,
            batch_id=hex0x(a["batchId"]),
            writer=_addr(a["writer"]),
            allowed=a["allowed"],
        )
    ]


def _event_anchored(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.AnchoredEvent,
            **pos,
            leaf_index=-1,
            batch_id=hex0x(a["batchId"]),
            kind="single",
            event_hash=hex0x(a["eventHash"]),
            document_cid=cid_text(a["documentCid"]),
            document_digest=hex0x(a["documentDigest"]),
            actor=_addr(a["actor"]),
        )
    ]


def _receipt_anchored(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.AnchoredEvent,
            **pos,
            leaf_index=-1,
            batch_id=hex0x(a["batchId"]),
            kind="receipt",
            event_hash=hex0x(a["eventHash"]),
            # Only the digest is on chain: the document's CID under the default (CIDv1) profile.
            document_cid=raw_cid_of_digest(a["documentDigest"]),
            document_digest=hex0x(a["documentDigest"]),
            actor=_addr(a["leader"]),
        )
    ]


def _root_anchored(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    manifest = cid_text(a["manifestCid"])
    return [
        Row.of(
            m.MerkleRoot,
            **pos,
            root=hex0x(a["root"]),
            leaf_count=int(a["leafCount"]),
            anchorer=_addr(a["anchorer"]),
            manifest_cid=manifest,
            manifest_status="pending" if manifest else "invalid",
        )
    ]


def _deal_created(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    p = _struct(a["params"], DEAL_FIELDS)
    deal_id = int(a["dealId"])
    rows: list[Row] = [
        Row.of(
            m.Deal,
            **pos,
            deal_id=deal_id,
            supplier=_addr(p["supplier"]),
            token=_addr(p["token"]),
            fee_recipient=_addr(a["feeRecipient"]),
            price_tiers=_pairs(p["priceTiers"], ["minQuantity", "unitPrice"]),
            commission_tiers=_pairs(p["commissionTiers"], ["minVolume", "commissionBps"]),
            min_quantity=int(p["minTotalQuantity"]),
            max_quantity=int(p["maxTotalQuantity"]),
            per_buyer_limit=int(p["perBuyerLimit"]),
            join_deadline=int(p["joinDeadline"]),
            delivery_deadline=int(p["deliveryDeadline"]),
            dispute_window=int(p["disputeWindow"]),
            answer_window=int(p["answerWindow"]),
            commission_bps=int(p["commissionBps"]),
            platform_fee_bps=int(p["platformFeeBps"]),
            pickup_deadline=int(p["pickupDeadline"])
            if p.get("pickupDeadline") is not None
            else None,
            cash_cap_per_leader=(
                int(p["cashCapPerLeader"]) if p.get("cashCapPerLeader") is not None else None
            ),
        )
    ]
    rows += [Row.of(m.DealBatch, **pos, deal_id=deal_id, batch_id=hex0x(b)) for b in p["batchIds"]]
    return rows


def _order(kind: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        return [
            Row.of(
                m.OrderEvent,
                **pos,
                deal_id=int(a["dealId"]),
                buyer=_addr(a["buyer"]),
                leader=_addr(a["leader"]),
                kind=kind,
                quantity=int(a["quantity"]),
                amount=int(a["paid"] if kind == "join" else a["refunded"]),
            )
        ]

    return handle


def _receipt_confirmed(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.Receipt,
            **pos,
            deal_id=int(a["dealId"]),
            leader=_addr(a["leader"]),
            batch_id=hex0x(a["batchId"]),
            event_hash=hex0x(a["eventHash"]),
            document_digest=hex0x(a["documentDigest"]),
            quantity=int(a["quantity"]),
        )
    ]


def _claim(status: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        return [
            Row.of(
                m.ClaimEvent,
                **pos,
                deal_id=int(a["dealId"]),
                buyer=_addr(a["buyer"]),
                leader=_addr(a["leader"]) if "leader" in a else None,
                status=status,
                quantity=int(a.get("quantity", 0)),
                evidence_cid=cid_text(a["evidenceCid"]) if "evidenceCid" in a else None,
                by_default=bool(a.get("byDefault", False)),
            )
        ]

    return handle


def _deal_frozen(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.DealOutcome,
            **pos,
            deal_id=int(a["dealId"]),
            kind="frozen",
            batch_id=hex0x(a["batchId"]),
        )
    ]


def _deal_settled(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
    a = log.args
    return [
        Row.of(
            m.DealOutcome,
            **pos,
            deal_id=int(a["dealId"]),
            kind="settled",
            final_unit_price=int(a["finalUnitPrice"]),
            revenue=int(a["revenue"]),
            supplier_amount=int(a["supplierAmount"]),
            platform_fee=int(a["platformFee"]),
            commission_total=int(a["commissionTotal"]),
        )
    ]


def _payout(kind: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        return [
            Row.of(
                m.Payout,
                **pos,
                deal_id=int(a["dealId"]),
                account=_addr(a["account"]),
                kind=kind,
                amount=int(a.get("amount", 0)),
            )
        ]

    return handle


def _pickup(kind: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        values: dict[str, Any] = {"deal_id": int(a["dealId"]), "kind": kind}
        if "leader" in a:
            values["leader"] = _addr(a["leader"])
        if "buyer" in a:
            values["buyer"] = _addr(a["buyer"])
        if "beneficiaryRef" in a:
            values["beneficiary_ref"] = hex0x(a["beneficiaryRef"])
        if kind == "skipped":
            reason = int(a["reason"])
            values["reason"] = (
                deal_rules.HANDOVER_SKIPS[reason]
                if reason < len(deal_rules.HANDOVER_SKIPS)
                else str(reason)
            )
        elif kind == "no_shows":
            values["quantity"] = int(a["noShowUnits"])
            values["short_quantity"] = int(a["shortUnits"])
            values["refund_per_unit"] = int(a["refundPerUnit"])
        else:
            values["quantity"] = int(a["quantity"])
            values["short_quantity"] = int(a["shortQuantity"])
        return [Row.of(m.PickupEvent, **pos, **values)]

    return handle


def _cash(kind: str) -> Handler:
    def handle(log: DecodedLog, pos: dict[str, Any]) -> list[Row]:
        a = log.args
        return [
            Row.of(
                m.CashOrderEvent,
                **pos,
                deal_id=int(a["dealId"]),
                leader=_addr(a["leader"]),
                beneficiary_ref=hex0x(a["beneficiaryRef"]),
                kind=kind,
                quantity=int(a.get("quantity", 0)),
                amount=int(a["paid"] if kind == "booked" else a["amount"]),
            )
        ]

    return handle


HANDLERS: dict[tuple[str, str], Handler] = {
    ("registry", "PartyApplied"): _party("applied"),
    ("registry", "PartyApproved"): _party("approved"),
    ("registry", "PartyRejected"): _party("rejected"),
    ("registry", "PartyRevoked"): _party("revoked"),
    ("registry", "PartyProfileUpdated"): _party("profile_updated"),
    ("registry", "CompanyPrefixAssigned"): _company_prefix("assigned"),
    ("registry", "CompanyPrefixRevoked"): _company_prefix("revoked"),
    ("registry", "BatchRegistered"): _batch_registered,
    ("registry", "BatchWriterSet"): _writer_set,
    ("registry", "EventAnchored"): _event_anchored,
    ("registry", "ReceiptAnchored"): _receipt_anchored,
    ("registry", "RootAnchored"): _root_anchored,
    ("registry", "BatchRecalled"): _batch_status("recalled"),
    ("registry", "BatchMarkedNonCompliant"): _batch_status("non_compliant"),
    ("escrow", "DealCreated"): _deal_created,
    ("escrow", "Joined"): _order("join"),
    ("escrow", "Cancelled"): _order("cancel"),
    ("escrow", "ReceiptConfirmed"): _receipt_confirmed,
    ("escrow", "ClaimFiled"): _claim("filed"),
    ("escrow", "ClaimRejected"): _claim("rejected"),
    ("escrow", "ClaimUpheld"): _claim("upheld"),
    ("escrow", "ClaimDenied"): _claim("denied"),
    ("escrow", "DealFrozen"): _deal_frozen,
    ("escrow", "DealSettled"): _deal_settled,
    ("escrow", "Withdrawn"): _payout("withdrawn"),
    ("escrow", "PayoutSkipped"): _payout("skipped"),
    ("escrow", "HandedOver"): _pickup("handed_over"),
    ("escrow", "CashHandedOver"): _pickup("cash"),
    ("escrow", "HandoverSkipped"): _pickup("skipped"),
    ("escrow", "NoShowsClosed"): _pickup("no_shows"),
    ("escrow", "CashOrderBooked"): _cash("booked"),
    ("escrow", "CashRefunded"): _cash("refunded"),
}


def rows_for(log: DecodedLog, block_time: datetime) -> list[Row]:
    """The rows a log stands for (none for events the index does not keep, e.g. role grants)."""
    handler = HANDLERS.get((log.contract, log.event))
    if handler is None:
        return []
    pos = {
        "block_number": log.block_number,
        "tx_hash": log.tx_hash,
        "log_index": log.log_index,
        "block_time": block_time,
    }
    return handler(log, pos)
