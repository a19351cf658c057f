"""The webhook outbox: every notice (:mod:`api.notices`) for every endpoint, sent at least once.

Enqueue: notices are computed as the pages compute them, for the addresses whose deals changed
since the endpoint's cursor (a row indexed, a deadline's moment passed; the whole index once for
a new endpoint); each one at or after an endpoint's ``since`` gets one row per endpoint, named by
a ``webhook-id`` derived from the recipient and the notice's stable id (the unique constraint
makes enqueueing idempotent: a second pass, another process, a restart add nothing).

Deliver: due rows are POSTed in the Standard Webhooks format (:mod:`api.webhooks.signing`) by
:class:`HttpSend`, only to addresses outside the service's own network
(:mod:`api.webhooks.targets`); a 2xx marks a row delivered, anything else (an error status, a
redirect, a refused connection, a timeout)
schedules the next attempt after :func:`api.background.backoff_seconds` and, after
``max_attempts``, marks it dead: a dead letter an operator sees on ``/ops/webhooks`` and can
send again. Endpoints are served side by side, a few rows each per pass: a gateway that does not
answer delays only its own queue (:meth:`WebhookOutbox.deliver_due`). A crash between the gateway's 2xx and our commit sends the row again: at least
once, so gateways deduplicate on ``webhook-id``.

Contacts are added at send time, only for a recipient who consents at that moment
(:mod:`api.webhooks.contacts`); the stored payload never holds one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import notices as notice_feed
from api import queries
from api.background import backoff_seconds
from api.db import models as m
from api.names import Directory
from api.private import crypto
from api.timefmt import iso_utc
from api.webhooks import contacts, signing, targets
from api.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from traceability.ipfs import DocumentStore

logger = logging.getLogger(__name__)

LANGS = ("zh", "en")
CHUNK = 500  # recipients per query (bounded IN lists)


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered: an HTTP status, or the error that stood for one."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Send = Callable[[str, dict[str, str], bytes], Answer]

# A delivery's budget: connecting, sending, and the answer's status and first bytes, all in all.
TIMEOUT_SECONDS = 15.0
CONNECT_SECONDS = 5.0
# What is read of an answer (kept for the operator: the first 200 characters of an error).
MAX_ANSWER_BYTES = 4096


class HttpSend:
    """POSTs a webhook, guarded (:mod:`api.webhooks.targets`): only to addresses ``policy``
    allows, checked on the address connected to; redirects never followed (a 3xx is a failure:
    a gateway answers itself); at most ``timeout`` seconds in all and ``MAX_ANSWER_BYTES`` of
    the answer read, uncompressed; no proxy from the environment (it would connect for us)."""

    def __init__(
        self,
        policy: targets.TargetPolicy = targets.STRICT,
        *,
        timeout: float = TIMEOUT_SECONDS,
        resolver: targets.Resolve = targets.resolve,
    ) -> None:
        self.policy, self.timeout = policy, timeout
        self.backend = targets.GuardedBackend(policy, resolver)
        self.client = httpx.Client(
            transport=targets.GuardedTransport(self.backend),
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_SECONDS, timeout)),
            follow_redirects=False,
            trust_env=False,
        )

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            targets.check_scheme(url, self.policy)
        except targets.TargetRefused as exc:
            return Answer(None, f"refused: {exc}"[:500])
        self.backend.set_deadline(time.monotonic() + self.timeout)
        try:
            with self.client.stream(
                "POST", url, content=body, headers={**headers, "accept-encoding": "identity"}
            ) as response:
                status, location = response.status_code, response.headers.get("location")
                text = "" if response.is_success else _first_bytes(response)
        except httpx.HTTPError as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}"[:500])
        finally:
            self.backend.set_deadline(None)
        if 300 <= status < 400:
            return Answer(status, f"HTTP {status}: redirects are not followed ({location})"[:500])
        return Answer(status, f"HTTP {status}: {text}"[:500] if text.strip() else None)

    def close(self) -> None:
        self.client.close()


def _first_bytes(response: httpx.Response) -> str:
    got = bytearray()
    for chunk in response.iter_raw():
        got += chunk[: MAX_ANSWER_BYTES - len(got)]
        if len(got) >= MAX_ANSWER_BYTES:
            break
    return got.decode("utf-8", "replace")[:200]


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
    """Every address with a notice to get: the buyers and the leaders of the indexed orders, and
    the applicants the registry decided on."""
    query = union(select(m.OrderEvent.buyer), select(m.OrderEvent.leader))
    found = {a for (a,) in session.execute(query) if a}
    return sorted(found | notice_feed.decided_parties(session))


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
        per_endpoint: int = 10,
        workers: int = 4,
    ) -> None:
        self.engine, self.store, self.key = engine, store, key
        self.send = send or HttpSend()
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.batch = batch
        self.per_endpoint, self.workers = per_endpoint, workers

    # ------------------------------------------------------------------ enqueue

    def enqueue(self) -> int:
        """Add a row for each new notice and active endpoint; returns how many.

        Incremental: each endpoint keeps a cursor (``scanned_block``, ``scanned_time``), and a
        pass computes the notices only of the deals that changed past it
        (:func:`api.notices.changed_deals`) for those deals' buyers and leaders; an endpoint
        without a cursor (new, or the index rebuilt for another chain) gets the whole history
        once. The cursor moves in the same commit as the rows, so a crash or a restart resumes
        where the last committed pass ended: nothing lost, nothing queued twice (each row is
        unique per endpoint and ``webhook-id``; another process's rows win a race).

        The block cursor stops at the index's final block: rows above it may still be replaced
        by a re-org, so the next pass looks at them again."""
        with Session(self.engine) as session:
            endpoints = session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None))
            ).all()
            state = queries.index_state(session)
            if not endpoints or state is None:
                return 0
            # Read before the rows: every row up to the final block is committed by now.
            block = min(state.final_block, state.last_block)
            now = queries.chain_now(session)
            deals: set[int] | None = set()
            scopes: dict[tuple[int, int], set[int]] = {}
            for endpoint in endpoints:
                cursor = endpoint.scanned_block, endpoint.scanned_time
                if cursor[0] is None or cursor[1] is None or cursor[0] > state.last_block:
                    deals = None  # never scanned, or the index went back under the cursor
                    break
                if cursor not in scopes:
                    scopes[cursor] = notice_feed.changed_deals(
                        session, after_block=cursor[0], after_time=cursor[1], now=now
                    )
                deals |= scopes[cursor]
            if deals is None:
                who = recipients(session)
            else:  # and the applicants decided on since the oldest cursor
                oldest = min(e.scanned_block or 0 for e in endpoints)
                decided = notice_feed.decided_parties(session, after_block=oldest)
                who = sorted(notice_feed.recipients_of(session, deals) | decided)
            new = self._new_rows(session, endpoints, who, deals)
            for endpoint in endpoints:
                endpoint.scanned_block, endpoint.scanned_time = block, now
            session.add_all(new)
            try:
                session.commit()
            except IntegrityError:  # another process queued the same rows first: theirs stand
                session.rollback()  # (and the cursors stay: the next pass looks again)
                return 0
        return len(new)

    def _new_rows(
        self,
        session: Session,
        endpoints: Sequence[WebhookEndpoint],
        who: list[str],
        deals: set[int] | None,
    ) -> list[WebhookDelivery]:
        """The rows for the notices of ``who`` (about ``deals``; None: all) not queued yet."""
        new: list[WebhookDelivery] = []
        if not who:
            return new
        directory = Directory(session, self.store)
        now = int(self.clock())
        for i in range(0, len(who), CHUNK):
            chunk = who[i : i + CHUNK]
            queued = {
                e.id: set(
                    session.scalars(
                        select(WebhookDelivery.message_id).where(
                            WebhookDelivery.endpoint_id == e.id,
                            WebhookDelivery.recipient.in_(chunk),
                        )
                    )
                )
                for e in endpoints
            }
            for recipient in chunk:
                for notice in notice_feed.notices(session, directory, recipient, deals=deals):
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
        return new

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
        """Attempt the due rows, up to ``per_endpoint`` of each endpoint (``batch`` in all);
        returns how many were attempted.

        Each endpoint's rows go in due order, one after another, and the endpoints side by side
        (at most ``workers`` at a time), so a gateway that does not answer (a refused
        connection, a connect timeout) holds up only its own queue. When it does not answer,
        its other due rows are not tried in this pass: they wait, without an attempt counted,
        until the failed row's next attempt (:meth:`_hold`), so a black-holed gateway costs one
        timeout per retry, not one per row. An error status (the gateway answered) does not
        hold the rest: one refused notice never blocks the others."""
        now = self.clock()
        ranked = (
            select(
                WebhookDelivery.id,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.next_attempt_at,
                func.row_number()
                .over(
                    partition_by=WebhookDelivery.endpoint_id,
                    order_by=(WebhookDelivery.next_attempt_at, WebhookDelivery.id),
                )
                .label("place"),
            )
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.endpoint_id.in_(_enabled()),
            )
            .subquery()
        )
        with Session(self.engine) as session:
            due = session.execute(
                select(ranked.c.endpoint_id, ranked.c.id)
                .where(ranked.c.place <= self.per_endpoint)
                .order_by(ranked.c.next_attempt_at, ranked.c.id)
                .limit(self.batch)
            ).all()
        queues: dict[int, list[int]] = {}
        for endpoint_id, row_id in due:
            queues.setdefault(endpoint_id, []).append(row_id)
        if len(queues) <= 1 or self.workers <= 1:
            return sum(self._deliver_queue(e, ids) for e, ids in queues.items())
        with ThreadPoolExecutor(
            max_workers=min(self.workers, len(queues)), thread_name_prefix="webhook"
        ) as pool:
            done = [pool.submit(self._deliver_queue, e, ids) for e, ids in queues.items()]
            return sum(f.result() for f in done)

    def _deliver_queue(self, endpoint_id: int, row_ids: list[int]) -> int:
        """One endpoint's rows of this pass, in order; stops at a gateway that does not answer."""
        attempted = 0
        with Session(self.engine) as session:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            if endpoint is None:
                return 0
            for row_id in row_ids:
                row = session.get(WebhookDelivery, row_id)
                if row is None or row.status != DeliveryStatus.PENDING.value:
                    continue  # (retried or sent by an operator's action meanwhile)
                answer = self._attempt(session, endpoint, row)
                attempted += 1
                if answer.status is None:  # not reached: its other rows wait for the retry
                    pending = row.status == DeliveryStatus.PENDING.value
                    until = row.next_attempt_at if pending else self.clock() + self.backoff_base
                    self._hold(session, endpoint_id, until)
                    session.commit()
                    break
                session.commit()  # each row's outcome as soon as it is known
        return attempted

    def _hold(self, session: Session, endpoint_id: int, until: float) -> None:
        """The endpoint's other due rows wait until ``until`` (no attempt counted)."""
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at < until,
            )
            .values(next_attempt_at=until)
        )

    def body(self, session: Session, row: WebhookDelivery) -> bytes:
        payload = json.loads(json.dumps(row.payload))
        contact = contacts.get(session, self.key, row.recipient)
        if contact is not None:  # consent given and not withdrawn, as of now
            payload["data"]["contact"] = {
                "phone": contact.phone,
                "wechat_openid": contact.wechat_openid,
            }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def _attempt(self, session: Session, endpoint: WebhookEndpoint, row: WebhookDelivery) -> Answer:
        body = self.body(session, row)
        stamp = int(self.clock())
        headers = signing.headers(endpoint_secret(self.key, endpoint), row.message_id, stamp, body)
        answer = self.send(endpoint.url, headers, body)
        row.attempts += 1
        row.last_status = answer.status
        if answer.ok:
            row.status = DeliveryStatus.DELIVERED.value
            row.delivered_at, row.last_error = stamp, None
            return answer
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
        return answer

    def close(self) -> None:
        close = getattr(self.send, "close", None)
        if close is not None:
            close()

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
