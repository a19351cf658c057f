"""``/healthz`` names a stuck relayer: a relayed request accepted long ago and still neither mined
nor failed (no worker beside a ``--no-background`` server, say) is a 503 naming ``relayer``, with
how long it has waited and what to check; one accepted a moment ago is not (SQLite and
PostgreSQL). Found in the operations review: the outbox could stop draining and /healthz said ok.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from api.app import create_app
from api.relayer.models import RelayRequest, RelayStatus
from api.routes.health import RELAY_STUCK_SECONDS
from api.services import Services

from .world import World


def _accepted(engine: Engine, age_seconds: float) -> str:
    """A queued relayed request, accepted ``age_seconds`` ago, that nothing has sent."""
    request_id = str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        session.add(
            RelayRequest(
                id=request_id,
                action="join",
                signer="0x" + uuid.uuid4().hex[:40].rjust(40, "0"),
                target="0x" + "22" * 20,
                nonce=0,
                deadline=2**40,
                request_digest="0x" + uuid.uuid4().hex * 2,
                typed_data={},
                signature="0x00",
                status=RelayStatus.QUEUED,
                created_at=datetime.now(UTC) - timedelta(seconds=age_seconds),
            )
        )
    return request_id


def test_health_names_a_relayer_whose_outbox_does_not_move(
    world: World, services: Services, fresh_engine: Callable[[], Engine]
) -> None:
    engine = fresh_engine()
    own = Services(
        settings=services.settings, store=services.store, engine=engine, _chain=services.chain
    )
    with TestClient(create_app(own, background=False)) as client:
        calm = client.get("/healthz")
        assert calm.status_code == 200, calm.text
        assert calm.json()["relayer"] == {
            "ok": True,
            "pending": 0,
            "oldest_pending_seconds": None,
            "error": None,
        }

        request_id = _accepted(engine, age_seconds=5)  # just accepted: the worker's to send
        fresh = client.get("/healthz")
        assert fresh.status_code == 200, fresh.text
        assert fresh.json()["relayer"]["pending"] == 1

        with Session(engine) as session, session.begin():  # it has waited too long now
            session.execute(
                update(RelayRequest)
                .where(RelayRequest.id == request_id)
                .values(created_at=datetime.now(UTC) - timedelta(seconds=RELAY_STUCK_SECONDS + 60))
            )
        stuck = client.get("/healthz")
        assert stuck.status_code == 503, stuck.text
        body = stuck.json()
        assert body["down"] == ["relayer"] and body["status"] == "degraded"
        assert body["relayer"]["oldest_pending_seconds"] > RELAY_STUCK_SECONDS
        assert "`tuanchain worker`" in body["relayer"]["error"]

        with Session(engine) as session, session.begin():  # mined at last
            session.execute(
                update(RelayRequest)
                .where(RelayRequest.id == request_id)
                .values(status=RelayStatus.MINED)
            )
        assert client.get("/healthz").status_code == 200
