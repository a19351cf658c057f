"""Relay and bundler workers in another process wake when work is accepted (PostgreSQL LISTEN/NOTIFY).

The split deployment (``serve --no-background`` beside ``tuanchain worker``) accepts in one process
and sends from another: without a notification the worker saw a lone request only at its next poll
(a second when idle). The listener here stands for that other process: a connection of its own
and an event of its own, which only a notification can set (the route sets the global ``WAKE``).
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from api.bundler.models import QUEUED_CHANNEL as USEROP_CHANNEL
from api.db.wakeups import start_listener
from api.relayer.models import QUEUED_CHANNEL
from api.services import Services

from ..bundler.userops import send_join
from .conftest import consumer, make_deal, relay

# A bound on a wait that ends as soon as the event is set: never reached on a working machine.
PATIENCE_SECONDS = 60


@pytest.fixture
def postgres(services: Services) -> Services:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's (on SQLite one process runs the worker)")
    return services


def test_an_accept_in_one_process_wakes_the_worker_listening_in_another(
    client: TestClient, postgres: Services
) -> None:
    services = postgres
    woken = threading.Event()
    stop = start_listener(services.engine, QUEUED_CHANNEL, woken)
    try:
        # On connecting the listener wakes its loop once (requests queued while nobody listened).
        assert woken.wait(PATIENCE_SECONDS), "the listener never connected"
        woken.clear()
        deal = make_deal(services.chain)
        buyer = consumer(services.chain)
        body = {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address}
        assert relay(client, buyer, "join", body)["status"] == "queued"
        assert woken.wait(PATIENCE_SECONDS), "the accept's notification never arrived"
    finally:
        stop()


def test_a_user_operation_accepted_in_one_process_wakes_the_bundler_listening_in_another(
    client: TestClient, postgres: Services
) -> None:
    chain = postgres.chain
    woken = threading.Event()
    stop = start_listener(postgres.engine, USEROP_CHANNEL, woken)
    try:
        assert woken.wait(PATIENCE_SECONDS), "the listener never connected"
        woken.clear()
        deal = make_deal(chain, min_quantity=1)
        send_join(client, chain, deal)
        assert woken.wait(PATIENCE_SECONDS), "the accept's notification never arrived"
    finally:
        stop()


def test_a_listener_whose_database_is_unreachable_keeps_retrying_and_stops_when_asked(
    postgres: Services,
) -> None:
    # A socket directory that does not exist: the connection fails at once, no port involved.
    engine = create_engine("postgresql+psycopg://postgres@/test?host=/nonexistent-socket-dir")
    woken = threading.Event()
    stop = start_listener(engine, QUEUED_CHANNEL, woken)
    stop()  # returns (the retry waits on the stop event, not a sleep)
    listeners = [t for t in threading.enumerate() if t.name == f"listen-{QUEUED_CHANNEL}"]
    assert not any(t.is_alive() for t in listeners)
    assert not woken.is_set()
    engine.dispose()


def test_on_sqlite_nothing_listens(services: Services) -> None:
    if services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's case")
    before = {t.name for t in threading.enumerate()}
    stop = start_listener(services.engine, QUEUED_CHANNEL, threading.Event())
    stop()
    assert not {t.name for t in threading.enumerate()} - before
