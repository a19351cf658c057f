"""``GET /healthz``: is the chain reachable, is the store readable, how far behind is the index.

200 when every dependency answers; 503 naming the ones that do not (the body is the same
shape either way, so a monitor reads one format).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.db import models as m
from api.errors import public_message
from api.routes.deps import get_services
from api.schemas.health import ChainHealth, Health, IndexHealth, StoreHealth
from api.services import Services

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# A CID no store holds: asking for it exercises the backend without reading data.
_PROBE_CID = "bafkreiaasmtvy7dwqnm23ggkzzwmzuzwvv7wbrklmmd5jilg5h6mxgv3vi"


def _said(exc: Exception) -> str:
    """A dependency's failure as the report says it (a public page: no URL, host or key; the
    log has the whole text)."""
    logger.warning("health: %s: %s", type(exc).__name__, exc)
    return f"{type(exc).__name__}: {public_message(exc)}"[:300]


def _chain(services: Services) -> ChainHealth:
    try:
        # Still the chain the index and the outbox are bound to? (Asks the node only.)
        w3 = services.check_chain().w3
        return ChainHealth(
            ok=True, chain_id=int(w3.eth.chain_id), head_block=int(w3.eth.block_number)
        )
    except Exception as exc:  # noqa: BLE001 - any failure means "down", with its reason
        return ChainHealth(ok=False, error=_said(exc))


def _store(services: Services) -> StoreHealth:
    backend = type(services.store).__name__
    try:
        services.store.has(_PROBE_CID)
        return StoreHealth(ok=True, backend=backend)
    except Exception as exc:  # noqa: BLE001
        return StoreHealth(ok=False, backend=backend, error=_said(exc))


def _index(services: Services, head: int | None) -> IndexHealth:
    try:
        ensure_db(services.engine)
        with Session(services.engine) as session:
            state = session.get(m.IndexerState, "main")
            if state is None:
                return IndexHealth(ok=True, last_block=None, lag_blocks=head, version=0)
            reference = head if head is not None else state.head_block
            return IndexHealth(
                ok=True,
                last_block=state.last_block,
                lag_blocks=max(0, reference - state.last_block),
                version=state.version,
            )
    except Exception as exc:  # noqa: BLE001
        return IndexHealth(ok=False, error=_said(exc))


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "a dependency is down"}},
    summary="Chain, document store and index status",
)
def healthz(request: Request) -> Any:
    services = get_services(request)
    chain = _chain(services)
    store = _store(services)
    index = _index(services, chain.head_block)
    down = [
        name for name, part in (("chain", chain), ("store", store), ("index", index)) if not part.ok
    ]
    body = Health(
        status="degraded" if down else "ok", down=down, chain=chain, store=store, index=index
    )
    return JSONResponse(body.model_dump(), status_code=503 if down else 200)
