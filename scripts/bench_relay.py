"""Benchmark of the gasless relayer (the evening rush, issue 15) against one key sending directly.

All in one run, on its own anvil (automine, as ``make run``) and its own service process (uvicorn,
``create_app(background=True)``: indexer, outbox worker and keeper running, as ``tuanchain serve``):

1. ``raw_transfer_tx_per_s`` — the baseline: one key sends signed ERC-20 transfers one per
   transaction, signed and handed to the node as fast as web3 does it, until all are mined.
2. ``relayed_joins_per_s`` — ``--consumers`` fresh consumers (tokens, no ETH) join one deal
   gaslessly through the HTTP API: ``POST /v1/actions/join/prepare`` (``prepare_p99_ms``), both
   payloads signed with eth-account *before* the clock starts, then ``POST /v1/relay`` by
   ``--clients`` concurrent clients (``accept_p50_ms`` / ``accept_p99_ms``), from the first accept
   to the last request settled in the outbox (mined or failed; ``failed`` counts them).
3. Gas: ``join_direct_fresh`` (a fresh consumer's ``approve`` then ``join``, two transactions,
   base costs included), ``join_gasless`` (one join relayed alone: every relayer transaction it
   took), ``gas_per_join_batched`` (the relayer's gas over the rush divided by the joins mined)
   and ``batch_size`` (joins mined per relayer ``execute``/``executeBatch`` transaction).

4. ``relayed_joins_per_s_two_processes`` (with ``--postgres URL``, default
   ``TUANCHAIN_TEST_POSTGRES_URL``): the same rush, fresh consumers and deal, through two service
   processes sharing one PostgreSQL (a fresh schema, dropped after) and the relayer key.

Prints one JSON object. Run: ``.venv/bin/python scripts/bench_relay.py`` (``--consumers 200`` for
a quick run; the issue's figure is 2,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

logger = logging.getLogger("bench_relay")

TOP_PRICE = 10_000_000  # 10 tUSD
CREDENTIAL = bytes.fromhex("1220") + bytes(range(32))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _send_all(chain: Any, signer: LocalAccount, txs: list[dict[str, Any]]) -> None:
    """Send many transactions with automine off, then mine until the pool is empty (setup only)."""
    w3 = chain.w3
    provider = w3.provider
    nonce = w3.eth.get_transaction_count(signer.address, "pending")
    fee = w3.eth.gas_price * 2
    provider.make_request("evm_setAutomine", [False])
    try:
        for tx in txs:
            full = {"nonce": nonce, "gasPrice": fee, "chainId": w3.eth.chain_id, "value": 0, **tx}
            w3.eth.send_raw_transaction(signer.sign_transaction(full).raw_transaction)
            nonce += 1
        while int(provider.make_request("txpool_status", [])["result"]["pending"], 16):
            provider.make_request("evm_mine", [])
    finally:
        provider.make_request("evm_setAutomine", [True])
    chain.sender.reset_all_nonces()


def funded(chain: Any, eth: float = 1.0) -> LocalAccount:
    account = Account.create()
    chain.sender.send(chain.platform, to=account.address, value=int(eth * 10**18))
    return account


def make_deal(chain: Any, *, capacity: int) -> tuple[int, LocalAccount]:
    """An approved supplier and leader and an open deal for ``capacity`` units; (deal id, leader)."""
    import hashlib
    import secrets

    from chain.clients import DealParams, PriceTier
    from traceability.epcis.identifiers import gs1_check_digit

    registry, escrow = chain.clients.registry, chain.clients.escrow
    supplier, leader = funded(chain), funded(chain)
    registry.apply_as_supplier(CREDENTIAL, hashlib.sha256(b"credentials").digest(), signer=supplier)
    registry.approve_supplier(supplier.address, signer=chain.platform)
    registry.apply_as_leader(CREDENTIAL, hashlib.sha256(b"credentials").digest(), signer=leader)
    registry.approve_leader(leader.address, signer=chain.platform)
    body = "0" + "".join(str(secrets.randbelow(10)) for _ in range(12))
    batch_id = registry.register_batch(
        body + gs1_check_digit(body), "RUSH01", CREDENTIAL, signer=supplier
    )
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    deal_id = escrow.create_deal(
        DealParams(
            supplier=supplier.address,
            token=chain.clients.token.address,
            price_tiers=[PriceTier(0, TOP_PRICE)],
            min_total_quantity=1,
            max_total_quantity=capacity,
            per_buyer_limit=10,
            join_deadline=now + 6 * 3600,
            delivery_deadline=now + 7 * 3600,
            dispute_window=86_400,
            answer_window=86_400,
            commission_bps=1000,
            platform_fee_bps=200,
            batch_ids=[batch_id],
        ),
        signer=chain.platform,
    )
    return deal_id, leader


def consumers(chain: Any, count: int) -> list[LocalAccount]:
    """``count`` fresh consumers holding stablecoins and no ETH (minted in bulk, setup only)."""
    token = chain.clients.token
    accounts = [Account.create() for _ in range(count)]
    mints = [
        {"to": token.address, "data": token.calldata("mint", a.address, 100 * 10**6), "gas": 80_000}
        for a in accounts
    ]
    _send_all(chain, chain.platform, mints)
    return accounts


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
    receipt = w3.eth.wait_for_transaction_receipt(last, timeout=600, poll_latency=0.02)
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


def sign(account: LocalAccount, prepared: dict[str, Any]) -> dict[str, Any]:
    signatures = {
        name: account.sign_typed_data(full_message=payload).signature.to_0x_hex()
        for name, payload in prepared["payloads"].items()
    }
    return {**prepared, "signatures": signatures}


async def _run_concurrently(
    clients: int, items: list[Any], work: Any
) -> tuple[list[Any], list[float]]:
    """``work(client, item)`` for every item by ``clients`` concurrent workers; (results, seconds)."""
    results: list[Any] = [None] * len(items)
    latencies: list[float] = []
    queue = iter(enumerate(items))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=300) as http:

        async def worker() -> None:
            for i, item in queue:
                start = time.perf_counter()
                results[i] = await work(http, item)
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return results, latencies


def prepare_all(
    url: str, accounts: list[LocalAccount], deal_id: int, leader: str, clients: int
) -> tuple[list[dict[str, Any]], list[float]]:
    async def work(http: httpx.AsyncClient, account: LocalAccount) -> dict[str, Any]:
        body = {"from": account.address, "deal_id": deal_id, "quantity": 1, "leader": leader}
        response = await http.post(f"{url}/v1/actions/join/prepare", json=body)
        response.raise_for_status()
        return response.json()

    return asyncio.run(_run_concurrently(clients, accounts, work))


def relay_all(
    url: str | list[str], signed: list[dict[str, Any]], clients: int
) -> tuple[list[tuple[int, dict[str, Any]]], list[float]]:
    """POST each signed join to ``/v1/relay`` (spread round robin over several servers)."""
    urls = [url] if isinstance(url, str) else url
    items = [(urls[i % len(urls)], body) for i, body in enumerate(signed)]

    async def work(http: httpx.AsyncClient, item: tuple[str, dict[str, Any]]) -> tuple[int, Any]:
        base, body = item
        response = await http.post(f"{base}/v1/relay", json=body)
        return response.status_code, response.json()

    return asyncio.run(_run_concurrently(clients, items, work))


def wait_settled(engine: Any, ids: set[str], timeout: float) -> dict[str, int]:
    """Poll the outbox until none of ``ids`` is pending; returns counts by status."""
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, status FROM relay_requests")).all()
        statuses = {i: s for i, s in rows if i in ids}
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        if all(s in ("mined", "failed") for s in statuses.values()) and len(statuses) == len(ids):
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox not settled after {timeout} s: {counts}")
        time.sleep(0.05)


def relayer_gas(chain: Any, engine: Any, ids: set[str]) -> tuple[int, int, int]:
    """(gas of every relayer transaction the mined ``ids`` took, joins mined, execute txs)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, tx_hash, permit_tx_hash FROM relay_requests")
        ).all()
    mined = [r for r in rows if r[0] in ids and r[1] == "mined"]
    executes = {r[2] for r in mined if r[2]}
    permits = {r[3] for r in mined if r[3]}
    gas = sum(int(chain.w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in executes | permits)
    return gas, len(mined), len(executes)


def serve(port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.services import build_services

    uvicorn.run(
        create_app(build_services(), background=True),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


def _wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def two_processes(chain: Any, *, postgres: str, consumers_count: int, clients: int) -> float:
    """The same rush through two service processes sharing one PostgreSQL (a fresh schema) and
    the chain; returns joins mined per second."""
    import uuid
    from urllib.parse import quote

    from sqlalchemy import text

    from api.services import make_engine
    from chain.anvil import free_port

    schema = f"bench_relay_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres else "?"
    url = f"{postgres}{separator}options={quote(f'-csearch_path={schema}')}"
    env = {**os.environ, "TUANCHAIN_DATABASE_URL": url}
    deal_id, leader = make_deal(chain, capacity=consumers_count + 10)
    buyers = consumers(chain, consumers_count)
    servers, urls = [], []
    engine = make_engine(url)
    try:
        for _ in range(2):  # one after the other: the first creates the tables
            port = free_port()
            servers.append(
                subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env)
            )
            urls.append(f"http://127.0.0.1:{port}")
            _wait_http(urls[-1] + "/healthz")
        half = len(buyers) // 2
        prepared = prepare_all(urls[0], buyers[:half], deal_id, leader.address, clients)[0]
        prepared += prepare_all(urls[1], buyers[half:], deal_id, leader.address, clients)[0]
        signed = [sign(a, p) for a, p in zip(buyers, prepared, strict=True)]
        logger.info("two processes: %d joins signed; the rush starts", len(signed))
        started = time.perf_counter()
        accepted, _ = relay_all(urls, signed, clients)
        ids = {r["id"] for s, r in accepted if s == 202}
        wait_settled(engine, ids, 3600)
        elapsed = time.perf_counter() - started
        _, mined, _ = relayer_gas(chain, engine, ids)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return mined / elapsed


class Profiler:
    """``py-spy record --gil`` on a service process while a rush runs: the stacks holding the
    GIL (a Python service's CPU), as folded text for flame graphs, and the top of it logged."""

    def __init__(self, pid: int, out: Path | None) -> None:
        self.out, self.proc = out, None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            spy = Path(sys.executable).with_name("py-spy")
            self.proc = subprocess.Popen(
                [
                    str(spy),
                    "record",
                    "--pid",
                    str(pid),
                    "--gil",
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--function",
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.proc is None or self.out is None:
            return
        self.proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        self.proc.wait(timeout=60)
        totals: dict[str, int] = {}
        own: dict[str, int] = {}
        samples = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames, n = stack.split(";"), int(count)
            samples += n
            own[frames[-1]] = own.get(frames[-1], 0) + n
            for frame in set(frames):
                totals[frame] = totals.get(frame, 0) + n
        top = sorted(totals.items(), key=lambda kv: -kv[1])[:40]
        leaves = sorted(own.items(), key=lambda kv: -kv[1])[:25]
        summary = self.out.with_suffix(".top.txt")
        with summary.open("w") as f:
            f.write(f"{samples} samples holding the GIL\n\ninclusive:\n")
            for frame, n in top:
                f.write(f"{100 * n / samples:5.1f}%  {frame}\n")
            f.write("\nself:\n")
            for frame, n in leaves:
                f.write(f"{100 * n / samples:5.1f}%  {frame}\n")
        logger.info("profile: %s (summary %s)", self.out, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TUANCHAIN_TEST_POSTGRES_URL", ""),
        help="also run the rush through two processes on this PostgreSQL (a fresh schema)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the service during the rush: folded stacks to this file (+ .top.txt)",
    )
    parser.add_argument("--serve", metavar="PORT", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("api", "chain", "traceability", "httpx", "web3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.serve:
        serve(args.serve)
        return

    from api.services import make_engine
    from chain.anvil import Anvil, free_port
    from chain.context import connect
    from chain.settings import Settings

    base = Path(tempfile.mkdtemp(prefix="bench_relay_"))
    with Anvil(extra_args=["--gas-limit", "300000000"]) as node:
        env = {
            "TUANCHAIN_RPC_URL": node.rpc_url,
            "TUANCHAIN_DATA_DIR": str(base / "data"),
            "TUANCHAIN_DEPLOYMENTS_DIR": str(base / "deployments"),
            "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(base / "data" / "tuanchain.db"),
        }
        os.environ.update(env)
        settings = Settings()
        chain = connect(settings, deploy=True)
        deal_id, leader = make_deal(chain, capacity=args.consumers + 10)
        buyers = consumers(chain, args.consumers + 1)
        direct_gas = join_direct_fresh(chain, deal_id, leader.address)
        raw_tps = raw_transfers(chain, args.transfers)
        logger.info("baseline: %.1f raw transfers/s", raw_tps)

        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=os.environ)
        engine = make_engine(settings.database_url)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_http(url + "/healthz")
            # One join relayed alone: what a single gasless join costs the relayer.
            (alone,), _ = prepare_all(url, buyers[:1], deal_id, leader.address, 1)
            [(status, row)], _ = relay_all(url, [sign(buyers[0], alone)], 1)
            assert status == 202, row
            wait_settled(engine, {row["id"]}, 120)
            gasless_gas, mined_alone, _ = relayer_gas(chain, engine, {row["id"]})
            assert mined_alone == 1, "the lone join was not mined"

            rush = buyers[1:]
            prepared, prepare_latencies = prepare_all(
                url, rush, deal_id, leader.address, args.clients
            )
            signed = [sign(a, p) for a, p in zip(rush, prepared, strict=True)]
            logger.info("prepared and signed %d joins; the rush starts", len(signed))
            profiler = Profiler(server.pid, args.profile)
            started = time.perf_counter()
            accepted, accept_latencies = relay_all(url, signed, args.clients)
            accept_seconds = time.perf_counter() - started
            refused = [r for s, r in accepted if s != 202]
            ids = {r["id"] for s, r in accepted if s == 202}
            counts = wait_settled(engine, ids, 3600)
            elapsed = time.perf_counter() - started
            profiler.stop()
            rush_gas, mined, executes = relayer_gas(chain, engine, ids)
        finally:
            server.terminate()
            server.wait(timeout=60)
            engine.dispose()
        two = (
            two_processes(
                chain,
                postgres=args.postgres,
                consumers_count=args.consumers,
                clients=args.clients,
            )
            if args.postgres
            else None
        )
    relayed = mined / elapsed
    result = {
        "raw_transfer_tx_per_s": round(raw_tps, 1),
        "relayed_joins_per_s": round(relayed, 2),
        "ratio": round(relayed / raw_tps, 3),
        "accept_p50_ms": round(percentile(accept_latencies, 0.5) * 1000, 1),
        "accept_p99_ms": round(percentile(accept_latencies, 0.99) * 1000, 1),
        "accepts_per_s": round(len(signed) / accept_seconds, 1),
        "prepare_p99_ms": round(percentile(prepare_latencies, 0.99) * 1000, 1),
        "gas_per_join_batched": round(rush_gas / mined) if mined else None,
        "join_direct_fresh": direct_gas,
        "join_gasless": gasless_gas,
        "batch_size": round(mined / executes, 2) if executes else None,
        "consumers": len(rush),
        "clients": args.clients,
        "outbox": counts,
        "refused": len(refused),
        "refused_first": refused[:1],
        "rush_seconds": round(elapsed, 2),
        "relayed_joins_per_s_two_processes": round(two, 2) if two is not None else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
