"""The relayer's and the bundler's transactions stuck unmined, for the operator's dashboard.

Read from the outboxes only (no chain call: the dashboard renders without a node). A transaction
is listed when a request or operation still waits on it and it was signed
``TUANCHAIN_RELAYER_REPLACE_AFTER_SECONDS`` ago or more (a replacement resets that: a batch
being bumped shows only while its latest fee waits), or when it is flagged at the fee ceiling
(``at_ceiling_since``: due for a replacement no raise fits under; :mod:`api.relayer.replace`,
:mod:`api.bundler.worker`) and the ceiling is still where it was. A person then raises
``TUANCHAIN_RELAYER_MAX_FEE_PER_GAS`` or waits for quieter blocks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.bundler.models import OpStatus, UserOperationRow
from api.relayer.models import RelayBatch, RelayRequest, RelayStatus
from api.services import Services
from chain.tx import at_ceiling

IN_FLIGHT = (RelayStatus.SENDING.value, RelayStatus.SENT.value)
# At most this many of each kind are listed (oldest first): a page, not a report.
LIMIT = 20


def stuck_transactions(services: Services, *, now: float) -> list[dict[str, Any]]:
    """The relayer batches and bundles waiting unmined too long (``now``: the workers' clock,
    seconds since the epoch), oldest first: ``kind`` (``relay`` / ``bundle``), ``tx_hash``,
    ``nonce``, ``requests`` (how many wait on it), ``waited`` (seconds), ``max_fee_per_gas``
    and ``at_ceiling``."""
    settings = services.settings
    ceiling = settings.relayer_max_fee_per_gas
    since = now - settings.relayer_replace_after_seconds
    found: list[dict[str, Any]] = []
    with Session(services.engine) as session:
        relay = session.execute(
            select(
                RelayBatch.tx_hash,
                RelayBatch.sent_at,
                RelayBatch.max_fee_per_gas,
                RelayBatch.at_ceiling_since,
                func.min(RelayRequest.relayer_nonce),
                func.count(RelayRequest.id),
            )
            .join(RelayRequest, RelayRequest.tx_hash == RelayBatch.tx_hash)
            .where(
                RelayRequest.status.in_(IN_FLIGHT),
                (RelayBatch.sent_at <= since) | RelayBatch.at_ceiling_since.is_not(None),
            )
            .group_by(RelayBatch.tx_hash)
            .order_by(RelayBatch.sent_at)
            .limit(LIMIT)
        ).all()
        for tx_hash, sent_at, cap, flagged, nonce, count in relay:
            found.append(_entry("relay", tx_hash, nonce, count, sent_at, cap, flagged, now, since))
        bundles = session.execute(
            select(
                UserOperationRow.tx_hash,
                UserOperationRow.sent_at,
                UserOperationRow.raw_tx,
                UserOperationRow.at_ceiling_since,
                UserOperationRow.bundler_nonce,
            )
            .where(
                UserOperationRow.status.in_([OpStatus.SENDING.value, OpStatus.SENT.value]),
                UserOperationRow.tx_hash.is_not(None),
                (UserOperationRow.sent_at <= since)
                | UserOperationRow.at_ceiling_since.is_not(None),
            )
            .order_by(UserOperationRow.sent_at)
            .limit(LIMIT)
        ).all()
        for tx_hash, sent_at, raw, flagged, nonce in bundles:
            cap = _cap_of(raw)
            found.append(_entry("bundle", tx_hash, nonce, 1, sent_at, cap, flagged, now, since))
    entries = [e for e in found if e["waited_long"] or (e["flagged"] and _capped(e, ceiling))]
    for entry in entries:
        entry["at_ceiling"] = bool(entry.pop("flagged")) and _capped(entry, ceiling)
        del entry["waited_long"]
    return sorted(entries, key=lambda e: -e["waited"])


def _entry(
    kind: str,
    tx_hash: str,
    nonce: int | None,
    count: int,
    sent_at: float | None,
    cap: int | None,
    flagged: float | None,
    now: float,
    since: float,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "tx_hash": tx_hash,
        "nonce": nonce,
        "requests": count,
        "waited": max(0, int(now - sent_at)) if sent_at is not None else None,
        "max_fee_per_gas": cap,
        "flagged": flagged,
        "waited_long": sent_at is not None and sent_at <= since,
    }


def _capped(entry: dict[str, Any], ceiling: int) -> bool:
    cap = entry["max_fee_per_gas"]
    return cap is not None and at_ceiling(cap, ceiling)


def _cap_of(raw: str | None) -> int | None:
    if not raw:
        return None
    from chain.tx import decode_signed

    return int(decode_signed(raw)["maxFeePerGas"])


__all__ = ["stuck_transactions"]
