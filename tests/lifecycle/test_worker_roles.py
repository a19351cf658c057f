"""``tuanchain worker`` processes on one PostgreSQL: one takes the singleton roles' lock (indexer
and keeper), a second waits; when the holder dies (SIGKILL: no goodbye), the second takes the
roles over; SIGTERM stops a worker cleanly (exit 0) and frees the lock.

Real processes, real signals, a real PostgreSQL advisory lock, its own schema; waiting is on
conditions (a line in a process's output, the lock's state), polled with guards against a hang,
never on durations.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, text

from api.roles import schema_lock_key
from api.services import make_engine
from chain.anvil import Anvil
from chain.context import connect
from chain.settings import Settings

from .processes import STOP_GUARD_SECONDS, Command, Home, wait_until

POSTGRES_ENV = "TUANCHAIN_TEST_POSTGRES_URL"
ROLES_LINE = r"this process runs the indexer and the keeper"

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV), reason="the roles' lock is PostgreSQL's (SQLite: one process)"
)


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A fresh schema of the test server (engineers and CI share the ``test`` database)."""
    base = os.environ[POSTGRES_ENV]
    schema = f"roles_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _lock_is_free(engine: Engine) -> bool:
    """Whether nobody holds the roles' lock (taken and given back at once if free)."""
    with engine.connect() as conn:
        key = schema_lock_key(conn)
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    return got


def test_one_worker_holds_the_roles_another_takes_over_and_sigterm_stops_cleanly(
    tmp_path: Path, schema_url: str
) -> None:
    with Anvil() as node:
        home = Home(tmp_path / "home", rpc_port=node.port)
        connect(  # the contracts the workers' chain connection expects
            Settings(
                _env_file=None,
                rpc_url=home.rpc_url,
                data_dir=home.data_dir,
                deployments_dir=home.root / "deployments",
            ),
            deploy=True,
        )
        engine = make_engine(schema_url)
        workers: list[Command] = []
        try:
            first = Command(
                home, ["worker"], tmp_path / "first.log", TUANCHAIN_DATABASE_URL=schema_url
            )
            workers.append(first)
            first.wait_for(ROLES_LINE)
            assert not _lock_is_free(engine)  # held, by the first

            second = Command(
                home, ["worker"], tmp_path / "second.log", TUANCHAIN_DATABASE_URL=schema_url
            )
            workers.append(second)
            second.wait_for(r"worker running")
            assert ROLES_LINE not in second.output.split("worker running")[0]

            # The holder dies without a word: PostgreSQL ends its session, the lock goes with it,
            # and the second worker's next attempt takes the roles.
            first.signal(signal.SIGKILL, group=True)
            first.process.wait(timeout=STOP_GUARD_SECONDS)
            second.wait_for(ROLES_LINE)
            assert not _lock_is_free(engine)

            # SIGTERM: the second stops its loops, gives the lock back and exits 0.
            assert second.stop(signal.SIGTERM) == 0, second.output[-3000:]
            assert "stopped cleanly (SIGTERM)" in second.output
            wait_until(
                lambda: _lock_is_free(engine), guard=STOP_GUARD_SECONDS, what="the lock freed"
            )
        finally:
            for worker in workers:
                worker.kill()
            engine.dispose()
