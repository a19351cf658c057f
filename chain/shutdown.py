"""Stopping a long-running command cleanly: SIGINT, SIGTERM and SIGHUP alike.

A terminal's Ctrl-C sends SIGINT to the whole foreground group; systemd, docker and supervisors
send SIGTERM; closing the terminal sends SIGHUP. Every long-running ``tuanchain`` command (``run``,
``serve``, ``node``, ``index``, ``keeper``) treats the three alike: the *first* one asks it to
stop — it stops accepting, finishes or parks what it is doing, stops the node it started (which
saves its state) and exits 0. Later signals are logged and otherwise ignored, so that an impatient
second Ctrl-C cannot cut the shutdown short and leave a node running without its state saved
(each wait of the shutdown is bounded instead: open connections are closed after a few seconds,
a receipt is no longer awaited).

How a command learns of the request:

- ``stop.event`` is set: loops wait on it instead of sleeping (``stop.event.wait(interval)``); a
  main thread with nothing else to do calls ``stop.wait()`` (bounded slices: see there);
- callbacks registered with :meth:`Stop.on_request` run (the web server's "exit now" flag);
- inside ``with stop.interrupting():`` the first signal also raises :class:`StopRequested` in the
  main thread, for straight-line work with no loop to check a flag (starting a node, deploying,
  seeding). It derives from ``BaseException``, like ``KeyboardInterrupt``, so no ``except
  Exception`` on the way swallows it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How often a main thread waiting for a stop wakes to run signal handlers (Stop.wait).
WAKE_SECONDS = 0.25


class StopRequested(BaseException):
    """A stop signal arrived while the main thread was doing straight-line work."""


class Stop:
    """The stop request of one command (see the module's docstring)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._interrupting = 0
        # Reentrant: the signal handler runs on the main thread, which may hold it already.
        self._lock = threading.RLock()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self) -> None:
        """Block (the main thread) until a stop is requested.

        In slices of ``WAKE_SECONDS``, never one unbounded wait: Python runs a signal's handler
        in the main thread, but the kernel may hand a process's signal to any of its threads;
        then that thread only flags the handler, and a main thread asleep in ``Event.wait()`` is
        not woken to run it — a ``tuanchain worker`` stayed deaf to SIGTERM for minutes that way
        (tests/chain/test_shutdown.py reproduces it with ``pthread_kill``)."""
        while not self.event.wait(WAKE_SECONDS):
            pass

    def request(self, signal_name: str = "a stop request") -> None:
        """Ask the command to stop (what the signal handler does; tests may call it too)."""
        with self._lock:
            if self.event.is_set():
                logger.warning("%s received while stopping: still stopping cleanly", signal_name)
                return
            self.signal_name = signal_name
            self.event.set()
            callbacks = list(self._callbacks)
        logger.info("%s received: stopping", signal_name)
        for callback in callbacks:
            callback()

    def on_request(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when a stop is requested (at once if it already was)."""
        with self._lock:
            self._callbacks.append(callback)
            already = self.event.is_set()
        if already:
            callback()

    @contextmanager
    def interrupting(self) -> Iterator[None]:
        """Inside, the first stop request also raises :class:`StopRequested` (main thread)."""
        if self.event.is_set():
            raise StopRequested(self.signal_name)
        self._interrupting += 1
        try:
            yield
        finally:
            self._interrupting -= 1

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        first = not self.event.is_set()
        name = signal.Signals(signum).name
        self.request(name)
        if first and self._interrupting:
            raise StopRequested(name)


@contextmanager
def stop_signals() -> Iterator[Stop]:
    """Route SIGINT, SIGTERM and SIGHUP to a :class:`Stop` while inside; restore them after.

    Signal handlers can only be installed from the main thread; elsewhere (a test driving a
    command from a worker thread) the returned ``Stop`` is still usable through ``request``.
    """
    stop = Stop()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, stop._handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = ["STOP_SIGNALS", "Stop", "StopRequested", "stop_signals"]
