"""Lists an address or a busy platform could make unbounded are paged (found in review: the
notices of an address were built from every deal it ever joined, in one request)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from api import disputes, queries
from api import notices as notice_feed
from api.app import create_app
from api.db import init_db
from api.db import models as m
from api.db.party_statuses import refresh_party_statuses
from api.names import Directory
from api.queries import MAX_PAGE
from api.routes import pages
from api.services import build_services, make_engine
from chain.settings import Settings
from traceability.ipfs.embedded import EmbeddedDocumentStore

DEALS = 120
WHEN = datetime(2026, 9, 1, tzinfo=UTC)
BUYER = Account.create().address
LEADER = Account.create().address


def _log(n: int) -> dict[str, object]:
    return {"block_number": n, "tx_hash": "0x" + f"{n:064x}", "log_index": 0, "block_time": WHEN}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    db = make_engine("sqlite:///" + str(tmp_path_factory.mktemp("lists") / "index.db"))
    init_db(db)
    with Session(db) as session:
        for d in range(1, DEALS + 1):
            session.add(
                m.Deal(
                    **_log(d),
                    deal_id=d,
                    supplier="0x" + "11" * 20,
                    token="0x" + "22" * 20,
                    fee_recipient="0x" + "33" * 20,
                    price_tiers=[[0, 100]],
                    commission_tiers=[],
                    min_quantity=1,
                    max_quantity=10,
                    per_buyer_limit=10,
                    join_deadline=2**40,  # open: a joined notice per deal
                    delivery_deadline=2**41,
                    dispute_window=5,
                    answer_window=5,
                    commission_bps=500,
                    platform_fee_bps=100,
                )
            )
            session.add(
                m.OrderEvent(
                    **_log(10_000 + d),
                    deal_id=d,
                    buyer=BUYER,
                    leader=LEADER,
                    kind="join",
                    quantity=1,
                    amount=100,
                )
            )
            session.add(
                m.Batch(
                    **_log(d),
                    batch_id="0x" + f"{d:064x}",
                    gtin="0" * 14,
                    lot=f"L{d}",
                    supplier="0x" + "11" * 20,
                )
            )
            session.add(m.DealBatch(**_log(d), deal_id=d, batch_id="0x" + f"{d:064x}"))
            # A claim per deal; on even deals it was denied and filed again.
            statuses = ["filed", "denied", "filed"] if d % 2 == 0 else ["filed"]
            for i, status in enumerate(statuses):
                session.add(
                    m.ClaimEvent(**_log(20_000 + 10 * d + i), deal_id=d, buyer=BUYER, status=status)
                )
        session.commit()
    return db


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(Path(tmp_path_factory.mktemp("ipfs")))


def test_an_address_notices_are_built_from_its_newest_deals_only(
    engine: Engine, store: EmbeddedDocumentStore
) -> None:
    with Session(engine) as session:
        found = notice_feed.notices(session, Directory(session, store), BUYER)
    deals = {n["deal_id"] for n in found}
    assert len(deals) <= 50
    assert max(deals) == DEALS  # the newest


@settings(max_examples=25, deadline=None)
@given(limit=st.integers(min_value=1, max_value=DEALS + 5), who=st.sampled_from([BUYER, LEADER]))
def test_pages_of_deals_cover_every_deal_once_newest_first(
    engine: Engine, limit: int, who: str
) -> None:
    seen: list[int] = []
    before = None
    with Session(engine) as session:
        while True:
            page, before = notice_feed.address_deals(session, who, limit=limit, before=before)
            assert len(page) <= limit
            seen += page
            if before is None:
                break
            assert before == page[-1]
    assert seen == list(range(DEALS, 0, -1))


@settings(max_examples=15, deadline=None)
@given(limit=st.integers(min_value=1, max_value=70))
def test_claims_and_batches_are_paged_newest_first_each_once(
    engine: Engine, store: EmbeddedDocumentStore, limit: int
) -> None:
    with Session(engine) as session:
        directory = Directory(session, store)
        first, _ = disputes.claims(session, directory, store)
        assert len(first) == 50  # a page, not every claim
        claims: list[disputes.Claim] = []
        before = None
        while True:
            page, before = disputes.claims(session, directory, store, limit=limit, before=before)
            assert len(page) <= limit
            claims += page
            if before is None:
                break
        rows: list[disputes.BatchRow] = []
        while True:
            batch_page, before = disputes.batches(session, directory, limit=limit, before=before)
            rows += batch_page
            if before is None:
                break
    assert len(claims) == DEALS + DEALS // 2  # every filing once
    assert len({c.filing for c in claims}) == len(claims)
    for d in range(1, DEALS + 1):  # a re-filing closes the one before, across pages too
        statuses = sorted(c.status for c in claims if c.deal_id == d)
        assert statuses == (["denied", "filed"] if d % 2 == 0 else ["filed"])
    assert [b.lot for b in rows] == [f"L{d}" for d in range(DEALS, 0, -1)]


def test_the_dashboard_lists_a_bounded_number_of_parties(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        for i in range(MAX_PAGE + 10):  # many leaders, each approved, with one order
            session.add(
                m.PartyEvent(
                    **_log(95_000 + i),
                    kind="leader",
                    account="0x" + f"{i + 1:040x}",
                    action="approved",
                )
            )
            session.add(
                m.OrderEvent(
                    **_log(90_000 + i),
                    deal_id=5_000,
                    buyer=BUYER,
                    leader="0x" + f"{i + 1:040x}",
                    kind="join",
                    quantity=1,
                    amount=100,
                )
            )
        refresh_party_statuses(session)  # as the indexer keeps it with the events it stores
        session.commit()
    try:
        parties = pages._parties(SimpleNamespace(engine=engine))  # type: ignore[arg-type]
        assert len(parties["leader"]) == MAX_PAGE
        assert parties["leader"] == sorted(parties["leader"])
        assert parties["supplier"] == ["0x" + "11" * 20]
        with Session(engine) as session:
            leaders = queries.dashboard(session)
            after = queries.dashboard(session, leaders_after=leaders["leaders_more"])
        every_first = [x["leader"] for x in leaders["leaders"]]
        assert every_first == parties["leader"]  # the same, bounded
        # Said how many, and paged: the next page holds the rest, the two make the whole list.
        assert leaders["leaders_total"] > MAX_PAGE and leaders["leaders_more"] == every_first[-1]
        assert after["leaders_more"] is None
        every = [x["leader"] for x in leaders["leaders"] + after["leaders"]]
        assert every == sorted(set(every)) and len(every) == leaders["leaders_total"]
        # The page says how many and pages through them: "more", then back to the first page.
        settings = Settings(
            rpc_url="http://127.0.0.1:9",  # the page reads the index only
            data_dir=tmp_path,
            database_url=engine.url.render_as_string(hide_password=False),
            deployments_dir=tmp_path / "deployments",
        )
        with TestClient(create_app(build_services(settings))) as client:
            first = client.get("/dashboard?lang=en", headers={"Accept": "text/html"}).text
            total = re.search(r'id="leader-count">(\d+) leaders in all<', first)
            assert total and int(total[1]) == leaders["leaders_total"]
            assert first.count("<tr data-leader=") == MAX_PAGE
            more = re.search(r'<a class="more" rel="next" href="([^"]+)"', first)
            assert more and 'rel="prev"' not in first
            second = client.get(more[1].replace("&amp;", "&")).text
            shown = re.findall(r'<tr data-leader="([^"]+)"', second)
            assert shown == [x["leader"] for x in after["leaders"]]
            assert 'rel="prev"' in second and 'class="more"' not in second
    finally:
        with Session(engine) as session:
            session.execute(delete(m.PartyEvent).where(m.PartyEvent.block_number >= 95_000))
            refresh_party_statuses(session)
            session.execute(delete(m.OrderEvent).where(m.OrderEvent.deal_id == 5_000))
            session.commit()


# Claim histories, cycled over the deals: the waiting counts must see every page's.
HISTORIES = [
    ["filed"],
    ["filed", "rejected"],
    ["filed", "rejected", "upheld"],
    ["filed", "rejected", "denied", "filed"],
    ["filed", "rejected", "denied", "filed", "rejected"],
    ["filed", "upheld"],
]


@pytest.fixture(scope="module")
def disputed(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    db = make_engine("sqlite:///" + str(tmp_path_factory.mktemp("disputes") / "index.db"))
    init_db(db)
    suppliers = ["0x" + "11" * 20, "0x" + "44" * 20]
    with Session(db) as session:
        for d in range(1, DEALS + 1):
            session.add(
                m.Deal(
                    **_log(d),
                    deal_id=d,
                    supplier=suppliers[d % 2],
                    token="0x" + "22" * 20,
                    fee_recipient="0x" + "33" * 20,
                    price_tiers=[[0, 100]],
                    commission_tiers=[],
                    min_quantity=1,
                    max_quantity=10,
                    per_buyer_limit=10,
                    join_deadline=2**40,
                    delivery_deadline=2**41,
                    dispute_window=5,
                    answer_window=3600 * (d % 5),  # 0: the answer window is already over
                    commission_bps=500,
                    platform_fee_bps=100,
                )
            )
            for i, status in enumerate(HISTORIES[d % len(HISTORIES)]):
                session.add(
                    m.ClaimEvent(**_log(20_000 + 10 * d + i), deal_id=d, buyer=BUYER, status=status)
                )
        session.commit()
    return db


@pytest.mark.parametrize("supplier", [None, "0x" + "11" * 20, "0x" + "44" * 20])
def test_the_waiting_count_covers_every_page_of_claims(
    disputed: Engine, store: EmbeddedDocumentStore, supplier: str | None
) -> None:
    """Found in review: /ops/disputes counted the claims waiting on the page shown (50)."""
    now = int(WHEN.timestamp()) + 60
    with Session(disputed) as session:
        directory = Directory(session, store)
        every: list[disputes.Claim] = []
        before = None
        while True:
            page, before = disputes.claims(
                session, directory, store, supplier=supplier, before=before
            )
            every += page
            if before is None:
                break
        count = disputes.waiting_claims(session, supplier=supplier, now=now)
    if supplier is None:
        expected = sum(1 for c in every if c.status == "rejected")
    else:
        expected = sum(1 for c in every if c.status == "filed" and (c.answer_deadline or 0) > now)
    first_page = every[: disputes.OPS_PAGE]
    assert count == expected > 0
    if supplier is None:
        assert count > sum(1 for c in first_page if c.status == "rejected")


def test_the_disputes_page_shows_the_count_of_every_page(
    disputed: Engine, store: EmbeddedDocumentStore, tmp_path: Path
) -> None:
    settings = Settings(
        rpc_url="http://127.0.0.1:9",  # the page reads the index only
        data_dir=tmp_path,
        database_url=disputed.url.render_as_string(hide_password=False),
        deployments_dir=tmp_path / "deployments",
    )
    with TestClient(create_app(build_services(settings))) as client:
        html = client.get("/ops/disputes", headers={"Accept": "text/html"}).text
    with Session(disputed) as session:
        expected = disputes.waiting_claims(session)
    shown = re.search(r'<strong id="waiting">(\d+)</strong>', html)
    assert shown and int(shown[1]) == expected
    assert html.count('class="act uphold"') < expected  # more wait than the page shows
    # A claim the supplier left unanswered past its window: the page says what happens next
    # (the keeper upholds it by default), not only that the deadline passed (found in review).
    assert "系统会自动按支持处理，买家获退款" in html  # the page in its default language
