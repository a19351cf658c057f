"""The operators' batch search (``/ops/deals/new?q=``, :func:`api.disputes.batch_search`) reads an
index, not every batch: the start of a lot (case aside) or of a GTIN as printed (GTIN-8 to -14),
a product's name among the newest :data:`api.disputes.NAME_SCAN` batches only; 200 at most, and
the page says when there are more (a narrower search finds them)."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from api import disputes
from api.db import init_db
from api.db import models as m
from api.names import Directory
from api.queries import MAX_PAGE
from api.services import make_engine
from traceability.ipfs.embedded import EmbeddedDocumentStore

from .conftest import database_backends, temporary_schema

WHEN = datetime(2026, 9, 1, tzinfo=UTC)
RUN = uuid.uuid4().hex[:8]  # the lots of this run (the PostgreSQL schema is fresh anyway)
MANY = MAX_PAGE + 5
STORE = Path(tempfile.mkdtemp(prefix="batch-search-"))  # no documents read: batches' JSON only


SUPPLIER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # checksummed, as the indexer stores it


def _batch(
    n: int, gtin: str, lot: str, product: str | None = None, supplier: str = "0x" + "11" * 20
) -> m.Batch:
    return m.Batch(
        block_number=n,
        tx_hash="0x" + f"{n:064x}",
        log_index=0,
        block_time=WHEN,
        batch_id="0x" + f"{n:064x}",
        gtin=gtin,
        lot=lot,
        supplier=supplier,
        metadata_json={"product": product} if product else None,
    )


@pytest.fixture(scope="module", params=database_backends())
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = "sqlite:///" + str(tmp_path_factory.mktemp("search") / "index.db")
        else:
            url = stack.enter_context(temporary_schema("search"))
        db = make_engine(url)
        init_db(db)
        with Session(db) as session:
            session.add(_batch(1, "06901234567892", f"Rice-{RUN}-A", "五常大米 Wuchang rice"))
            session.add(_batch(2, "00012345678905", f"rice-{RUN}-b", "Navel oranges"))
            session.add(_batch(3, "06909999999999", f"x-{RUN}-rice", "Pork"))
            session.add(_batch(4, "06908888888888", f"S-{RUN}", "Tea", supplier=SUPPLIER))
            for n in range(10, 10 + MANY):  # more than a page start with this lot
                session.add(_batch(n, f"{n:014d}", f"BULK-{RUN}-{n:05d}"))
            session.commit()
        yield db
        db.dispose()


def _found(engine: Engine, q: str) -> tuple[list[str], bool]:
    with Session(engine) as session:
        store = EmbeddedDocumentStore(STORE)
        rows, more = disputes.batches(session, Directory(session, store), limit=MAX_PAGE, search=q)
    return [r.lot for r in rows], more is not None


def test_a_lot_is_found_by_its_start_case_aside(engine: Engine) -> None:
    lots, more = _found(engine, f"rice-{RUN}")
    assert sorted(lots) == sorted([f"Rice-{RUN}-A", f"rice-{RUN}-b"]) and not more
    assert _found(engine, f"RICE-{RUN}-a")[0] == [f"Rice-{RUN}-A"]
    # the start, not any part: "x-…-rice" is no match of "rice-…"; nor is a part of a lot
    assert _found(engine, f"{RUN}-rice")[0] == []


def test_a_gtin_is_found_by_the_start_of_its_printed_form(engine: Engine) -> None:
    assert _found(engine, "6901234567892")[0] == [f"Rice-{RUN}-A"]  # GTIN-13 as printed
    assert _found(engine, "06901234")[0] == [f"Rice-{RUN}-A"]  # GTIN-14's start
    assert _found(engine, "012345678905")[0] == [f"rice-{RUN}-b"]  # GTIN-12 (UPC)
    assert _found(engine, "4567892")[0] == []  # its end is not its start


def test_a_product_name_is_found_among_the_newest_batches(engine: Engine) -> None:
    assert _found(engine, "wuchang")[0] == [f"Rice-{RUN}-A"]
    assert _found(engine, "五常")[0] == [f"Rice-{RUN}-A"]


def test_a_name_is_not_looked_for_beyond_the_newest(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names are in the batches' JSON master data (no index): only the newest NAME_SCAN rows are
    read for one, older batches are found by their lot or GTIN."""
    monkeypatch.setattr(disputes, "NAME_SCAN", 50)
    assert _found(engine, "wuchang")[0] == []
    assert _found(engine, f"rice-{RUN}-a")[0] == [f"Rice-{RUN}-A"]


def test_a_supplier_is_found_by_address_in_any_case(engine: Engine) -> None:
    for typed in (SUPPLIER, SUPPLIER.lower(), "0x" + SUPPLIER[2:].upper()):
        assert _found(engine, typed)[0] == [f"S-{RUN}"], typed


def test_more_than_a_page_says_there_are_more(engine: Engine) -> None:
    lots, more = _found(engine, f"bulk-{RUN}")
    assert len(lots) == MAX_PAGE and more
    assert lots[0] == f"BULK-{RUN}-{9 + MANY:05d}"  # the newest first
    lots, more = _found(engine, f"bulk-{RUN}-0010")  # refined: 10 lots
    assert len(lots) == 10 and not more


def test_sqlite_reads_the_search_through_indexes(engine: Engine) -> None:
    """EXPLAIN QUERY PLAN of the search's rows: each term a SEARCH of an index (lower(lot), gtin,
    the row id for names), no SCAN of the batches table."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan")
    supplier = (
        select(m.Batch.id)
        .where(disputes.batch_search(SUPPLIER.lower()))
        .order_by(m.Batch.id.desc())
        .limit(MAX_PAGE + 1)
    )
    sql = str(supplier.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
    assert any("INDEX ix_batches_supplier (supplier=?)" in step for step in plan), plan
    for q in (f"rice-{RUN}", "6901234567892", "wuchang"):
        query = (
            select(m.Batch.id)
            .where(disputes.batch_search(q, name_floor=1))
            .order_by(m.Batch.id.desc())
            .limit(MAX_PAGE + 1)
        )
        sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = [row[-1] for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]
        assert not [step for step in plan if step.startswith("SCAN batches")], (q, plan)
        assert any("USING INDEX ix_batches_lot_lower" in step for step in plan), (q, plan)
        if q.isdigit():  # gtin's ranges: a gtin index (the (gtin, lot) one covers the row id)
            assert any(
                re.search(r"INDEX ix_batches_gtin\w* \(gtin>\? AND gtin<\?\)", step)
                for step in plan
            ), (q, plan)
        else:  # a name: the newest rows only, by row id
            assert any("INTEGER PRIMARY KEY (rowid>?)" in step for step in plan), (q, plan)
