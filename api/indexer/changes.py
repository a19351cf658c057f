"""Listeners told when the index changed (the read API's caches clear themselves on it).

Apart from :mod:`api.indexer.core` so that :mod:`api.binding`, which core imports, can announce
an index it cleared without importing core back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Called after every commit that changed rows (the API's provenance cache listens here).
_listeners: list[Callable[[], None]] = []
_listeners_lock = threading.Lock()


def on_index_change(callback: Callable[[], None]) -> None:
    """Register ``callback`` to run after each indexer commit in this process."""
    with _listeners_lock:
        if callback not in _listeners:
            _listeners.append(callback)


def off_index_change(callback: Callable[[], None]) -> None:
    """Unregister a callback registered with :func:`on_index_change` (no error if absent)."""
    with _listeners_lock:
        if callback in _listeners:
            _listeners.remove(callback)


def notify_index_change() -> None:
    """Run the listeners (after an indexer commit, or when the index was changed some other way)."""
    with _listeners_lock:
        callbacks = list(_listeners)
    for callback in callbacks:
        try:
            callback()
        except Exception:
            logger.exception("index change listener %r failed", callback)
