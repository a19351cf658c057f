"""What the index's read model (:mod:`api.queries`) raises: domain errors, not HTTP.

:mod:`api.errors` maps them to statuses once (``NotInIndex`` → 404); the code a client sees is
the class name in snake case (``DealNotFound`` → ``deal_not_found``, the same code as the
escrow's own ``DealNotFound`` revert), and ``details`` carries the values the error is about.
"""

from __future__ import annotations

from typing import Any


class IndexReadError(Exception):
    """Root of the read model's errors."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class NotInIndex(IndexReadError):
    """The thing asked for is not in the index (unknown, or not indexed yet)."""


class DealNotFound(NotInIndex):
    pass


class BatchNotFound(NotInIndex):
    pass
