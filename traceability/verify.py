"""Independent verification of a batch's provenance trail: chain logs + IPFS documents.

Nothing but the chain and the documents is trusted: the service's index is never read. For the
batch ``keccak256(abi.encode(gtin14, lot))``, from the block that registered it
(``registeredAtBlock`` in the registry's ``BatchInfo``; nothing of the batch can be older):

1. ``BatchRegistered`` gives the supplier and the metadata document's CID;
2. ``EventAnchored`` (supplier and writers) and ``ReceiptAnchored`` (leaders' pickups,
   recorded by the escrow) give single anchors: the event hash and the document digest;
3. ``RootAnchored`` gives Merkle roots and their manifest CIDs; a manifest lists each leaf
   (event hash ID, document CID, batch) with its proof, and the leaves of this batch are
   checked with the proof *on chain* (``verifyEventInRoot``), if the root's anchorer is the
   batch's supplier or one of its writers (any approved supplier may anchor a root: a
   stranger's leaves are left out, with a warning);
4. ``BatchRecalled`` / ``BatchMarkedNonCompliant`` give reason documents;
5. the escrow's ``ReceiptConfirmed`` (same batch and event hash as a ``ReceiptAnchored``)
   gives the quantity the receipt recorded on chain: the receiving event's quantity of the
   lot must be that quantity (:func:`receipt_quantity_problems`).

For every anchored document the verifier fetches the bytes (the store checks every block
against its hash), recomputes the CID with kubo's import profiles, compares the digest with
the anchored one, parses the EPCIS document and recomputes the CBV 2.0 event hash of each
event: the anchored hash must be among them. Each item ends ``verified``, ``mismatch`` (with
the reasons) or ``missing`` (document not available), with the block and transaction that
anchored it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from traceability.digital_link import batch_id_of, check_lot, normalize_gtin
from traceability.epcis.errors import EpcisError
from traceability.epcis.hashing import digest_from_hash_id, hash_events_in_document
from traceability.epcis.identifiers import lot_digital_link
from traceability.ipfs.cid import (
    CODEC_DAG_PB,
    CODEC_RAW,
    cid_v0,
    cid_v1,
    format_cid,
    parse_cid,
    split_cid,
)
from traceability.ipfs.errors import BlockCorrupted, DocumentNotFound, IpfsError
from traceability.ipfs.importer import PROFILES, compute_cid
from traceability.ipfs.store import DocumentStore
from traceability.merkle import (
    BatchManifest,
    MerkleError,
    leaf_hash,
    parse_manifest,
    process_proof,
    to_hex,
)
from traceability.safe_json import loads_bounded

logger = logging.getLogger(__name__)


class ItemStatus(StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    MISSING = "missing"


class ItemKind(StrEnum):
    BATCH_METADATA = "batch-metadata"
    EVENT = "event"
    RECEIPT = "receipt"
    MERKLE_LEAF = "merkle-leaf"
    RECALL = "recall"
    NON_COMPLIANCE = "non-compliance"


@dataclass
class VerifiedItem:
    """One anchored thing and what checking it found."""

    kind: ItemKind
    status: ItemStatus
    block_number: int
    tx_hash: str
    document_cid: str | None = None
    event_hash: str | None = None  # 0x-hex digest anchored on chain
    event_hash_id: str | None = None
    merkle_root: str | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class VerificationReport:
    """Everything found about one batch. ``ok`` only when every item verified."""

    gtin14: str
    lot: str
    batch_id: str
    registered: bool
    batch_status: str
    supplier: str | None
    items: list[VerifiedItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.registered and all(i.status is ItemStatus.VERIFIED for i in self.items)

    def counts(self) -> dict[str, int]:
        result = {s.value: 0 for s in ItemStatus}
        for item in self.items:
            result[item.status.value] += 1
        return result

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = self.counts()
        return json.loads(json.dumps(data, default=str))  # enums → their values

    def to_text(self) -> str:
        lines = [
            f"batch {self.gtin14} / {self.lot} ({self.batch_id})",
            f"status: {self.batch_status}"
            + (f", supplier {self.supplier}" if self.supplier else ""),
        ]
        if not self.registered:
            lines.append("NOT REGISTERED on chain")
        for item in self.items:
            what = item.event_hash_id or item.event_hash or ""
            document = f"document {item.document_cid}" if item.document_cid else "no document"
            lines.append(f"{item.status.value:9} {item.kind.value:15} {what} {document}".rstrip())
            lines.append(f"{'':25} anchored in block {item.block_number}, tx {item.tx_hash}")
            lines.extend(f"          - {reason}" for reason in item.reasons)
        lines.extend(f"warning: {w}" for w in self.warnings)
        counts = self.counts()
        verdict = "VERIFIED" if self.ok else "NOT VERIFIED"
        lines.append(
            f"{verdict}: {counts['verified']} verified, {counts['mismatch']} mismatch, "
            f"{counts['missing']} missing"
        )
        return "\n".join(lines)


class RegistryReader(Protocol):
    """What the verifier needs of ``chain.clients.RegistryClient``."""

    def get_events(
        self,
        event_name: str,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        argument_filters: dict[str, Any] | None = None,
    ) -> list[Any]: ...

    def batch_info(self, batch_id: bytes) -> Any: ...  # .status, .registered_at_block

    def verify_event_in_root(
        self, anchorer: str, root: bytes, event_hash: bytes, proof: list[bytes]
    ) -> bool: ...

    def is_batch_writer(self, batch_id: bytes, writer: str) -> bool: ...


class ChainClients(Protocol):
    """The registry (``RegistryReader`` + ``batch_info``) and the escrow (``get_events``)."""

    registry: Any
    escrow: Any


# ---------------------------------------------------------------------- document checks


@dataclass
class _DocumentCheck:
    status: ItemStatus
    reasons: list[str]
    event_hash_ids: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # the events, in the order of the IDs


def _reproduces_cid(data: bytes, cid: bytes) -> bool:
    """Whether one of kubo's import profiles turns ``data`` into the DAG named by ``cid``.

    The digest is compared, not the CID text: a CIDv0 and a CIDv1 dag-pb CID with the same
    multihash name the same root block (a receipt anchor, for one, carries only the digest).
    """
    digest = split_cid(cid)[2]
    return any(
        split_cid(parse_cid(compute_cid(data, profile=profile)))[2] == digest
        for profile in PROFILES.values()
    )


def _check_document(
    store: DocumentStore, cid: bytes, anchored_digest: bytes | None, *, epcis: bool
) -> _DocumentCheck:
    """Fetch, re-hash and (for EPCIS documents) re-derive the event hash IDs of a document."""
    text = format_cid(cid)
    reasons: list[str] = []
    if anchored_digest is not None and split_cid(cid)[2] != anchored_digest:
        reasons.append(f"anchored digest {to_hex(anchored_digest)} is not the digest of {text}")
    try:
        data = store.get(text)
    except DocumentNotFound as exc:
        return _DocumentCheck(ItemStatus.MISSING, [*reasons, f"document not available: {exc}"])
    except BlockCorrupted as exc:
        return _DocumentCheck(ItemStatus.MISMATCH, [*reasons, f"stored bytes altered: {exc}"])
    except IpfsError as exc:
        return _DocumentCheck(ItemStatus.MISMATCH, [*reasons, f"unreadable: {exc}"])
    if not _reproduces_cid(data, cid):
        reasons.append(f"document bytes do not reproduce {text} under kubo's import profiles")
    hash_ids: list[str] = []
    events: list[Any] = []
    if epcis:
        try:
            document = loads_bounded(data)
            hash_ids = hash_events_in_document(document)
            events = _events_of(document)
        except (EpcisError, ValueError) as exc:  # ValueError: not JSON, not UTF-8, too deep
            reasons.append(f"not a valid EPCIS document: {exc}")
    status = ItemStatus.MISMATCH if reasons else ItemStatus.VERIFIED
    return _DocumentCheck(status, reasons, hash_ids, events)


def _events_of(document: Any) -> list[Any]:
    body = document.get("epcisBody") if isinstance(document, dict) else None
    if not isinstance(body, dict):
        return [document]
    return list(body.get("eventList") or [body.get("event")])


def _event_item(
    kind: ItemKind,
    log: Any,
    store: DocumentStore,
    *,
    cid: bytes | None,
    event_hash: bytes,
    anchored_digest: bytes | None,
    root: bytes | None = None,
    stated_hash_id: str | None = None,
    check_event: Callable[[Any], list[str]] | None = None,
) -> VerifiedItem:
    item = VerifiedItem(
        kind=kind,
        status=ItemStatus.VERIFIED,
        block_number=int(log["blockNumber"]),
        tx_hash=to_hex(bytes(log["transactionHash"])),
        document_cid=format_cid(cid) if cid else None,
        event_hash=to_hex(event_hash),
        event_hash_id=stated_hash_id,
        merkle_root=to_hex(root) if root else None,
    )
    if cid is None:
        item.status = ItemStatus.MISSING
        item.reasons.append("no document with the anchored digest is in the store")
        return item
    check = _check_document(store, cid, anchored_digest, epcis=True)
    item.status, item.reasons = check.status, list(check.reasons)
    if check.status is ItemStatus.MISSING:
        return item
    digests = {digest_from_hash_id(h): i for i, h in enumerate(check.event_hash_ids)}
    if event_hash in digests:
        index = digests[event_hash]
        item.event_hash_id = check.event_hash_ids[index]
        if check_event is not None and index < len(check.events):
            item.reasons.extend(check_event(check.events[index]))
    elif check.event_hash_ids:
        item.reasons.append(
            "document does not contain the anchored event (its events hash to "
            + ", ".join(check.event_hash_ids)
            + ")"
        )
    if item.reasons:
        item.status = ItemStatus.MISMATCH
    return item


def receipt_cid(store: DocumentStore, digest: bytes) -> bytes | None:
    """A receipt anchor carries only the digest: find the CID under which the store holds it.

    The store keys blocks by multihash, so one stored block answers to a raw CID and to a
    dag-pb CID alike; the right reading is the one that yields a JSON document (a dag-pb
    node read as raw bytes is protobuf, a JSON block read as dag-pb does not decode).
    """
    for cid in (cid_v1(CODEC_RAW, digest), cid_v0(digest), cid_v1(CODEC_DAG_PB, digest)):
        try:
            loads_bounded(store.get(format_cid(cid)))
        except (IpfsError, ValueError):  # not there, not this codec, or not JSON
            continue
        return cid
    return None


def _cid_bytes(value: bytes) -> bytes | None:
    try:
        split_cid(bytes(value))
    except IpfsError:
        return None
    return bytes(value)


# ---------------------------------------------------------------------- the verifier


# The ReceiptConfirmed member that holds the quantity the receipt recorded on chain, and the
# unit it counts in (deal units: the receiving events the service builds say "EA"). One place
# to change if receipts come to record another figure.
RECEIPT_QUANTITY_FIELD = "quantity"
RECEIPT_QUANTITY_UOM = "EA"


def receipt_quantity_problems(event: Any, *, lot_uri: str, recorded: int) -> list[str]:
    """Why a receiving event disagrees with the quantity its receipt recorded (empty: agrees).

    The event's quantity of the batch's lot (its ``quantityList`` elements whose ``epcClass``
    is the lot's Digital Link, summed) must equal ``recorded``, counted in deal units.
    """
    elements = [
        q
        for q in (event.get("quantityList") or [] if isinstance(event, dict) else [])
        if isinstance(q, dict) and q.get("epcClass") == lot_uri
    ]
    if not elements:
        return [f"the receiving event states no quantity of {lot_uri}"]
    units = {q.get("uom", RECEIPT_QUANTITY_UOM) for q in elements}
    if units != {RECEIPT_QUANTITY_UOM}:
        return [f"the receiving event counts {sorted(units)}, the receipt deal units"]
    stated = sum(float(q.get("quantity", 0)) for q in elements)
    if stated != recorded:
        return [f"the receiving event states {stated:g} received, the receipt on chain {recorded}"]
    return []


def verify_batch(
    chain_clients: ChainClients,
    store: DocumentStore,
    gtin: str,
    lot: str,
    *,
    from_block: int | None = None,
) -> VerificationReport:
    """Check every anchor of the batch ``(gtin, lot)`` against the documents in ``store``.

    Logs are read from the batch's registration block (``from_block`` overrides it). Only the
    chain and ``store`` are read. ``InvalidGtin`` / ``InvalidLot`` for bad keys; chain errors
    propagate as ``ChainError``.
    """
    registry = chain_clients.registry
    gtin14, lot = normalize_gtin(gtin), check_lot(lot)
    batch_id = batch_id_of(gtin14, lot)
    by_batch = {"batchId": batch_id}
    info = registry.batch_info(batch_id)
    report = VerificationReport(
        gtin14=gtin14,
        lot=lot,
        batch_id=to_hex(batch_id),
        registered=info.registered_at_block > 0,
        batch_status=info.status.name.lower(),
        supplier=None,
    )
    if not report.registered:
        return report
    start = info.registered_at_block if from_block is None else from_block

    registered = registry.get_events("BatchRegistered", from_block=start, argument_filters=by_batch)
    if registered:
        report.supplier = str(registered[0]["args"]["supplier"])
    else:
        report.warnings.append(f"no BatchRegistered log from block {start}")
    for log in registered:
        report.items.append(_plain_document_item(ItemKind.BATCH_METADATA, log, store, "metadata"))

    for log in registry.get_events("EventAnchored", from_block=start, argument_filters=by_batch):
        args = log["args"]
        cid = _cid_bytes(args["documentCid"])
        item = _event_item(
            ItemKind.EVENT,
            log,
            store,
            cid=cid,
            event_hash=bytes(args["eventHash"]),
            anchored_digest=bytes(args["documentDigest"]),
        )
        if cid is None:
            item.status = ItemStatus.MISMATCH
            item.reasons = [f"anchored CID 0x{bytes(args['documentCid']).hex()} is not sha2-256"]
        report.items.append(item)

    recorded = _recorded_receipt_quantities(chain_clients, start, by_batch)
    lot_uri = lot_digital_link(gtin14, lot)
    for log in registry.get_events("ReceiptAnchored", from_block=start, argument_filters=by_batch):
        args = log["args"]
        digest, event_hash = bytes(args["documentDigest"]), bytes(args["eventHash"])
        quantity = recorded.get(event_hash)
        report.items.append(
            _event_item(
                ItemKind.RECEIPT,
                log,
                store,
                cid=receipt_cid(store, digest),
                event_hash=event_hash,
                anchored_digest=digest,
                check_event=None
                if quantity is None
                else lambda event, q=quantity: receipt_quantity_problems(
                    event, lot_uri=lot_uri, recorded=q
                ),
            )
        )

    supplier = (report.supplier or info.supplier).lower()

    def may_anchor(anchorer: str) -> bool:
        # Any approved supplier may anchor a root, and its manifest names each leaf's batch
        # itself: only a root of someone who may anchor this batch's events speaks for it.
        return anchorer.lower() == supplier or registry.is_batch_writer(batch_id, anchorer)

    for log in registry.get_events("RootAnchored", from_block=start):
        report.items.extend(_merkle_items(registry, store, log, report, gtin14, lot, may_anchor))

    for event_name, kind in (
        ("BatchRecalled", ItemKind.RECALL),
        ("BatchMarkedNonCompliant", ItemKind.NON_COMPLIANCE),
    ):
        for log in registry.get_events(event_name, from_block=start, argument_filters=by_batch):
            report.items.append(_plain_document_item(kind, log, store, "reason"))

    report.items.sort(key=lambda i: (i.block_number, i.tx_hash))
    logger.info("verified batch %s/%s: %s", gtin14, lot, report.counts())
    return report


def _recorded_receipt_quantities(
    chain_clients: ChainClients, start: int, by_batch: dict[str, Any]
) -> dict[bytes, int]:
    """Event hash -> quantity of the escrow's ``ReceiptConfirmed`` logs for the batch.

    A receipt anchored by another recorder (no escrow log) records no quantity: not checked.
    """
    escrow = getattr(chain_clients, "escrow", None)
    if escrow is None:
        return {}
    return {
        bytes(log["args"]["eventHash"]): int(log["args"][RECEIPT_QUANTITY_FIELD])
        for log in escrow.get_events(
            "ReceiptConfirmed", from_block=start, argument_filters=by_batch
        )
    }


def _plain_document_item(
    kind: ItemKind, log: Any, store: DocumentStore, field_: str
) -> VerifiedItem:
    """Metadata and reason documents: the digest and CID are checked, the content is free."""
    args = log["args"]
    raw = bytes(args[f"{field_}Cid"])
    item = VerifiedItem(
        kind=kind,
        status=ItemStatus.VERIFIED,
        block_number=int(log["blockNumber"]),
        tx_hash=to_hex(bytes(log["transactionHash"])),
    )
    cid = _cid_bytes(raw)
    if cid is None:
        item.status = ItemStatus.MISMATCH
        item.reasons.append(f"anchored CID 0x{raw.hex()} is not sha2-256")
        return item
    item.document_cid = format_cid(cid)
    check = _check_document(store, cid, bytes(args[f"{field_}Digest"]), epcis=False)
    item.status, item.reasons = check.status, check.reasons
    return item


def _merkle_items(
    registry: RegistryReader,
    store: DocumentStore,
    log: Any,
    report: VerificationReport,
    gtin14: str,
    lot: str,
    may_anchor: Callable[[str], bool],
) -> list[VerifiedItem]:
    """The leaves of this batch in one anchored root, each proof checked on chain (none, and a
    warning, when the root's anchorer may not anchor this batch's events)."""
    args = log["args"]
    root = bytes(args["root"])
    cid = _cid_bytes(args["manifestCid"])
    where = f"root {to_hex(root)} (block {log['blockNumber']})"
    if cid is None:
        report.warnings.append(f"{where}: manifest CID is not sha2-256")
        return []
    try:
        manifest: BatchManifest = parse_manifest(store.get(format_cid(cid)))
    except DocumentNotFound:
        # Without the manifest nobody can tell which batches the root covers.
        report.warnings.append(f"{where}: manifest {format_cid(cid)} not available")
        return []
    except (IpfsError, MerkleError) as exc:
        report.warnings.append(f"{where}: manifest {format_cid(cid)} unusable: {exc}")
        return []

    ours = [leaf for leaf in manifest.leaves if leaf.gtin14 == gtin14 and leaf.lot == lot]
    if ours and not may_anchor(str(args["anchorer"])):
        report.warnings.append(
            f"{where}: anchored by {args['anchorer']}, neither the batch's supplier nor one of "
            f"its writers: its {len(ours)} leaves naming this batch are not counted"
        )
        return []
    items = []
    for leaf in ours:
        try:
            document_cid: bytes | None = parse_cid(leaf.document_cid)
        except IpfsError:
            document_cid = None
        item = _event_item(
            ItemKind.MERKLE_LEAF,
            log,
            store,
            cid=document_cid,
            event_hash=leaf.event_hash,
            anchored_digest=None,
            root=root,
            stated_hash_id=leaf.event_hash_id,
        )
        item.document_cid = leaf.document_cid
        # Problems of the manifest or the proof are tampering: they outrank a missing document.
        problems = []
        if document_cid is None:
            problems.append(f"manifest lists an invalid document CID {leaf.document_cid!r}")
        try:
            if digest_from_hash_id(leaf.event_hash_id) != leaf.event_hash:
                problems.append("manifest's event hash ID and event hash disagree")
        except EpcisError:
            problems.append(f"manifest lists a malformed event hash ID {leaf.event_hash_id!r}")
        if manifest.root != root:
            problems.append(
                f"manifest states root {to_hex(manifest.root)}, anchored {to_hex(root)}"
            )
        proof = list(leaf.proof)
        if process_proof(leaf_hash(leaf.event_hash), proof) != root:
            problems.append("Merkle proof does not lead to the anchored root")
        # The root of the anchorer that emitted this log: roots are unique per anchorer.
        if not registry.verify_event_in_root(str(args["anchorer"]), root, leaf.event_hash, proof):
            problems.append("Merkle proof rejected on chain by verifyEventInRoot")
        if problems:
            item.status = ItemStatus.MISMATCH
            item.reasons.extend(problems)
        items.append(item)
    return items
