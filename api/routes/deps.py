"""Request dependencies shared by the routers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import Depends, Header, Path, Request
from sqlalchemy.orm import Session

from api.auth.errors import AccessDenied
from api.auth.sessions import session_address
from api.bodylimit import body_bytes
from api.db import ensure_db
from api.nostore import mark_session_read
from api.ratelimit import limit_client_async, size_cost
from api.services import Services


def raw_segments(request: Request, tail: str) -> list[str]:
    """The path segments, decoded, of ``tail`` (a ``{name:path}`` parameter) as the client split
    them: the router matches the *decoded* path, where an escaped ``%2F`` inside one value (a
    GS1 lot may hold "/") reads as a separator; the raw path tells them apart."""
    raw = request.scope.get("raw_path")
    if raw is not None:
        parts = raw.decode("latin-1").split("/")
        for count in range(1, len(parts) + 1):
            if unquote("/".join(parts[-count:])) == tail:
                return [unquote(part) for part in parts[-count:]]
    return tail.split("/")  # a server that gives no raw path: unescaped slashes split


def get_services(request: Request) -> Services:
    """The app's services (the one place that reads ``app.state``)."""
    return request.app.state.services


async def _services(request: Request) -> Services:
    # ``async``: FastAPI runs a plain ``def`` dependency on its thread pool, a hand-over to a
    # worker thread and back on every request for one attribute read (profiled: a large part
    # of the HTTP layer's CPU under the relay rush, issue 15).
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A session on the index database (its tables created first if need be)."""
    ensure_db(services.engine)
    with Session(services.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


# What one token of a client's bucket buys of a request body: a relay or a prepare of a few
# kilobytes costs one, while a prepare naming an EPCIS event with thousands of sensor readings
# (schema-validated: milliseconds of CPU per reading) costs by its size.
BODY_BYTES_PER_TOKEN = 64 * 1024


async def _client_limited(request: Request) -> None:
    # ``async``: refused on the event loop, before a worker thread or the accept queue is taken
    # (a worker thread only for a new lease of a bucket shared through PostgreSQL).
    await limit_client_async(request, cost=size_cost(body_bytes(request), BODY_BYTES_PER_TOKEN))


# ``dependencies=[ClientLimited]`` on a route that costs the service CPU: a token per request,
# and one more per BODY_BYTES_PER_TOKEN of its body, from the client's bucket, or 429
# ``rate_limited`` (api.ratelimit).
ClientLimited = Depends(_client_limited)


# The largest integer SQLite and PostgreSQL BIGINT store; ids and offsets beyond it are bad input
# (a 422), not a driver overflow (a 500).
DB_INT_MAX = 2**63 - 1

DealId = Annotated[int, Path(ge=0, le=DB_INT_MAX, description="the escrow's deal id")]


SESSION_COOKIE = "tuanchain_session"


def session_token(
    request: Request,
    authorization: Annotated[
        str | None, Header(description="`Bearer <token>` from POST /v1/auth/verify")
    ] = None,
) -> str | None:
    """The session token: an ``Authorization: Bearer`` header, else the session cookie. What
    is answered depends on it, signed in or not: it is sent ``no-store`` (:mod:`api.nostore`)."""
    mark_session_read(request)
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_same_origin(request: Request) -> None:
    """Refuse (403 ``access_denied``) a write that a browser sent from another origin: the
    session cookie is ``SameSite=Strict``, which keeps other *sites* out but not another origin
    of the same site (a sibling subdomain, another port of localhost), nor browsers without
    SameSite. The browser's own word decides: ``Sec-Fetch-Site`` when it sends one, else an
    ``Origin`` naming another host than the request's. Clients that send neither (the CLI, an
    SDK with a bearer token) are not browsers riding on someone's cookie."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    # The request's host, or the public URL's (a proxy may pass the request on with its own).
    ours = {
        request.headers.get("host", "").lower(),
        urlsplit(get_services(request).settings.public_url).netloc.lower(),
    }
    foreign = site in ("cross-site", "same-site") or (
        site is None and origin is not None and urlsplit(origin).netloc.lower() not in ours
    )
    if foreign:
        raise AccessDenied(
            "a signed-in page's write must come from this service's own pages, not from "
            f"{origin or 'another origin'}",
            origin=origin,
        )


def signed_in(request: Request, token: Annotated[str | None, Depends(session_token)]) -> str:
    """The address signed in with EIP-4361 (401 ``not_signed_in`` otherwise). A session riding
    on the page cookie must be used by this service's own pages (:func:`check_same_origin`)."""
    authorization = request.headers.get("authorization", "")
    if token and not authorization.lower().startswith("bearer "):
        check_same_origin(request)
    address, _ = session_address(get_services(request).engine, token, now=int(time.time()))
    return address


SignedInDep = Annotated[str, Depends(signed_in)]
