"""The indexer as the service runs it: a background thread started and stopped by the app."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.indexer import off_index_change, on_index_change
from api.indexer.runner import make_indexer, start_background
from api.services import Services

from .world import World


def test_background_indexer_catches_up_and_stops(
    world: World, services: Services, fresh_engine
) -> None:
    engine = fresh_engine()
    background = Services(
        settings=services.settings, store=services.store, engine=engine, _chain=services.chain
    )
    head = services.chain.w3.eth.block_number
    caught_up = threading.Event()

    def check() -> None:
        with Session(engine) as session:
            state = session.get(m.IndexerState, "main")
            if state is not None and state.last_block >= head:
                caught_up.set()

    on_index_change(check)
    before = set(threading.enumerate())
    stop = start_background(background)
    (thread,) = [t for t in set(threading.enumerate()) - before if t.name == "tuanchain-indexer"]
    try:
        # Woken by the indexer's own change notification; the timeout only bounds a failure.
        assert caught_up.wait(timeout=60), "the background indexer never reached the head"
    finally:
        stop()
        off_index_change(check)
    assert not thread.is_alive()  # stop() joined it
    with Session(engine) as session:
        assert world.rice[1] in set(session.scalars(select(m.Batch.lot)).all())


def test_confirmations_come_from_the_settings(services: Services, monkeypatch) -> None:
    # The settings field (TUANCHAIN_INDEX_CONFIRMATIONS), not a second read of the environment.
    monkeypatch.setenv("TUANCHAIN_INDEX_CONFIRMATIONS", "99")
    configured = Services(
        settings=services.settings.model_copy(update={"index_confirmations": 7}),
        store=services.store,
        engine=services.engine,
        _chain=services.chain,
    )
    assert make_indexer(configured).confirmations == 7
    assert make_indexer(services).confirmations == services.settings.index_confirmations == 0
