"""Migrations: one head; they build exactly the models (``alembic check``); and a database written
by the last release without migrations (main at 3445a45), with rows in its outbox, upload guard,
locks and index, upgrades in place keeping every row — on SQLite and on PostgreSQL.

The release's database is made from ``release_3445a45/schema.<dialect>.sql``: the DDL that
release's ``create_all`` ran, rendered from its models and frozen, so these tests keep checking the
upgrade from that release whatever the models become.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from api.db import drop_db, init_db
from api.db.migrate import (
    DatabaseSchemaError,
    alembic_config,
    current_revision,
    head_revision,
    locked_connection,
    pending_changes,
    scripts,
)
from api.services import make_engine
from tuanchain_cli import app as cli

RELEASE = Path(__file__).parent / "release_3445a45"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
ESCROW = "0x" + "ee" * 20


@pytest.fixture
def new_database(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schema: Callable[[str], AbstractContextManager[str]],
) -> Iterator[Callable[[], Engine]]:
    """A factory of empty databases (and their URLs) on the session's backend."""
    made: list[Engine] = []
    schemas = ExitStack()

    def make() -> Engine:
        if database_url.startswith("sqlite"):
            url = "sqlite:///" + str(tmp_path_factory.mktemp("mig") / "tuanchain.db")
        else:
            url = schemas.enter_context(postgres_schema("m"))
        engine = make_engine(url)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()
    schemas.close()


def release_database(engine: Engine) -> None:
    """Create the tables exactly as the release at 3445a45 did."""
    ddl = (RELEASE / f"schema.{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for statement in ddl.split(";"):
            sql = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
            if sql.strip():
                conn.exec_driver_sql(sql)


def _typed(nonce: int) -> dict[str, Any]:
    return {
        "types": {"ForwardRequest": [{"name": "from", "type": "address"}]},
        "primaryType": "ForwardRequest",
        "domain": {"name": "TuanchainForwarder", "chainId": 31337},
        "message": {"from": A, "to": ESCROW, "nonce": nonce, "data": "0xdeadbeef", "gas": 400000},
    }


def _request(id_: str, signer: str, nonce: int, status: str, minutes: int, **extra: Any) -> dict:
    return {
        "id": id_,
        "action": "join",
        "signer": signer,
        "target": ESCROW,
        "nonce": nonce,
        "deadline": 1_800_000_000 + nonce,
        "request_digest": "0x" + f"{nonce:02x}{id_[-2:]}".ljust(64, "0"),
        "typed_data": _typed(nonce),
        "signature": "0x" + "12" * 65,
        "permit": None,
        "permit_signature": None,
        "details": {"deal_id": 1, "quantity": 50, "amount": "1"},  # the client's word, unsigned
        "status": status,
        "attempts": 0,
        "next_attempt_at": 0.0,
        "last_attempt_error": None,
        "permit_tx_hash": None,
        "relayer_nonce": None,
        "tx_hash": None,
        "raw_tx": None,
        "block_number": None,
        "error_code": None,
        "error_message": None,
        "error_args": None,
        "created_at": T0 + timedelta(minutes=minutes),
        "updated_at": T0 + timedelta(minutes=minutes),
    } | extra


RELEASE_ROWS: dict[str, list[dict[str, Any]]] = {
    "relay_requests": [
        _request(
            "00000000-0000-0000-0000-000000000001",
            A,
            0,
            "queued",
            0,
            permit={"message": {"owner": A, "value": "10000000", "nonce": 0}},
            permit_signature="0x" + "34" * 65,
        ),
        _request(
            "00000000-0000-0000-0000-000000000002",
            A,
            1,
            "mined",
            1,
            tx_hash="0x" + "01" * 32,
            relayer_nonce=7,
            block_number=120,
            attempts=1,
        ),
        _request(
            "00000000-0000-0000-0000-000000000003",
            A,
            2,
            "failed",
            2,
            error_code="DealClosed",
            error_message="the deal closed",
            error_args={"dealId": 1, "joinDeadline": 1_799_999_999},
        ),
        _request(
            "00000000-0000-0000-0000-000000000004",
            B,
            5,
            "sending",
            3,
            raw_tx="0x02f8" + "ab" * 100,
            tx_hash="0x" + "02" * 32,
            relayer_nonce=8,
            attempts=2,
            last_attempt_error="node timed out",
        ),
        # The race the release allowed: two pending requests for B's nonce 6. The one handed to
        # the chain (sent) stays, though the queued one was accepted first.
        _request("00000000-0000-0000-0000-000000000005", B, 6, "queued", 4),
        _request(
            "00000000-0000-0000-0000-000000000006",
            B,
            6,
            "sent",
            5,
            tx_hash="0x" + "03" * 32,
            relayer_nonce=9,
            attempts=1,
        ),
    ],
    "document_uploads": [
        {
            "signature_digest": "0x" + "51" * 32,
            "uploader": A,
            "cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
            "sha256": "8e" * 32,
            "content_type": "image/png",
            "size": 70_000,
            "created_at": T0,
        },
        {
            "signature_digest": "0x" + "52" * 32,
            "uploader": B,
            "cid": "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
            "sha256": "9f" * 32,
            "content_type": "application/pdf",
            "size": 5_242_880,
            "created_at": T0 + timedelta(hours=1),
        },
    ],
    "relay_locks": [{"name": f"signer:{A}"}, {"name": "relayer:0x" + "cc" * 20}],
    "indexer_state": [
        {
            "name": "main",
            "chain_id": 31337,
            "start_block": 3,
            "last_block": 480,
            "head_block": 480,
            "final_block": 480,
            "version": 17,
            "head_time": T0,
            "updated_at": T0,
        }
    ],
    "indexed_blocks": [{"number": 480, "hash": "0x" + "4b" * 32}],
    "raw_logs": [
        {
            "address": ESCROW,
            "event": "Joined",
            "args": '{"dealId": 1, "buyer": "0xaa", "quantity": 1}',
            "block_number": 120,
            "tx_hash": "0x" + "01" * 32,
            "log_index": 3,
            "block_time": T0,
        }
    ],
}


def _tables(engine: Engine) -> dict[str, Table]:
    metadata = MetaData()
    metadata.reflect(engine)
    return dict(metadata.tables)


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the release had, in primary-key order."""
    tables = _tables(engine)
    with engine.connect() as conn:
        return {
            name: [
                dict(r)
                for r in conn.execute(
                    select(tables[name]).order_by(*tables[name].primary_key.columns)
                ).mappings()
            ]
            for name in sorted(RELEASE_ROWS)
        }


def _release_database_with_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    release_database(engine)
    tables = _tables(engine)
    with engine.begin() as conn:
        for name, rows in RELEASE_ROWS.items():
            conn.execute(insert(tables[name]), rows)
    return _rows(engine)


def test_the_migrations_have_one_head() -> None:
    heads = scripts().get_heads()
    assert heads == [head_revision()], heads
    assert [s.revision for s in scripts().walk_revisions()][-1] == "0001"


def test_the_migrations_build_exactly_the_models(new_database: Callable[[], Engine]) -> None:
    """``alembic check``: on a new database migrated to head, autogenerate finds nothing to add."""
    engine = new_database()
    init_db(engine)
    assert current_revision(engine) == head_revision()
    assert pending_changes(engine) == []
    init_db(engine)  # a second start: nothing to do
    assert current_revision(engine) == head_revision()


def test_a_release_database_upgrades_in_place_with_every_row(
    new_database: Callable[[], Engine],
) -> None:
    engine = new_database()
    before = _release_database_with_rows(engine)
    assert current_revision(engine) is None  # the release had no migrations

    init_db(engine)  # what every service start does

    assert current_revision(engine) == head_revision()
    assert pending_changes(engine) == []  # the upgraded release database is exactly the models
    after = _rows(engine)
    # Untouched: the upload replay guard, the locks, the index, and every outbox column but two.
    for name in ("document_uploads", "relay_locks", "indexer_state", "indexed_blocks", "raw_logs"):
        assert after[name] == before[name], name
    for old, new in zip(before["relay_requests"], after["relay_requests"], strict=True):
        assert new["details"] is None  # the client's unsigned claims are not shown as facts
        changed = {k for k in old if old[k] != new[k]} - {"details"}
        if old["id"].endswith("05"):  # the duplicate pending nonce that can never execute
            assert changed == {"status", "error_code", "error_message", "updated_at"}
            assert (new["status"], new["error_code"]) == ("failed", "nonce_taken")
            assert "00000000-0000-0000-0000-000000000006" in new["error_message"]
        elif old["raw_tx"] is not None:  # its batch's bytes moved to relay_batches (0010)
            assert changed == {"raw_tx"} and new["raw_tx"] is None
        else:
            assert changed == set(), (old["id"], changed)
    batches = _tables(engine)["relay_batches"]
    with engine.connect() as conn:
        stored = conn.execute(select(batches.c.tx_hash, batches.c.raw_tx)).all()
    assert [tuple(r) for r in stored] == [
        (r["tx_hash"], r["raw_tx"]) for r in before["relay_requests"] if r["raw_tx"] is not None
    ]


def test_after_the_upgrade_one_pending_request_holds_a_nonce(
    new_database: Callable[[], Engine],
) -> None:
    """The unique index counts pending requests only: a failed or mined one frees its nonce."""
    engine = new_database()
    _release_database_with_rows(engine)
    init_db(engine)
    requests = _tables(engine)["relay_requests"]
    # A's nonce 0 is held by a queued request: a second pending one is refused by the database.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(requests), [_request("x-0", A, 0, "queued", 9)])
    with pytest.raises(IntegrityError), engine.begin() as conn:  # ... in any pending state
        conn.execute(insert(requests), [_request("x-1", A, 0, "sent", 9)])
    with engine.begin() as conn:  # nonce 2's request failed: a new one may take it
        conn.execute(insert(requests), [_request("x-2", A, 2, "queued", 9)])
        conn.execute(insert(requests), [_request("x-3", A, 2, "failed", 9)])
    with engine.begin() as conn:  # and once A's nonce 0 request is mined, nonce 0 is free
        conn.execute(update(requests).where(requests.c.id.endswith("01")).values(status="mined"))
        conn.execute(insert(requests), [_request("x-4", A, 0, "queued", 9)])


def test_a_database_from_a_newer_release_is_refused_not_altered(
    new_database: Callable[[], Engine],
) -> None:
    engine = new_database()
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(DatabaseSchemaError, match="0999"):
        init_db(engine)
    env = {"TUANCHAIN_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and re.search(r"schema revision 0999.*newer release", lines[0]), lines
    assert current_revision(engine) == "0999"
    drop_db(engine)


def test_tuanchain_db_upgrade_migrates_a_release_database(
    new_database: Callable[[], Engine],
) -> None:
    engine = new_database()
    before = _release_database_with_rows(engine)
    env = {"TUANCHAIN_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(cli, ["db", "current"], env=env)
    assert result.exit_code == 0 and f"database (none); head {head_revision()}" in result.output
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"upgraded from (none) to {head_revision()}" in result.output
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0 and "up to date" in result.output
    assert _rows(engine)["document_uploads"] == before["document_uploads"]


def test_a_start_that_finds_another_migrating_waits_then_finds_nothing_to_do(
    new_database: Callable[[], Engine],
) -> None:
    """Two processes starting on a new database: while one migrates (holding the migration lock,
    nothing committed yet), the other's start waits for it instead of creating the same tables,
    then finds the database at head. On PostgreSQL the wait is observed in ``pg_locks``; on SQLite
    (``BEGIN IMMEDIATE``) the second start may also come after the commit: it must succeed either
    way."""
    engine = new_database()
    url = engine.url.render_as_string(hide_password=False)
    other, observer = make_engine(url), make_engine(url)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            init_db(other)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    starting = threading.Thread(target=start)
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    try:
        with locked_connection(engine) as conn:
            command.upgrade(alembic_config(conn), "head")
            starting.start()
            deadline = time.monotonic() + 120  # a safety net: the loop ends when the wait shows
            while engine.dialect.name == "postgresql":
                with observer.connect() as obs:
                    if obs.execute(waiting).scalar_one() >= 1:
                        break
                assert starting.is_alive(), errors
                assert time.monotonic() < deadline, "the second start never waited for the lock"
                starting.join(timeout=0.05)
        starting.join(timeout=120)
        assert not starting.is_alive() and errors == []
        assert current_revision(other) == head_revision()
        assert pending_changes(other) == []
    finally:
        other.dispose()
        observer.dispose()


def test_the_private_pool_starts_with_what_the_unvouched_rows_hold(
    new_database: Callable[[], Engine],
) -> None:
    """0019: the pool's counter begins as the sum of the rows already in the pool (vouched rows
    and other owners' aside), so an upgrade neither frees nor fills it."""
    engine = new_database()
    with locked_connection(engine) as conn:
        command.upgrade(alembic_config(conn), "0018")
    documents = _tables(engine)["private_documents"]
    row = {"purpose": "credential", "deal_id": 0, "content_type": "application/pdf"}
    row |= {"key_id": "k", "sealed": b"x", "created_at": 0}
    with engine.begin() as conn:
        conn.execute(
            insert(documents),
            [
                {**row, "sha256": "1" * 64, "owner": A, "size": 300, "vouched": False},
                {**row, "sha256": "2" * 64, "owner": B, "size": 4000, "vouched": False},
                {**row, "sha256": "3" * 64, "owner": B, "size": 50_000, "vouched": True},
            ],
        )
    init_db(engine)
    pool = _tables(engine)["private_pool"]
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(pool.c.name, pool.c.used))] == [
            ("unvouched", 4300)
        ]


def test_0020_fills_the_party_statuses_from_the_events_already_indexed(
    new_database: Callable[[], Engine],
) -> None:
    """An index written before ``party_statuses`` existed: the upgrade gives each party the
    standing of its latest decision (a profile update keeps it), as the indexer would have."""
    engine = new_database()
    with locked_connection(engine) as conn:
        command.upgrade(alembic_config(conn), "0019")
    events = _tables(engine)["party_events"]
    history = [
        ("leader", A, "applied"),
        ("leader", A, "approved"),
        ("leader", A, "profile_updated"),
        ("leader", B, "applied"),
        ("leader", B, "approved"),
        ("leader", B, "revoked"),
        ("supplier", A, "applied"),
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(events),
            [
                {
                    "kind": kind,
                    "account": account,
                    "action": action,
                    "block_number": n,
                    "tx_hash": "0x" + f"{n:064x}",
                    "log_index": 0,
                    "block_time": T0,
                }
                for n, (kind, account, action) in enumerate(history, start=1)
            ],
        )
    init_db(engine)
    statuses = _tables(engine)["party_statuses"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(statuses.c.kind, statuses.c.account, statuses.c.status, statuses.c.block_number)
        ).all()
    assert sorted(tuple(r) for r in rows) == [
        ("leader", A, "approved", 2),
        ("leader", B, "revoked", 6),
        ("supplier", A, "pending", 7),
    ]
