"""Times in API bodies and pages: one ISO 8601 form, UTC with ``Z``; zones named as pages name
them (``UTC+8``: ``api.render.format_time`` prints times with it)."""

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


def zone_label(moment: datetime) -> str:
    """A moment's offset as the pages name it: ``UTC``, ``UTC+8``, ``UTC-3:30``.

    One rule with its twin ``zoneLabel`` in ``api/static/wallet.js`` (which names the phone's
    zone so): change both or neither."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
