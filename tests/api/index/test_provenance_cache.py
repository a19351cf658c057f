"""The provenance cache's concurrency rules: one version check at a time (not one per concurrent
request), and a body built from data older than the current index version is never cached."""

from __future__ import annotations

import time
from pathlib import Path

from api.queries import ProvenanceCache
from api.services import make_engine

KEY = ("06901234500011", "LOT1")


def _cache(tmp_path: Path) -> ProvenanceCache:
    return ProvenanceCache(make_engine(f"sqlite:///{tmp_path}/index.db"), check_seconds=0.0)


def test_only_one_caller_runs_a_due_version_check(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.put(KEY, b"body")
    time.sleep(0.001)
    assert cache.lookup(KEY) == (False, None)  # this caller runs the check
    assert cache.lookup(KEY) == (True, b"body")  # the others keep being served meanwhile
    cache.get(KEY)  # the check (empty index: version -1) ends the flight and clears
    assert cache.lookup(KEY) == (False, None)  # the next interval's first caller checks again


def test_a_body_built_under_an_older_version_is_dropped(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.get(KEY)
    seen = cache.version
    cache._version = (seen or 0) + 1  # the indexer moved on while the body was being built
    cache.put(KEY, b"stale", seen)
    assert cache._items.get(KEY) is None
    cache.put(KEY, b"fresh", cache.version)
    assert cache._items.get(KEY) == b"fresh"
