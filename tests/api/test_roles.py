"""The singleton roles' lock (api.roles): one process holds it; when that process's connection
dies, another takes it over. PostgreSQL for real (its session advisory lock); SQLite always holds."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from api.roles import SingletonLock, advisory_key
from api.services import make_engine

from .conftest import POSTGRES_ENV


def test_sqlite_always_runs_the_singleton_roles(tmp_path: Path) -> None:
    engine = make_engine("sqlite:///" + str(tmp_path / "roles.db"))
    first, second = SingletonLock(engine), SingletonLock(engine)
    assert first.try_acquire() and second.try_acquire()  # one process per SQLite file


def test_advisory_keys_are_stable_signed_64_bit() -> None:
    key = advisory_key("tuanchain:singleton-roles")
    assert key == advisory_key("tuanchain:singleton-roles") and -(2**63) <= key < 2**63
    assert key != advisory_key("another")


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason="PostgreSQL advisory locks")
def test_one_process_holds_the_roles_and_another_takes_over_when_its_connection_dies() -> None:
    url = os.environ[POSTGRES_ENV]
    name = f"test-roles-{uuid.uuid4()}"  # engineers share the server: a lock of our own
    engines = [make_engine(url) for _ in range(2)]
    try:
        holder, other = (SingletonLock(e, name) for e in engines)
        assert holder.try_acquire() and holder.held()
        assert not other.try_acquire()  # taken
        assert holder.try_acquire()  # still ours
        assert holder._conn is not None
        pid = holder._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        holder._conn.commit()
        with engines[1].connect() as admin:  # the holder's process dies: its session ends
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert not holder.held()
        assert other.try_acquire() and other.held()  # taken over
        assert not holder.try_acquire()
        other.release()
        assert holder.try_acquire()
        holder.release()
    finally:
        for engine in engines:
            engine.dispose()
