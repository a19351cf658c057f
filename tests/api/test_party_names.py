"""Whose name a page shows for an address (api.names), against a real database and store.

Found in review: a party's self-declared profile named it on every page whatever its review
status, so anyone could apply as a leader under a trusted name ("Auntie Wang · Xingfuli") and be
shown by it while pending, after rejection or after revocation. Only a currently approved
party's profile names it; otherwise pages show the short address, and the review queue (where
applications are checked) still shows the declared name, marked unverified.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from api.db import init_db
from api.db import models as m
from api.names import Directory
from api.render import environment, messages, short
from api.review import Application, queue
from api.services import make_engine
from traceability.ipfs.embedded import EmbeddedDocumentStore

TRUSTED = {"zh": "王阿姨 · 幸福里", "en": "Auntie Wang · Xingfuli"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    db = make_engine("sqlite:///" + str(tmp_path_factory.mktemp("names") / "index.db"))
    init_db(db)
    return db


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(Path(tmp_path_factory.mktemp("ipfs")))


def _events(session: Session, account: str, cid: str, actions: list[str]) -> None:
    session.execute(delete(m.PartyEvent))
    for i, action in enumerate(actions):
        session.add(
            m.PartyEvent(
                kind="leader",
                account=account,
                action=action,
                profile_cid=cid if action in ("applied", "profile_updated") else None,
                block_number=i + 1,
                tx_hash="0x" + f"{i + 1:064x}",
                log_index=0,
                block_time=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
    session.flush()


def _review_page(application: Application) -> str:
    words = messages()
    return (
        environment()
        .get_template("ops_review.html")
        .render(
            applications=[application],
            pending=1,
            lang="en",
            t=lambda key: words.get(key, {}).get("en", key),
            js_messages={},
            path="/ops/review",
            here="/ops/review",  # what render() gives every page (the passkey link's next=)
            query={},
        )
    )


REVIEW = st.sampled_from(["applied", "approved", "rejected", "revoked", "profile_updated"])


@settings(max_examples=60, deadline=None)
@given(later=st.lists(REVIEW, max_size=6))
def test_only_a_currently_approved_party_is_shown_by_its_declared_name(
    engine: Engine, store: EmbeddedDocumentStore, later: list[str]
) -> None:
    account = Account.create().address
    cid = store.put(
        json.dumps({"type": "tuanchain:PartyProfile", "name": TRUSTED, "place": TRUSTED}).encode()
    )
    actions = ["applied", *later]
    status = "pending"
    for action in actions:
        status = {"applied": "pending", "profile_updated": status}.get(action, action)
    with Session(engine) as session:
        _events(session, account, cid, actions)
        person = Directory(session, store).get(account)
        if status == "approved":
            assert person.label("en") == TRUSTED["en"]
            assert person.place_label("zh") == TRUSTED["zh"]
        else:
            assert person.label("en") == short(account)
            assert person.to_json("zh")["name"] == short(account)
            assert TRUSTED["en"] not in json.dumps(person.to_json("en"), ensure_ascii=False)
            assert person.declared is not None and person.declared.label("en") == TRUSTED["en"]
        # The review queue shows what the applicant declared, whatever its status.
        (application,) = queue(session, Directory(session, store))
        shown = application.person.declared or application.person
        assert shown.label("zh") == TRUSTED["zh"]
        html = _review_page(application)
        assert TRUSTED["en"] in html
        assert ("declared name, not verified" in html) == (status != "approved")
        session.rollback()
