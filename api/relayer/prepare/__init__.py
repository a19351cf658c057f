"""Typed-data builders, one per gasless action: what ``POST /v1/actions/{action}/prepare`` returns.

Each builder takes the action's parameters (a pydantic model, the request body) and returns a
:class:`PreparedAction`: the EIP-712 payloads exactly as ``eth_signTypedData_v4`` takes them
(``request``: an ERC-2771 ``ForwardRequest`` for the forwarder; ``permit``: an EIP-2612 permit
for joins) and ``details`` (ids, CIDs and hashes the action created). The client signs each
payload and posts the whole thing back, with ``signatures``, to ``POST /v1/relay``.

Why a join carries two payloads: ``joinWithPermit`` would need the permit's signature inside the
forward request's calldata, which the wallet has not produced yet. So the request calls plain
``join`` and the relayer submits the signed permit first (anyone may submit a permit; the escrow
would accept a front-run one the same way). The relayer simulates ``joinWithPermit`` as the buyer
to check both together before accepting them.

A signer may have requests waiting in the relayer's outbox: ``prepare`` is then given the next
nonces after them (:class:`NextNonces`, from :mod:`api.relayer.queue`), so a request prepared
while another is queued signs the next forwarder nonce (and a join's permit the next token nonce)
instead of the one the queued request already holds. (The contract's checks below still run
against the chain as it is now, not as it will be after the queued requests.)

Preparing already runs the contract's checks (gas estimate or ``eth_call`` as the signer), so a
request that would revert is refused with its named error before anyone signs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from api.errors import ApiError
from api.relayer.action_params import (
    ActionParams,
    AnchorEventParams,
    AnchorRootParams,
    ApplyLeaderParams,
    ApplyParams,
    ArbitrateParams,
    BatchWriterParams,
    CashHandoverParams,
    CashOrderParams,
    ClaimAnswerParams,
    CompanyPrefixParams,
    ConfirmReceiptParams,
    DealParamsIn,
    FileClaimParams,
    HandoverCodeParams,
    HandoverParams,
    JoinParams,
    RecallBatchParams,
    RegisterBatchParams,
    ReviewParams,
)
from api.relayer.prepare import listing
from api.relayer.prepare.builder import (
    JOIN_GAS,
    REQUEST_TTL_SECONDS,
    NextNonces,
    PreparedAction,
    cid_bytes,
    cid_digest,
    json_bytes,
)
from api.relayer.prepare.deals import DealActions
from api.relayer.prepare.lastmile import LastMileActions
from api.relayer.prepare.registry import RegistryActions
from chain.context import Chain
from traceability.ipfs import DocumentStore


class ActionBuilder(DealActions, LastMileActions, RegistryActions):
    """Builds each action's typed data against one chain and one document store."""


# action name → (params model, builder method name)
ACTIONS: dict[str, tuple[type[ActionParams], Callable[[ActionBuilder, Any], PreparedAction]]] = {
    "join": (JoinParams, ActionBuilder.join),
    "cancel": (DealParamsIn, ActionBuilder.cancel),
    "withdraw": (DealParamsIn, ActionBuilder.withdraw),
    "settle": (DealParamsIn, ActionBuilder.settle),
    "refund": (DealParamsIn, ActionBuilder.withdraw),
    "confirm_receipt": (ConfirmReceiptParams, ActionBuilder.confirm_receipt),
    "file_claim": (FileClaimParams, ActionBuilder.file_claim),
    "accept_claim": (ClaimAnswerParams, ActionBuilder.accept_claim),
    "reject_claim": (ClaimAnswerParams, ActionBuilder.reject_claim),
    "arbitrate": (ArbitrateParams, ActionBuilder.arbitrate),
    "apply_as_leader": (ApplyLeaderParams, ActionBuilder.apply_as_leader),
    "register_batch": (RegisterBatchParams, ActionBuilder.register_batch),
    "anchor_event": (AnchorEventParams, ActionBuilder.anchor_event),
    "apply": (ApplyParams, ActionBuilder.apply),
    "review": (ReviewParams, ActionBuilder.review),
    "company_prefix": (CompanyPrefixParams, ActionBuilder.company_prefix),
    "set_batch_writer": (BatchWriterParams, ActionBuilder.set_batch_writer),
    "anchor_root": (AnchorRootParams, ActionBuilder.anchor_root),
    "recall_batch": (RecallBatchParams, ActionBuilder.recall_batch),
    "mark_non_compliant": (RecallBatchParams, ActionBuilder.mark_non_compliant),
    "handover_code": (HandoverCodeParams, ActionBuilder.handover_code),
    "handover": (HandoverParams, ActionBuilder.handover),
    "book_cash_order": (CashOrderParams, ActionBuilder.book_cash_order),
    "hand_over_cash": (CashHandoverParams, ActionBuilder.hand_over_cash),
    # The platform's escrow settings (api.relayer.prepare.listing).
    "create_deal": (listing.CreateDealParams, listing.create_deal),
    "set_token_allowed": (listing.TokenAllowedParams, listing.set_token_allowed),
    "set_fee_recipient": (listing.FeeRecipientParams, listing.set_fee_recipient),
}


def prepare_action(
    chain: Chain,
    store: DocumentStore,
    action: str,
    body: dict[str, Any],
    *,
    nonces: Callable[[str], NextNonces] | None = None,
    engine: Engine | None = None,
) -> PreparedAction:
    """Validate ``body`` for ``action`` and build its typed data (404 for an unknown action).

    ``nonces(sender)`` gives the nonces after the sender's queued requests; without it the
    request takes the chain's current nonces. ``engine``: the database of the private document
    store, where a claim's evidence is kept.
    """
    try:
        model, build = ACTIONS[action]
    except KeyError:
        raise ApiError(
            404, "unknown_action", f"no action {action!r}; known: {', '.join(sorted(ACTIONS))}"
        ) from None
    try:
        params = model.model_validate(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ApiError(
            422, "invalid_request", f"bad parameters for {action}", errors=errors
        ) from None
    prepared = build(ActionBuilder(chain, store, nonces, engine), params)
    prepared.action = action if action != "refund" else "withdraw"
    return prepared


__all__ = [
    "ACTIONS",
    "JOIN_GAS",
    "REQUEST_TTL_SECONDS",
    "ActionBuilder",
    "NextNonces",
    "PreparedAction",
    "cid_bytes",
    "cid_digest",
    "json_bytes",
    "prepare_action",
]
