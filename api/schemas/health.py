"""Response models of ``/healthz``, apart from the route."""

from __future__ import annotations

from pydantic import BaseModel


class ChainHealth(BaseModel):
    ok: bool
    chain_id: int | None = None
    head_block: int | None = None
    error: str | None = None


class StoreHealth(BaseModel):
    ok: bool
    backend: str
    error: str | None = None


class IndexHealth(BaseModel):
    ok: bool
    last_block: int | None = None
    lag_blocks: int | None = None
    version: int | None = None
    error: str | None = None


class RelayerHealth(BaseModel):
    ok: bool
    pending: int | None = None  # relayed requests accepted and not yet mined or failed
    oldest_pending_seconds: float | None = None  # how long the oldest of them has waited
    error: str | None = None


class Health(BaseModel):
    status: str  # "ok" | "degraded"
    down: list[str]
    chain: ChainHealth
    store: StoreHealth
    index: IndexHealth
    relayer: RelayerHealth
