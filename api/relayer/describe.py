"""What the outbox records about a request: decoded from the signed payloads, and nothing else.

A client posts back the ``details`` that ``prepare`` returned, but nothing signs them: a join signed
for 1 unit could come with details claiming 50. So the relay ignores posted ``details`` and
describes each request from what its signer signed: the forward request's ``data`` decoded with the
target contract's ABI (argument names in snake_case, as ``prepare`` names them), the permit's
values, and what follows from those alone or from immutable facts:

- ``join``: ``amount`` = signed quantity × the deal's top unit price (exactly what ``join`` takes;
  a deal's tiers never change), and ``permit_value``, the allowance the permit grants;
- ``register_batch``: ``batch_id``, ``keccak256(gtin14, lot)`` (:func:`batch_id_of`);
- ``anchor_event``, ``confirm_receipt``: ``event_hash_id``, the CBV 2.0 hash ID of the signed digest;
- ``confirm_receipt``: ``document_cid``, the CID under which the store holds the document with the
  signed ``document_digest`` (a receipt anchors only the digest), else the raw CIDv1 of that digest.

Bytes become ``0x`` hex, CID arguments (``*Cid``) their canonical text. ``prepare`` reports the same
keys with the same values, plus what is not signed and so never recorded here (a withdrawal's
``amount`` owed at prepare time, a receipt's whole ``document``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from traceability.digital_link import batch_id_of
from traceability.epcis import hash_id_of_digest
from traceability.ipfs import DocumentStore, IpfsError, format_cid
from traceability.ipfs.cid import raw_cid_of_digest
from traceability.verify import receipt_cid

# The detail naming the document a verified request anchors, per function: pinned on acceptance.
# Escrow / registry function name → action name shown in the outbox.
ACTION_OF_FUNCTION = {
    "join": "join",
    "joinWithPermit": "join",
    "handOver": "handover",
    "handOverCash": "hand_over_cash",
    "bookCashOrder": "book_cash_order",
    "bookCashOrderWithPermit": "book_cash_order",
    "payCashRefunds": "pay_cash_refunds",
    "closeOut": "close_out",
    "cancel": "cancel",
    "withdraw": "withdraw",
    "settle": "settle",
    "fileClaim": "file_claim",
    "confirmReceipt": "confirm_receipt",
    "acceptClaim": "accept_claim",
    "rejectClaim": "reject_claim",
    "arbitrateClaim": "arbitrate",
    "finalizeUnansweredClaim": "finalize_claim",
    "registerBatch": "register_batch",
    "anchorEvent": "anchor_event",
    "anchorRoot": "anchor_root",
    "setBatchWriter": "set_batch_writer",
    "recallBatch": "recall_batch",
    "markNonCompliant": "mark_non_compliant",
    "applyAsSupplier": "apply_as_supplier",
    "applyAsLeader": "apply_as_leader",
    "updateProfile": "update_profile",
    "approveSupplier": "review",
    "approveLeader": "review",
    "rejectSupplier": "review",
    "rejectLeader": "review",
    "revokeSupplier": "review",
    "revokeLeader": "review",
    "assignCompanyPrefix": "company_prefix",
    "revokeCompanyPrefix": "company_prefix",
    "createDeal": "create_deal",
    "setTokenAllowed": "set_token_allowed",
    "setFeeRecipient": "set_fee_recipient",
}


ANCHORED_DOCUMENT = {
    "anchorEvent": "document_cid",
    "registerBatch": "metadata_cid",
    "fileClaim": "evidence_cid",
    "confirmReceipt": "document_cid",
    "applyAsSupplier": "profile_cid",
    "applyAsLeader": "profile_cid",
    "updateProfile": "profile_cid",
    "anchorRoot": "manifest_cid",  # and, through the manifest, every leaf's event document
    "recallBatch": "reason_cid",
    "markNonCompliant": "reason_cid",
    "rejectSupplier": "reason_cid",
    "rejectLeader": "reason_cid",
    "revokeSupplier": "reason_cid",
    "revokeLeader": "reason_cid",
}


def snake(name: str) -> str:
    """``dealId`` → ``deal_id``, ``gtin14`` → ``gtin14`` (the ABI's names as ``prepare`` spells them)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def json_value(abi_input: Mapping[str, Any], value: Any) -> Any:
    """One decoded ABI value as JSON: bytes as ``0x`` hex (CIDs as text), tuples as objects."""
    kind = str(abi_input["type"])
    if kind.endswith("]"):
        element = {**abi_input, "type": kind[: kind.rindex("[")]}
        return [json_value(element, v) for v in value]
    if kind == "tuple":
        components = abi_input.get("components", [])
        values = value.values() if isinstance(value, Mapping) else value
        return {snake(c["name"]): json_value(c, v) for c, v in zip(components, values, strict=True)}
    if kind == "bytes" and str(abi_input.get("name", "")).endswith("Cid"):
        try:
            return format_cid(bytes(value))
        except IpfsError:  # not a CID: the contract decides what to do with it; show the bytes
            return "0x" + bytes(value).hex()
    if kind.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value  # integers, booleans, strings, checksummed addresses


def describe_call(
    function: str,
    abi_inputs: Sequence[Mapping[str, Any]],
    args: Mapping[str, Any],
    *,
    permit: Mapping[str, Any] | None = None,
    top_price: int | None = None,
    store: DocumentStore | None = None,
) -> dict[str, Any]:
    """The outbox's ``details`` of a verified call ``function(**args)`` (see the module doc).

    ``permit`` is the signed permit's message (joins), ``top_price`` the deal's top unit price
    (joins), ``store`` where a receipt's document is looked up by its digest.
    """
    details = {snake(i["name"]): json_value(i, args[i["name"]]) for i in abi_inputs}
    if function in ("join", "bookCashOrder") and top_price is not None:
        details["amount"] = int(args["quantity"]) * top_price
    if function in ("join", "bookCashOrder") and permit is not None:
        details["permit_value"] = int(permit["value"])
    if function == "registerBatch":
        details["batch_id"] = "0x" + batch_id_of(args["gtin14"], args["lot"]).hex()
    if function in ("anchorEvent", "confirmReceipt"):
        details["event_hash_id"] = hash_id_of_digest(bytes(args["eventHash"]))
    if function == "confirmReceipt":
        digest = bytes(args["documentDigest"])
        found = receipt_cid(store, digest) if store is not None else None
        details["document_cid"] = format_cid(found) if found else raw_cid_of_digest(digest)
    return details


__all__ = ["ANCHORED_DOCUMENT", "describe_call", "json_value", "snake"]
