"""The relayer's database work alone, on SQLite, before and after the eighth pass (issue 15).

No chain, no HTTP: CPU (``time.process_time``, SQLite's writes included) of

1. ``accept``: one accept's statements — the look-up, the INSERT, the notify, the commit — on an
   ORM session as the route opened one before (``session``), and on a Core connection as it
   does now (``connection``);
2. ``batch``: the worker's database side of one batch of ``--batch`` requests — the heads read,
   the claimed rows loaded, the batch's bytes stored, ``sending``, ``sent``; then settling: the
   in-flight read, the rows loaded, the fee series, ``mined``, the bytes forgotten — with each
   read statement built on every batch as before (``built``) and built once (``cached``), both
   spelled here as the worker spelled and spells them.

Rounds alternate the two forms, each first in turn. Prints one JSON object of microseconds (mean per round).
Run: ``.venv/bin/python scripts/bench_outbox_db.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, delete, insert, select

from api.db import init_db, session_factory
from api.db.models import load_all_models
from api.db.wakeups import notify
from api.relayer import accept as accept_module
from api.relayer import outbox
from api.relayer.models import RelayBatch, RelayRequest, utcnow
from api.relayer.send import _store_batch
from api.services import make_engine

_TYPED = {
    "types": {"ForwardRequest": [{"name": "from", "type": "address"}]},
    "domain": {"name": "TuanchainForwarder", "version": "1", "chainId": 31337},
    "message": {
        "from": "0x" + "1" * 40,
        "to": "0x" + "2" * 40,
        "value": "0",
        "gas": "400000",
        "nonce": "0",
        "deadline": "9999999999",
        "data": "0x" + "ab" * 600,  # a join's calldata with its permit, about this long
    },
}


def _values(i: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": str(uuid.uuid4()),
        "status": "queued",
        "chain_key": "k",
        "attempts": 0,
        "next_attempt_at": 0.0,
        "created_at": now,
        "updated_at": now,
        "action": "join",
        "signer": f"0x{i:040x}",
        "target": "0x" + "2" * 40,
        "nonce": 0,
        "deadline": 10**10,
        "request_digest": f"0x{i:064x}",
        "typed_data": _TYPED,
        "signature": "0x" + "ab" * 65,
        "permit": {"message": {"nonce": "0", "owner": "0x" + "3" * 40, "deadline": "1"}},
        "permit_signature": "0x" + "cd" * 65,
        "details": {"deal_id": 1, "quantity": 2},
    }


class _Moves(outbox.OutboxMoves):
    clock = staticmethod(time.time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accepts", type=int, default=1000, help="accepts a round")
    parser.add_argument("--batches", type=int, default=40, help="batches a round")
    parser.add_argument("--batch", type=int, default=30, help="requests a batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/outbox.db")
    load_all_models()
    init_db(engine)
    sessions = session_factory(engine)
    moves = _Moves()
    counter = iter(range(10**9))

    def accept_on_session() -> None:
        i = next(counter)
        with sessions() as session:
            accept_module._look_up(session.connection(), f"0x{i:064x}", f"0x{i:040x}")
            session.connection().execute(accept_module._INSERT, _values(i))
            notify(session.connection(), "channel")
            session.commit()

    def accept_on_connection() -> None:
        i = next(counter)
        with engine.connect() as connection:
            accept_module._look_up(connection, f"0x{i:064x}", f"0x{i:040x}")
            connection.execute(accept_module._INSERT, _values(i))
            notify(connection, "channel")
            connection.commit()

    def one_batch(cached: bool) -> float:
        """CPU seconds of the batch's work (its requests' insert, by accept, not counted)."""
        with engine.begin() as connection:
            connection.execute(
                insert(RelayRequest.__table__), [_values(next(counter)) for _ in range(args.batch)]
            )
        tx_hash = f"0x{next(counter):064x}"
        started = time.process_time()
        with sessions() as session:
            candidates = _candidates(session, moves, cached, args.batch)
            session.rollback()
            rows = _claimed(session, moves, cached, [r.id for r in candidates])
            session.execute(
                _store_batch(session),
                {"tx_hash": tx_hash, "raw_tx": "0x" + "ee" * 20000, "max_fee_per_gas": 1},
            )
            moves._move(session, rows, status="sending", tx_hash=tx_hash, relayer_nonce=1)
            session.commit()
            moves._move(session, rows, status="sent")
            session.commit()
            session.rollback()
            members = _members(session, moves, cached)
            session.rollback()
            batch = _in_flight_rows(session, moves, cached, [m[0] for m in members])
            _series(session, cached, tx_hash)
            moves._move(session, batch, status="mined", raw_tx=None, block_number=1)
            _forget(session, cached, tx_hash)
            session.commit()
        return time.process_time() - started

    def per_call(count: int, work: Any, *work_args: Any) -> float:
        if work is one_batch:
            return 1e6 * sum(one_batch(*work_args) for _ in range(count)) / count
        started = time.process_time()
        for _ in range(count):
            work(*work_args)
        return 1e6 * (time.process_time() - started) / count

    for _ in range(5):  # warm: statements compiled, caches filled
        accept_on_session(), accept_on_connection(), one_batch(False), one_batch(True)
    results: dict[str, list[float]] = {}
    for round_number in range(args.rounds):
        # Each pair in turn first and second (the tables grow, and later work costs more).
        order = 1 if round_number % 2 == 0 else -1
        for pair in (
            (
                ("accept_session_us", args.accepts, accept_on_session, ()),
                ("accept_connection_us", args.accepts, accept_on_connection, ()),
            ),
            (
                ("batch_built_us", args.batches, one_batch, (False,)),
                ("batch_cached_us", args.batches, one_batch, (True,)),
            ),
        ):
            for name, count, work, work_args in pair[::order]:
                results.setdefault(name, []).append(round(per_call(count, work, *work_args)))
    print(json.dumps({"batch": args.batch, **results}, indent=2))


# ---------------------------------------------------------------- the worker's reads, both ways


def _candidates(session: Any, moves: Any, cached: bool, limit: int) -> list[Any]:
    if cached:
        statement = moves._statement(
            "_candidates",
            lambda: (
                moves._heads(set(), set())
                .where(
                    RelayRequest.status == "queued",
                    RelayRequest.id.not_in(bindparam("seen", expanding=True)),
                    RelayRequest.signer.not_in(bindparam("busy", expanding=True)),
                )
                .limit(bindparam("limit"))
                .with_only_columns(RelayRequest.id, RelayRequest.signer)
            ),
        )
        params = {"seen": [], "busy": [], "limit": limit}
        return list(session.connection().execute(statement, params).all())
    return list(
        session.execute(
            moves._heads(set(), set())
            .where(RelayRequest.status == "queued")
            .limit(limit)
            .with_only_columns(RelayRequest.id, RelayRequest.signer)
        ).all()
    )


def _claimed(session: Any, moves: Any, cached: bool, ids: list[str]) -> list[Any]:
    if cached:
        statement = moves._statement(
            "_claimed_rows",
            lambda: (
                moves._heads(set(), set())
                .where(
                    RelayRequest.id.in_(bindparam("ids", expanding=True)),
                    RelayRequest.status == "queued",
                )
                .options(*outbox.SENDING_UNUSED)
                .execution_options(populate_existing=True)
            ),
        )
        return list(session.scalars(statement, {"ids": ids}).all())
    return list(
        session.scalars(
            moves._heads(set(), set())
            .where(RelayRequest.id.in_(ids), RelayRequest.status == "queued")
            .options(*outbox.SENDING_UNUSED)
            .execution_options(populate_existing=True)
        ).all()
    )


def _members_statement(query: Any) -> Any:
    return query.outerjoin(
        RelayBatch, RelayBatch.tx_hash == RelayRequest.tx_hash
    ).with_only_columns(
        RelayRequest.id,
        RelayRequest.signer,
        RelayRequest.tx_hash,
        RelayRequest.status,
        RelayRequest.next_attempt_at,
        RelayBatch.max_fee_per_gas,
    )


def _in_flight_built() -> Any:
    return (
        select(RelayRequest)
        .where(RelayRequest.status.in_(["sending", "sent"]))
        .order_by(RelayRequest.relayer_nonce, RelayRequest.created_at)
    )


def _members(session: Any, moves: Any, cached: bool) -> list[Any]:
    if cached:
        statement = moves._statement(
            "_in_flight_members",
            lambda: _members_statement(moves._in_flight_query(due_only=False)),
        )
        return list(session.connection().execute(statement).all())
    return list(session.execute(_members_statement(_in_flight_built())).all())


def _in_flight_rows(session: Any, moves: Any, cached: bool, ids: list[str]) -> list[Any]:
    if cached:
        statement = moves._statement(
            "_in_flight_rows",
            lambda: (
                moves._in_flight_query(due_only=False)
                .where(RelayRequest.id.in_(bindparam("ids", expanding=True)))
                .options(*outbox.SETTLING_UNUSED)
                .execution_options(populate_existing=True)
            ),
        )
        return list(session.scalars(statement, {"ids": ids}).all())
    return list(
        session.scalars(
            _in_flight_built()
            .where(RelayRequest.id.in_(ids))
            .options(*outbox.SETTLING_UNUSED)
            .execution_options(populate_existing=True)
        ).all()
    )


def _series(session: Any, cached: bool, tx_hash: str) -> list[str]:
    if cached:
        return outbox.OutboxMoves._series(session, tx_hash)
    found = session.execute(select(RelayBatch.series).where(RelayBatch.tx_hash == tx_hash)).first()
    first = (found.series if found else None) or tx_hash
    return list(
        session.scalars(
            select(RelayBatch.tx_hash)
            .where((RelayBatch.tx_hash == first) | (RelayBatch.series == first))
            .order_by(RelayBatch.created_at)
        ).all()
    )


def _forget(session: Any, cached: bool, tx_hash: str) -> None:
    hashes = _series(session, cached, tx_hash)
    if cached:
        session.execute(outbox._FORGET, {"hashes": hashes})
    else:
        session.execute(delete(RelayBatch).where(RelayBatch.tx_hash.in_(hashes)))


if __name__ == "__main__":
    main()
