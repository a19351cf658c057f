"""The table of the per-client rate limit's shared buckets (:class:`api.ratelimit.SharedBuckets`).

Apart from :mod:`api.ratelimit`, which answers HTTP requests: the binding classifies this table
without importing the web layer."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.models import Base


class RateLimitBucket(Base):
    """A client's bucket shared by every process on this database.
    ``at``: seconds since the epoch by the database's clock, the one clock all processes share."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[float] = mapped_column(Float)
    granted: Mapped[float] = mapped_column(Float)  # what the last lease took (its RETURNING)
