"""The webhook outbox as a background role of the service (``tuanchain serve`` / ``worker``).

A singleton role (:mod:`api.roles`): one process enqueues and sends, so two never race to send
the same row (a crash may still send a row twice: at least once). A pass enqueues when the index
changed (a new block can bring notices, or move chain time past a deadline), when an endpoint was
registered, or every ``RESCAN_SECONDS`` (an endpoint registered by another process); then sends
what is due, and sleeps until the next row is due.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from api.background import start_loop
from api.db import ensure_db
from api.indexer.changes import off_index_change, on_index_change
from api.services import Services
from api.webhooks.outbox import HttpSend, WebhookOutbox
from api.webhooks.targets import TargetPolicy

POLL_SECONDS = 5.0
RESCAN_SECONDS = 60.0
# Enqueueing looks at the deals changed since the last pass: at most this often, however fast
# blocks come (a pass per block would redo the same recipients' notices block after block).
MIN_RESCAN_SECONDS = 2.0

# Set by whoever adds work in this process (an endpoint registered, a dead letter retried).
WAKE = threading.Event()
RESCAN = threading.Event()


def document_key(services: Services) -> bytes:
    return bytes.fromhex(services.settings.document_key.get_secret_value())


def make_outbox(services: Services, **options: object) -> WebhookOutbox:
    """The outbox of these services; it sends only where the settings' policy allows
    (:class:`~api.webhooks.targets.TargetPolicy`: private targets only on a local chain)."""
    if "send" not in options:
        options["send"] = HttpSend(TargetPolicy.of(services.settings))
    return WebhookOutbox(services.engine, services.store, document_key(services), **options)  # type: ignore[arg-type]


def wake(rescan: bool = False) -> None:
    if rescan:
        RESCAN.set()
    WAKE.set()


def start_background(services: Services, **options: object) -> Callable[[], None]:
    outbox = make_outbox(services, **options)
    ensure_db(services.engine)
    RESCAN.set()
    last_scan = 0.0

    def changed() -> None:
        wake(rescan=True)

    on_index_change(changed)

    def one_pass(_: threading.Event) -> float:
        nonlocal last_scan
        since_scan = time.monotonic() - last_scan
        rescan_in = MIN_RESCAN_SECONDS - since_scan if RESCAN.is_set() else None
        if since_scan >= RESCAN_SECONDS or (rescan_in is not None and rescan_in <= 0):
            RESCAN.clear()
            last_scan, rescan_in = time.monotonic(), None
            outbox.enqueue()
        attempted = outbox.deliver_due()
        if attempted == outbox.batch:
            return 0.0  # more are due
        due = outbox.next_due()
        delay = POLL_SECONDS if due is None else max(0.0, min(POLL_SECONDS, due - outbox.clock()))
        return delay if rescan_in is None else min(delay, rescan_in)

    stop_loop = start_loop("webhooks", one_pass, interval=POLL_SECONDS, wake=WAKE)

    def stop() -> None:
        off_index_change(changed)
        stop_loop()
        outbox.close()

    return stop
