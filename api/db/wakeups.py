"""Wake a background loop in another process when its work is queued (PostgreSQL LISTEN/NOTIFY).

In one process the route that queues work sets the loop's ``WAKE`` event. In the split deployment
(``tuanchain serve --no-background`` beside ``tuanchain worker``), or with several ``serve``
processes on one PostgreSQL, the loop that will send the work may run in another process: it saw
new rows only at its next poll (``POLL_SECONDS``, a second when idle). On PostgreSQL the
transaction that queues the work also sends ``NOTIFY`` on the loop's channel — delivered when it
commits, never when it rolls back — and every process running the loop listens on a connection
of its own and sets its ``WAKE``. SQLite has no such thing, and needs none: one process per file
runs the background roles (:mod:`api.roles`), so only that process's loop is there to wake, and a
request accepted by a ``--no-background`` process waits for its poll.

A wake-up is only a hint: a lost one (the listener reconnecting) costs at most one poll, and a
spurious one (another schema's channel of the same name) one empty pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from api.background import OnePass, start_loop

logger = logging.getLogger(__name__)

# How long the listener waits for notifications before it looks at its stop event again.
LISTEN_SLICE_SECONDS = 0.5
# How long it waits before reconnecting after the database went away.
RECONNECT_SECONDS = 1.0


def notify(connection: Connection, channel: str) -> None:
    """Queue a wake-up on ``channel`` in ``connection``'s transaction (PostgreSQL; else nothing)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {channel}")


def start_woken_loop(
    name: str,
    one_pass: OnePass,
    *,
    engine: Engine,
    channel: str,
    wake: threading.Event,
    **loop_options: Any,
) -> Callable[[], None]:
    """:func:`api.background.start_loop` woken by ``wake``, which work queued by another process
    sets too (a listener on ``channel``); returns the function that stops both."""
    stop_listener = start_listener(engine, channel, wake)
    stop_loop = start_loop(name, one_pass, wake=wake, **loop_options)

    def stop_both() -> None:
        stop_loop()
        stop_listener()

    return stop_both


def start_listener(engine: Engine, channel: str, wake: threading.Event) -> Callable[[], None]:
    """Set ``wake`` whenever ``channel`` is notified, from a daemon thread with a connection of its
    own (PostgreSQL; on SQLite nothing to start). Returns the function that stops it."""
    if engine.dialect.name != "postgresql":
        return lambda: None
    # A plain psycopg connection, not one of the pool's: it is held for the process's life.
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    stop = threading.Event()
    thread = threading.Thread(
        target=_listen,
        args=(conninfo, channel, wake, stop),
        name=f"listen-{channel}",
        daemon=True,
    )
    thread.start()

    def stop_listener() -> None:
        stop.set()
        thread.join(timeout=LISTEN_SLICE_SECONDS + 10)

    return stop_listener


def _listen(conninfo: str, channel: str, wake: threading.Event, stop: threading.Event) -> None:
    import psycopg

    failing = False
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {channel}")
                if failing:
                    logger.info("listening on %s again", channel)
                    failing = False
                wake.set()  # whatever was queued while nobody listened
                while not stop.is_set():
                    for _ in conn.notifies(timeout=LISTEN_SLICE_SECONDS):
                        wake.set()
        except psycopg.Error as exc:
            if not failing:  # once per outage, not once per retry
                logger.warning("cannot listen on %s (%s); polling until it is back", channel, exc)
                failing = True
            stop.wait(RECONNECT_SECONDS)
