"""CPU per relayed join, by phase, in one process (issue 15): where the service's time goes.

On its own anvil, ``--joins`` fresh consumers' joins are prepared and signed (not measured), then:

1. ``accept_ms``: :func:`api.relayer.accept.accept` called directly, one connection per join as the
   route opens it (checks, the one JSON-RPC batch, the outbox insert and commit);
2. ``http_ms``: the same work through ``POST /v1/relay`` of the app served by uvicorn in a
   subprocess (no background loops), the server's CPU from ``/proc`` — accept plus HTTP, routing,
   validation and the response; ``http_floor_ms``: the same bodies refused at accept's first
   look (400), the HTTP layer alone;
3. ``worker_ms``: :class:`api.relayer.worker.RelayWorker` passes (send and settle, waiting for
   receipts) until every join is mined, as the background loop runs them.

``node_ms``: anvil's CPU per join in each phase (accept's reads and simulation; the worker's
checks, mining and receipts).

Each figure is ``time.process_time()`` (CPU of this process, not wall clock: the machine is
shared, CPU per unit of work moves much less with its load than rates do) divided by the joins.
``--profile DIR`` also writes a cProfile of phases 1 and 3 (``accept.prof``, ``worker.prof``
and ``.txt`` summaries sorted by own and cumulative time). ``--database URL`` profiles on
PostgreSQL (a fresh schema, dropped after).

The served app runs without the per-client rate limit (``TUANCHAIN_RATE_LIMIT_PER_SECOND=0``,
:mod:`api.ratelimit`): every join comes from this one address. ``--rate-limit RATE,BURST`` turns it
on (a rate too high to refuse anything, e.g. ``1e9,100``: the limit's cost, not its refusals; on
PostgreSQL, the shared buckets' leases of a tenth of the burst).

Prints one JSON object. Run: ``.venv/bin/python scripts/profile_relay.py --joins 200``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rush_support import (
    Profiler,
    _wait_http,
    consumers,
    cpu_seconds,
    make_deal,
    prepare_all,
    relay_all,
    sign,
)

logger = logging.getLogger("profile_relay")


@contextmanager
def profiled(name: str, out: Path | None) -> Iterator[None]:
    if out is None:
        yield
        return
    profile = cProfile.Profile(time.process_time)  # CPU, not the waits on anvil and disk
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        out.mkdir(parents=True, exist_ok=True)
        profile.dump_stats(out / f"{name}.prof")
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        (out / f"{name}.txt").write_text(text.getvalue())


# What ``--breakdown`` times (inclusive CPU per call, process_time): module, attribute path.
BREAKDOWN = [
    ("api.relayer.accept", "_look_up"),
    ("api.relayer.accept", "RequestChecker.check"),
    ("api.relayer.checks", "RequestChecker._check_permit"),
    ("api.relayer.checks", "describe_call"),
    ("api.relayer.checks", "RequestChecker.decode_call"),
    ("api.relayer.checks", "RequestChecker._with_permit"),
    ("api.relayer.checks", "recover_typed_data_signer"),
    ("api.relayer.checks", "typed_data_digest"),
    ("api.relayer.accept", "typed_data_digest"),
    ("api.relayer.checks", "forward_request_data"),
    ("chain.tx", "TxSender.rpc_batch"),
    ("chain.tx", "TxSender.rpc"),
    ("chain.clients.escrow", "EscrowClient.deal_params_from"),
    ("api.relayer.queue", "pending_requests"),
    ("sqlalchemy.orm.session", "Session.commit"),
    ("sqlalchemy.orm.session", "Session.execute"),
    ("sqlalchemy.orm.session", "Session.scalars"),
    ("sqlalchemy.orm.session", "Session.get"),
    ("api.relayer.worker", "RelayWorker._one_batch"),
    ("api.relayer.send", "BatchSending._check_and_send"),
    ("api.relayer.send", "BatchSending._send"),
    ("api.relayer.send", "BatchSending._join_with_permit"),
    ("api.relayer.settle", "BatchSettling._settle_in_flight"),
    ("api.relayer.settle", "BatchSettling._settle"),
    ("api.services", "Services.check_chain"),
    ("chain.tx", "TxSender.sign"),
    ("chain.tx", "TxSender.broadcast"),
    ("chain.tx", "TxSender.fees"),
    ("chain.clients.base", "ContractClient.calldata"),
    ("chain.clients.permits", "PermitBatcherClient.permit_all_calldata"),
]


class Breakdown:
    """Wraps the callables above with CPU-time counters (inclusive: nested ones count in both)."""

    def __init__(self) -> None:
        import importlib

        self.totals: dict[str, list[float]] = {}
        self.undo: list[tuple[Any, str, Any]] = []
        for module_name, path in BREAKDOWN:
            try:
                owner: Any = importlib.import_module(module_name)
                *parents, name = path.split(".")
                for parent in parents:
                    owner = getattr(owner, parent)
                original = owner.__dict__[name]
            except (ImportError, AttributeError, KeyError):
                logger.warning("breakdown: no %s.%s", module_name, path)
                continue
            label = f"{module_name.rsplit('.', 1)[-1]}.{path}"
            self.undo.append((owner, name, original))
            if isinstance(original, staticmethod):
                setattr(owner, name, staticmethod(self._timed(label, original.__func__)))
            else:
                setattr(owner, name, self._timed(label, original))

    def _timed(self, label: str, original: Any) -> Any:
        import functools

        cell = self.totals.setdefault(label, [0.0, 0])
        clock = time.process_time

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                cell[0] += clock() - started
                cell[1] += 1

        return timed

    def reset(self) -> None:
        for cell in self.totals.values():
            cell[0], cell[1] = 0.0, 0

    def report(self, per: int) -> dict[str, Any]:
        return {
            label: {"ms_per_join": round(1000 * t / per, 3), "calls": n}
            for label, (t, n) in sorted(self.totals.items(), key=lambda kv: -kv[1][0])
            if n
        }


def written_bytes() -> int:
    """Bytes this process has handed to write syscalls (``wchar`` of /proc/self/io): SQLite's
    database and WAL writes, deterministic where CPU time is not."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def cpu_per(count: int, work: Callable[[], Any]) -> float:
    """CPU milliseconds of this process per unit over ``work()``."""
    before = time.process_time()
    work()
    return 1000 * (time.process_time() - before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=200)
    parser.add_argument("--profile", type=Path, help="write cProfile files to this directory")
    parser.add_argument("--database", default="", help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument(
        "--rate-limit", default="0,100", help="RATE,BURST of the per-client limit (0: none)"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time named functions (inclusive CPU per join) in the accept and worker phases",
    )
    parser.add_argument("--serve", metavar="PORT", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("api", "chain", "traceability", "httpx", "web3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.serve:
        import uvicorn

        from api.app import create_app

        uvicorn.run(
            create_app(background=False),
            host="127.0.0.1",
            port=args.serve,
            log_level="warning",
            access_log=False,
        )
        return

    from sqlalchemy import text

    from api.db import ensure_db
    from api.services import build_services, make_engine
    from chain.accounts import dev_account
    from chain.anvil import Anvil
    from chain.context import connect
    from chain.settings import Settings

    base = Path(tempfile.mkdtemp(prefix="profile_relay_"))
    schema = None
    database = "sqlite:///" + str(base / "data" / "tuanchain.db")
    if args.database:
        import uuid
        from urllib.parse import quote

        schema = f"profile_relay_{uuid.uuid4().hex[:8]}"
        with make_engine(args.database).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in args.database else "?"
        database = f"{args.database}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        with Anvil(extra_args=["--gas-limit", "300000000"]) as node:
            os.environ.update(
                {
                    "TUANCHAIN_RPC_URL": node.rpc_url,
                    "TUANCHAIN_DATA_DIR": str(base / "data"),
                    "TUANCHAIN_DEPLOYMENTS_DIR": str(base / "deployments"),
                    "TUANCHAIN_DATABASE_URL": database,
                    "TUANCHAIN_RELAYER_KEYS": ",".join(
                        dev_account(i).key.hex() for i in range(5, 5 + max(0, args.lanes - 1))
                    ),
                    # One address posting every join at once: no per-client limit (api.ratelimit)
                    # unless one is asked for.
                    "TUANCHAIN_RATE_LIMIT_PER_SECOND": args.rate_limit.split(",")[0],
                    "TUANCHAIN_RATE_LIMIT_BURST": args.rate_limit.split(",")[1],
                }
            )
            settings = Settings()
            chain = connect(settings, deploy=True)
            services = build_services(settings, chain=chain)
            ensure_db(services.engine)
            deal_id, leader = make_deal(chain, capacity=4 * args.joins + 10)
            result = run(args, services, deal_id, leader.address, node.pid)
            result["load_average"] = os.getloadavg()[0]
            print(json.dumps(result, indent=2))
    finally:
        if schema is not None:
            with make_engine(args.database).begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def run(
    args: argparse.Namespace, services: Any, deal_id: int, leader: str, node_pid: int
) -> dict[str, Any]:
    """The three phases on ``args.joins`` joins each (accept and HTTP), then the worker; and the
    node's CPU per join in each (``node_ms``)."""
    from api.relayer.accept import accept
    from api.relayer.worker import RelayWorker
    from chain.anvil import free_port

    chain, n = services.chain, args.joins
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=os.environ)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/healthz")
        buyers = consumers(chain, 2 * n)
        prepared, _ = prepare_all(url, buyers, deal_id, leader, 8)
        signed = [sign(a, p) for a, p in zip(buyers, prepared, strict=True)]
        logger.info("%d joins prepared and signed", len(signed))
        direct, through_http = signed[:n], signed[n:]
        # An empty latest block, as under the rush (a batch or two a block): the set-up's last
        # block holds hundreds of funding transactions, and each accept reads the latest block
        # for the clock — 1.5 ms of the node's CPU for such a block against 0.14 for a small one.
        chain.sender.rpc("evm_mine", [])

        def accept_all() -> None:
            for body in direct:
                with services.engine.connect() as connection:
                    accept(connection, chain, body, services.store)

        breakdown = Breakdown() if args.breakdown else None
        node_before = cpu_seconds(node_pid)
        with profiled("accept", args.profile):
            accept_ms = cpu_per(n, accept_all)
        node_ms = {"accept": 1000 * (cpu_seconds(node_pid) - node_before) / n}
        accept_breakdown = breakdown.report(n) if breakdown else None

        spy = Profiler(server.pid, args.profile / "http.folded" if args.profile else None)
        before, node_before = cpu_seconds(server.pid), cpu_seconds(node_pid)
        client_before = time.process_time()
        answers, _ = relay_all(url, through_http, 4)
        spy.stop()
        http_ms = 1000 * (cpu_seconds(server.pid) - before) / n
        node_ms["http"] = 1000 * (cpu_seconds(node_pid) - node_before) / n
        client_ms = 1000 * (time.process_time() - client_before) / n
        assert all(s == 202 for s, _ in answers), answers[:1]
        # The floor of the HTTP layer: the same bodies, refused at accept's first look (400,
        # no payloads): uvicorn, routing, the body's JSON, validation, the error answer.
        spy = Profiler(server.pid, args.profile / "floor.folded" if args.profile else None)
        before = cpu_seconds(server.pid)
        refused, _ = relay_all(url, [{"refused": body} for body in through_http], 4)
        floor_ms = 1000 * (cpu_seconds(server.pid) - before) / n
        spy.stop()
        assert all(s == 400 for s, _ in refused), refused[:1]
    finally:
        server.terminate()
        server.wait(timeout=60)

    worker = RelayWorker(services)
    passes = 0

    def work_all() -> None:
        nonlocal passes
        while worker.run_once() > 0:
            passes += 1

    if breakdown:
        breakdown.reset()
    written, node_before = written_bytes(), cpu_seconds(node_pid)
    with profiled("worker", args.profile):
        worker_ms = cpu_per(2 * n, work_all)
    node_ms["worker"] = 1000 * (cpu_seconds(node_pid) - node_before) / (2 * n)
    worker_kb = (written_bytes() - written) / 1024 / (2 * n)
    worker_breakdown = breakdown.report(2 * n) if breakdown else None
    from sqlalchemy import text

    with services.engine.connect() as conn:
        counts = dict(
            conn.execute(text("SELECT status, count(*) FROM relay_requests GROUP BY status")).all()
        )
    return {
        "joins": n,
        "database": services.engine.dialect.name,
        "rate_limit": args.rate_limit,
        "accept_ms": round(accept_ms, 2),
        "http_ms": round(http_ms, 2),
        "http_client_ms": round(client_ms, 2),
        "http_floor_ms": round(floor_ms, 2),
        "worker_ms": round(worker_ms, 2),
        "worker_passes": passes,
        "worker_written_kb_per_join": round(worker_kb, 1),
        "node_ms": {phase: round(ms, 2) for phase, ms in node_ms.items()},
        "outbox": counts,
        **({"accept_breakdown": accept_breakdown} if accept_breakdown else {}),
        **({"worker_breakdown": worker_breakdown} if worker_breakdown else {}),
    }


if __name__ == "__main__":
    main()
