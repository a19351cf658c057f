"""The one loop behind every background job of the service (indexer, relay and bundler
workers, keeper): passes until stopped, a failed pass logged and the next one run.

``one_pass(stop)`` does one unit of work and returns how long to wait before the next (None:
the loop's interval); a ``wake`` event cuts the wait short (set by whoever queued new work).
Stopping sets ``stop`` (and ``wake``), so a pass in hand finishes and no other starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

OnePass = Callable[[threading.Event], float | None]


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff of a queued item's next attempt: ``base`` doubling per attempt made
    (``attempts`` ≥ 1), at most ``cap``. One rule for the relay and the bundler outboxes."""
    return min(cap, base * 2 ** (attempts - 1))


def run_passes(
    name: str,
    one_pass: OnePass,
    *,
    stop: threading.Event,
    interval: float,
    wake: threading.Event | None = None,
) -> None:
    """Run passes in this thread until ``stop`` is set."""
    while not stop.is_set():
        delay: float | None = None
        try:
            delay = one_pass(stop)
        except Exception:  # the node, the store or the database down, a bug: keep going
            logger.exception("%s pass failed", name)
        delay = interval if delay is None else delay
        if wake is None:
            stop.wait(delay)
        else:
            wake.wait(delay)
            wake.clear()


def start_loop(
    name: str,
    one_pass: OnePass,
    *,
    interval: float,
    wake: threading.Event | None = None,
    stop: threading.Event | None = None,
    join_timeout: float = 30.0,
) -> Callable[[], None]:
    """:func:`run_passes` in a daemon thread; returns the function that stops and joins it
    (``stop``: an event the job also watches, e.g. to end a long pass early)."""
    stop = stop if stop is not None else threading.Event()
    thread = threading.Thread(
        target=run_passes,
        args=(name, one_pass),
        kwargs={"stop": stop, "interval": interval, "wake": wake},
        name=name,
        daemon=True,
    )
    thread.start()

    def stop_loop() -> None:
        stop.set()
        if wake is not None:
            wake.set()
        thread.join(timeout=join_timeout)

    return stop_loop
