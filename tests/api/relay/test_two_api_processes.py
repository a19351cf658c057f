"""Two API processes on one PostgreSQL outbox cannot both accept one nonce.

Two real app processes (uvicorn, each on its own Unix socket: no ports) start together on a new
PostgreSQL schema — so both apply the migrations at once, and the migration lock must let one do
it while the other waits — and serve the relay on the session's anvil. The same signed join is
posted to both at once. To make "at once" certain rather than a matter of timing, the test holds a
``SHARE`` lock on ``relay_requests`` (reads pass, inserts wait) until both processes have checked
the request and wait to insert it (seen in ``pg_locks``), then lets go: the unique index on a
pending request's (signer, nonce) lets exactly one commit, and the other answers 409
``nonce_taken`` naming it.

PostgreSQL only: it is where several API processes share one outbox (SQLite allows one writer,
and the same index is checked there by ``tests/api/db/test_migrations.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.services import make_engine
from chain.artifacts import REPO_ROOT
from chain.context import Chain
from chain.settings import Settings

from ..conftest import POSTGRES_ENV
from .conftest import consumer, make_deal, sign

# A safety net against a hung process, not a timing assumption: every wait below ends as soon as
# its condition holds (or the process it waits for has died).
PATIENCE_SECONDS = 120


class AppProcess:
    """``uvicorn api.app:create_app --factory`` on a Unix socket, configured by environment."""

    def __init__(self, env: dict[str, str], socket: Path, log: Path) -> None:
        self.socket, self.log = socket, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
                + ["--uds", str(socket), "--log-level", "warning"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )
        self.client = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)),
            base_url="http://app",
            timeout=PATIENCE_SECONDS,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_serving(self) -> None:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            if self.socket.exists():
                try:
                    self.client.get("/healthz")
                    return
                except httpx.TransportError:
                    pass
            try:
                self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError(f"not serving after {PATIENCE_SECONDS} s:\n{self.output()}")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=PATIENCE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def shared_outbox(
    postgres_schema: Callable[[str], AbstractContextManager[str]],
) -> Iterator[str]:
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"API processes share an outbox on PostgreSQL ({POSTGRES_ENV} unset)")
    with postgres_schema("two") as url:
        yield url


@pytest.fixture
def two_apps(
    shared_outbox: str, api_settings: Settings, api_chain: Chain, tmp_path: Path
) -> Iterator[tuple[AppProcess, AppProcess]]:
    env = {
        **os.environ,
        "TUANCHAIN_RPC_URL": api_settings.rpc_url,
        "TUANCHAIN_CHAIN_ID": str(api_settings.chain_id),
        "TUANCHAIN_DEPLOYMENTS_DIR": str(api_settings.deployments_dir),
        "TUANCHAIN_DATA_DIR": str(tmp_path / "data"),
        "TUANCHAIN_DATABASE_URL": shared_outbox,
    }
    with ExitStack() as stack:
        apps = []
        for name in ("a", "b"):  # both start, and migrate, at once
            app = AppProcess(env, tmp_path / f"{name}.sock", tmp_path / f"{name}.log")
            stack.callback(app.stop)
            apps.append(app)
        for app in apps:
            app.wait_serving()
        yield apps[0], apps[1]


def _post_all(
    apps: tuple[AppProcess, ...], body: dict[str, Any]
) -> tuple[list[httpx.Response | BaseException], list[threading.Thread]]:
    """POST ``body`` to every app at once (one thread each); returns (responses, threads)."""
    responses: list[httpx.Response | BaseException] = []

    def post(app: AppProcess) -> None:
        try:
            responses.append(app.client.post("/v1/relay", json=body))
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            responses.append(exc)

    threads = [threading.Thread(target=post, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    return responses, threads


def test_one_nonce_posted_to_two_api_processes_at_once_is_accepted_once(
    two_apps: tuple[AppProcess, AppProcess],
    shared_outbox: str,
    api_chain: Chain,
    chain_snapshot: None,
) -> None:
    first = two_apps[0]
    deal = make_deal(api_chain)
    buyer = consumer(api_chain)
    prepared = first.client.post(
        "/v1/actions/join/prepare",
        json={
            "from": buyer.address,
            "deal_id": deal.deal_id,
            "quantity": 1,
            "leader": deal.leader.address,
        },
    )
    assert prepared.status_code == 200, prepared.text
    signed = sign(buyer, prepared.json())

    engine = make_engine(shared_outbox)
    try:
        with engine.connect() as holder, engine.connect() as observer:
            holder.execute(text("LOCK TABLE relay_requests IN SHARE MODE"))  # inserts wait
            responses, threads = _post_all(two_apps, signed)
            waiting = text(
                "SELECT count(*) FROM pg_locks WHERE relation = 'relay_requests'::regclass "
                "AND mode = 'RowExclusiveLock' AND NOT granted"
            )
            deadline = time.monotonic() + PATIENCE_SECONDS
            while observer.execute(waiting).scalar_one() < 2:  # both checked it, both insert
                assert all(t.is_alive() for t in threads), responses
                assert time.monotonic() < deadline, "both processes never reached the insert"
                observer.rollback()  # a fresh snapshot of pg_locks
                threads[0].join(timeout=0.05)
            holder.rollback()  # let go: both inserts proceed, one commits
        for thread in threads:
            thread.join(timeout=PATIENCE_SECONDS)
        assert all(isinstance(r, httpx.Response) for r in responses), responses
        by_status = {r.status_code: r.json() for r in responses}  # type: ignore[union-attr]
        assert sorted(by_status) == [202, 409], [r.text for r in responses]  # type: ignore[union-attr]
        accepted, refused = by_status[202], by_status[409]
        assert refused["code"] == "nonce_taken"
        assert refused["details"] == {"pending": accepted["id"], "same_request": True}

        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, status FROM relay_requests WHERE signer = :s"),
                {"s": buyer.address},
            ).all()
        assert [tuple(r) for r in rows] == [(accepted["id"], "queued")]
        # Afterwards, the same request posted again to either process is the same row.
        for app in two_apps:
            again = app.client.post("/v1/relay", json=signed)
            assert again.status_code == 200 and again.json()["id"] == accepted["id"]
    finally:
        engine.dispose()
