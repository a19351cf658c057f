"""What the relay benchmark's runs share: the rush through the HTTP API (prepare, sign, relay by
concurrent clients, wait for the outbox), the relayer's gas, CPU time of a process, and a py-spy
profile of the service while the rush runs (``scripts/bench_relay.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import uvloop
from eth_account import Account
from eth_account.signers.local import LocalAccount

logger = logging.getLogger("bench_relay")


TOP_PRICE = 10_000_000  # 10 tUSD
CREDENTIAL = bytes.fromhex("1220") + bytes(range(32))


def send_all(chain: Any, signer: LocalAccount, txs: list[dict[str, Any]]) -> None:
    """Send many transactions with automine off, then mine until the pool is empty (setup only;
    also bench_api's and bench_indexer's)."""
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
    prefix = "1" + "".join(str(secrets.randbelow(10)) for _ in range(8))  # a fresh GS1 prefix
    registry.assign_company_prefix(prefix, supplier.address, signer=chain.platform)
    body = "0" + prefix + "".join(str(secrets.randbelow(10)) for _ in range(3))
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
    send_all(chain, chain.platform, mints)
    return accounts


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign(account: LocalAccount, prepared: dict[str, Any]) -> dict[str, Any]:
    signatures = {
        name: account.sign_typed_data(full_message=payload).signature.to_0x_hex()
        for name, payload in prepared["payloads"].items()
    }
    return {**prepared, "signatures": signatures}


async def _run_concurrently(
    clients: int, items: list[Any], work: Any
) -> tuple[list[Any], list[float]]:
    """``work(client, item)`` for every item by ``clients`` concurrent workers; (results, seconds).

    aiohttp on uvloop, not httpx: the posting script shares the two cores with the service and
    the node, and httpx cost it 1.24 ms of CPU per join (``cpu.client_ms_per_join``) — CPU a
    consumer's phone spends, not the server. (The raw baseline's sender is web3, as the issue
    defines it.)"""
    results: list[Any] = [None] * len(items)
    latencies: list[float] = []
    queue = iter(enumerate(items))
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def worker() -> None:
            for i, item in queue:
                start = time.perf_counter()
                results[i] = await work(http, item)
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return results, latencies


async def _post_json(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any] | bytes
) -> tuple[int, Any]:
    """POST a JSON body (already encoded, or a dict); (status, decoded answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(url, data=data, headers=_JSON) as response:
        return response.status, await response.json(content_type=None)


_JSON = {"content-type": "application/json"}


def encoded(bodies: list[dict[str, Any]]) -> list[bytes]:
    """The JSON of each body, made before a rush's clock starts (as the signatures are)."""
    return [json.dumps(body).encode() for body in bodies]


def prepare_all(
    url: str, accounts: list[LocalAccount], deal_id: int, leader: str, clients: int
) -> tuple[list[dict[str, Any]], list[float]]:
    async def work(http: aiohttp.ClientSession, account: LocalAccount) -> dict[str, Any]:
        body = {"from": account.address, "deal_id": deal_id, "quantity": 1, "leader": leader}
        status, answer = await _post_json(http, f"{url}/v1/actions/join/prepare", body)
        if status != 200:
            raise RuntimeError(f"prepare answered {status}: {answer}")
        return answer

    return uvloop.run(_run_concurrently(clients, accounts, work))


def relay_all(
    url: str | list[str], signed: list[dict[str, Any]] | list[bytes], clients: int
) -> tuple[list[tuple[int, dict[str, Any]]], list[float]]:
    """POST each signed join (a dict, or its JSON from :func:`encoded`) to ``/v1/relay``
    (spread round robin over several servers)."""
    urls = [url] if isinstance(url, str) else url
    items = [(urls[i % len(urls)], body) for i, body in enumerate(signed)]

    async def work(http: aiohttp.ClientSession, item: tuple[str, Any]) -> tuple[int, Any]:
        base, body = item
        return await _post_json(http, f"{base}/v1/relay", body)

    return uvloop.run(_run_concurrently(clients, items, work))


def wait_settled(engine: Any, ids: set[str], timeout: float) -> dict[str, int]:
    """Poll the outbox until none of ``ids`` is pending; returns counts by status.

    Each poll counts the pending rows only (a partial index's condition): reading every row's status 20
    times a second cost this script CPU the rush's processes share."""
    from sqlalchemy import text

    from api.relayer.models import PENDING_SQL

    pending = text(f"SELECT count(*) FROM relay_requests WHERE {PENDING_SQL}")
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            waiting = conn.execute(pending).scalar()
        if not waiting:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT id, status FROM relay_requests")).all()
            statuses = {i: s for i, s in rows if i in ids}
            if len(statuses) != len(ids):
                raise RuntimeError(f"{len(ids) - len(statuses)} accepted requests are missing")
            counts: dict[str, int] = {}
            for status in statuses.values():
                counts[status] = counts.get(status, 0) + 1
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox not settled after {timeout} s: {waiting} pending")
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
        pending = ""
        for line in self.out.read_text(errors="replace").splitlines():
            # A frame's name may hold newlines (py-spy prints a C function's docstring): a
            # stack ends only at a line ending in its count.
            stack, _, count = (pending + line).rpartition(" ")
            if not count.isdigit():
                pending += line + " "
                continue
            pending = ""
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
