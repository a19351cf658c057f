"""Accept a signed gasless request into the outbox — or refuse it, with a reason, before it costs gas.

The checks (shape, signature, deadline, nonce, the forwarder's verify, a join's permit, the
simulation) are :class:`api.relayer.checks.RequestChecker`'s. Only once they pass is the request
committed (status ``queued``); the worker sends it. The same signed request posted twice returns
the first one's row. A unique index on a pending request's (signer, nonce) settles two API
processes accepting one nonce at once: one commits, the other answers 409 ``nonce_taken`` — or,
when it posted the same request and that was mined meanwhile, the row (200).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, text
from sqlalchemy.exc import IntegrityError

from api.db.wakeups import notify
from api.errors import ApiError
from api.relayer.checks import RequestChecker, bad_request
from api.relayer.models import (
    PENDING_SQL,
    PENDING_VALUES,
    QUEUED_CHANNEL,
    RelayRequest,
    RelayStatus,
    public_view,
    utcnow,
)
from api.relayer.queue import SignerQueue, pending_requests
from chain.address import checksum_address
from chain.context import Chain
from chain.eip712 import typed_data_digest
from traceability.ipfs import DocumentStore

logger = logging.getLogger(__name__)


def accept(
    connection: Connection, chain: Chain, body: dict[str, Any], store: DocumentStore | None = None
) -> tuple[dict[str, Any], bool]:
    """Check and store a submission; returns (what ``GET /v1/relay/{id}`` shows of its row,
    created). A re-submission returns the first row's.

    On a Core ``connection`` (its transaction begun by the first query, committed here), not an
    ORM session: every statement here is Core already, and the session around them — its
    set-up, autobegin, commit and close — cost ~150-200 µs an accept (issue 15, eighth pass)."""
    payloads = body.get("payloads") if isinstance(body, dict) else None
    typed = payloads.get("request") if isinstance(payloads, dict) else None
    digest = _digest(typed) if isinstance(typed, dict) else None
    # (typed data with no digest is refused by the check before it reads any queue)
    sender = _claimed_sender(typed) if digest is not None else None
    found = _look_up(connection, "0x" + digest.hex(), sender) if digest is not None else _NOTHING
    existing = found.existing
    if existing is not None and (
        existing.status in PENDING_VALUES
        # A retry whose first answer was lost, after the request ran: its row (mined), not
        # "replayed_nonce", which would read as the join having failed. (Mined on a chain
        # that is gone, it is checked afresh: there it is a new request.)
        or (existing.status == RelayStatus.MINED and existing.chain_key == chain.identity.key)
    ):
        # A client retry: same request, same outbox row.
        row = connection.execute(_ROW.where(RelayRequest.id == existing.id)).one()
        return public_view(row._asdict()), False
    if existing is not None and existing.error_code == "chain_changed":
        # Signed for a chain that is gone (api.binding): replayed here, it could be valid.
        raise bad_request(
            "signed_for_another_chain",
            f"this signed request was accepted for another chain (request {existing.id}); "
            "prepare and sign it again",
            previous=existing.id,
        )

    def queue_of(signer: str, forwarder_nonce: int, token_nonce: int) -> SignerQueue:
        # (the check's signer is the request's ``from``: the look-up above read its queue)
        read = found is not _NOTHING and signer == sender
        pending = found.pending if read else pending_requests(connection, signer)
        return SignerQueue(forwarder_nonce, token_nonce, pending)

    checker = RequestChecker(chain, store, queue_of)
    # The look-up read the signer's pending requests in this transaction (a nonce they hold is
    # refused there); one accepted since, by another process, is caught by the unique index below.
    fields = checker.check(body, digest=digest)
    now = utcnow()
    values = {
        "id": str(uuid.uuid4()),
        "status": RelayStatus.QUEUED.value,
        "chain_key": chain.identity.key,  # sent to this chain only (api.binding)
        "attempts": 0,
        "next_attempt_at": 0.0,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    try:
        # One INSERT, not the ORM's unit of work for one new object (its flush was a fifth of
        # an accept's CPU, issue 15); the row returned is built from the same values.
        connection.execute(_INSERT, values)
        notify(connection, QUEUED_CHANNEL)  # a worker in another process (PostgreSQL)
        connection.commit()  # committed before anything is sent: an accepted request is never lost
    except IntegrityError:
        # Another API process accepted a request with this nonce between our check and our
        # commit: the unique index on a pending request's (signer, nonce) let only one in.
        connection.rollback()
        holder = _nonce_holder(connection, fields["signer"], fields["nonce"])
        if holder is None:
            raise  # some other constraint: a fault, not a race
        if (
            holder["request_digest"] == fields["request_digest"]
            and holder["status"] not in PENDING_VALUES
            and holder["status"] != RelayStatus.FAILED
        ):
            # This same request, accepted by the other process and settled since (mined): a
            # retry's answer, its row.
            return public_view(holder), False
        raise _nonce_taken(fields, holder) from None
    logger.info(
        "accepted %s request %s from %s (nonce %d)",
        values["action"],
        values["id"],
        values["signer"],
        values["nonce"],
    )
    # The answer from the values stored, not from an ORM object built for it (issue 15).
    return public_view(values), True


def _digest(typed: dict[str, Any]) -> bytes | None:
    """The request's EIP-712 digest, computed once per accept (the look-up, the signature and
    the row use it); None for malformed typed data (``check`` says why)."""
    try:
        return typed_data_digest(typed)
    except Exception:  # noqa: BLE001
        return None


# The accept path's statement, built once: building a statement and its cache key on every
# call cost more than running it (issue 15, scripts/profile_relay.py).
_LOOK_UP = select(
    RelayRequest.id,
    RelayRequest.nonce,
    RelayRequest.permit,
    RelayRequest.signer,
    RelayRequest.status,
    RelayRequest.error_code,
    RelayRequest.chain_key,
    RelayRequest.request_digest,
    RelayRequest.created_at,
).where(
    or_(
        RelayRequest.request_digest == bindparam("digest"),
        # The pending condition as literal SQL (PENDING_SQL): no list parameter to expand on
        # each run, and SQLite may use the partial index that has the same condition.
        and_(RelayRequest.signer == bindparam("signer"), text(PENDING_SQL)),
    )
)
_INSERT = insert(RelayRequest.__table__)
# A whole row as Core reads it (the columns public_view shows, and what the race needs).
_ROW = select(RelayRequest.__table__)


@dataclass(frozen=True)
class _Found:
    existing: Any | None  # the latest row with this digest (``id``, ``status``, ``chain_key``...)
    pending: tuple[Any, ...]  # the claimed sender's pending requests, as pending_requests


_NOTHING = _Found(existing=None, pending=())


def _look_up(connection: Connection, digest: str, sender: str | None) -> _Found:
    """In one query (issue 15: two had been ~6 % of the service under the rush): the row the
    same signed request may already have — almost always none, so columns, not whole rows —
    and the claimed sender's pending requests (:func:`api.relayer.queue.pending_requests`)."""
    rows = connection.execute(_LOOK_UP, {"digest": digest, "signer": sender}).all()
    same = [r for r in rows if r.request_digest == digest]
    pending = [r for r in rows if r.signer == sender and r.status in PENDING_VALUES]
    return _Found(
        existing=max(same, key=lambda r: r.created_at) if same else None,
        pending=tuple(sorted(pending, key=lambda r: r.nonce)),
    )


def _claimed_sender(typed: Any) -> str | None:
    """The request's ``from``, as the check reads it; None when it cannot (the check says why)."""
    try:
        return checksum_address(typed["message"]["from"])
    except Exception:  # noqa: BLE001 — malformed: refused by the check
        return None


def _nonce_holder(connection: Connection, signer: str, nonce: int) -> dict[str, Any] | None:
    """The request that took ``signer``'s forwarder ``nonce`` from under an insert (its column
    values): the pending one (at most one: unique index), else — settled in the meantime (the
    worker may send and settle it between the refused insert and this read) — the one settled
    last."""
    rows = [
        row._asdict()
        for row in connection.execute(
            _ROW.where(RelayRequest.signer == signer, RelayRequest.nonce == nonce)
        )
    ]
    pending = [row for row in rows if row["status"] in PENDING_VALUES]
    if pending:
        return pending[0]
    return max(rows, key=lambda row: row["updated_at"], default=None)


def _nonce_taken(fields: dict[str, Any], holder: dict[str, Any]) -> ApiError:
    same = holder["request_digest"] == fields["request_digest"]
    return ApiError(
        409,
        "nonce_taken",
        f"nonce {fields['nonce']} of {fields['signer']} was taken at the same moment by request "
        f"{holder['id']} ({'this same request' if same else 'another request'}, accepted by "
        f"another API process, {holder['status']} now); poll that one",
        pending=holder["id"],
        same_request=same,
    )
