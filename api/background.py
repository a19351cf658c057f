"""The one loop behind every background job of the service (indexer, relay and bundler
workers, keeper): passes until stopped, a failed pass logged and the next one run.

``one_pass(stop)`` does one unit of work and returns how long to wait before the next (None:
the loop's interval); a ``wake`` event cuts the wait short (set by whoever queued new work).
Stopping sets ``stop`` (and ``wake``), so a pass in hand finishes and no other starts; the join
is bounded, so a pass stuck past it leaves its thread running: :func:`loop_threads` names every
loop's thread, for a lock that must outlive them (:mod:`api.roles`).
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

OnePass = Callable[[threading.Event], float | None]

# The thread of every loop started by start_loop (those that ended drop out with their thread).
_loop_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_loop_threads_guard = threading.Lock()


def loop_threads() -> set[threading.Thread]:
    """The threads of the loops :func:`start_loop` started that are still running (a stop whose
    join timed out leaves one)."""
    with _loop_threads_guard:
        return {thread for thread in _loop_threads if thread.is_alive()}


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
    with _loop_threads_guard:
        _loop_threads.add(thread)
    thread.start()

    def stop_loop() -> None:
        stop.set()
        if wake is not None:
            wake.set()
        thread.join(timeout=join_timeout)

    return stop_loop


# A stop that takes longer than this prints every thread's stack (stderr, i.e. the service's
# log): a loop stuck in a call that ignores its stop event is then named, not guessed at.
SLOW_STOP_SECONDS = 20.0


def stop_all(stops: Iterable[Callable[[], None]]) -> None:
    """Stop background jobs side by side: each stop function asks its loop to end and joins it
    (bounded by its own join timeout), so the whole stop takes as long as the slowest job, not
    the sum of all of them."""
    stops = list(stops)
    if not stops:
        return
    global _stopping
    with _stopping_guard:
        outermost = _stopping == 0  # a stop may itself stop_all its parts: one timer, the outer
        _stopping += 1
    if outermost:
        faulthandler.dump_traceback_later(SLOW_STOP_SECONDS, exit=False, file=sys.stderr)
    try:
        threads = [
            threading.Thread(target=_stop_one, args=(stop,), name="stopping", daemon=True)
            for stop in stops
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        with _stopping_guard:
            _stopping -= 1
        if outermost:
            faulthandler.cancel_dump_traceback_later()


_stopping = 0  # stop_all calls under way (nested ones included)
_stopping_guard = threading.Lock()


def _stop_one(stop: Callable[[], None]) -> None:
    try:
        stop()
    except Exception:  # one job failing to stop must not keep the others running
        logger.exception("stopping a background job failed")
