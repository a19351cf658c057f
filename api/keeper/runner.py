"""The keeper as a background loop of the service: ``stop = start_background(services)``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.background import start_loop
from api.keeper.core import INTERVAL_SECONDS, Keeper
from api.services import Services
from chain import errors as chain_errors

logger = logging.getLogger(__name__)


def start_background(
    services: Services, *, interval: float = INTERVAL_SECONDS
) -> Callable[[], None]:
    """Run the keeper every ``interval`` seconds in a daemon thread; returns the stop function."""
    keeper: Keeper | None = None

    def one_pass(stop: threading.Event) -> None:
        nonlocal keeper
        try:
            services.check_chain()  # never act on another chain than the index's
            if keeper is None or keeper.chain is not services.chain:
                keeper = Keeper(services.chain, index=services.engine)
            keeper.run_once(stop=stop)
        except chain_errors.ChainError as exc:
            logger.warning("keeper pass failed: %s", exc)

    return start_loop("keeper", one_pass, interval=interval)
