"""``POST /v1/relay`` losing the race for a nonce to a request that settles at once: never a 500.

Another API process accepts a request with the same (signer, nonce) between this accept's checks
and its insert — so the unique index on a pending request's (signer, nonce) refuses the insert —
and the worker settles that request before this accept reads who holds the nonce. Found in
review: the holder was looked for among pending requests only; found none, the accept re-raised
the ``IntegrityError``: HTTP 500. Now the same request's row (200) or 409 ``nonce_taken`` naming
the other request.

The interleaving is made certain, not timed: the other process's row is inserted right before
this accept's INSERT runs, and settled right after its rollback, as this accept reads who holds
the nonce (both engine events on the statements: accept runs on a Core connection, its rollback
between the two).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, update

from api.app import create_app
from api.relayer.models import RelayRequest, RelayStatus
from api.services import Services

from .conftest import make_deal, own_outbox, repeatable_call, signed_forward


class OtherProcess:
    """Inserts its own row for the nonce right before our INSERT, and settles it right after
    our rollback (before our next statement, the read of the nonce's holder)."""

    def __init__(self, services: Services, *, same_request: bool, settled: str) -> None:
        self.engine, self.same_request, self.settled = services.engine, same_request, settled
        self.row_id: str | None = None
        self.rolled_back = False

    def before_execute(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if self.row_id is not None:
            if statement.startswith("SELECT") and "relay_requests" in statement:
                self.after_rollback()
            return
        if not statement.startswith("INSERT INTO relay_requests"):
            return
        values = dict(context.compiled_parameters[0])  # by column name (SQLite's are positional)
        self.row_id = str(uuid.uuid4())
        values["id"] = self.row_id
        if not self.same_request:
            values["request_digest"] = "0x" + "ab" * 32
        with self.engine.begin() as other:  # another connection: committed before ours runs
            other.execute(insert(RelayRequest.__table__), values)

    def after_rollback(self) -> None:
        if self.rolled_back:
            return
        self.rolled_back = True
        with self.engine.begin() as other:  # the worker settles it
            other.execute(
                update(RelayRequest.__table__)
                .where(RelayRequest.id == self.row_id)
                .values(status=self.settled, tx_hash="0x" + "cd" * 32)
            )


@pytest.fixture
def other_process(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    installed: dict[str, Any] = {}
    yield installed
    if "process" in installed:
        process = installed["process"]
        event.remove(process.engine, "before_cursor_execute", process.before_execute)


@pytest.mark.parametrize(
    ("same_request", "settled", "answer"),
    [
        (True, RelayStatus.MINED.value, 200),
        (False, RelayStatus.MINED.value, 409),
        (True, RelayStatus.FAILED.value, 409),
    ],
)
def test_a_nonce_taken_and_settled_meanwhile_answers_the_row_or_a_named_409(
    services: Services,
    tmp_path: Path,
    other_process: dict[str, Any],
    same_request: bool,
    settled: str,
    answer: int,
) -> None:
    own = own_outbox(services, tmp_path)
    chain = services.chain
    signer, target, data = repeatable_call(chain, make_deal(chain))
    body = signed_forward(
        chain, signer, target, data, nonce=chain.clients.forwarder.nonces(signer.address)
    )
    process = other_process["process"] = OtherProcess(
        own, same_request=same_request, settled=settled
    )
    event.listen(own.engine, "before_cursor_execute", process.before_execute)

    with TestClient(create_app(own), raise_server_exceptions=False) as client:
        response = client.post("/v1/relay", json=body)
    assert process.rolled_back, response.text  # the race happened as arranged
    assert response.status_code == answer, response.text
    if answer == 200:
        assert response.json()["id"] == process.row_id
        assert response.json()["status"] == "mined"
    else:
        assert response.json()["code"] == "nonce_taken"
        assert process.row_id in response.text
