"""What every action's builder shares: the prepared payloads' shape, the document helpers (the
exact bytes whose CID is anchored), the forward request with the signer's next nonce, and
storing a prepared document unpinned."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from api.errors import ApiError
from api.relayer.action_params import ActionParams
from chain import errors as chain_errors
from chain.context import Chain
from traceability.digital_link import batch_id_of
from traceability.epcis import hash_events_in_document, parse_event, serialize_document
from traceability.epcis.hashing import digest_from_hash_id
from traceability.epcis.vocabulary import DEFAULT_CONTEXT
from traceability.ipfs import DocumentStore, compute_cid, parse_cid
from traceability.ipfs.cid import split_cid
from traceability.merkle import BatchManifest, build_manifest
from traceability.safe_json import UnsafeJson

logger = logging.getLogger(__name__)

# Gas the forwarder must pass to ``join``: it cannot be estimated before the permit exists (the
# transfer would fail on allowance). A relayed join used 119k-159k gas on anvil (a deal's first
# join costs most), so this leaves a wide margin; the relayer pays, and unused gas is not charged.
JOIN_GAS = 400_000
# Lifetime of a prepared request (chain time): long enough for a person to look and sign.
REQUEST_TTL_SECONDS = 3600
# The receiving event's extension member naming photos of the goods (tuanchain's namespace).
PHOTO_FIELD = "tuan:photo"


@dataclass(frozen=True)
class NextNonces:
    """The nonces a signer's next request and permit must carry (after its queued requests)."""

    request: int
    permit: int


@dataclass
class PreparedAction:
    action: str
    sender: str
    payloads: dict[str, dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "from": self.sender,
            "payloads": self.payloads,
            "details": self.details,
        }


def json_bytes(data: dict[str, Any]) -> bytes:
    """A JSON document as compact UTF-8: the exact bytes whose CID is anchored. ``UnsafeJson``
    (400) for NaN or Infinity, which Python reads in a request body and no other parser does."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        raise UnsafeJson(
            "NaN or Infinity is not a JSON number: a document cannot hold it"
        ) from None


def cid_bytes(cid: str) -> bytes:
    """Binary CID (what the contracts take); ``InvalidCid`` (400) for a malformed one."""
    return parse_cid(cid)


def cid_digest(cid: str) -> bytes:
    """The CID's sha2-256 digest: the ``documentDigest`` the registry keeps for a CID."""
    return split_cid(parse_cid(cid))[2]


def parsed_event(raw: dict[str, Any]) -> Any:
    """A posted EPCIS event, parsed: a standalone one carries its ``@context``, one sent without
    gets tuanchain's (``InvalidEpcisDocument`` → 400 with the JSON path)."""
    return parse_event(raw if "@context" in raw else {"@context": DEFAULT_CONTEXT, **raw})


def event_document(event: Any) -> tuple[bytes, str, dict[str, Any]]:
    """One EPCIS document per event (the anchoring convention): (bytes, CBV hash id, document)."""
    document = serialize_document([event])
    (hash_id,) = hash_events_in_document(document)  # the stored document, as anyone hashes it
    return json_bytes(document), hash_id, document


def event_anchor(
    gtin14: str, lot: str, raw: dict[str, Any], cid: Callable[[bytes], str] = compute_cid
) -> tuple[bytes, dict[str, Any]]:
    """A batch's event as ``anchor_event`` anchors it: its document's bytes and the details the
    service answers (also what the supplier CLI says of an event anchored before)."""
    data, hash_id, _ = event_document(parsed_event(raw))
    return data, {
        "batch_id": "0x" + batch_id_of(gtin14, lot).hex(),
        "event_hash_id": hash_id,
        "event_hash": "0x" + digest_from_hash_id(hash_id).hex(),
        "document_cid": cid(data),
    }


def root_anchor(
    events: list[tuple[str, str, dict[str, Any]]], cid: Callable[[bytes], str] = compute_cid
) -> tuple[list[tuple[bytes, str]], BatchManifest, dict[str, Any]]:
    """``(gtin14, lot, event)``s as ``anchor_root`` anchors them: each event's document with its
    CID, the manifest and the details the service answers (also what the supplier CLI says of a
    root anchored before). ``ApiError`` when one event appears twice."""
    documents, entries = [], []
    for gtin14, lot, raw in events:
        data, hash_id, _ = event_document(parsed_event(raw))
        document_cid = cid(data)
        documents.append((data, document_cid))
        entries.append((hash_id, document_cid, gtin14, lot))
    if len({hash_id for hash_id, _, _, _ in entries}) != len(entries):
        raise ApiError(400, "duplicate_event", "the same event appears twice under the root")
    manifest = build_manifest(entries)
    return (
        documents,
        manifest,
        {
            "root": "0x" + manifest.root.hex(),
            "leaf_count": len(entries),
            "manifest_cid": cid(manifest.dumps()),
            "event_hash_ids": [hash_id for hash_id, _, _, _ in entries],
        },
    )


class BuilderBase:
    """Builds typed data against one chain and one document store; each action family adds
    its builders (:class:`api.relayer.prepare.ActionBuilder` has them all)."""

    def __init__(
        self,
        chain: Chain,
        store: DocumentStore,
        nonces: Callable[[str], NextNonces] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.chain = chain
        self.store = store
        self.engine = engine  # the private document store's (claim evidence), if any
        self.clients = chain.clients
        self._nonces = nonces
        self._next: dict[str, NextNonces] = {}

    def next_nonces(self, sender: str) -> NextNonces | None:
        """The sender's next nonces after its queued requests (None: the chain's, no outbox)."""
        if self._nonces is None:
            return None
        if sender not in self._next:
            self._next[sender] = self._nonces(sender)
        return self._next[sender]

    def _cid(self, data: bytes) -> str:
        """The CID the store will give ``data`` (computed, nothing stored yet)."""
        return compute_cid(data, profile=self.store.profile)

    def _keep(self, data: bytes, cid: str) -> None:
        """Store a prepared document once its request passed the contract's checks, *unpinned*.

        Preparing is not authenticated (``from`` is only a claim until the request is signed), so
        a prepared document stays garbage-collectable until ``POST /v1/relay`` has verified the
        signature and pins the CIDs the signed calldata names (:mod:`api.relayer.accept`); and a
        doomed prepare (the simulation reverted) stores nothing at all.
        """
        stored = self.store.put(data, pin=False)
        if stored != cid:  # a store with another import profile than it claims
            raise ApiError(502, "store_cid_mismatch", f"store returned {stored}, expected {cid}")

    def _stored(self, cid: str, code: str) -> str:
        """``cid`` of a document the store holds, which a request names instead of posting it:
        a 400 with ``code`` if not uploaded — never a CID anchored that nobody can read."""
        cid_bytes(cid)
        if not self.store.has(cid):
            raise ApiError(
                400, code, f"upload it first (POST /v1/documents): {cid} is not in the store"
            )
        return cid

    def _stored_uri(self, cid: str) -> str:
        """``ipfs://{cid}`` of a photo the store holds (400 if malformed or not uploaded)."""
        return f"ipfs://{self._stored(cid, 'photo_not_stored')}"

    def _request(
        self, sender: str, target: str, data: bytes, *, gas: int | None = None
    ) -> dict[str, Any]:
        request = self.clients.forwarder.prepare(
            sender=sender, target=target, data=data, gas=gas, ttl_seconds=REQUEST_TTL_SECONDS
        )
        queued = self.next_nonces(sender)
        if queued is not None:  # after the signer's requests waiting in the outbox
            request["message"]["nonce"] = queued.request
        return request

    def _paid_escrow(self, sender: str, data: bytes, amount: int, what: str) -> dict[str, Any]:
        """The ``request`` and the token's ``permit`` of an escrow call that pulls ``amount``
        from ``sender`` (a join, a cash order): 409 ``insufficient_balance`` if it holds less."""
        escrow, token = self.clients.escrow, self.clients.token
        # Every check of the call runs before the transfer: a dry run that fails only on the
        # allowance (which the permit will give) means the call itself is acceptable.
        try:
            self.clients.forwarder.simulate(sender=sender, target=escrow.address, data=data)
        except chain_errors.ContractRevert as exc:
            if exc.name != "ERC20InsufficientAllowance":
                raise
        balance = token.balance_of(sender)
        if balance < amount:
            raise ApiError(
                409,
                "insufficient_balance",
                f"{sender} holds {balance} but {what} costs {amount}",
                balance=balance,
                amount=amount,
            )
        request = self._request(sender, escrow.address, data, gas=JOIN_GAS)
        permit = token.permit_typed_data(
            owner=sender,
            spender=escrow.address,
            value=amount,
            deadline=int(request["message"]["deadline"]),
        )
        queued = self.next_nonces(sender)
        if queued is not None:  # after the permits of the signer's queued joins
            permit["message"]["nonce"] = queued.permit
        return {"permit": permit, "request": request}

    def _escrow(self, p: ActionParams, fn: str, *args: Any) -> dict[str, Any]:
        escrow = self.clients.escrow
        return self._request(p.sender, escrow.address, escrow.calldata(fn, *args))

    def _registry(self, p: ActionParams, fn: str, *args: Any) -> dict[str, Any]:
        registry = self.clients.registry
        return self._request(p.sender, registry.address, registry.calldata(fn, *args))
