"""How long an upload waits while the embedded store's gc runs.

Fills a store with unpinned documents (garbage) beside pinned ones, runs a full ``gc`` in a
thread and stores small pinned documents from the main thread until it ends. The baseline, in
the same run on a second store filled alike, is the gc as it was: gc.lock held exclusively
from its reading of the pins to its last deletion. Prints ONE JSON object.
Run: ``.venv/bin/python scripts/bench_ipfs_gc.py [GARBAGE_DOCUMENTS]``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from traceability.ipfs import EmbeddedDocumentStore, ImportProfile

# Small chunks: many blocks (files to delete) from little data.
PROFILE = ImportProfile("bench", cid_version=1, raw_leaves=True, chunk_size=256, max_links=8)


class WholePassLock(EmbeddedDocumentStore):
    """The old gc: one exclusive section for the whole pass."""

    def gc(self, older_than: float | None = None) -> int:
        assert older_than is None
        with self._gc_lock(exclusive=True):
            live = self._mark(self._live_roots(None))
            removed = 0
            for path in list(self.blocks.iter_paths()):
                if path.name not in live:
                    path.unlink()
                    removed += 1
            return removed


def measure(kind: type[EmbeddedDocumentStore], garbage_documents: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as root:
        store = kind(root, profile=PROFILE, durable=False)
        for _ in range(garbage_documents):
            store.put(os.urandom(4096), pin=False)
        for _ in range(garbage_documents // 10):
            store.put(os.urandom(4096), pin=True)
        blocks = sum(1 for _ in store.blocks.iter_paths())

        removed: list[int] = []
        gc_thread = threading.Thread(target=lambda: removed.append(store.gc()))
        waits: list[float] = []
        gc_start = time.perf_counter()
        gc_thread.start()
        while gc_thread.is_alive():
            start = time.perf_counter()
            cid = store.put(os.urandom(1024), pin=True)
            waits.append(time.perf_counter() - start)
        gc_thread.join()
        gc_seconds = time.perf_counter() - gc_start
        lost = [cid for cid in store.pins() if not store.has(cid)]
        assert not lost and cid in store.pins()
        return {
            "blocks_before": blocks,
            "blocks_removed": removed[0],
            "gc_seconds": round(gc_seconds, 3),
            "uploads_during_gc": len(waits),
            "upload_ms_median": round(statistics.median(waits) * 1000, 2),
            "upload_ms_max": round(max(waits) * 1000, 2),
        }


def main(garbage_documents: int = 2000) -> dict[str, object]:
    return {
        "new": {
            **measure(EmbeddedDocumentStore, garbage_documents),
            "sweep_chunk": EmbeddedDocumentStore.SWEEP_CHUNK,
        },
        "whole_pass_lock": measure(WholePassLock, garbage_documents),
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:]))))
