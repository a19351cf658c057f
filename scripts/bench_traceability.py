"""Traceability benchmarks: prints ONE JSON object, one key per section.

Each section is a function returning a dict; other traceability parts add their own
section functions to ``SECTIONS``. Run: ``.venv/bin/python scripts/bench_traceability.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from traceability.ipfs.importer import KUBO_DEFAULT_V0, UNIXFS_V1_2025, compute_cid  # noqa: E402

logger = logging.getLogger(__name__)

MIB = 1024 * 1024


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def cid_section(size_mib: int = 64, repeats: int = 3) -> dict[str, object]:
    """CID throughput (CIDv0 and CIDv1) next to plain sha256 over the same bytes, same run."""
    data = os.urandom(size_mib * MIB)
    sha = _best_seconds(lambda: hashlib.sha256(data).digest(), repeats)
    v0 = _best_seconds(lambda: compute_cid(data, profile=KUBO_DEFAULT_V0), repeats)
    v1 = _best_seconds(lambda: compute_cid(data, profile=UNIXFS_V1_2025), repeats)
    mbps = lambda seconds: round(len(data) / MIB / seconds, 1)  # noqa: E731
    return {
        "file_mib": size_mib,
        "sha256_mib_s": mbps(sha),
        "cidv0_mib_s": mbps(v0),
        "cidv1_mib_s": mbps(v1),
        "cidv0_ratio_to_sha256": round(sha / v0, 3),
        "cidv1_ratio_to_sha256": round(sha / v1, 3),
        "target_ratio": 0.5,
    }


SECTIONS: dict[str, Callable[[], dict[str, object]]] = {
    "ipfs_cid": cid_section,
}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps({name: section() for name, section in SECTIONS.items()}, indent=2))


if __name__ == "__main__":
    main()
