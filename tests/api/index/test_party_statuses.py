"""``party_statuses``: each party's standing now, kept by the indexer as it stores the registry's
events, so the approved leaders are read as one bounded index range (the shop's pickup points,
the dashboard's leader list and chooser) and not by walking every party event. A re-org that
takes a decision away gives the party back the standing it had before, as a fresh index would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from api.db import models as m
from api.db import session_factory
from api.db.party_statuses import refresh_party_statuses
from api.queries.common import approved
from api.services import Services

from .conftest import dump_tables, make_indexer
from .world import CREDENTIALS_DIGEST, World

REASON = bytes.fromhex("1220" + "ab" * 32)  # a CIDv0's multihash bytes: the reason document


def _new_leader(services: Services) -> Any:
    chain = services.chain
    leader = Account.create()
    chain.sender.send(chain.platform, to=leader.address, value=10**17)
    chain.clients.registry.apply_as_leader(REASON, CREDENTIALS_DIGEST, signer=leader)
    chain.clients.registry.approve_leader(leader.address, signer=chain.platform)
    return leader


def test_a_reorg_gives_a_party_back_the_standing_it_had(
    world: World, services: Services, fresh_engine: Callable[[], Engine]
) -> None:
    engine = fresh_engine()
    chain = services.chain
    indexer = make_indexer(engine, services)
    indexer.sync()
    with Session(engine) as session:
        assert world.leader.address in approved(session, "leader")
    provider = chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]
    try:
        orphan = _new_leader(services)
        chain.clients.registry.revoke_leader(world.leader.address, REASON, signer=chain.platform)
        indexer.sync()
        with Session(engine) as session:
            now = approved(session, "leader")
            assert orphan.address in now and world.leader.address not in now
            status = session.get(m.PartyStatus, ("leader", world.leader.address))
            assert status is not None and status.status == "revoked"
    finally:
        provider.make_request("evm_revert", [snapshot])
        chain.sender.reset_all_nonces()
    kept = _new_leader(services)  # the other branch, at the same heights
    result = indexer.sync()
    assert result.reorg_from is not None
    with Session(engine) as session:
        now = approved(session, "leader")
        assert world.leader.address in now and kept.address in now
        assert orphan.address not in now
        assert session.get(m.PartyStatus, ("leader", orphan.address)) is None
    fresh = fresh_engine()
    make_indexer(fresh, services).sync()
    assert dump_tables(engine)["party_statuses"] == dump_tables(fresh)["party_statuses"]


def _event(n: int, account: str, action: str, kind: str = "leader") -> m.PartyEvent:
    return m.PartyEvent(
        block_number=n,
        tx_hash="0x" + f"{n:064x}",
        log_index=0,
        block_time=datetime(2026, 9, 1, tzinfo=UTC),
        kind=kind,
        account=account,
        action=action,
    )


def test_the_approved_list_is_a_bounded_range_of_the_statuses(
    fresh_engine: Callable[[], Engine],
) -> None:
    engine = fresh_engine()
    accounts = ["0x" + f"{i:040x}" for i in range(1, 31)]
    with session_factory(engine).begin() as session:
        n = 0
        for i, account in enumerate(accounts):
            history = ["applied", "approved"] + (["revoked"] if i % 3 == 0 else [])
            history += ["profile_updated"]  # keeps the standing
            for action in history:
                n += 1
                session.add(_event(n, account, action))
        session.add(_event(n + 1, accounts[1], "approved", kind="supplier"))
        session.flush()
        refresh_party_statuses(session)
    kept = [a for i, a in enumerate(accounts) if i % 3]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as session:
            first = approved(session, "leader", limit=7)
            rest = approved(session, "leader", after=first[-1])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert first + rest == kept and len(first) == 7
    # Read from the statuses, a page at a time: never the events.
    assert statements and all("party_events" not in s for s in statements)
    assert "LIMIT" in statements[0].upper()
    with Session(engine) as session:
        assert approved(session, "supplier") == [accounts[1]]
        assert session.scalars(
            select(m.PartyStatus.status).where(m.PartyStatus.account == accounts[0])
        ).all() == ["revoked"]
