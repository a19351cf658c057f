"""``GET /healthz``: is the chain reachable, is the store readable, how far behind is the index,
is the relayer's outbox moving.

200 when every dependency answers; 503 naming the ones that do not (the body is the same
shape either way, so a monitor reads one format).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.db import models as m
from api.errors import public_message
from api.relayer.models import PENDING_VALUES, RelayRequest
from api.routes.deps import get_services
from api.schemas.health import ChainHealth, Health, IndexHealth, RelayerHealth, StoreHealth
from api.services import Services

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# A CID no store holds: asking for it exercises the backend without reading data.
_PROBE_CID = "bafkreiaasmtvy7dwqnm23ggkzzwmzuzwvv7wbrklmmd5jilg5h6mxgv3vi"

# A relayed request accepted this long ago and still neither mined nor failed: the relayer is
# stuck (no worker beside a ``--no-background`` server, the relayer account out of gas, the node
# refusing its transactions). A healthy one sends within seconds, and gives up on a request it
# cannot send well before this.
RELAY_STUCK_SECONDS = 300.0


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


def _relayer(services: Services) -> RelayerHealth:
    try:
        with Session(services.engine) as session:
            pending, oldest = session.execute(
                select(func.count(), func.min(RelayRequest.created_at)).where(
                    RelayRequest.status.in_(PENDING_VALUES)
                )
            ).one()
    except Exception as exc:  # noqa: BLE001 - the outbox is in the database
        return RelayerHealth(ok=False, error=_said(exc))
    if oldest is None:
        return RelayerHealth(ok=True, pending=0)
    if oldest.tzinfo is None:  # SQLite keeps no zone: the service writes UTC
        oldest = oldest.replace(tzinfo=UTC)
    waited = round(max(0.0, (datetime.now(UTC) - oldest).total_seconds()), 1)
    stuck = waited > RELAY_STUCK_SECONDS
    return RelayerHealth(
        ok=not stuck,
        pending=int(pending),
        oldest_pending_seconds=waited,
        error=(
            f"a relayed request has waited {waited:.0f} s (more than {RELAY_STUCK_SECONDS:.0f} s) "
            "to be sent and mined: is a relay worker running (`tuanchain worker`, or `serve` "
            "without --no-background)? Its log says why it is not sent"
            if stuck
            else None
        ),
    )


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
    relayer = _relayer(services)
    parts = (("chain", chain), ("store", store), ("index", index), ("relayer", relayer))
    down = [name for name, part in parts if not part.ok]
    body = Health(
        status="degraded" if down else "ok",
        down=down,
        chain=chain,
        store=store,
        index=index,
        relayer=relayer,
    )
    return JSONResponse(body.model_dump(), status_code=503 if down else 200)
