"""Notices to an operator's gateway as Standard Webhooks, at least once, with consent.

The demo's seeded and indexed chain gives every kind of notice. A gateway is a real local HTTP
server (``http.server`` on an ephemeral port) that refuses the first requests (503) and then
recovers: every notice reaches it, each ``webhook-id`` at least once, each signature checks
against the Standard Webhooks spec (re-implemented here from the spec, not imported from the
code under test: the ``standardwebhooks`` PyPI package is not in the environment). Retries are
driven by the outbox's clock, advanced by the test: no sleeps, no timing assertions. Operators
register endpoints and retry dead letters through the API (Sign-In with Ethereum, PLATFORM_ROLE
on chain); a consumer gives and withdraws consent to be reached by phone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import notices as notice_feed
from api import queries
from api.app import create_app
from api.db import models as m
from api.demo.catalog import CONSUMERS
from api.indexer.runner import make_indexer
from api.names import Directory
from api.render import messages
from api.routes.webhooks import DEAD_LETTERS_SHOWN
from api.services import Services, make_engine
from api.webhooks import runner
from api.webhooks.models import NoticeContact, WebhookDelivery, WebhookEndpoint
from api.webhooks.outbox import WebhookOutbox, message_id, recipients, seal_secret

from ...clock import SetClock
from ..conftest import siwe_token
from .conftest import Demo

ORIGIN = "http://testserver"


# ---------------------------------------------------------------------- a gateway


@dataclass
class Gateway:
    """Answers 503 to the first ``failures`` requests, then 200; keeps what it got."""

    failures: int
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    accepted: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    state = Gateway(failures=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.lock:
                state.got.append((headers, body))
                ok = len(state.got) > state.failures
                if ok:
                    state.accepted.append((headers, body))
            self.send_response(200 if ok else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def spec_verify(secret: str, headers: dict[str, str], body: bytes, now: int) -> dict[str, Any]:
    """Standard Webhooks v1, from the spec: HMAC-SHA256 over ``id.timestamp.body`` with the
    base64 key after ``whsec_``, ``v1,<base64>`` in webhook-signature, timestamp within 5 min."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(now - int(stamp)) <= 300
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    assert any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())
    return json.loads(body)


# ---------------------------------------------------------------------- the app


@pytest.fixture
def site(demo: Demo) -> Iterator[tuple[TestClient, Services]]:
    services = Services(
        settings=demo.services.settings.model_copy(update={"public_url": ORIGIN}),
        store=demo.services.store,
        engine=demo.services.engine,
        _chain=demo.services.chain,
    )
    with TestClient(create_app(services), base_url=ORIGIN) as client:
        yield client, services


def sign_in(client: TestClient, account: LocalAccount) -> dict[str, str]:
    return {"Authorization": "Bearer " + siwe_token(client, account)}


def drain(outbox: WebhookOutbox, clock: SetClock, endpoint_id: int, *, passes: int = 200) -> None:
    """Run deliveries, moving the outbox's clock to each next attempt, until none is pending."""
    for _ in range(passes):
        outbox.deliver_due()
        with Session(outbox.engine) as session:
            pending = session.scalars(
                select(WebhookDelivery.next_attempt_at).where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.status == "pending",
                )
            ).all()
        if not pending:
            return
        clock.now = max(clock.now, min(pending))
    pytest.fail("deliveries still pending")


def every_notice(services: Services) -> dict[str, tuple[str, str]]:
    """webhook-id -> (recipient, notice id), computed as the pages compute notices."""
    out = {}
    with Session(services.engine) as session:
        directory = Directory(session, services.store)
        for who in recipients(session):
            for n in notice_feed.notices(session, directory, who):
                out[message_id(who, n["id"])] = (who, n["id"])
    return out


def register(client: TestClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    response = client.post(
        "/v1/ops/webhooks",
        json={"url": url, "description": "SMS gateway", "since": 0},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------------- the tests


def test_a_gateway_that_fails_then_recovers_gets_every_notice_signed(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    client, services = site
    operator = sign_in(client, services.chain.platform)
    endpoint = register(client, operator, gateway.url)
    assert endpoint["secret"].startswith("whsec_")
    expected = every_notice(services)
    assert len({kind.split(":")[0] for _, kind in expected.values()}) >= 8  # many kinds
    gateway.failures = 5 + len(expected) // 3  # down for a while: every row fails at least once

    clock = SetClock()
    outbox = runner.make_outbox(services, clock=clock, backoff_base=30.0, backoff_max=600.0)
    assert outbox.enqueue() >= len(expected)
    assert outbox.enqueue() == 0  # idempotent: the same notices are not queued twice
    drain(outbox, clock, endpoint["id"])

    received: dict[str, list[dict[str, Any]]] = {}
    for headers, body in gateway.accepted:
        payload = spec_verify(endpoint["secret"], headers, body, int(clock.now))
        received.setdefault(headers["webhook-id"], []).append(payload)
    assert set(received) == set(expected)  # every notice, under its stable id
    for msg, payloads in received.items():
        recipient, notice_id = expected[msg]
        assert {p["data"]["id"] for p in payloads} == {notice_id}
        assert {p["data"]["recipient"] for p in payloads} == {recipient}
        assert all(p["data"]["text"]["zh"] and p["data"]["text"]["en"] for p in payloads)
    # Retried messages kept their id: some ids were refused first and accepted later.
    refused = {h["webhook-id"] for h, _ in gateway.got[: gateway.failures]}
    assert refused and refused <= set(received)

    listed = client.get("/v1/ops/webhooks", headers=operator).json()
    mine = next(e for e in listed if e["id"] == endpoint["id"])
    assert mine["deliveries"]["delivered"] == len(expected)
    assert mine["deliveries"]["pending"] == mine["deliveries"]["dead"] == 0


def test_dead_letters_are_shown_to_operators_and_sent_again_on_retry(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    client, services = site
    operator = sign_in(client, services.chain.platform)
    endpoint = register(client, operator, gateway.url)
    gateway.failures = 10**9  # down for good
    clock = SetClock()
    outbox = runner.make_outbox(services, clock=clock, max_attempts=3, backoff_base=10.0)
    outbox.enqueue()
    with Session(services.engine) as session:  # (other tests' endpoints may get rows too)
        queued = len(
            session.scalars(
                select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint["id"])
            ).all()
        )
    drain(outbox, clock, endpoint["id"])

    dead = client.get(
        f"/v1/ops/webhooks/{endpoint['id']}/deliveries",
        params={"status": "dead", "limit": 500},
        headers=operator,
    ).json()
    assert len(dead) == queued and all(d["attempts"] == 3 for d in dead)
    assert dead[0]["last_error"] == "HTTP 503" and dead[0]["last_status"] == 503

    page = client.get("/ops/webhooks?lang=en", headers=operator)
    assert page.status_code == 200 and gateway.url in page.text
    assert dead[0]["message_id"] in page.text
    # Each dead letter says what it was in words, not the notice's code (found in review).
    words = messages()
    assert all(f"webhook_kind_{kind}" in words for kind in notice_feed.KINDS)
    # The page lists the newest DEAD_LETTERS_SHOWN (the API answers newest first): how many
    # notices the demo has, and so which kinds are among them, moves with the chain's clock.
    for kind in {d["kind"] for d in dead[:DEAD_LETTERS_SHOWN]}:
        assert html.escape(words[f"webhook_kind_{kind}"]["en"]) in page.text, kind
        assert f" {kind} ·" not in page.text
    assert "tried 3 times" in page.text
    # Disabling is final: one tap opens what it does, a second one (said as such) disables.
    stop = re.search(
        r'<details class="stop-endpoint">(.*?)</details>',
        page.text.split(gateway.url, 1)[1],
        re.DOTALL,
    )
    assert stop and html.escape(words["webhooks_disable_effect"]["en"]) in stop[1]
    assert f'data-disable="{endpoint["id"]}"' in stop[1]
    assert page.text.count("data-disable=") == page.text.count('<details class="stop-endpoint">')
    # A refusal at delivery reads in the page's language; the API keeps its English.
    english = (
        "ConnectError: refused: gw.example resolves to 10.0.0.5; 10.0.0.5 is private (RFC 1918)"
    )
    with Session(services.engine) as session:
        session.get(WebhookDelivery, dead[0]["id"]).last_error = english  # one the page shows
        session.commit()
    zh = client.get("/ops/webhooks?lang=zh", headers=operator).text
    assert "拒绝发送：gw.example 解析为 10.0.0.5；10.0.0.5 是内网地址（RFC 1918）" in zh
    again = client.get(
        f"/v1/ops/webhooks/{endpoint['id']}/deliveries",
        params={"status": "dead", "limit": 500},
        headers=operator,
    ).json()
    assert english in {d["last_error"] for d in again}

    # One letter again, then all of them, after the gateway is back.
    gateway.failures = 0
    one = client.post(
        f"/v1/ops/webhooks/{endpoint['id']}/retry",
        json={"delivery_id": dead[0]["id"]},
        headers=operator,
    )
    assert one.json() == {"retried": 1}
    # The API schedules the retry at real time; the test's clock catches up with it (a slow
    # machine may have taken longer than the backoff the test's clock skipped).
    clock.now = max(clock.now, time.time())
    outbox.deliver_due()
    assert {h["webhook-id"] for h, _ in gateway.accepted} == {dead[0]["message_id"]}
    rest = client.post(f"/v1/ops/webhooks/{endpoint['id']}/retry", json={}, headers=operator)
    assert rest.json() == {"retried": queued - 1}
    clock.now = max(clock.now, time.time())
    drain(outbox, clock, endpoint["id"])
    assert {h["webhook-id"] for h, _ in gateway.accepted} == {d["message_id"] for d in dead}


def _rows(services: Services, endpoint_id: int) -> list[WebhookDelivery]:
    with Session(services.engine) as session:
        return list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            )
        )


def test_a_gateway_that_does_not_answer_delays_only_its_own_queue(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    """Two gateways: a healthy one and one that never answers (a port bound by the test and not
    listening: every connection refused, as a black-holed gateway's would time out, at once).
    In one pass the healthy one gets every notice; the other one is tried once, and its other
    rows wait for that row's retry without an attempt counted: one failure per retry, not one
    per row, whatever its queue holds."""
    client, services = site
    operator = sign_in(client, services.chain.platform)
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))  # kept bound, never listening: nobody else gets the port
        dead = register(client, operator, f"http://127.0.0.1:{hole.getsockname()[1]}/hook")
        healthy = register(client, operator, gateway.url)
        clock = SetClock()
        outbox = runner.make_outbox(services, clock=clock, batch=10_000, per_endpoint=10_000)
        outbox.enqueue()
        queued = _rows(services, healthy["id"])
        assert len(queued) == len(_rows(services, dead["id"])) > 10

        outbox.deliver_due()  # one pass
        assert {h["webhook-id"] for h, _ in gateway.accepted} == {r.message_id for r in queued}
        tried, *held = _rows(services, dead["id"])
        assert tried.attempts == 1 and tried.last_status is None and tried.status == "pending"
        assert tried.next_attempt_at > clock.now
        assert all(r.attempts == 0 and r.next_attempt_at == tried.next_attempt_at for r in held)

        outbox.deliver_due()  # nothing of it is due before the retry
        assert sum(r.attempts for r in _rows(services, dead["id"])) == 1
        clock.now = tried.next_attempt_at
        outbox.deliver_due()  # the retry: one more attempt, the queue held again
        rows = _rows(services, dead["id"])
        assert sum(r.attempts for r in rows) == 2 and {r.status for r in rows} == {"pending"}
    assert len(gateway.got) == len(queued)  # the healthy one: each notice once


def test_a_pass_takes_a_few_rows_of_each_endpoint_in_due_order(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    client, services = site
    endpoint = register(client, sign_in(client, services.chain.platform), gateway.url)
    clock = SetClock()
    outbox = runner.make_outbox(services, clock=clock, per_endpoint=3)
    outbox.enqueue()
    queued = _rows(services, endpoint["id"])
    outbox.deliver_due()
    assert [h["webhook-id"] for h, _ in gateway.accepted] == [r.message_id for r in queued[:3]]
    outbox.deliver_due()
    assert [h["webhook-id"] for h, _ in gateway.accepted] == [r.message_id for r in queued[:6]]


def test_only_operators_register_or_read_endpoints(
    site: tuple[TestClient, Services],
) -> None:
    client, _ = site
    anonymous = client.get("/v1/ops/webhooks")
    assert anonymous.status_code == 401
    neighbour = sign_in(client, CONSUMERS[0].account)
    refused = client.post(
        "/v1/ops/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=neighbour
    )
    assert refused.status_code == 403 and refused.json()["code"] == "access_denied"
    page = client.get("/ops/webhooks?lang=en", headers=neighbour)
    assert page.status_code == 200 and "127.0.0.1:9" not in page.text
    bad = client.post(
        "/v1/ops/webhooks",
        json={"url": "ftp://example.org"},
        headers=sign_in(client, client.app.state.services.chain.platform),  # type: ignore[attr-defined]
    )
    assert bad.status_code == 422


def test_the_secret_is_shown_once_and_never_again(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    client, services = site
    operator = sign_in(client, services.chain.platform)
    made = client.post("/v1/ops/webhooks", json={"url": gateway.url}, headers=operator)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    secret = made.json()["secret"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    listed = client.get("/v1/ops/webhooks", headers=operator).text
    deliveries = client.get(
        f"/v1/ops/webhooks/{made.json()['id']}/deliveries", headers=operator
    ).text
    page = client.get("/ops/webhooks?lang=en", headers=operator).text
    for shown in (listed, deliveries, page):
        assert secret not in shown and secret.removeprefix("whsec_") not in shown
    with Session(services.engine) as session:  # sealed at rest, not the key's bytes
        row = session.get(WebhookEndpoint, made.json()["id"])
        assert row is not None and key not in row.secret_sealed
        assert secret.encode() not in row.secret_sealed
    client.delete(f"/v1/ops/webhooks/{made.json()['id']}", headers=operator)


@pytest.fixture
def public_site(demo: Demo) -> Iterator[tuple[TestClient, Services]]:
    """The app as configured for a public chain (the settings say so; the node is the demo's:
    model_copy skips the validators that would want real keys there)."""
    settings = demo.services.settings.model_copy(
        update={"public_url": ORIGIN, "chain_id": 10, "rpc_url": "https://rpc.example.org"}
    )
    assert not settings.is_local
    services = Services(
        settings=settings,
        store=demo.services.store,
        engine=demo.services.engine,
        _chain=demo.services.chain,
    )
    with TestClient(create_app(services), base_url=ORIGIN) as client:
        yield client, services


def test_off_a_local_chain_gateways_in_the_service_s_own_network_are_refused(
    public_site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    client, services = public_site
    operator = sign_in(client, services.chain.platform)
    cases = {
        "http://169.254.169.254/latest/meta-data/": "link-local",
        "https://169.254.169.254/": "link-local",
        "https://[::ffff:169.254.169.254]/": "link-local",
        "https://10.0.0.7/hook": "RFC 1918",
        "https://2130706433/hook": "loopback",
        gateway.url: "loopback",
        "https://[fd00::1]/hook": "unique-local",
        "http://93.184.215.14/hook": "https",
    }
    for url, reason in cases.items():
        refused = client.post("/v1/ops/webhooks", json={"url": url}, headers=operator)
        assert refused.status_code == 400, (url, refused.text)
        body = refused.json()
        assert body["code"] == "webhook_url_refused" and reason in body["message"], body
    listed = client.get("/v1/ops/webhooks", headers=operator).json()
    assert not {e["url"] for e in listed} & set(cases)
    made = client.post(
        "/v1/ops/webhooks", json={"url": "https://93.184.215.14/hook"}, headers=operator
    )
    assert made.status_code == 201  # a public https gateway is fine
    client.delete(f"/v1/ops/webhooks/{made.json()['id']}", headers=operator)
    # An endpoint registered where loopback was allowed is still refused at delivery time.
    with Session(services.engine) as session:
        row = WebhookEndpoint(
            url=gateway.url,
            secret_sealed=b"",
            key_id="",
            created_by=services.chain.platform.address,
            created_at=0,
            since=0,
        )
        session.add(row)
        session.flush()
        row.secret_sealed = seal_secret(runner.document_key(services), row.id, "whsec_AAAA")
        session.commit()
        endpoint_id = row.id
    outbox = runner.make_outbox(services, clock=SetClock())
    mine = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    try:
        assert outbox.enqueue() > 0
        outbox.deliver_due()
    finally:
        client.delete(f"/v1/ops/webhooks/{endpoint_id}", headers=operator)
        outbox.close()
    assert gateway.got == []
    with Session(services.engine) as session:
        rows = session.scalars(mine).all()
    # Refused before connecting; the endpoint's other rows wait for that row's retry.
    tried = [r for r in rows if r.attempts]
    assert len(tried) == 1 and "refused" in tried[0].last_error and "https" in tried[0].last_error
    assert len(rows) > 1 and {r.next_attempt_at for r in rows} == {tried[0].next_attempt_at}


def test_payloads_carry_a_phone_only_while_its_owner_consents(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    client, services = site
    consumer = CONSUMERS[0]
    mine = sign_in(client, consumer.account)
    assert client.get("/v1/contact", headers=mine).json()["consented_at"] is None
    bad = client.put("/v1/contact", json={"phone": "call me", "consent": True}, headers=mine)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_contact"
    assert (
        client.put("/v1/contact", json={"phone": "+8613800138000"}, headers=mine)
    ).status_code == 422  # no consent, no contact
    given = client.put(
        "/v1/contact",
        json={"phone": "+86 138-0013-8000", "consent": True},
        headers=mine,
    )
    assert given.status_code == 200 and given.json()["phone"] == "+8613800138000"
    with Session(services.engine) as session:  # sealed at rest
        row = session.get(NoticeContact, consumer.address)
        assert row is not None and b"13800138000" not in row.sealed

    operator = sign_in(client, services.chain.platform)
    endpoint = register(client, operator, gateway.url)
    clock = SetClock()
    outbox = runner.make_outbox(services, clock=clock)
    outbox.enqueue()
    drain(outbox, clock, endpoint["id"])
    payloads = [spec_verify(endpoint["secret"], h, b, int(clock.now)) for h, b in gateway.accepted]
    for p in payloads:
        if p["data"]["recipient"] == consumer.address:
            assert p["data"]["contact"] == {"phone": "+8613800138000", "wechat_openid": None}
        else:
            assert "contact" not in p["data"]  # nobody else consented
    assert any(p["data"]["recipient"] == consumer.address for p in payloads)

    # Withdrawn: deleted, and the next sending of the same notice carries none.
    assert client.delete("/v1/contact", headers=mine).status_code == 204
    with Session(services.engine) as session:
        assert session.get(NoticeContact, consumer.address) is None
        row = session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint["id"],
                WebhookDelivery.recipient == consumer.address,
            )
        ).first()
        assert row is not None
        assert "contact" not in json.loads(outbox.body(session, row))["data"]


def test_the_service_loop_delivers_what_the_index_brings(
    site: tuple[TestClient, Services], gateway: Gateway
) -> None:
    """The background role as ``tuanchain serve`` runs it (real clock, short backoff)."""
    client, services = site
    endpoint = register(client, sign_in(client, services.chain.platform), gateway.url)
    gateway.failures = 3
    expected = set(every_notice(services))
    stop = runner.start_background(services, backoff_base=0.05, backoff_max=0.2)
    try:
        deadline = time.monotonic() + 60  # an upper bound for the loop, not a timing assertion
        while time.monotonic() < deadline:
            with gateway.lock:
                if {h["webhook-id"] for h, _ in gateway.accepted} >= expected:
                    break
            time.sleep(0.05)
    finally:
        stop()
    with gateway.lock:
        assert {h["webhook-id"] for h, _ in gateway.accepted} >= expected
    assert httpx.URL(gateway.url).port and endpoint["id"]


def test_each_pass_queues_only_what_came_after_the_last_one_and_a_restart_resumes(
    demo: Demo, gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox's cursor: the demo chain indexed in two steps into a database of its own
    (the shared one is left alone), chain time moved by the test past a pickup deadline's last
    day. Each pass queues exactly the notices that appeared since the one before; a pass with
    nothing new computes no one's notices; a pass that fails leaves the cursor where it was;
    a new outbox object (a restart) resumes there. The healthy gateway gets every id once."""
    url = "sqlite:///" + str(tmp_path / "index.db")
    services = Services(
        settings=demo.services.settings.model_copy(update={"database_url": url}),
        store=demo.services.store,
        engine=make_engine(url),
        _chain=demo.services.chain,
    )
    chain = services.chain
    with Session(demo.services.engine) as session:  # (the full index says where to stop)
        orders = session.scalars(
            select(m.OrderEvent.block_number).order_by(m.OrderEvent.block_number)
        ).all()
    start = min(c.block for c in chain.deployment.contracts.values())
    indexer = make_indexer(services, range_size=orders[len(orders) // 2] - start + 1)
    indexer.sync(max_ranges=1)  # up to the block of the middle order
    pork = demo.report.deals["pork_claim"]
    with Session(demo.services.engine) as session:
        deadline = session.scalars(
            select(m.Deal.pickup_deadline).where(m.Deal.deal_id == pork)
        ).one()
    due = deadline - notice_feed.PICKUP_DUE_SECONDS
    now = {"t": due - 1}
    monkeypatch.setattr(queries, "chain_now", lambda _session: now["t"])
    looked_at: list[str] = []
    real_notices = notice_feed.notices

    def notices(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        looked_at.append(args[2])
        return real_notices(*args, **kwargs)

    monkeypatch.setattr(notice_feed, "notices", notices)
    with Session(services.engine) as session:
        endpoint = WebhookEndpoint(
            url=gateway.url,
            secret_sealed=b"",
            key_id="",
            created_by=chain.platform.address,
            created_at=0,
            since=0,
        )
        session.add(endpoint)
        session.flush()
        endpoint_id = endpoint.id
        endpoint.secret_sealed = seal_secret(
            runner.document_key(services), endpoint_id, "whsec_AAAA"
        )
        session.commit()

    def queued() -> set[str]:
        with Session(services.engine) as session:
            return set(
                session.scalars(
                    select(WebhookDelivery.message_id).where(
                        WebhookDelivery.endpoint_id == endpoint_id
                    )
                )
            )

    def cursor() -> tuple[int | None, int | None]:
        with Session(services.engine) as session:
            row = session.get(WebhookEndpoint, endpoint_id)
            assert row is not None
            return row.scanned_block, row.scanned_time

    clock = SetClock()
    # Pass 1 (no cursor yet): the whole history of the half-indexed chain.
    first = set(every_notice(services))
    outbox = runner.make_outbox(services, clock=clock)
    assert first and outbox.enqueue() == len(first) and queued() == first
    drain(outbox, clock, endpoint_id)
    assert cursor() == (indexer.last_block(), due - 1)

    # Pass 2, nothing new: nothing queued, and nobody's notices computed again.
    looked_at.clear()
    assert outbox.enqueue() == 0 and looked_at == []

    # The rest of the chain is indexed. A pass that fails half-way commits nothing.
    indexer.sync_until_idle()
    later = set(every_notice(services)) - first
    assert later
    before = cursor()
    calls = 0

    def failing(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("the process dies here")
        return real_notices(*args, **kwargs)

    monkeypatch.setattr(notice_feed, "notices", failing)
    with pytest.raises(RuntimeError):
        outbox.enqueue()
    assert queued() == first and cursor() == before
    monkeypatch.setattr(notice_feed, "notices", notices)

    # Restart: a new outbox object picks up at the cursor; only the new notices are queued.
    outbox.close()
    outbox = runner.make_outbox(services, clock=clock)
    assert outbox.enqueue() == len(later) and queued() == first | later
    drain(outbox, clock, endpoint_id)
    assert cursor() == (indexer.last_block(), due - 1)

    # Chain time passes the pickup deadline's last day: no new block, a new notice, and only
    # the people of the deals whose moment came are looked at.
    now["t"] = due + 1
    buyer = CONSUMERS[1].address  # her leader received the pork; not handed over (the seed)
    pickup = message_id(buyer, f"pickup_due:{pork}")
    assert pickup not in queued()
    looked_at.clear()
    assert outbox.enqueue() >= 1 and pickup in queued()
    assert buyer in looked_at and len(set(looked_at)) < len(recipients_of_all(services))
    drain(outbox, clock, endpoint_id)
    assert outbox.enqueue() == 0
    outbox.close()

    ids = [h["webhook-id"] for h, _ in gateway.accepted]
    assert sorted(ids) == sorted(queued())  # every queued notice delivered, each id once
    assert set(every_notice(services)) <= set(ids)


def recipients_of_all(services: Services) -> list[str]:
    with Session(services.engine) as session:
        return recipients(session)


def test_answers_that_depend_on_the_session_are_never_stored(
    site: tuple[TestClient, Services],
) -> None:
    """Found in review: the signed-in /ops/webhooks page (gateways' URLs, dead letters) went out
    cacheable. Whatever reads the session is no-store, signed in or not; public pages are not."""
    client, services = site
    operator = sign_in(client, services.chain.platform)
    for headers in (operator, {}):
        page = client.get("/ops/webhooks?lang=en", headers=headers)
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
    listed = client.get("/v1/ops/webhooks", headers=operator)
    assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"
    refused = client.get("/v1/ops/webhooks")
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
    shop = client.get("/?lang=en", headers=operator)  # public: the same for everyone
    assert shop.status_code == 200 and "no-store" not in shop.headers.get("cache-control", "")
