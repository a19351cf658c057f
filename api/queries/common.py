"""Shared pieces of the read queries: batch keys, the index state and the chain time it saw, batch
statuses, a party's standing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from api.db import models as m
from api.db.party_statuses import PARTY_STATUSES
from traceability.digital_link import InvalidGtin, InvalidLot
from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import validate_gtin14, validate_lot

MAX_PAGE = 200


# ---------------------------------------------------------------------- helpers

_SQLITE_SUM = "tuanchain_exact_sum"
_INT64 = 2**63


class _ExactSum:
    """``sum()`` of token amounts on SQLite, in Python integers: SQLite's own raises "integer
    overflow" past 2**63 (4 tokens of 18 decimals are 4e18), where PostgreSQL's numeric sums
    exactly. Stored values come as int, float (past int64 the column keeps a REAL) or text (an
    inner sum's result too big for an INTEGER); None when no row, as ``sum()``."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any) -> None:
        if value is not None:
            self.total = (self.total or 0) + int(value)

    def finalize(self) -> int | str | None:
        if self.total is None or -_INT64 <= self.total < _INT64:
            return self.total
        return str(self.total)  # text: SQLite has no bigger integer (int() it in Python)


def amount_sum_name(session: Session) -> str:
    """The SQL function that sums token amounts exactly on this session's database (for
    :func:`amount_sum`): ``sum``, or on SQLite an aggregate in Python registered on the session's
    connection (the one its next statements run on)."""
    if session.get_bind().dialect.name != "sqlite":
        return "sum"
    raw = session.connection().connection.driver_connection
    raw.create_aggregate(_SQLITE_SUM, 1, _ExactSum)  # type: ignore[union-attr]
    return _SQLITE_SUM


def amount_sum(name: str, expression: Any) -> Any:
    """``sum(expression)`` of uint256 amounts with the function :func:`amount_sum_name` gave; the
    result may be text on SQLite past int64: read it with ``int()``."""
    if name == "sum":
        return func.sum(expression)
    return getattr(func, name)(expression, type_=NullType())


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
    return chain_time_at(state.head_time if state else None)


def chain_time_at(head_time: datetime | None) -> int:
    """The chain's time given the index head's (stored) time: that, else the wall clock."""
    head = _aware(head_time)
    return int(head.timestamp()) if head else int(time.time())


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


def company_prefixes(session: Session, supplier: str | None = None) -> dict[str, list[str]]:
    """The GS1 Company Prefixes each supplier holds now (``supplier``'s alone if given), sorted:
    every prefix's latest assignment, unless revoked since."""
    query = select(m.CompanyPrefixEvent).order_by(
        m.CompanyPrefixEvent.block_number, m.CompanyPrefixEvent.log_index
    )
    if supplier is not None:
        query = query.where(m.CompanyPrefixEvent.supplier == supplier)
    holder: dict[str, str | None] = {}
    for row in session.scalars(query):
        holder[row.prefix] = row.supplier if row.action == "assigned" else None
    held: dict[str, list[str]] = {}
    for prefix, owner in sorted(holder.items()):
        if owner is not None:
            held.setdefault(owner, []).append(prefix)
    return held


def approved(
    session: Session,
    kind: str,
    *,
    limit: int | None = None,
    after: str | None = None,
    in_order_approved: bool = False,
) -> list[str]:
    """Accounts of ``kind`` (leader | supplier) approved now (their latest decision; a profile
    updated since keeps it), by address: at most ``limit``, those after ``after``. One index
    range of ``party_statuses`` (kept by the indexer), not every party event.

    ``in_order_approved``: the longest-approved first instead (the shop's pickup points: the
    first is the form's default, and it stays the one it was as leaders join)."""
    s = m.PartyStatus
    query = select(s.account).where(s.kind == kind, s.status == "approved")
    if in_order_approved:
        query = query.order_by(s.block_number, s.log_index)
    else:
        query = query.order_by(s.account)
    if after is not None:
        query = query.where(s.account > after)
    return list(session.scalars(query.limit(limit)))


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
    for row in rows:
        status = PARTY_STATUSES.get(row.action, status)  # a profile update keeps the status
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
