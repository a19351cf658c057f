"""The singleton roles' lock (api.roles): one process holds it; when that process's connection
dies, another takes it over. PostgreSQL for real (its session advisory lock). On a SQLite file all
the background roles run in one process (a file lock, a real child process holding it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import types
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from api.roles import (
    BackgroundRolesTaken,
    BackgroundRolesUnavailable,
    SingletonLock,
    SQLiteFileLock,
    advisory_key,
)
from api.services import make_engine

from .conftest import POSTGRES_ENV


def test_sqlite_always_runs_the_singleton_roles(tmp_path: Path) -> None:
    engine = make_engine("sqlite:///" + str(tmp_path / "roles.db"))
    first, second = SingletonLock(engine), SingletonLock(engine)
    assert first.try_acquire() and second.try_acquire()  # one process per SQLite file


def test_one_process_per_sqlite_file_runs_the_background_roles(tmp_path: Path) -> None:
    engine = make_engine("sqlite:///" + str(tmp_path / "roles.db"))
    first, second = SQLiteFileLock(engine), SQLiteFileLock(engine)
    first.acquire()
    with pytest.raises(BackgroundRolesTaken) as refused:
        second.acquire()
    # Says who holds it and what to do instead.
    assert f"pid {os.getpid()}" in str(refused.value)
    assert "--no-background" in str(refused.value) and str(tmp_path / "roles.db") in str(
        refused.value
    )
    first.release()
    second.acquire()  # free once released
    second.release()
    # An in-memory database cannot be opened by another process: nothing to hold.
    memory = SQLiteFileLock(create_engine("sqlite://"))
    memory.acquire()
    assert memory.path is None


def test_a_lock_file_that_cannot_be_opened_is_said_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # no directory can be made there
    engine = create_engine("sqlite:///" + str(tmp_path / "a-file" / "roles.db"))
    with pytest.raises(BackgroundRolesUnavailable, match="cannot open the background roles"):
        SQLiteFileLock(engine).acquire()


def test_the_sqlite_roles_lock_goes_with_a_process_that_dies(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "roles.db")
    hold = (
        "import sys; from api.roles import SQLiteFileLock; from api.services import make_engine; "
        f"lock = SQLiteFileLock(make_engine({url!r})); lock.acquire(); print('held', flush=True); "
        "sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = SQLiteFileLock(make_engine(url))
        with pytest.raises(BackgroundRolesTaken, match=f"pid {holder.pid}"):
            lock.acquire()
        holder.send_signal(signal.SIGKILL)  # no goodbye: the kernel drops its lock
        holder.wait(timeout=60)
        lock.acquire()
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=60)


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


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason="PostgreSQL advisory locks")
def test_two_schemas_of_one_database_hold_their_own_roles_lock() -> None:
    """Advisory locks are the whole database's; two deployments in two schemas are two systems,
    and each runs its own indexer and keeper."""
    url = os.environ[POSTGRES_ENV]
    admin = make_engine(url)
    schemas = [f"roles_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    engines = [
        make_engine(f"{url}{separator}options={quote(f'-csearch_path={schema}')}")
        for schema in schemas
    ]
    try:
        name = f"test-roles-{uuid.uuid4()}"
        first, second = (SingletonLock(engine, name) for engine in engines)
        assert first.try_acquire() and second.try_acquire()  # one each
        assert not SingletonLock(engines[0], name).try_acquire()  # the first schema's is taken
        first.release()
        second.release()
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_a_symlink_to_the_sqlite_file_names_the_same_lock(tmp_path: Path) -> None:
    """Two spellings of one database file (a symlink to it, as a deployment may give ``data/``'s
    file) are one file to SQLite: one process runs the background roles on it, not one per name."""
    real = tmp_path / "real" / "index.db"
    real.parent.mkdir()
    real.touch()
    link = tmp_path / "index.db"
    link.symlink_to(real)
    first = SQLiteFileLock(make_engine("sqlite:///" + str(real)))
    second = SQLiteFileLock(make_engine("sqlite:///" + str(link)))
    first.acquire()
    try:
        with pytest.raises(BackgroundRolesTaken, match=f"pid {os.getpid()}"):
            second.acquire()
    finally:
        first.release()


def test_the_sqlite_roles_lock_is_kept_until_a_loop_whose_stop_timed_out_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found in review: stopping the roles released the lock once every stop had returned — and
    # a loop's stop returns after its join's timeout even when the loop's pass still runs (stuck
    # in a call): another process could then start the same role beside it (two relay workers
    # on one SQLite file).
    from api import roles
    from api.background import start_loop

    in_pass, release_pass = threading.Event(), threading.Event()

    def stuck_pass(_: threading.Event) -> float:
        in_pass.set()
        release_pass.wait()  # a call that ignores the stop event
        return 0.01

    stuck_role = types.ModuleType("stuck_role")
    stuck_role.start_background = lambda _: start_loop(  # type: ignore[attr-defined]
        "stuck-role", stuck_pass, interval=0.01, join_timeout=0.01
    )
    monkeypatch.setitem(sys.modules, "stuck_role", stuck_role)
    monkeypatch.setattr(roles, "WORKER_MODULES", ("stuck_role",))
    monkeypatch.setattr(roles, "SINGLETON_MODULES", ())
    engine = make_engine("sqlite:///" + str(tmp_path / "roles.db"))

    [stop] = roles.start_background(types.SimpleNamespace(engine=engine))  # type: ignore[arg-type]
    assert in_pass.wait(timeout=30)
    stop()  # the loop's join times out: its pass is still in hand
    [loop] = [t for t in threading.enumerate() if t.name == "stuck-role"]
    assert loop.is_alive()
    other = SQLiteFileLock(engine)
    with pytest.raises(BackgroundRolesTaken):
        other.acquire()  # the role still runs here: nobody else may start it

    release_pass.set()  # the pass ends, and the loop with it (its stop event is set)
    loop.join(timeout=30)
    for releaser in [t for t in threading.enumerate() if t.name == "tuanchain-roles-release"]:
        releaser.join(timeout=30)
    other.acquire()  # released once the loop ended
    other.release()
