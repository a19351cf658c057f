"""The provenance cache's concurrency rules: one version check at a time (not one per concurrent
request), and a body built from data older than the current index version is never cached."""

from __future__ import annotations

from pathlib import Path

from api.queries import ProvenanceCache
from api.services import make_engine

from ...clock import SetClock

KEY = ("06901234500011", "LOT1")


def _cache(
    tmp_path: Path, *, check_seconds: float = 0.0, clock: SetClock | None = None
) -> ProvenanceCache:
    return ProvenanceCache(
        make_engine(f"sqlite:///{tmp_path}/index.db"),
        check_seconds=check_seconds,
        clock=clock or SetClock(1_000.0),
    )


def test_only_one_caller_runs_a_due_version_check(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.put(KEY, b"body")
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


def test_the_first_lookup_checks_the_version_whatever_the_clock_reads(tmp_path: Path) -> None:
    """Regression: the last check started at 0.0 on time.monotonic(), which counts from boot; on
    a machine up for less than ``check_seconds`` (a fresh CI container) the version was never
    read, so a cache fed by another process's indexer was never invalidated."""
    clock = SetClock(5.0)  # five seconds after boot, far less than the check interval
    cache = _cache(tmp_path, check_seconds=3600.0, clock=clock)
    assert cache.lookup(KEY) == (False, None)  # due: never checked
    cache.get(KEY)
    assert cache.version == -1  # read (an empty index)
    clock.now += 3599.0
    assert cache.lookup(KEY) == (True, None)  # checked within the interval: no query
    clock.now += 1.0
    assert cache.lookup(KEY) == (False, None)  # the interval is over
    cache.get(KEY)
    cache.clear()  # the in-process indexer committed
    assert cache.lookup(KEY) == (False, None)  # due again at once
