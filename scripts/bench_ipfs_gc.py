"""How long an upload waits while the embedded store's gc runs.

Fills a store with unpinned documents (garbage) beside pinned ones, runs a full ``gc`` in a
thread and stores small pinned documents from the main thread until it ends. Before, gc held
gc.lock for its whole pass and an upload waited up to ``gc_seconds``; now it waits for at most
one chunk of deletions. Prints ONE JSON object.
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


def main(garbage_documents: int = 2000) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as root:
        store = EmbeddedDocumentStore(root, profile=PROFILE, durable=False)
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
            "sweep_chunk": store.SWEEP_CHUNK,
        }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:]))))
