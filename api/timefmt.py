"""Times in API bodies and pages: one ISO 8601 form, UTC with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime | int | None) -> str | None:
    """``2026-11-30T18:05:26Z``. Naive datetimes are UTC (SQLite returns them so: they were
    stored as UTC); an int is Unix seconds (chain time), 0 meaning "not yet"; None stays None."""
    if value is None or (isinstance(value, int) and value == 0):
        return None
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def at_offset(value: str | None, offset: str | None) -> datetime | None:
    """An ISO 8601 time at an EPCIS ``eventTimeZoneOffset`` (``+08:00``): the wall clock where
    the event happened. Without a readable offset, the time as it was given (None for none)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    try:
        zone = datetime.fromisoformat("2000-01-01T00:00:00" + str(offset)).tzinfo
    except ValueError:
        zone = None
    return moment.astimezone(zone) if zone and moment.tzinfo else moment
