"""Fixtures of the indexer tests: the world (real transactions) and fresh index databases.

``fresh_engine`` gives each test its own empty database on the session's backend (SQLite file,
or a new PostgreSQL schema when ``TUANCHAIN_TEST_POSTGRES_URL`` is set), so tests that compare
whole tables (rebuild, replay) see only what their indexer wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from api.db import init_db
from api.db import models as m
from api.indexer import Indexer
from api.services import Services, make_engine
from chain.context import Chain
from chain.settings import Settings
from traceability.ipfs import EmbeddedDocumentStore

from .world import World, build_world


@pytest.fixture(scope="session")
def world(api_chain: Chain, api_settings: Settings) -> World:
    """Built once per session (every backend's ``services`` shares this document store)."""
    store = EmbeddedDocumentStore(api_settings.data_dir / "ipfs")
    return build_world(api_chain, store, uuid.uuid4().hex[:8])


@pytest.fixture
def fresh_engine(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Engine]]:
    """A factory of empty databases on the session's backend, cleaned up after the test."""
    made: list[tuple[Engine, str | None]] = []
    base = database_url.split("?", 1)[0]

    def make() -> Engine:
        if database_url.startswith("sqlite"):
            engine = make_engine("sqlite:///" + str(tmp_path_factory.mktemp("idx") / "index.db"))
            made.append((engine, None))
        else:
            schema = f"i_{uuid.uuid4().hex[:12]}"
            admin = make_engine(base)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            admin.dispose()
            engine = make_engine(f"{base}?options={quote(f'-csearch_path={schema}')}")
            made.append((engine, schema))
        init_db(engine)
        return engine

    yield make
    for engine, schema in made:
        engine.dispose()
        if schema:
            admin = make_engine(base)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def make_indexer(engine: Engine, services: Services, **kwargs: Any) -> Indexer:
    return Indexer(engine=engine, chain=services.chain, store=services.store, **kwargs)


# Columns that depend on insertion order or retries, not on the chain: left out of comparisons.
_VOLATILE = {"id", "attempts"}


def dump_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every indexed table as sorted tuples of its meaningful columns (for equality checks)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Session(engine) as session:
        for table in m.LOG_TABLES:
            columns = [c for c in table.__table__.columns if c.name not in _VOLATILE]  # type: ignore[attr-defined]
            rows = session.execute(select(*columns)).all()
            out[table.__tablename__] = sorted(tuple(repr(v) for v in r) for r in rows)  # type: ignore[attr-defined]
    return out
