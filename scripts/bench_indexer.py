"""Benchmark of the indexer's catch-up on SQLite and PostgreSQL, and of ``GET /v1/deals`` at scale.

What is real and what is synthetic (issue 15 allows synthetic logs through the indexer's own
handlers): the chain, the deployment and *template* logs are real — a deal is created and joined
on anvil and its ``DealCreated`` / ``Joined`` logs read back and decoded by the indexer's own
:class:`~api.indexer.logs.LogSource`. The ``--deals`` deals and ``--joins`` joins indexed are
copies of those templates with their own deal ids, buyers, blocks, transaction hashes and log
indexes, served by a stand-in log source (``--per-block`` logs a block). So the figure measures
the indexer's ranges, handlers and database writes (one transaction per range), not
``eth_getLogs`` nor its ABI decoding (``decode_logs_per_s`` measures that decoding alone, on
the real template logs, for comparison).

1. ``indexer_events_per_s`` on SQLite and on PostgreSQL (``--postgres URL``, default
   ``TUANCHAIN_TEST_POSTGRES_URL``; a fresh schema, dropped afterwards): events over the seconds
   of :meth:`Indexer.sync_until_idle` (enrichment off: it fetches documents, not measured here).
   ``indexer_events_per_cpu_s``: the same per CPU second of this process (the indexer's own
   work; a shared machine's load moves it much less).
2. ``deals_p99_ms``: ``GET /v1/deals?limit=50`` (newest first) on the SQLite index by
   ``--clients`` concurrent clients, through the service app (uvicorn); the baseline in the same
   run is ``GET /healthz`` on the same server. ``reads``: the same on SQLite and PostgreSQL, also
   by one client (``deals_one_client``: no queueing), every request a miss of the response cache
   (``deals_miss_one_client``: each its own query string), a deep page by offset and by the
   ``before`` cursor, a 404 (``not_found_baseline``: the HTTP floor), ``/v1/dashboard`` and the
   ``/dashboard`` page, each with the server's CPU milliseconds per request. ``deals`` starts
   cold: its first requests wait for the page to be built once (the response cache's miss);
   ``deals_warm`` is the same load again, the page kept (no indexer commit in between).

Prints one JSON object. Run: ``.venv/bin/python scripts/bench_indexer.py`` (``--deals 10000`` for
a quick run).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

logger = logging.getLogger("bench_indexer")


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


class SyntheticLogs:
    """Stands in for :class:`api.indexer.logs.LogSource`: template logs copied to ``count``
    positions, ``per_block`` a block, from ``first_block``."""

    def __init__(
        self, templates: dict[str, Any], *, deals: int, joins: int, per_block: int, first_block: int
    ) -> None:
        self.templates = templates
        self.deals, self.joins, self.per_block = deals, joins, per_block
        self.first_block = first_block
        self.total = deals + joins
        self.last_block = first_block + (self.total - 1) // per_block
        self.t0 = int(time.time()) - self.last_block
        # Built before the clock starts: the benchmark measures the indexer, not this stand-in.
        self.all = [self._log(i) for i in range(self.total)]

    def head(self) -> int:
        return self.last_block

    def header(self, number: int) -> Any:
        from api.indexer.logs import BlockHeader

        return BlockHeader(
            number, _hash("block", number), datetime.fromtimestamp(self.t0 + number, UTC)
        )

    def headers(self, numbers: list[int]) -> dict[int, Any]:
        return {n: self.header(n) for n in numbers}

    def _log(self, i: int) -> Any:
        block, index = self.first_block + i // self.per_block, i % self.per_block
        if i < self.deals:
            template = self.templates["DealCreated"]
            args = {**template.args, "dealId": 10_000_000 + i}
        else:
            template = self.templates["Joined"]
            buyer = "0x" + hashlib.sha256(str(i).encode()).hexdigest()[:40]
            args = {**template.args, "dealId": 10_000_000 + (i % self.deals), "buyer": buyer}
        return replace(
            template,
            args=args,
            block_number=block,
            block_hash=_hash("block", block),
            tx_hash=_hash("tx", i),
            log_index=index,
        )

    def logs(self, from_block: int, to_block: int) -> list[Any]:
        first = max(0, (from_block - self.first_block) * self.per_block)
        last = min(self.total, (to_block - self.first_block + 1) * self.per_block)
        return self.all[first:last]


def templates(chain: Any) -> tuple[dict[str, Any], float]:
    """Real ``DealCreated`` and ``Joined`` logs, decoded by the indexer's LogSource; and the
    decoding rate of that LogSource over the chain's logs so far."""
    from eth_account import Account

    from api.indexer.logs import LogSource
    from chain.clients import DealParams, PriceTier

    registry, escrow, token = chain.clients.registry, chain.clients.escrow, chain.clients.token
    credential = bytes.fromhex("1220") + bytes(range(32))
    supplier, leader, buyer = Account.create(), Account.create(), Account.create()
    for account in (supplier, leader, buyer):
        chain.sender.send(chain.platform, to=account.address, value=10**18)
    digest = hashlib.sha256(b"private credentials").digest()  # registry onboarding (issue 13)
    registry.apply_as_supplier(credential, digest, signer=supplier)
    registry.approve_supplier(supplier.address, signer=chain.platform)
    registry.assign_company_prefix("9506000", supplier.address, signer=chain.platform)
    registry.apply_as_leader(credential, digest, signer=leader)
    registry.approve_leader(leader.address, signer=chain.platform)
    batch_id = registry.register_batch("09506000134352", "BENCH1", credential, signer=supplier)
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    deal_id = escrow.create_deal(
        DealParams(
            supplier=supplier.address,
            token=token.address,
            price_tiers=[PriceTier(0, 10_000_000), PriceTier(5, 8_000_000)],
            min_total_quantity=3,
            max_total_quantity=100,
            per_buyer_limit=10,
            join_deadline=now + 3600,
            delivery_deadline=now + 7200,
            dispute_window=86_400,
            answer_window=86_400,
            commission_bps=1000,
            platform_fee_bps=200,
            batch_ids=[batch_id],
        ),
        signer=chain.platform,
    )
    token.mint(buyer.address, 10**8, signer=chain.platform)
    token.approve(escrow.address, 10**8, signer=buyer)
    escrow.join(deal_id, 1, leader.address, signer=buyer)
    source = LogSource(chain.w3, chain.clients)
    head = source.head()
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        logs = source.logs(0, head)
    decode_rate = rounds * len(logs) / (time.perf_counter() - started)
    by_event = {log.event: log for log in logs}
    return {"DealCreated": by_event["DealCreated"], "Joined": by_event["Joined"]}, decode_rate


def index_into(
    database_url: str, chain: Any, source: SyntheticLogs, store: Any
) -> tuple[float, float]:
    """Events per second of a full catch-up into a fresh database, and per CPU second of this
    process (the indexer's own work, less sensitive to a shared machine's load; a PostgreSQL
    server's work is not in it)."""
    from api.db import drop_db, init_db
    from api.indexer import Indexer
    from api.services import make_engine

    engine = make_engine(database_url)
    drop_db(engine)
    init_db(engine)
    indexer = Indexer(engine=engine, chain=chain, store=store)
    indexer.source = source  # type: ignore[assignment]
    # Start where the synthetic blocks start (the real deployment's blocks are not replayed).
    from api.db import models as m
    from api.db import session_factory

    with session_factory(engine).begin() as session:
        state = indexer._state(session)
        state.last_block = source.first_block - 1
    started, cpu = time.perf_counter(), time.process_time()
    result = _sync_no_enrich(indexer)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with session_factory(engine)() as session:
        deals = session.query(m.Deal).count()
    engine.dispose()
    assert deals == source.deals, (deals, source.deals, result)
    return source.total / seconds, source.total / cpu


def _sync_no_enrich(indexer: Any) -> Any:
    while True:
        result = indexer.sync(enrich=False)
        if result.to_block >= result.head:
            return result


def _with_schema(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def serve(port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.services import build_services

    uvicorn.run(
        create_app(build_services()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_load(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """``GET /v1/deals?limit=50`` (the newest page) served by uvicorn on ``database_url``:
    ``deals`` at ``--clients`` concurrent clients and ``deals_one_client`` (one client: the
    service time, no queueing), a deep page by offset and by the ``before`` cursor, and the
    same-run baseline ``GET /healthz`` at ``--clients``; each with the server's CPU milliseconds
    per request (``server_cpu_ms``: the figure a loaded machine moves least)."""
    from bench_api import _wait_http, load

    from chain.anvil import free_port

    port = free_port()
    env = {**os.environ, "TUANCHAIN_DATABASE_URL": database_url}
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/healthz")
        first = httpx.get(url + "/v1/deals?limit=1", timeout=60).json()
        assert first["total"] == args.deals, first["total"]
        deep_offset = max(0, args.deals - 100)
        deep_before = first["items"][0]["deal_id"] + 1 - deep_offset
        figures: dict[str, Any] = {"total": first["total"]}
        # Each request of its own query string (an ignored parameter): every one a miss of the
        # response cache, so the page is built each time (what a request cost before the cache).
        misses = [f"/v1/deals?limit=50&miss={i}" for i in range(args.requests)]
        for name, paths, clients, requests in (
            ("deals", ["/v1/deals?limit=50"], args.clients, args.requests),
            # Again, the page kept: the steady state between two commits of the indexer.
            ("deals_warm", ["/v1/deals?limit=50"], args.clients, args.requests),
            ("deals_one_client", ["/v1/deals?limit=50"], 1, args.requests),
            ("deals_miss_one_client", misses, 1, args.requests),
            (
                "deep_offset_one_client",
                [f"/v1/deals?limit=50&offset={deep_offset}"],
                1,
                args.requests,
            ),
            (
                "deep_cursor_one_client",
                [f"/v1/deals?limit=50&before={deep_before}"],
                1,
                args.requests,
            ),
            ("healthz_baseline", ["/healthz"], args.clients, args.requests),
            # The HTTP floor: uvicorn and Starlette's routing to a 404 (counted as errors).
            ("not_found_baseline", ["/no-such-page"], args.clients, args.requests),
            ("dashboard_json_one_client", ["/v1/dashboard"], 1, args.dashboard_requests),
            ("dashboard_page_one_client", ["/dashboard"], 1, args.dashboard_requests),
        ):
            cpu = _cpu_seconds(server.pid)
            figures[name] = asyncio.run(load(url, paths, clients=clients, requests=requests))
            # The server's CPU per request: what a request costs, whatever the machine's load.
            figures[name]["server_cpu_ms"] = round(
                (_cpu_seconds(server.pid) - cpu) * 1000 / requests, 2
            )
        return figures
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--joins", type=int, default=0)
    parser.add_argument("--per-block", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--dashboard-requests", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("TUANCHAIN_TEST_POSTGRES_URL", ""))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve", metavar="PORT", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("api", "chain", "traceability", "httpx", "web3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.serve:
        serve(args.serve)
        return

    from sqlalchemy import text

    from api.services import make_engine
    from chain.anvil import Anvil
    from chain.context import connect
    from chain.settings import Settings
    from traceability.ipfs import EmbeddedDocumentStore

    base = Path(tempfile.mkdtemp(prefix="bench_indexer_"))
    if not args.keep:  # the 100,000-deal index is ~200 MB
        atexit.register(shutil.rmtree, base, ignore_errors=True)
    result: dict[str, Any] = {"deals": args.deals, "joins": args.joins, "per_block": args.per_block}
    with Anvil() as node:
        env = {
            "TUANCHAIN_RPC_URL": node.rpc_url,
            "TUANCHAIN_DATA_DIR": str(base / "data"),
            "TUANCHAIN_DEPLOYMENTS_DIR": str(base / "deployments"),
            "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(base / "data" / "index.db"),
        }
        os.environ.update(env)
        settings = Settings()
        chain = connect(settings, deploy=True)
        store = EmbeddedDocumentStore(settings.data_dir / "ipfs")
        found, decode_rate = templates(chain)
        first_block = chain.w3.eth.block_number + 1
        source = SyntheticLogs(
            found,
            deals=args.deals,
            joins=args.joins,
            per_block=args.per_block,
            first_block=first_block,
        )
        rate, per_cpu = index_into(settings.database_url, chain, source, store)
        rates, cpu_rates = {"sqlite": round(rate)}, {"sqlite": round(per_cpu)}
        logger.info("sqlite: %s events/s", rates["sqlite"])
        reads = {"sqlite": read_load(settings.database_url, args)}
        logger.info("sqlite reads: %s", reads["sqlite"])
        if args.postgres:
            schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = make_engine(args.postgres)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                url = _with_schema(args.postgres, schema)
                rate, per_cpu = index_into(url, chain, source, store)
                rates["postgresql"], cpu_rates["postgresql"] = round(rate), round(per_cpu)
                logger.info("postgresql: %s events/s", rates["postgresql"])
                reads["postgresql"] = read_load(url, args)
                logger.info("postgresql reads: %s", reads["postgresql"])
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
        result["indexer_events_per_s"] = rates
        result["indexer_events_per_cpu_s"] = cpu_rates
        result["decode_logs_per_s"] = round(decode_rate)
        result["load_average"] = os.getloadavg()[0]
    # The figure issue 15 names: the newest page on SQLite at --clients concurrent clients (the
    # shape of earlier runs); every figure of both databases under "reads".
    result["deals_p99_ms"] = reads["sqlite"]["deals"]["p99_ms"]
    result["deals_p99_ms_warm"] = reads["sqlite"]["deals_warm"]["p99_ms"]
    result["not_found_p99_ms"] = reads["sqlite"]["not_found_baseline"]["p99_ms"]
    result["healthz_p99_ms"] = reads["sqlite"]["healthz_baseline"]["p99_ms"]
    result["deals_p99_ms_one_client"] = {
        db: r["deals_one_client"]["p99_ms"] for db, r in reads.items()
    }
    result["reads"] = reads
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
