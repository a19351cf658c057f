"""Fixtures of the indexer tests: the world (real transactions) and fresh index databases.

``fresh_engine`` gives each test its own empty database on the session's backend (SQLite file,
or a new PostgreSQL schema when ``TUANCHAIN_TEST_POSTGRES_URL`` is set), so tests that compare
whole tables (rebuild, replay) see only what their indexer wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import pytest
from sqlalchemy import Engine, select
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
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schema: Callable[[str], AbstractContextManager[str]],
) -> Iterator[Callable[[], Engine]]:
    """A factory of empty databases on the session's backend, cleaned up after the test."""
    made: list[Engine] = []
    schemas = ExitStack()

    def make() -> Engine:
        if database_url.startswith("sqlite"):
            url = "sqlite:///" + str(tmp_path_factory.mktemp("idx") / "index.db")
        else:
            url = schemas.enter_context(postgres_schema("i"))
        engine = make_engine(url)
        made.append(engine)
        init_db(engine)
        return engine

    yield make
    for engine in made:  # close connections before their schemas are dropped
        engine.dispose()
    schemas.close()


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
