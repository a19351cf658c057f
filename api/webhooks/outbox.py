"""The webhook outbox: every notice (:mod:`api.notices`) for every endpoint, sent at least once.

Enqueue: the notices of every address the index knows (buyers and leaders) are computed as the
pages compute them; each one at or after an endpoint's ``since`` gets one row per endpoint,
named by a ``webhook-id`` derived from the recipient and the notice's stable id (the unique
constraint makes enqueueing idempotent: a second pass, another process, a restart add nothing).

Deliver: due rows are POSTed in the Standard Webhooks format (:mod:`api.webhooks.signing`); a
2xx marks a row delivered, anything else (an error status, a refused connection, a timeout)
schedules the next attempt after :func:`api.background.backoff_seconds` and, after
``max_attempts``, marks it dead: a dead letter an operator sees on ``/ops/webhooks`` and can
send again. A crash between the gateway's 2xx and our commit sends the row again: at least
once, so gateways deduplicate on ``webhook-id``.

Contacts are added at send time, only for a recipient who consents at that moment
(:mod:`api.webhooks.contacts`); the stored payload never holds one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import notices as notice_feed
from api.background import backoff_seconds
from api.db import models as m
from api.names import Directory
from api.private import crypto
from api.timefmt import iso_utc
from api.webhooks import contacts, signing
from api.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from traceability.ipfs import DocumentStore

logger = logging.getLogger(__name__)

LANGS = ("zh", "en")


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered: an HTTP status, or the error that stood for one."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Send = Callable[[str, dict[str, str], bytes], Answer]


def http_send(timeout: float = 10.0) -> Send:
    """POST with httpx, no redirects followed (a gateway answers itself or fails)."""

    def send(url: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}"[:500])
        return Answer(response.status_code, None if response.is_success else response.text[:200])

    return send


def message_id(recipient: str, notice_id: str) -> str:
    """The ``webhook-id`` of a notice for a recipient (two buyers share ``formed:7``)."""
    return "ntc_" + hashlib.sha256(f"{recipient}|{notice_id}".encode()).hexdigest()[:32]


def endpoint_secret(key: bytes, endpoint: WebhookEndpoint) -> str:
    return crypto.open_record(
        key, endpoint.secret_sealed, f"webhook endpoint {endpoint.id}"
    ).decode()


def seal_secret(key: bytes, endpoint_id: int, secret: str) -> bytes:
    return crypto.seal_record(key, secret.encode(), f"webhook endpoint {endpoint_id}")


def _enabled() -> Any:
    return select(WebhookEndpoint.id).where(WebhookEndpoint.disabled_at.is_(None))


def recipients(session: Session) -> list[str]:
    """Every address with a notice to get: the buyers and the leaders of the indexed orders."""
    query = union(select(m.OrderEvent.buyer), select(m.OrderEvent.leader))
    return sorted({a for (a,) in session.execute(query) if a})


class WebhookOutbox:
    def __init__(
        self,
        engine: Engine,
        store: DocumentStore,
        key: bytes,
        *,
        send: Send | None = None,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 10,
        backoff_base: float = 5.0,
        backoff_max: float = 3600.0,
        batch: int = 50,
    ) -> None:
        self.engine, self.store, self.key = engine, store, key
        self.send = send or http_send()
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.batch = batch

    # ------------------------------------------------------------------ enqueue

    def enqueue(self) -> int:
        """Add a row for each notice and active endpoint not queued yet; returns how many."""
        added = 0
        with Session(self.engine) as session:
            endpoints = session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None))
            ).all()
            if not endpoints:
                return 0
            queued = {
                e.id: set(
                    session.scalars(
                        select(WebhookDelivery.message_id).where(
                            WebhookDelivery.endpoint_id == e.id
                        )
                    )
                )
                for e in endpoints
            }
            directory = Directory(session, self.store)
            now = int(self.clock())
            new: list[WebhookDelivery] = []  # added at the end: no write lock while computing
            for recipient in recipients(session):
                for notice in notice_feed.notices(session, directory, recipient):
                    at = int(notice["time"].timestamp())
                    msg = message_id(recipient, notice["id"])
                    payload = None
                    for endpoint in endpoints:
                        if at < endpoint.since or msg in queued[endpoint.id]:
                            continue
                        payload = payload or self._payload(notice, directory, recipient)
                        new.append(
                            WebhookDelivery(
                                endpoint_id=endpoint.id,
                                message_id=msg,
                                notice_id=notice["id"],
                                recipient=recipient,
                                kind=notice["kind"],
                                payload=payload,
                                status=DeliveryStatus.PENDING.value,
                                attempts=0,
                                next_attempt_at=float(now),
                                created_at=now,
                            )
                        )
                        queued[endpoint.id].add(msg)
                        added += 1
            if not new:
                return 0
            session.add_all(new)
            try:
                session.commit()
            except IntegrityError:  # another process queued the same rows first: theirs stand
                session.rollback()
                return 0
        return added

    @staticmethod
    def _payload(notice: dict[str, Any], directory: Directory, recipient: str) -> dict[str, Any]:
        return {
            "type": f"notice.{notice['kind']}",
            "timestamp": iso_utc(notice["time"]),
            "data": {
                "id": notice["id"],
                "recipient": recipient,
                "kind": notice["kind"],
                "deal_id": notice["deal_id"],
                "time": iso_utc(notice["time"]),
                "text": {lang: notice_feed.sentence(notice, directory, lang) for lang in LANGS},
            },
        }

    # ------------------------------------------------------------------ deliver

    def deliver_due(self) -> int:
        """Attempt up to ``batch`` due rows; returns how many were attempted."""
        now = self.clock()
        with Session(self.engine) as session:
            rows = session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING.value,
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookDelivery.endpoint_id.in_(_enabled()),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(self.batch)
            ).all()
            endpoints: dict[int, WebhookEndpoint | None] = {}
            for row in rows:
                if row.endpoint_id not in endpoints:
                    endpoints[row.endpoint_id] = session.get(WebhookEndpoint, row.endpoint_id)
                endpoint = endpoints[row.endpoint_id]
                if endpoint is None:
                    continue
                self._attempt(session, endpoint, row)
                session.commit()  # each row's outcome as soon as it is known
        return len(rows)

    def body(self, session: Session, row: WebhookDelivery) -> bytes:
        payload = json.loads(json.dumps(row.payload))
        contact = contacts.get(session, self.key, row.recipient)
        if contact is not None:  # consent given and not withdrawn, as of now
            payload["data"]["contact"] = {
                "phone": contact.phone,
                "wechat_openid": contact.wechat_openid,
            }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def _attempt(self, session: Session, endpoint: WebhookEndpoint, row: WebhookDelivery) -> None:
        body = self.body(session, row)
        stamp = int(self.clock())
        headers = signing.headers(endpoint_secret(self.key, endpoint), row.message_id, stamp, body)
        answer = self.send(endpoint.url, headers, body)
        row.attempts += 1
        row.last_status = answer.status
        if answer.ok:
            row.status = DeliveryStatus.DELIVERED.value
            row.delivered_at, row.last_error = stamp, None
            return
        row.last_error = answer.error or f"HTTP {answer.status}"
        if row.attempts >= self.max_attempts:
            row.status = DeliveryStatus.DEAD.value
            logger.warning(
                "webhook %s to %s is dead after %d attempts: %s",
                row.message_id,
                endpoint.url,
                row.attempts,
                row.last_error,
            )
        else:
            row.next_attempt_at = self.clock() + backoff_seconds(
                row.attempts, self.backoff_base, self.backoff_max
            )

    def next_due(self) -> float | None:
        """When the earliest pending row is due (None: nothing pending)."""
        with Session(self.engine) as session:
            return session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.status == DeliveryStatus.PENDING.value,
                    WebhookDelivery.endpoint_id.in_(_enabled()),
                )
            )


def retry(engine: Engine, *, endpoint_id: int, delivery_id: int | None, now: float) -> int:
    """Send dead letters again (one, or all of an endpoint's): pending, attempts from zero."""
    with Session(engine) as session:
        query = select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.DEAD.value,
        )
        if delivery_id is not None:
            query = query.where(WebhookDelivery.id == delivery_id)
        rows = session.scalars(query).all()
        for row in rows:
            row.status, row.attempts, row.next_attempt_at = DeliveryStatus.PENDING.value, 0, now
        session.commit()
    return len(rows)


def counts(session: Session) -> dict[int, dict[str, int]]:
    """Per endpoint: rows per status."""
    out: dict[int, dict[str, int]] = {}
    query = select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
        WebhookDelivery.endpoint_id, WebhookDelivery.status
    )
    for endpoint_id, status, n in session.execute(query):
        out.setdefault(endpoint_id, {s.value: 0 for s in DeliveryStatus})[status] = n
    return out
