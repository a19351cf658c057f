"""SQLite writers in one process take turns on a lock (api.db.sqlite_turns): every way a
transaction ends gives the turn back, a waiting writer goes on when it is free, and a writer that
waits past its timeout gets SQLite's own error."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from api.db.sqlite_turns import TurnTakingConnection, writes
from api.services import make_engine


def connect(path: Path, timeout: float = 30.0) -> TurnTakingConnection:
    connection = sqlite3.connect(
        path, timeout=timeout, check_same_thread=False, factory=TurnTakingConnection
    )
    assert isinstance(connection, TurnTakingConnection)
    return connection


@pytest.fixture
def path(tmp_path: Path) -> Path:
    database = tmp_path / "turns.db"
    with connect(database) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        setup.commit()
    return database


def other_writer_can_write(path: Path, value: int) -> bool:
    """Whether another connection gets its turn at once (it gives up without waiting)."""
    other = connect(path, timeout=0)
    try:
        other.execute("INSERT INTO t VALUES (?)", (value,))
        other.commit()
        return True
    except sqlite3.OperationalError as exc:
        assert str(exc) == "database is locked"
        return False
    finally:
        other.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("  \n update t SET x = 2", True),
        ("DELETE FROM t", True),
        ("REPLACE INTO t VALUES (1)", True),
        ("CREATE TABLE u (y)", True),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", True),
        ("BEGIN IMMEDIATE", True),
        ("begin exclusive;", True),
        ("BEGIN", False),
        ("SELECT * FROM t", False),
        ("PRAGMA journal_mode=WAL", False),
        ("", False),
    ],
)
def test_statements_that_write(sql: str, expected: bool) -> None:
    assert writes(sql) is expected


@given(st.sampled_from(["SELECT", "PRAGMA", "EXPLAIN", "VALUES"]), st.text(max_size=40))
def test_reads_never_take_the_turn(keyword: str, rest: str) -> None:
    assert not writes(f"{keyword} {rest}")


def test_a_writing_transaction_holds_the_turn_until_commit(path: Path) -> None:
    writer = connect(path)
    writer.execute("INSERT INTO t VALUES (1)")
    assert writer.in_transaction
    assert not other_writer_can_write(path, 2)
    writer.commit()
    assert other_writer_can_write(path, 2)
    writer.close()


@pytest.mark.parametrize("ending", ["rollback", "close"])
def test_rollback_and_close_give_the_turn_back(path: Path, ending: str) -> None:
    writer = connect(path)
    writer.execute("INSERT INTO t VALUES (1)")
    getattr(writer, ending)()
    assert other_writer_can_write(path, 1)  # the rolled-back row is not there


def test_a_failed_statement_keeps_the_turn_until_the_transaction_ends(path: Path) -> None:
    writer = connect(path)
    writer.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError):
        writer.execute("INSERT INTO t VALUES (1)")
    assert writer.in_transaction
    assert not other_writer_can_write(path, 2)
    writer.rollback()
    assert other_writer_can_write(path, 2)


def test_a_statement_outside_a_transaction_gives_the_turn_back_at_once(path: Path) -> None:
    writer = connect(path)
    writer.isolation_level = None  # autocommit: no transaction is left open
    writer.execute("INSERT INTO t VALUES (1)")
    writer.executemany("INSERT INTO t VALUES (?)", [(2,), (3,)])
    assert other_writer_can_write(path, 4)


def test_reads_do_not_wait_for_a_writer(path: Path) -> None:
    writer = connect(path)
    writer.execute("INSERT INTO t VALUES (1)")
    reader = connect(path, timeout=0)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    writer.commit()
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_waiting_writer_goes_on_when_the_turn_is_free(path: Path) -> None:
    holder = connect(path)
    holder.execute("INSERT INTO t VALUES (1)")
    waiting = connect(path)
    started, done = threading.Event(), threading.Event()

    def write() -> None:
        started.set()
        waiting.execute("INSERT INTO t VALUES (2)")
        waiting.commit()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    started.wait()
    assert not done.is_set()  # it cannot have written: the holder's transaction is open
    holder.commit()
    thread.join(timeout=30)
    assert done.is_set()
    assert connect(path).execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]


def test_engine_connections_take_turns_and_lose_no_write(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    with engine.begin() as conn:
        assert isinstance(conn.connection.dbapi_connection, TurnTakingConnection)
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))

    def add(times: int) -> None:
        for _ in range(times):
            with engine.begin() as conn:
                conn.execute(text("SELECT n FROM counter")).one()
                conn.execute(text("UPDATE counter SET n = n + 1"))

    threads = [threading.Thread(target=add, args=(50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar() == 400
        assert conn.connection.dbapi_connection._turn is not None
        assert not conn.connection.dbapi_connection._turn.locked()  # every turn given back
    engine.dispose()
