"""The indexer as a background loop of the service: ``stop = start_background(services)``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.indexer.core import Indexer
from api.services import Services
from chain.errors import ChainError

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def make_indexer(services: Services, **kwargs: object) -> Indexer:
    """An indexer over the services' chain, store and database (confirmations from settings)."""
    return Indexer(
        engine=services.engine,
        chain=services.chain,
        store=services.store,
        # Blocks a re-org may still replace: TUANCHAIN_INDEX_CONFIRMATIONS (0 on anvil).
        confirmations=services.settings.index_confirmations,
        **kwargs,  # type: ignore[arg-type]
    )


def run_loop(services: Services, stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """Sync, sleep, repeat until ``stop`` is set. Errors are logged and retried: the node or
    the store being down must not kill the service."""
    indexer: Indexer | None = None
    while not stop.is_set():
        try:
            if indexer is None:
                indexer = make_indexer(services)
            indexer.sync()
        except ChainError as exc:
            logger.warning("indexer: chain unavailable (%s); retrying", exc)
        except Exception:
            logger.exception("indexer pass failed; retrying")
        stop.wait(poll_seconds)


def start_background(services: Services) -> Callable[[], None]:
    """Start the indexer in a daemon thread; returns a function that stops and joins it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_loop, args=(services, stop), name="tuanchain-indexer", daemon=True
    )
    thread.start()

    def stop_indexer() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_indexer
