"""Each party's standing now (``party_statuses``), kept by the indexer from the registry's events.

The approved leaders and suppliers were read by walking every party event in Python (the shop's
leader chooser, the dashboard's leader list and its "view one" chooser); this table holds one row
per party, its latest decision, so those reads are a bounded index range. The indexer refreshes the
parties a block range or a rollback touched, in the same transaction as their events.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from api.db import models as m

# A party's status after each registry action; a profile update keeps the status it had.
PARTY_STATUSES = {
    "applied": "pending",
    "approved": "approved",
    "rejected": "rejected",
    "revoked": "revoked",
}


def refresh_party_statuses(session: Session, keys: Iterable[tuple[str, str]] | None = None) -> None:
    """Recompute the rows of ``keys`` (``(kind, account)`` pairs; None: every party) from their
    events: the latest decision's status, or no row when none is left (a rollback)."""
    e, s = m.PartyEvent, m.PartyStatus
    wanted = None if keys is None else sorted(set(keys))
    if wanted is not None and not wanted:
        return
    which = [] if wanted is None else [tuple_(e.kind, e.account).in_(wanted)]
    if wanted is None:
        session.execute(delete(s))
    else:
        session.execute(delete(s).where(tuple_(s.kind, s.account).in_(wanted)))
    ranked = (
        select(
            e.kind,
            e.account,
            e.action,
            e.block_number,
            e.log_index,
            func.row_number()
            .over(
                partition_by=(e.kind, e.account),
                order_by=(e.block_number.desc(), e.log_index.desc()),
            )
            .label("rank"),
        )
        .where(e.action.in_(PARTY_STATUSES), *which)
        .subquery()
    )
    session.execute(
        insert(s).from_select(
            ["kind", "account", "status", "block_number", "log_index"],
            select(
                ranked.c.kind,
                ranked.c.account,
                case(PARTY_STATUSES, value=ranked.c.action),
                ranked.c.block_number,
                ranked.c.log_index,
            ).where(ranked.c.rank == 1),
        )
    )


def touched(rows: Iterable[dict[str, object]]) -> set[tuple[str, str]]:
    """The ``(kind, account)`` pairs of party event rows about to be stored."""
    return {(str(r["kind"]), str(r["account"])) for r in rows}
