"""Benchmark of the gasless relayer (the evening rush, issue 15) against one key sending directly.

All in one run, on its own anvil (automine, as ``make run``) and its own service process (uvicorn,
``create_app(background=True)``: indexer, outbox worker and keeper running, as ``tuanchain serve``):

1. ``raw_transfer_tx_per_s`` — the baseline: one key sends signed ERC-20 transfers one per
   transaction, signed and handed to the node as fast as web3 does it, until all are mined.
2. ``relayed_joins_per_s`` — ``--consumers`` fresh consumers (tokens, no ETH) join one deal
   gaslessly through the HTTP API: ``POST /v1/actions/join/prepare`` (``prepare_p99_ms``), both
   payloads signed with eth-account *before* the clock starts, then ``POST /v1/relay`` by
   ``--clients`` concurrent clients (``accept_p50_ms`` / ``accept_p99_ms``), from the first accept
   to the last request settled in the outbox (mined or failed; ``failed`` counts them). Then
   ``--one-client`` more joins posted one at a time (``accept_p50_ms_one_client`` /
   ``accept_p99_ms_one_client``: accept without queueing; ``accept_queueing_mean_ms`` is what
   Little's law makes of the rush's mean, clients / accepts per second).
3. Gas: ``join_direct_fresh`` (a fresh consumer's ``approve`` then ``join``, two transactions,
   base costs included), ``join_gasless`` (one join relayed alone: every relayer transaction it
   took), ``gas_per_join_batched`` (the relayer's gas over the rush divided by the joins mined)
   and ``batch_size`` (joins mined per relayer ``execute``/``executeBatch`` transaction).

4. ``relayed_joins_per_s_two_processes`` (with ``--postgres URL``, default
   ``TUANCHAIN_TEST_POSTGRES_URL``): the same rush, fresh consumers and deal, through two service
   processes sharing one PostgreSQL (a fresh schema, dropped after) and the relayer key pool, the
   joins posted to them round robin (each accepts and relays); its baseline
   ``relayed_joins_per_s_one_process_postgresql`` (one process, the same database) and
   ``two_processes_gain``, with each process's CPU per join (``postgresql_service_ms_per_join``).

   ``relayed_joins_per_s_postgresql_split``: one ``http`` and one ``worker`` process there.
5. ``relayed_joins_per_s_split`` and ``ratio_split``: the same rush through the split deployment
   on SQLite — ``tuanchain serve --no-background`` (HTTP only: accepts) beside one ``tuanchain
   worker`` (relays, indexes), two interpreters with a GIL each instead of one process's threads
   (``split_service_ms_per_join``: each one's CPU per join).
6. ``indexer_events_per_s`` (SQLite and PostgreSQL) and ``deals_p99_ms``: ``scripts/bench_indexer.py``
   in a process of its own (``--indexer-deals``, synthetic logs through the indexer's handlers).
Steps 1 and 2 run as ``--rounds`` pairs (default 3), alternated, each later pair on a fresh anvil,
deployment and database, as the first (raw transfers on a chain grown by earlier pairs ran at a
quarter of the rate): one pair's ``ratio`` moves by 40-70 % with
this shared host's load, so the figures of 1 and 2 (and ``cpu``) are the median pair's, and
``rounds`` lists every pair's.

7. ``cpu``: CPU milliseconds per unit of work — the service and the node per relayed join, the
   node and this script per raw transfer — and the machine's ``load_average``: wall-clock rates
   on a shared machine move with its load, CPU per unit much less.

The service runs with a relayer key pool of ``--lanes`` keys (anvil's development accounts: the
chain is local), as ``TUANCHAIN_RELAYER_KEYS`` configures it, and without the per-client rate
limit (``TUANCHAIN_RATE_LIMIT_PER_SECOND=0``, :mod:`api.ratelimit`): the rush's clients all post
from 127.0.0.1, one address at a rate no single client is given.

Prints one JSON object. Run: ``.venv/bin/python scripts/bench_relay.py`` (``--consumers 200`` for
a quick run; the issue's figure is 2,000).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account
from rush_support import (
    TOP_PRICE,
    Profiler,
    _wait_http,
    consumers,
    cpu_seconds,
    encoded,
    funded,
    make_deal,
    percentile,
    prepare_all,
    relay_all,
    relayer_gas,
    sign,
    wait_settled,
)
from web3.exceptions import TimeExhausted

logger = logging.getLogger("bench_relay")


# ---------------------------------------------------------------------- baseline


def raw_transfers(chain: Any, count: int) -> float:
    """One key, ``count`` signed ERC-20 transfers one per transaction; tx/s until all mined."""
    token = chain.clients.token
    sender = funded(chain, 10)
    token.mint(sender.address, count, signer=chain.platform)
    w3 = chain.w3
    fees = chain.sender.fees()
    nonce = w3.eth.get_transaction_count(sender.address, "pending")
    recipient = Account.create().address
    data = token.calldata("transfer", recipient, 1)
    started = time.perf_counter()
    last = None
    for i in range(count):
        tx = {
            "to": token.address,
            "data": data,
            "value": 0,
            "gas": 60_000,
            "nonce": nonce + i,
            "chainId": chain.sender.chain_id,
            **fees,
        }
        last = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    try:
        receipt = w3.eth.wait_for_transaction_receipt(last, timeout=600, poll_latency=0.02)
    except TimeExhausted:
        # Seen once under load (10:47 on 2026-12-01, not reproduced): say what the node holds.
        mined = w3.eth.get_transaction_count(sender.address, "latest")
        pending = w3.eth.get_transaction_count(sender.address, "pending")
        pool = w3.provider.make_request("txpool_status", [])  # type: ignore[arg-type]
        block = w3.eth.get_block("latest")
        raise RuntimeError(
            f"raw transfers not all mined: nonces {nonce}..{nonce + count - 1} sent, "
            f"{mined - nonce} mined, pending count {pending - nonce}; txpool {pool.get('result')}; "
            f"latest block {block['number']} base fee {block.get('baseFeePerGas')}, "
            f"fees sent {fees}"
        ) from None
    elapsed = time.perf_counter() - started
    assert receipt["status"] == 1 and token.balance_of(recipient) == count
    return count / elapsed


def join_direct_fresh(chain: Any, deal_id: int, leader: str) -> int:
    """Gas of a fresh consumer's approve then join (two transactions, base costs included)."""
    token, escrow = chain.clients.token, chain.clients.escrow
    buyer = funded(chain)
    token.mint(buyer.address, TOP_PRICE, signer=chain.platform)
    approve = token.approve(escrow.address, TOP_PRICE, signer=buyer)
    join = escrow.join(deal_id, 1, leader, signer=buyer)
    return int(approve["gasUsed"]) + int(join["gasUsed"])


# ---------------------------------------------------------------------- the relayed rush


def serve(port: int, *, background: bool = True) -> None:
    """The service as ``tuanchain serve`` runs it (``background=False``: HTTP only, as a process
    beside a ``tuanchain worker``)."""
    import uvicorn

    from api.app import create_app
    from api.heap import freeze_startup_heap
    from api.services import build_services

    services = build_services()
    _ = services.chain  # connected before the app starts, as `tuanchain serve` does
    app = create_app(services, background=background)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def work() -> None:
    """The background roles without the HTTP server, as ``tuanchain worker`` runs them."""
    from api.app import start_background
    from api.background import stop_all
    from api.db import init_db
    from api.heap import freeze_startup_heap
    from api.services import build_services
    from chain.shutdown import stop_signals

    with stop_signals() as stop:
        services = build_services()
        init_db(services.engine)
        stops = start_background(services)
        freeze_startup_heap()
        stop.wait()
        stop_all(stops)


def rush_processes(
    chain: Any,
    *,
    database: str,
    consumers_count: int,
    clients: int,
    lanes: int,
    kinds: list[str],
    profile: Path | None = None,
) -> dict[str, Any]:
    """The same rush through several service processes sharing one database and the chain, with
    a relayer key pool of ``lanes`` keys. ``kinds`` says what each process runs: ``serve`` (HTTP
    and the background roles, as ``tuanchain serve``), ``http`` (HTTP only) or ``worker`` (the
    background roles only, as ``tuanchain worker``). The joins are
    posted round robin to the processes that serve HTTP. ``database``: a PostgreSQL URL (a fresh
    schema, dropped after) or a SQLite file path. Returns joins mined per second and each
    process's CPU per join mined. ``profile``: py-spy each process during the rush, to
    ``<stem>.<database>.<kinds>-<i><suffix>`` beside that file."""
    import uuid
    from urllib.parse import quote

    from sqlalchemy import text

    from api.services import make_engine
    from chain.anvil import free_port

    admin = None
    if database.startswith("postgresql"):
        schema = f"bench_relay_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = make_engine(database)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in database else "?"
        url = f"{database}{separator}options={quote(f'-csearch_path={schema}')}"
    else:
        url = "sqlite:///" + database
    from chain.accounts import dev_account

    pool = ",".join(dev_account(i).key.hex() for i in range(5, 5 + max(0, lanes - 1)))
    env = {**os.environ, "TUANCHAIN_DATABASE_URL": url, "TUANCHAIN_RELAYER_KEYS": pool}
    deal_id, leader = make_deal(chain, capacity=consumers_count + 10)
    buyers = consumers(chain, consumers_count)
    servers, urls = [], []
    engine = make_engine(url)
    try:
        for kind in kinds:  # one after the other: the first creates the tables
            if kind == "worker":
                servers.append(subprocess.Popen([sys.executable, __file__, "--work"], env=env))
                time.sleep(3)  # its loops start (no port to wait on)
                continue
            port = free_port()
            flag = "--serve" if kind == "serve" else "--serve-http"
            servers.append(subprocess.Popen([sys.executable, __file__, flag, str(port)], env=env))
            urls.append(f"http://127.0.0.1:{port}")
            _wait_http(urls[-1] + "/healthz")
        prepared = prepare_all(urls[0], buyers, deal_id, leader.address, clients)[0]
        signed = encoded([sign(a, p) for a, p in zip(buyers, prepared, strict=True)])
        logger.info("%s: %d joins signed; the rush starts", "+".join(kinds), len(signed))
        where = "pg" if admin is not None else "sqlite"
        profilers = [
            Profiler(
                server.pid,
                profile.with_name(f"{profile.stem}.{where}.{'+'.join(kinds)}-{i}{profile.suffix}")
                if profile
                else None,
            )
            for i, server in enumerate(servers)
        ]
        cpu_before = [cpu_seconds(server.pid) for server in servers]
        started = time.perf_counter()
        accepted, latencies = relay_all(urls, signed, clients)
        accept_seconds = time.perf_counter() - started
        ids = {r["id"] for s, r in accepted if s == 202}
        wait_settled(engine, ids, 3600)
        elapsed = time.perf_counter() - started
        cpu = [cpu_seconds(server.pid) - b for server, b in zip(servers, cpu_before, strict=True)]
        for profiler in profilers:
            profiler.stop()
        _, mined, executes = relayer_gas(chain, engine, ids)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
    return {
        "joins_per_s": round(mined / elapsed, 2),
        "accepts_per_s": round(len(signed) / accept_seconds, 1),
        "accept_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "service_ms_per_join": [round(1000 * c / mined, 2) for c in cpu] if mined else None,
        "batch_size": round(mined / executes, 2) if executes else None,
    }


def sqlite_round(
    args: argparse.Namespace, chain: Any, node_pid: int, database_url: str, *, first: bool
) -> dict[str, Any]:
    """One pair on the service's SQLite database: ``--transfers`` raw transfers, then the
    service started and ``--consumers`` fresh consumers' relayed joins on a deal of their own,
    the service stopped. The first round also measures a direct join's gas, a lone relayed
    join's and the one-client accept latencies."""
    from api.services import make_engine
    from chain.anvil import free_port

    extra = 1 + args.one_client if first else 0
    deal_id, leader = make_deal(chain, capacity=args.consumers + extra + 10)
    buyers = consumers(chain, args.consumers + extra)
    direct_gas = join_direct_fresh(chain, deal_id, leader.address) if first else None
    cpu_before = (cpu_seconds(node_pid), time.process_time())
    raw_tps = raw_transfers(chain, args.transfers)
    raw_cpu = {
        "node_ms_per_tx": round(1000 * (cpu_seconds(node_pid) - cpu_before[0]) / args.transfers, 2),
        "sender_ms_per_tx": round(1000 * (time.process_time() - cpu_before[1]) / args.transfers, 2),
    }
    logger.info("baseline: %.1f raw transfers/s", raw_tps)

    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=os.environ)
    engine = make_engine(database_url)
    gasless_gas, lone_latencies = None, []
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/healthz")
        if first:
            # One join relayed alone: what a single gasless join costs the relayer.
            (alone,), _ = prepare_all(url, buyers[:1], deal_id, leader.address, 1)
            [(status, row)], _ = relay_all(url, [sign(buyers[0], alone)], 1)
            assert status == 202, row
            wait_settled(engine, {row["id"]}, 120)
            gasless_gas, mined_alone, _ = relayer_gas(chain, engine, {row["id"]})
            assert mined_alone == 1, "the lone join was not mined"
        rush = buyers[1 : args.consumers + 1] if first else buyers
        lone = buyers[args.consumers + 1 :] if first else []
        prepared, prepare_latencies = prepare_all(url, rush, deal_id, leader.address, args.clients)
        signed = encoded([sign(a, p) for a, p in zip(rush, prepared, strict=True)])
        logger.info("prepared and signed %d joins; the rush starts", len(signed))
        profiler = Profiler(server.pid, args.profile if first else None)
        cpu_before = (cpu_seconds(server.pid), cpu_seconds(node_pid))
        started = time.perf_counter()
        client_cpu = time.process_time()
        accepted, accept_latencies = relay_all(url, signed, args.clients)
        client_cpu = time.process_time() - client_cpu  # this script posting: the phones' side
        accept_seconds = time.perf_counter() - started
        refused = [r for s, r in accepted if s != 202]
        ids = {r["id"] for s, r in accepted if s == 202}
        counts = wait_settled(engine, ids, 3600)
        elapsed = time.perf_counter() - started
        rush_cpu = (cpu_seconds(server.pid) - cpu_before[0], cpu_seconds(node_pid) - cpu_before[1])
        profiler.stop()
        rush_gas, mined, executes = relayer_gas(chain, engine, ids)
        if lone:
            # Accept's own latency, without queueing: one client, one request at a time, after
            # the rush (with 16 clients each waits behind the others: Little's law, 16 / rate).
            lone_prepared, _ = prepare_all(url, lone, deal_id, leader.address, 1)
            lone_signed = [sign(a, p) for a, p in zip(lone, lone_prepared, strict=True)]
            lone_accepted, lone_latencies = relay_all(url, lone_signed, 1)
            assert all(s == 202 for s, _ in lone_accepted), [
                r for s, r in lone_accepted if s != 202
            ]
    finally:
        server.terminate()
        server.wait(timeout=60)
        engine.dispose()
    relayed = mined / elapsed
    logger.info("round: %.1f raw tx/s, %.2f relayed joins/s", raw_tps, relayed)
    return {
        "raw_tps": raw_tps,
        "relayed": relayed,
        "raw_cpu": raw_cpu,
        "direct_gas": direct_gas,
        "gasless_gas": gasless_gas,
        "lone_latencies": lone_latencies,
        "prepare_latencies": prepare_latencies,
        "accept_latencies": accept_latencies,
        "accept_seconds": accept_seconds,
        "signed": len(signed),
        "refused": refused,
        "counts": counts,
        "elapsed": elapsed,
        "rush_cpu": rush_cpu,
        "client_cpu": client_cpu,
        "rush_gas": rush_gas,
        "mined": mined,
        "executes": executes,
    }


# The node every pair runs on: one block holds a whole batch of joins.
ANVIL_ARGS = ["--gas-limit", "300000000"]


def chain_env(rpc_url: str, base: Path) -> dict[str, str]:
    """The service's settings for a node and a directory of its own (deployment, SQLite)."""
    return {
        "TUANCHAIN_RPC_URL": rpc_url,
        "TUANCHAIN_DATA_DIR": str(base / "data"),
        "TUANCHAIN_DEPLOYMENTS_DIR": str(base / "deployments"),
        "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(base / "data" / "tuanchain.db"),
    }


def fresh_round(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    """:func:`sqlite_round` on a fresh anvil, deployment and database of its own, as the first
    pair had them (the service's settings from the environment, restored after)."""
    from chain.anvil import Anvil
    from chain.context import connect
    from chain.settings import Settings

    saved = dict(os.environ)
    with Anvil(extra_args=ANVIL_ARGS) as node:
        os.environ.update(chain_env(node.rpc_url, base))
        try:
            settings = Settings()
            chain = connect(settings, deploy=True)
            assert node.pid is not None
            return sqlite_round(args, chain, node.pid, settings.database_url, first=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def run_bench_indexer(deals: int, postgres: str) -> dict[str, Any]:
    """``scripts/bench_indexer.py`` (synthetic logs through the indexer's own handlers, and
    ``GET /v1/deals`` at that many deals) in a process of its own; its JSON."""
    command = [sys.executable, str(Path(__file__).with_name("bench_indexer.py"))]
    command += ["--deals", str(deals), "--postgres", postgres]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="raw transfers and the relayed rush alternated this many times; the median pair "
        "is reported (each pair on fresh consumers and a deal of their own)",
    )
    parser.add_argument(
        "--one-client",
        type=int,
        default=100,
        help="joins posted one at a time after the rush (accept latency without queueing)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TUANCHAIN_TEST_POSTGRES_URL", ""),
        help="also run the rush through two processes on this PostgreSQL (a fresh schema)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the service during the rush: folded stacks to this file (+ .top.txt); "
        "also each process of the multi-process rushes (FILE's stem + .sqlite.http+worker-0, "
        "-1; with --postgres .pg.serve-0, .pg.serve+serve-0, -1, .pg.http+worker-0, -1)",
    )
    parser.add_argument(
        "--lanes",
        type=int,
        default=2,
        help="relayer keys in the pool (anvil's development accounts 1, 5, 6, ...; local only)",
    )
    parser.add_argument(
        "--indexer-deals",
        type=int,
        default=100_000,
        help="deals indexed by scripts/bench_indexer.py for indexer_events_per_s and "
        "deals_p99_ms (0: skip)",
    )
    parser.add_argument("--serve", metavar="PORT", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-http", metavar="PORT", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("api", "chain", "traceability", "httpx", "web3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.serve:
        serve(args.serve)
        return
    if args.serve_http:
        serve(args.serve_http, background=False)
        return
    if args.work:
        work()
        return

    from chain.accounts import dev_account
    from chain.anvil import Anvil
    from chain.context import connect
    from chain.settings import Settings

    # SIGTERM (a supervisor, `timeout`, `kill`) unwinds like Ctrl-C: every `with Anvil` and
    # `finally` below stops the nodes and service processes this run started. Python's default
    # for SIGTERM ends the process at once, and a killed bench left its anvil running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    base = Path(tempfile.mkdtemp(prefix="bench_relay_"))
    with Anvil(extra_args=ANVIL_ARGS) as node:
        env = {
            **chain_env(node.rpc_url, base),
            # The relayer's key pool: anvil's development accounts (this chain is local).
            "TUANCHAIN_RELAYER_KEYS": ",".join(
                dev_account(i).key.hex() for i in range(5, 5 + max(0, args.lanes - 1))
            ),
            # The rush's clients all post from 127.0.0.1: no per-client limit (api.ratelimit).
            "TUANCHAIN_RATE_LIMIT_PER_SECOND": "0",
        }
        os.environ.update(env)
        settings = Settings()
        chain = connect(settings, deploy=True)
        # Raw transfers and the relayed rush alternate, --rounds times: one pair's ratio moves
        # by 40-70 % with this shared host's load; the median pair's figures are reported. Each
        # later pair on a fresh anvil: raw transfers on the grown chain of an earlier pair ran
        # at a quarter of the rate (anvil's cost per mined block grows with the chain's blocks).
        rounds = [sqlite_round(args, chain, node.pid, settings.database_url, first=True)]
        rounds += [fresh_round(args, base / f"round-{i}") for i in range(1, args.rounds)]
        by_ratio = sorted(rounds, key=lambda r: r["relayed"] / r["raw_tps"])
        median = by_ratio[(len(by_ratio) - 1) // 2]
        extras = rounds[0]  # gas of a lone join and a direct one, the one-client latencies
        # Two processes against one, both on PostgreSQL (the database server shares the cores):
        # the single-process rush above runs on SQLite, so it is not the baseline for the gain.
        # The rush's split (docs/relayer-rush.md): `tuanchain serve --no-background` accepting
        # beside one `tuanchain worker` relaying, on one SQLite file: two interpreters, two GILs.
        split = rush_processes(
            chain,
            database=str(base / "split.db"),
            consumers_count=args.consumers,
            clients=args.clients,
            lanes=args.lanes,
            kinds=["http", "worker"],
            profile=args.profile,
        )
        # Two processes against one, both on PostgreSQL (the database server shares the cores):
        # the single-process rush above runs on SQLite, so it is not the baseline for the gain.
        one, two, pg_split = (
            [
                rush_processes(
                    chain,
                    database=args.postgres,
                    consumers_count=args.consumers,
                    clients=args.clients,
                    lanes=args.lanes,
                    kinds=kinds,
                    profile=args.profile,
                )
                for kinds in (["serve"], ["serve", "serve"], ["http", "worker"])
            ]
            if args.postgres
            else (None, None, None)
        )
    indexer = run_bench_indexer(args.indexer_deals, args.postgres) if args.indexer_deals else {}
    m, raw_tps = median, median["raw_tps"]
    mined, signed, accept_latencies = m["mined"], m["signed"], m["accept_latencies"]
    lone_latencies = extras["lone_latencies"]
    result = {
        "raw_transfer_tx_per_s": round(raw_tps, 1),
        "relayed_joins_per_s": round(m["relayed"], 2),
        "ratio": round(m["relayed"] / raw_tps, 3),
        # Every pair, in the order run: the figures above are the median pair's.
        "rounds": [
            {
                "raw_transfer_tx_per_s": round(r["raw_tps"], 1),
                "relayed_joins_per_s": round(r["relayed"], 2),
                "ratio": round(r["relayed"] / r["raw_tps"], 3),
                "accept_p99_ms": round(percentile(r["accept_latencies"], 0.99) * 1000, 1),
                "service_ms_per_join": round(1000 * r["rush_cpu"][0] / r["mined"], 2)
                if r["mined"]
                else None,
            }
            for r in rounds
        ],
        "accept_p50_ms": round(percentile(accept_latencies, 0.5) * 1000, 1),
        "accept_p99_ms": round(percentile(accept_latencies, 0.99) * 1000, 1),
        "accepts_per_s": round(signed / m["accept_seconds"], 1),
        # What queueing alone makes of the mean accept: clients / accepts per second.
        "accept_queueing_mean_ms": round(1000 * args.clients * m["accept_seconds"] / signed, 1),
        "accept_p50_ms_one_client": round(percentile(lone_latencies, 0.5) * 1000, 1)
        if lone_latencies
        else None,
        "accept_p99_ms_one_client": round(percentile(lone_latencies, 0.99) * 1000, 1)
        if lone_latencies
        else None,
        "prepare_p99_ms": round(percentile(m["prepare_latencies"], 0.99) * 1000, 1),
        "gas_per_join_batched": round(m["rush_gas"] / mined) if mined else None,
        "join_direct_fresh": extras["direct_gas"],
        "join_gasless": extras["gasless_gas"],
        "batch_size": round(mined / m["executes"], 2) if m["executes"] else None,
        "consumers": signed,
        "clients": args.clients,
        "outbox": m["counts"],
        "refused": len(m["refused"]),
        "refused_first": m["refused"][:1],
        "rush_seconds": round(m["elapsed"], 2),
        # The same rush through `serve --no-background` + `worker` on one SQLite file.
        "relayed_joins_per_s_split": split["joins_per_s"],
        "ratio_split": round(split["joins_per_s"] / raw_tps, 3),
        "accept_p99_ms_split": split["accept_p99_ms"],
        "accepts_per_s_split": split["accepts_per_s"],
        "split_service_ms_per_join": dict(
            zip(("http", "worker"), split["service_ms_per_join"] or [], strict=False)
        ),
        "relayed_joins_per_s_two_processes": two["joins_per_s"] if two else None,
        # The same rush through one process on PostgreSQL, and what the second process adds.
        "relayed_joins_per_s_one_process_postgresql": one["joins_per_s"] if one else None,
        "two_processes_gain": round(two["joins_per_s"] / one["joins_per_s"], 2)
        if one and two
        else None,
        "postgresql_service_ms_per_join": {
            "one_process": one["service_ms_per_join"] if one else None,
            "two_processes": two["service_ms_per_join"] if two else None,
        },
        "relayed_joins_per_s_postgresql_split": pg_split["joins_per_s"] if pg_split else None,
        "postgresql_batch_size": {
            "one_process": one["batch_size"] if one else None,
            "two_processes": two["batch_size"] if two else None,
        },
        "indexer_events_per_s": indexer.get("indexer_events_per_s"),
        "indexer_deals": indexer.get("deals"),
        "deals_p99_ms": indexer.get("deals_p99_ms"),
        "lanes": args.lanes,
        # CPU per unit of work (the machine is shared: wall-clock rates move with its load, these
        # much less): the service and the node per relayed join, the node and the sending
        # script per raw transfer.
        "cpu": {
            "service_ms_per_join": round(1000 * m["rush_cpu"][0] / mined, 2) if mined else None,
            "node_ms_per_join": round(1000 * m["rush_cpu"][1] / mined, 2) if mined else None,
            "client_ms_per_join": round(1000 * m["client_cpu"] / signed, 2),
            **m["raw_cpu"],
        },
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
