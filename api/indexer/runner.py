"""The indexer as a background loop of the service: ``stop = start_background(services)``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.background import OnePass, run_passes, start_loop
from api.indexer.core import Indexer
from api.services import Services
from chain.errors import ChainError
from chain.identity import ChainChanged

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


def indexer_pass(services: Services) -> OnePass:
    """One sync per pass. Errors are logged and retried: the node or the store being down must
    not kill the service. If the node starts serving another chain, nothing more is indexed
    until the services connect to it and re-bind the database (which empties the index:
    api.binding); until then reads show the old chain's last state."""
    indexer: Indexer | None = None

    def one_pass(stop: threading.Event) -> None:
        nonlocal indexer
        try:
            services.check_chain()
            if indexer is None or indexer.chain is not services.chain:
                indexer = make_indexer(services)
            indexer.sync(stop=stop)
        except ChainChanged as exc:
            indexer = None
            logger.error("indexer: %s; waiting for a deployment on it", exc)
        except ChainError as exc:
            logger.warning("indexer: chain unavailable (%s); retrying", exc)

    return one_pass


def run_loop(services: Services, stop: threading.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """Sync, sleep, repeat until ``stop`` is set (``tuanchain index`` in the foreground)."""
    run_passes("indexer", indexer_pass(services), stop=stop, interval=poll_seconds)


def start_background(services: Services) -> Callable[[], None]:
    """Start the indexer in a daemon thread; returns a function that stops and joins it."""
    return start_loop("tuanchain-indexer", indexer_pass(services), interval=POLL_SECONDS)
