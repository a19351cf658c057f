"""The platform's review queue (资质审核 / 团长审核), read from the index.

Every supplier and leader the registry has heard of, with their latest status, public profile,
the digest of their private credentials (what a reviewer checks the opened file against) and the
history of their applications and the platform's decisions with reasons. Pending applications
come first, oldest first: the queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.names import Directory, Person
from api.queries.common import company_prefixes
from traceability.ipfs import DocumentStore
from traceability.safe_json import loads_bounded

logger = logging.getLogger(__name__)

STATUS_OF_ACTION = {
    "applied": "pending",
    "approved": "approved",
    "rejected": "rejected",
    "revoked": "revoked",
}


@dataclass
class Step:
    action: str
    time: datetime
    by: str | None
    reason_cid: str | None
    credentials_digest: str | None


@dataclass
class Application:
    kind: str
    account: str
    person: Person
    status: str = "none"
    profile_cid: str | None = None
    credentials_digest: str | None = None
    reason_cid: str | None = None
    since: datetime | None = None
    history: list[Step] = field(default_factory=list)
    # A supplier's GS1 Company Prefixes: only it registers batches of GTINs under them.
    prefixes: list[str] = field(default_factory=list)


def queue(session: Session, directory: Directory) -> list[Application]:
    """Every party, pending applications first (oldest first), then the others, newest first."""
    rows = session.scalars(
        select(m.PartyEvent).order_by(m.PartyEvent.block_number, m.PartyEvent.log_index)
    ).all()
    directory.load({row.account for row in rows})
    found: dict[tuple[str, str], Application] = {}
    for row in rows:
        key = (row.kind, row.account)
        app = found.get(key)
        if app is None:
            app = found[key] = Application(row.kind, row.account, directory.get(row.account))
        app.history.append(
            Step(row.action, row.block_time, row.by, row.reason_cid, row.credentials_digest)
        )
        if row.profile_cid:
            app.profile_cid = row.profile_cid
        if row.action in STATUS_OF_ACTION:
            app.status = STATUS_OF_ACTION[row.action]
            app.since = row.block_time
        if row.action == "applied":
            app.credentials_digest, app.reason_cid = row.credentials_digest, None
        elif row.action in ("rejected", "revoked"):
            app.reason_cid = row.reason_cid
    held = company_prefixes(session)
    for (kind, account), app in found.items():
        if kind == "supplier":
            app.prefixes = held.get(account, [])
    pending = sorted(
        (a for a in found.values() if a.status == "pending"), key=lambda a: a.since or datetime.min
    )
    others = sorted(
        (a for a in found.values() if a.status != "pending"),
        key=lambda a: a.since or datetime.min,
        reverse=True,
    )
    return pending + others


def decision_reason(store: DocumentStore, cid: str | None) -> str:
    """The platform's reason for a refusal (a rejection or revocation), in its words, for the
    applicant's page (the linked document stays the proof); "" if there is none to read."""
    if not cid:
        return ""
    try:
        doc = loads_bounded(store.get(cid))
    except Exception as exc:  # noqa: BLE001 - the page links the document anyway
        logger.info("reason %s unreadable: %s", cid, exc)
        return ""
    reason = doc.get("reason") if isinstance(doc, dict) else None
    return str(reason)[:500] if isinstance(reason, str) else ""
