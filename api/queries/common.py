"""Shared pieces of the read queries: batch keys, the index state and the chain time it saw, batch
statuses, a party's standing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from traceability.digital_link import InvalidGtin, InvalidLot
from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import validate_gtin14, validate_lot

MAX_PAGE = 200


# ---------------------------------------------------------------------- helpers


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_batch_key(gtin: str, lot: str) -> None:
    """``InvalidGtin`` / ``InvalidLot`` (400s) with the reason for a GTIN that is not a valid GTIN-14, or a lot outside AI 10."""
    try:
        validate_gtin14(gtin)
    except InvalidIdentifier as exc:
        raise InvalidGtin(gtin, exc.reason) from exc
    try:
        validate_lot(lot)
    except InvalidIdentifier as exc:
        raise InvalidLot(lot, exc.reason) from exc


def index_state(session: Session) -> m.IndexerState | None:
    return session.get(m.IndexerState, "main")


def chain_now(session: Session) -> int:
    """The chain's time as last seen by the indexer (deadlines compare with block time)."""
    state = index_state(session)
    head_time = _aware(state.head_time) if state else None
    return int(head_time.timestamp()) if head_time else int(time.time())


def _batch_statuses(session: Session, batch_ids: Iterable[str]) -> dict[str, m.BatchStatusEvent]:
    ids = list(batch_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(m.BatchStatusEvent)
        .where(m.BatchStatusEvent.batch_id.in_(ids))
        .order_by(m.BatchStatusEvent.block_number, m.BatchStatusEvent.log_index)
    ).all()
    return {row.batch_id: row for row in rows}  # the latest wins


def party_status(session: Session, kind: str, account: str) -> dict[str, Any]:
    """``approved | pending | rejected | revoked | none`` from the party's latest action, its
    public profile, the digest of its private credentials, and the reason of a refusal."""
    rows = session.scalars(
        select(m.PartyEvent)
        .where(m.PartyEvent.kind == kind, m.PartyEvent.account == account)
        .order_by(m.PartyEvent.block_number, m.PartyEvent.log_index)
    ).all()
    status = "none"
    profile = credentials = reason = None
    statuses = {
        "applied": "pending",
        "approved": "approved",
        "rejected": "rejected",
        "revoked": "revoked",
    }
    for row in rows:
        status = statuses.get(row.action, status)  # a profile update keeps the status
        if row.profile_cid:
            profile = row.profile_cid
        if row.action == "applied":
            credentials, reason = row.credentials_digest, None
        if row.action in ("rejected", "revoked"):
            reason = row.reason_cid
    return {
        "address": account,
        "status": status,
        "profile_cid": profile,
        "credentials_digest": credentials,
        "reason_cid": reason,
    }
