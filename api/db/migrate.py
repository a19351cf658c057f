"""Versioned migrations (Alembic): the one way the service's tables are created and changed.

The rule: **every table is created and changed by a revision under** ``api/db/migrations/versions``,
never by ``create_all`` — the tables the chain cannot rebuild (the relay outbox ``relay_requests``,
the upload replay guard ``document_uploads``, the lock rows ``relay_locks``) and the index rebuilt
from chain logs alike, so one revision number says what a database holds and ``alembic check``
covers every model. What differs is how a revision treats *rows*: a change to a table the chain
cannot rebuild carries every row over (and is tested on a database with rows in it); a change to an
index table may instead empty it and delete its ``indexer_state`` row, and the indexer reads the
logs again.

Applied whenever the service starts (:func:`api.db.init_db`: ``tuanchain serve``/``run``/``index``,
the app's lifespan) and by ``tuanchain db upgrade``. Several processes may start at once on one
database: the whole upgrade runs in one transaction holding a lock (PostgreSQL: an advisory
transaction lock; SQLite: ``BEGIN IMMEDIATE``), so the second waits, then finds nothing to do. A
database at a revision this code does not know (written by a newer release) is refused with
:class:`DatabaseSchemaError`, never altered.

A database from the last release without migrations (main at 3445a45: tables, no
``alembic_version``) needs nothing special: revision 0001 creates only the tables that are missing.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, func, select
from sqlalchemy.pool import NullPool

from api.db.models import Base, load_all_models

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key of "migrating tuanchain's schema" (any constant; this is b"tuanmigr").
_PG_LOCK_KEY = int.from_bytes(b"tuanmigr", "big") & 0x7FFF_FFFF_FFFF_FFFF


class DatabaseSchemaError(Exception):
    """The database's schema cannot be brought to this code's (e.g. a newer release wrote it)."""


def target_metadata() -> MetaData:
    """Every model's metadata (the relayer's tables live on the index's ``Base``)."""
    load_all_models()
    return Base.metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, from code (no ``alembic.ini``): the scripts, and the connection
    ``env.py`` must migrate (it never opens one of its own)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions shipped with this code (read once per process: they do not change under it)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The one head (``ScriptDirectory`` raises if revisions ever branch into several)."""
    head = scripts().get_current_head()
    assert head is not None, "no migration scripts"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated: empty, or from before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the database to the head revision (idempotent, safe to run concurrently)."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return head
    known = {s.revision for s in scripts().walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseSchemaError(
            f"the database is at schema revision {current}, which this tuanchain does not know "
            f"(its newest is {head}): a newer release wrote it; run that release"
        )
    with locked_connection(engine) as conn:
        command.upgrade(alembic_config(conn), "head")
    logger.info("database schema upgraded from %s to %s", current or "(none)", head)
    return head


def pending_changes(engine: Engine) -> list[Any]:
    """What autogenerate would still add to a migration: the models' difference from the
    database (an empty list when the migrations describe the models exactly)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target_metadata()))


def write_revision(message: str) -> Path:
    """Autogenerate a new revision from the models' difference with the head schema (computed on
    a scratch SQLite database); returns the new script's path. Review it before committing."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/head.db", poolclass=NullPool)
        try:
            upgrade(engine)
            with engine.begin() as conn:
                script = command.revision(
                    alembic_config(conn),
                    message=message,
                    autogenerate=True,
                    rev_id=f"{int(head_revision()) + 1:04d}",
                )
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


@contextmanager
def locked_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the database's migration lock; committed at the
    end (a failed migration rolls back whole: both PostgreSQL and SQLite have transactional DDL)."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        # pysqlite's own transaction handling would not BEGIN before DDL; take control so the
        # upgrade is one transaction that owns the write lock from its first statement. (An
        # in-memory database has one connection and no other process: no lock needed.)
        own = create_engine(
            engine.url, poolclass=NullPool, connect_args={"timeout": 30, "check_same_thread": False}
        )
        event.listen(own, "connect", _sqlite_manual_transactions)
        event.listen(own, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        try:
            with own.connect() as conn, conn.begin():
                yield conn
        finally:
            own.dispose()
        return
    with engine.connect() as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        yield conn


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseSchemaError",
    "alembic_config",
    "current_revision",
    "head_revision",
    "locked_connection",
    "pending_changes",
    "target_metadata",
    "upgrade",
    "write_revision",
]
