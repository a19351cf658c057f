"""The pages consumers and leaders use from their phones, and their notices as JSON.

- ``/``: today's deals to shop from (join with a quantity and a pickup point);
- ``/orders/{address}``: my orders in words, what can be done (cancel, collect a refund, file a
  claim with photos), and my notices; ``/orders`` asks for a wallet (or an address) first;
- ``/leader/{address}``: a leader's deals with a share link and QR code each, their group's
  orders and totals, confirm receipt with a photo; ``/leader`` asks first, likewise;
- ``GET /v1/notices/{address}``: the notices of an address (:mod:`api.notices`), and
  ``/v1/notices/{address}/stream``: the new ones as server-sent events while a page is open
  (left out of the OpenAPI: a stream is not a response schemathesis can check).

Everything is server-rendered from the index; actions go through ``/static/wallet.js``. Without a
wallet a person can still browse, look up an address's orders, and check every trail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from web3 import Web3

from api import notices as notice_feed
from api import queries, shop
from api.db import ensure_db
from api.db import models as m
from api.disputes import private_evidence
from api.errors import ApiError, error_responses
from api.handout import handout_view
from api.index_errors import NotInIndex
from api.names import Directory
from api.ratelimit import client_key
from api.render import choose_language, render
from api.routes.deps import DB_INT_MAX, DealId, ServicesDep, get_services
from api.routes.page_common import (
    CONNECT_RESPONSES,
    LookupAddress,
    connect_page,
    page_address,
    page_error,
)
from api.schemas.community import NoticeList
from api.services import Services

router = APIRouter(tags=["pages"])


def _session(services: Services) -> Session:
    ensure_db(services.engine)
    return Session(services.engine)


def _notices(session: Session, services: Services, address: str, lang: str) -> list[Any]:
    directory = Directory(session, services.store)
    items = notice_feed.notices(session, directory, address)
    return [{**n, "text": notice_feed.sentence(n, directory, lang)} for n in items[:50]]


@router.get("/", response_class=HTMLResponse, summary="Today's deals (HTML)")
def shop_page(
    request: Request,
    services: ServicesDep,
    leader: Annotated[str | None, Query(description="the pickup point to preselect")] = None,
) -> Response:
    with _session(services) as session:
        data = shop.shop(session, services)
    points = [p.address for p in data["points"]]
    chosen = Web3.to_checksum_address(leader) if leader and Web3.is_address(leader) else None
    return render(
        request,
        "shop.html",
        {**data, "leader": chosen if chosen in points else (points[0] if points else "")},
    )


@router.get(
    "/orders",
    response_class=HTMLResponse,
    responses=CONNECT_RESPONSES,
    summary="My orders: connect a wallet or give an address (HTML)",
)
def orders_connect(request: Request, address: LookupAddress = None) -> Response:
    return connect_page(request, "my_orders", "/orders", address)


@router.get(
    "/orders/{address}",
    response_class=HTMLResponse,
    responses=error_responses(400, html=True),
    summary="A consumer's orders and notices (HTML)",
)
def orders_page(request: Request, address: str, services: ServicesDep) -> Response:
    try:
        buyer = page_address(address)
    except ApiError as exc:
        return page_error(request, exc)
    lang = choose_language(request)
    with _session(services) as session:
        data = shop.buyer_view(session, services, buyer)
        data["notices"] = _notices(session, services, buyer, lang)
    data["private_evidence"] = lambda cid: private_evidence(services.store, cid)
    return render(request, "orders.html", data)


@router.get(
    "/leader",
    response_class=HTMLResponse,
    responses=CONNECT_RESPONSES,
    summary="My group: connect a wallet or give an address (HTML)",
)
def leader_connect(request: Request, address: LookupAddress = None) -> Response:
    return connect_page(request, "my_group", "/leader", address)


@router.get(
    "/leader/{address}",
    response_class=HTMLResponse,
    responses=error_responses(400, html=True),
    summary="A leader's deals, share links, group orders and receipts (HTML)",
)
def leader_page(request: Request, address: str, services: ServicesDep) -> Response:
    try:
        leader = page_address(address)
    except ApiError as exc:
        return page_error(request, exc)
    lang = choose_language(request)
    with _session(services) as session:
        data = shop.leader_view(session, services, leader, str(request.base_url))
        data["notices"] = _notices(session, services, leader, lang)
    return render(request, "leader.html", data)


@router.get(
    "/leader/{address}/handout/{deal_id}",
    response_class=HTMLResponse,
    responses=error_responses(400, 404, html=True),
    summary="A leader's handout (核销) and cash orders in one deal (HTML)",
)
def handout_page(
    request: Request, address: str, deal_id: DealId, services: ServicesDep
) -> Response:
    """The pick list, scanning pickup codes (camera, photo or paste) and handing out one or many
    in one signed request; cash orders booked for neighbours, handed out, and the cash owed back;
    the commission. The escrow refuses anyone but the orders' leader."""
    try:
        leader = page_address(address)
        with _session(services) as session:
            data = handout_view(session, services, leader, deal_id)
    except ApiError as exc:
        return page_error(request, exc)
    except NotInIndex as exc:
        return page_error(request, ApiError(404, "deal_not_found", str(exc)))
    return render(request, "handout.html", data)


@router.get(
    "/v1/notices/{address}",
    response_model=NoticeList,
    responses=error_responses(400),
    tags=["read"],
    summary="An address's notices, newest first, in words",
    description="Derived from the indexed chain events: orders, 成团 or not, recalls, goods "
    "arrived at the pickup point, claims answered, payouts; for leaders their group's (cash orders "
    "only included) joins, 成团 or not, recall, goods not delivered by the delivery deadline, and "
    "claims. Each `id` is stable (for deduplication). Paged by deal: the notices about the "
    "address's `limit` newest deals (largest deal ids); `next_before` is the next page's cursor.",
)
def get_notices(
    address: str,
    services: ServicesDep,
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
    limit: int = Query(notice_feed.NOTICE_DEALS, ge=1, le=queries.MAX_PAGE),
    before: int | None = Query(
        None,
        ge=1,
        le=DB_INT_MAX,
        description="cursor: only deals with a smaller deal id (the previous page's `next_before`)",
    ),
) -> Any:
    account = page_address(address)
    with _session(services) as session:
        directory = Directory(session, services.store)
        deals, next_before = notice_feed.address_deals(session, account, limit=limit, before=before)
        items = notice_feed.notices(
            session, directory, account, deals=deals, parties=before is None
        )
        return {
            "address": account,
            "notices": [notice_feed.public(n, directory, lang) for n in items],
            "next_before": next_before,
        }


# How often an open stream looks at the index's version (one primary-key read), and how long it
# stays quiet before a comment keeps proxies from closing it.
STREAM_POLL_SECONDS = 1.0
STREAM_KEEPALIVE_SECONDS = 15.0
STREAM_BACKLOG = 50  # notices a stream opens with (what a page shows)
# Streams one client may hold open at once (a phone's few tabs), unless per-client limits are off
# (``rate_limit_per_second`` 0). Each open stream reads the index every second and rebuilds its
# notices on every commit, in the worker threads every route shares: without a bound one client
# could open thousands and hold them all.
MAX_STREAMS_PER_CLIENT = 8
# What a refused stream asks the browser to wait before it tries again (EventSource reconnects).
REFUSED_RETRY_MS = 60_000


def _feed(services: Services, address: str, lang: str) -> tuple[int, list[dict[str, Any]]]:
    """(index version, the address's notices as JSON), in one session (a worker thread)."""
    with _session(services) as session:
        state = session.get(m.IndexerState, "main")
        directory = Directory(session, services.store)
        items = notice_feed.notices(session, directory, address)
        return (state.version if state else 0), [
            notice_feed.public(n, directory, lang) for n in items
        ]


def _version(services: Services) -> int:
    with _session(services) as session:
        state = session.get(m.IndexerState, "main")
        return state.version if state else 0


@router.get("/v1/notices/{address}/stream", include_in_schema=False)
async def notice_stream(
    request: Request,
    address: str,
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
) -> Response:
    """Notices as they are indexed (``text/event-stream``, ``event: notice``, the notice's stable
    id as the event id). It opens with the newest :data:`STREAM_BACKLOG` notices, then sends each
    new one: a client keeps those it lacks (ids), so nothing indexed between the page's render
    and the stream's start is missed. The stream ends when the client goes or the server stops
    (``app.state.closing``, set first thing on shutdown), so it never holds a shutdown up."""
    account = page_address(address)
    services = get_services(request)
    closing = request.app.state.closing

    def event(notice: dict[str, Any]) -> str:
        data = json.dumps(notice, ensure_ascii=False)
        return f"id: {notice['id']}\nevent: notice\ndata: {data}\n\n"

    streams: dict[str, int] = request.app.state.notice_streams
    # The same switch as the other per-client limits (a rate of 0: none, as the test suite and
    # the benchmarks run, one client opening many pages).
    limited = services.settings.rate_limit_per_second > 0
    client = client_key(request.client.host if request.client else None)

    async def events() -> AsyncIterator[str]:
        # Counted while the stream runs (on the event loop: no lock): a stream refused past
        # the bound says so in the stream and ends, and the browser tries again later.
        if limited and streams.get(client, 0) >= MAX_STREAMS_PER_CLIENT:
            yield f"retry: {REFUSED_RETRY_MS}\n: too many notice streams from {client}\n\n"
            return
        streams[client] = streams.get(client, 0) + 1
        try:
            async for chunk in feed():
                yield chunk
        finally:
            streams[client] -= 1
            if not streams[client]:
                del streams[client]

    async def feed() -> AsyncIterator[str]:
        version, backlog = await run_in_threadpool(_feed, services, account, lang)
        seen = {n["id"] for n in backlog}
        yield "retry: 5000\n\n"
        for notice in reversed(backlog[:STREAM_BACKLOG]):  # oldest first
            yield event(notice)
        quiet = 0.0
        while not closing.is_set() and not await request.is_disconnected():
            await asyncio.sleep(STREAM_POLL_SECONDS)
            quiet += STREAM_POLL_SECONDS
            if await run_in_threadpool(_version, services) == version:
                if quiet >= STREAM_KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": still here\n\n"
                continue
            version, current = await run_in_threadpool(_feed, services, account, lang)
            for notice in reversed(current):  # oldest first
                if notice["id"] not in seen:
                    seen.add(notice["id"])
                    quiet = 0.0
                    yield event(notice)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
