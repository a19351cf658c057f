"""A clock the test sets: code that takes a ``clock`` callable (backoffs, windows, caches, rate
limits) run through its timing rules without sleeping or reading real time."""

from __future__ import annotations

import time


class SetClock:
    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now
