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


class Health(BaseModel):
    status: str  # "ok" | "degraded"
    down: list[str]
    chain: ChainHealth
    store: StoreHealth
    index: IndexHealth
