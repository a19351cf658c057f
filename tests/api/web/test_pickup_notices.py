"""Pickup notices from the seeded index: "pickup deadline near" while the goods wait at the
pickup point in the last day before the deadline (not before, not after), and 已提货 when the
order was handed over. The index's chain time is set by the test (no waiting, no chain moves)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import notices as notice_feed
from api.db import models as m
from api.demo.catalog import CONSUMERS
from api.names import Directory
from api.render import format_timestamp, with_time
from api.timefmt import iso_utc

from .conftest import Demo


def kinds_at(demo: Demo, monkeypatch: pytest.MonkeyPatch, buyer: str, now: int) -> dict[str, dict]:
    monkeypatch.setattr(notice_feed.queries, "chain_now", lambda _session: now)
    with Session(demo.services.engine) as session:
        directory = Directory(session, demo.services.store)
        found = notice_feed.notices(session, directory, buyer)
        return {n["kind"]: {**n, "text": notice_feed.sentence(n, directory, "en")} for n in found}


def test_pickup_due_in_the_last_day_while_the_goods_wait(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    pork = demo.report.deals["pork_claim"]
    buyer = CONSUMERS[1].address  # 李娜: her leader received the pork; not handed over
    with Session(demo.services.engine) as session:
        deadline = session.scalars(
            select(m.Deal.pickup_deadline).where(m.Deal.deal_id == pork)
        ).one()
    day = notice_feed.PICKUP_DUE_SECONDS
    assert "pickup_due" not in kinds_at(demo, monkeypatch, buyer, deadline - day - 1)
    due = kinds_at(demo, monkeypatch, buyer, deadline - 3600)["pickup_due"]
    assert due["id"] == f"pickup_due:{pork}" and due["deal_id"] == pork  # stable: one per order
    assert "Pickup deadline near" in due["text"] and "UTC" in due["text"]
    # The deadline it names, for the phone to show in its zone (JSON; the page marks it).
    stamp = iso_utc(deadline)
    with Session(demo.services.engine) as session:
        public = notice_feed.public(due, Directory(session, demo.services.store), "en")
    assert public["until"] == stamp and public["text"] == due["text"]
    marked = f'<time datetime="{stamp}" data-local>{format_timestamp(deadline)}</time>'
    assert marked in with_time(due["text"], deadline)
    assert "pickup_due" not in kinds_at(demo, monkeypatch, buyer, deadline)  # a no-show now


def test_picked_up_when_handed_over(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    rice = demo.report.deals["rice_settled"]
    buyer = CONSUMERS[0].address  # 张伟 took his rice with his signed code (the seed)
    with Session(demo.services.engine) as session:
        handed = session.scalars(
            select(m.PickupEvent).where(m.PickupEvent.deal_id == rice, m.PickupEvent.buyer == buyer)
        ).one()
    picked = kinds_at(demo, monkeypatch, buyer, 2**40)["picked_up"]
    assert picked["id"] == f"picked_up:{handed.tx_hash}:{handed.log_index}"
    assert picked["text"].startswith(f"Picked up: {handed.quantity} of")


def test_notice_sources_are_the_log_tables_notices_read(demo: Demo) -> None:
    """``NOTICE_SOURCES`` (what tells the webhook outbox a deal may have a new notice) cannot
    drift from :func:`notices`: the indexed log tables a notice pass reads, recorded from the
    queries it runs, are exactly those, less the one that never makes a notice of its own."""
    from sqlalchemy import event

    # Read, never a notice by themselves: a deal's terms and batches (indexed when it is listed,
    # before anyone can have an order in it); cash orders (they count a group's units: how
    # short a receipt is).
    counted_only = {m.Deal, m.DealBatch, m.CashOrderEvent}
    tables = {mapper.local_table: mapper.class_ for mapper in m.Base.registry.mappers}
    read: set[type] = set()

    def record(state: object) -> None:
        for table in getattr(state, "statement").get_final_froms():  # noqa: B009
            model = tables.get(table)
            if model is not None and issubclass(model, m.LogRow) and hasattr(model, "deal_id"):
                read.add(model)

    with Session(demo.services.engine) as session:
        event.listen(session, "do_orm_execute", record)
        directory = Directory(session, demo.services.store)
        for person in CONSUMERS:  # buyers, whose orders bring every kind of row
            notice_feed.notices(session, directory, person.address)
    assert read, "no notices read"
    assert set(notice_feed.NOTICE_SOURCES) == read - counted_only, sorted(t.__name__ for t in read)


def test_undelivered_once_the_delivery_deadline_passes_without_a_receipt(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """未到货 (the order page's 退款中): the pork formed, but 陈姐 never signed for her group's
    pork; from the delivery deadline (chain time, read when the notices are) her buyer hears
    that the whole payment is refundable. 李娜's pickup point received it: no such notice."""
    pork = demo.report.deals["pork_claim"]
    buyer = CONSUMERS[3].address  # 赵敏 (pork at 陈姐's, never received)
    with Session(demo.services.engine) as session:
        deadline = session.scalars(
            select(m.Deal.delivery_deadline).where(m.Deal.deal_id == pork)
        ).one()
    assert "undelivered" not in kinds_at(demo, monkeypatch, buyer, deadline - 1)
    gone = kinds_at(demo, monkeypatch, buyer, deadline)["undelivered"]
    assert (
        gone["id"] == f"undelivered:{pork}"
        and gone["deal_id"] == pork
        and gone["until"] == deadline
    )
    assert (
        gone["text"].startswith("Not delivered:") and "full payment is refundable" in gone["text"]
    )
    assert "undelivered" not in kinds_at(demo, monkeypatch, CONSUMERS[1].address, deadline + 1)
    # The webhook outbox's incremental pass looks at the deal when the deadline passes.
    with Session(demo.services.engine) as session:
        changed = notice_feed.changed_deals(
            session, after_block=2**40, after_time=deadline - 1, now=deadline
        )
    assert pork in changed


def test_the_leader_hears_when_their_group_goods_never_arrived(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, web_client: TestClient
) -> None:
    """The leader's 未到货: 陈姐 never signed for her group's pork; from the delivery deadline
    (chain time, read when the notices are: no timer to drop it) she hears it, with her group's
    units, on her page and in the feed the webhooks send. 李哥 received his: no such notice."""
    from api.demo.catalog import LEADERS

    _wang, li, chen = LEADERS
    pork = demo.report.deals["pork_claim"]
    with Session(demo.services.engine) as session:
        deadline = session.scalars(
            select(m.Deal.delivery_deadline).where(m.Deal.deal_id == pork)
        ).one()
    assert "group_undelivered" not in kinds_at(demo, monkeypatch, chen.address, deadline - 1)
    gone = kinds_at(demo, monkeypatch, chen.address, deadline)["group_undelivered"]
    assert gone["id"] == f"group_undelivered:{pork}" and gone["deal_id"] == pork
    assert gone["until"] == deadline and gone["n"] == 3
    assert gone["text"].startswith("Not delivered:") and "(3 units)" in gone["text"]
    assert "let them know" in gone["text"]
    assert "group_undelivered" not in kinds_at(demo, monkeypatch, li.address, deadline + 1)
    with Session(demo.services.engine) as session:
        directory = Directory(session, demo.services.store)
        assert "未到货" in notice_feed.sentence(gone, directory, "zh")
        # The webhook outbox sends it: the leader is among the deal's recipients.
        assert chen.address in notice_feed.recipients_of(session, {pork})
    page = web_client.get(f"/leader/{chen.address}?lang=en")
    assert page.status_code == 200
    assert f'data-id="group_undelivered:{pork}"' in page.text


def test_the_registry_decision_on_an_application_is_a_notice(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, web_client: TestClient
) -> None:
    """An applicant hears the platform's decision (the seed approved every supplier and leader):
    a notice about no deal, in both languages, on the leader's page and to the webhooks (the
    outbox's recipients include an applicant with no orders at all: a supplier)."""
    from api.demo.catalog import LEADERS, RICE_FARM
    from api.webhooks.outbox import recipients

    with Session(demo.services.engine) as session:
        approval = session.scalars(
            select(m.PartyEvent).where(
                m.PartyEvent.account == RICE_FARM.address, m.PartyEvent.action == "approved"
            )
        ).one()
        assert RICE_FARM.address in recipients(session)
        # The outbox's incremental pass: the applicants decided on since its cursor.
        since = notice_feed.decided_parties(session, after_block=approval.block_number - 1)
        assert RICE_FARM.address in since
        later = session.scalars(
            select(m.PartyEvent.block_number).order_by(m.PartyEvent.block_number.desc())
        ).first()
        assert RICE_FARM.address not in notice_feed.decided_parties(session, after_block=later)
    farm = kinds_at(demo, monkeypatch, RICE_FARM.address, 2**40)["party_approved"]
    assert farm["id"] == f"party_approved:{approval.tx_hash}:{approval.log_index}"
    assert farm["deal_id"] is None
    assert farm["text"] == "Application approved: you are now a verified Supplier"
    with Session(demo.services.engine) as session:
        directory = Directory(session, demo.services.store)
        assert "供应商" in notice_feed.sentence(farm, directory, "zh")
        assert notice_feed.public(farm, directory, "en")["deal_id"] is None
    page = web_client.get(f"/leader/{LEADERS[0].address}?lang=en")
    assert page.status_code == 200
    assert "Application approved: you are now a verified Group leader" in page.text
    api = web_client.get(f"/v1/notices/{LEADERS[0].address}?lang=en")
    assert api.status_code == 200
    assert any(n["kind"] == "party_approved" for n in api.json()["notices"]), api.json()
    # Once, on the first page: a later page of deals goes without.
    later = web_client.get(f"/v1/notices/{LEADERS[0].address}", params={"before": 2**31})
    assert later.status_code == 200
    assert not any(n["kind"].startswith("party_") for n in later.json()["notices"])
