"""The relay worker builds its statements once (issue 15, eighth pass): what varies between runs
— the clock, the requests already taken this pass, the signers another worker holds — is read
when a statement runs, not frozen into it when it was built."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from api.relayer.models import RelayRequest, RelayStatus, utcnow
from api.relayer.worker import RelayWorker
from api.services import Services

from ...clock import SetClock
from .conftest import own_outbox


def _row(signer: str, *, status: RelayStatus, due_at: float) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": str(uuid.uuid4()),
        "action": "join",
        "signer": signer,
        "target": "0x" + "2" * 40,
        "nonce": 0,
        "deadline": 2**40,
        "request_digest": "0x" + uuid.uuid4().hex * 2,
        "typed_data": {},
        "signature": "0x",
        "chain_key": "k",
        "status": status.value,
        "attempts": 0,
        "next_attempt_at": due_at,
        "tx_hash": "0x" + "ab" * 32 if status != RelayStatus.QUEUED else None,
        "created_at": now,
        "updated_at": now,
    }


def test_the_in_flight_count_reads_the_clock_each_time_it_runs(
    services: Services, tmp_path: Path
) -> None:
    own = own_outbox(services, tmp_path)
    with own.engine.begin() as connection:
        connection.execute(
            insert(RelayRequest.__table__),
            [
                _row("0x" + "1" * 40, status=RelayStatus.SENT, due_at=100.0),
                _row("0x" + "3" * 40, status=RelayStatus.SENDING, due_at=200.0),
            ],
        )
    clock = SetClock(50.0)
    worker = RelayWorker(own, clock=clock)
    assert worker.in_flight() == 0  # neither is due yet
    clock.now = 150.0
    assert worker.in_flight() == 1  # the same worker, its statement built once: the clock moved
    clock.now = 250.0
    assert worker.in_flight() == 2


def test_the_candidate_heads_leave_out_what_this_pass_took_and_what_others_hold(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = own_outbox(services, tmp_path)
    # One lane: every candidate in this batch (a key pool sends the fullest lane's).
    monkeypatch.setattr(own.chain, "relayers", (own.chain.relayer,))
    signers = ["0x" + str(n) * 40 for n in range(1, 5)]
    rows = [_row(s, status=RelayStatus.QUEUED, due_at=0.0) for s in signers]
    with own.engine.begin() as connection:
        connection.execute(insert(RelayRequest.__table__), rows)
    worker = RelayWorker(own, clock=SetClock(1.0))

    def candidates(seen: set[str], busy: set[str]) -> set[str]:
        # The worker's own read of a batch's candidates (its _one_batch), through a stub that
        # stops right after it: the ids it would claim.
        taken: list[set[str]] = []

        class Stop(Exception):
            pass

        class Claims:
            def signers(self, names: list[str]) -> Any:
                taken.append({r["id"] for r in rows if r["signer"] in names})
                raise Stop

        worker.claims = Claims()  # type: ignore[assignment]
        with worker.sessions() as session:
            try:
                worker._one_batch(session, set(seen), set(busy))
            except Stop:
                pass
        return taken[0] if taken else set()

    everyone = {r["id"] for r in rows}
    assert candidates(set(), set()) == everyone
    assert candidates({rows[0]["id"]}, set()) == everyone - {rows[0]["id"]}
    assert candidates(set(), {signers[1], signers[2]}) == {rows[0]["id"], rows[3]["id"]}
    assert candidates(set(), set()) == everyone  # nothing of the runs before stays behind
