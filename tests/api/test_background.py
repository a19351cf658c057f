"""Stopping the background jobs (api.background.stop_all): side by side, so a shutdown takes as
long as the slowest job rather than the sum of their join timeouts, and one job failing to stop
does not keep the others running."""

from __future__ import annotations

import threading

import pytest

from api.background import stop_all

GUARD_SECONDS = 60.0  # only against a hang: the barrier is passed at once when stops overlap


def test_jobs_are_stopped_side_by_side() -> None:
    # Each stop waits until every other stop has begun: stopped one after another, the first
    # would wait alone and the barrier would break.
    jobs = 4
    barrier = threading.Barrier(jobs, timeout=GUARD_SECONDS)
    stopped: list[int] = []

    def stop(n: int) -> None:
        barrier.wait()
        stopped.append(n)

    stop_all([lambda n=n: stop(n) for n in range(jobs)])
    assert sorted(stopped) == list(range(jobs))


def test_one_job_failing_to_stop_does_not_keep_the_others(caplog: pytest.LogCaptureFixture) -> None:
    stopped: list[str] = []

    def broken() -> None:
        raise RuntimeError("the store is down")

    stop_all([broken, lambda: stopped.append("relayer"), lambda: stopped.append("indexer")])
    assert sorted(stopped) == ["indexer", "relayer"]
    assert "stopping a background job failed" in caplog.text
