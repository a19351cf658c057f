"""What the per-client rate limit costs a request: in the process, and shared through PostgreSQL.

Per ``take`` (the check every limited request makes, :mod:`api.ratelimit`), CPU of this process
(``time.process_time``) and wall clock, in microseconds, for:

- ``local``: :class:`~api.ratelimit.TokenBuckets` (SQLite, one process);
- ``shared_lease_N``: :class:`~api.ratelimit.SharedBuckets` on PostgreSQL with the default burst
  (100: leases of 10 tokens, one UPSERT per 10 requests) and with burst 10 (leases of 1: one
  UPSERT per request, what a check without leases would cost);
- ``shared_refused``: a client the shared bucket refuses (what a flood costs once refused).

Rates are high enough that nothing is refused but the last case. Prints one JSON object.
Run: ``.venv/bin/python scripts/bench_rate_limit.py --database postgresql+psycopg://...``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from api.db import init_db
from api.ratelimit import SharedBuckets, TokenBuckets
from api.services import make_engine


def per_take(take: Callable[[str], float], n: int) -> dict[str, float]:
    key = f"bench-{uuid.uuid4().hex}"
    take(key)  # the first: a new row, the engine's first connection
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        take(key)
    return {
        "cpu_us": round(1e6 * (time.process_time() - cpu) / n, 1),
        "wall_us": round(1e6 * (time.perf_counter() - wall) / n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL (a schema is made)")
    parser.add_argument("--takes", type=int, default=20_000)
    args = parser.parse_args()
    schema = f"bench_rl_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.database)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in args.database else "?"
    engine = make_engine(f"{args.database}{separator}options={quote(f'-csearch_path={schema}')}")
    try:
        init_db(engine)
        n = args.takes
        result = {"takes": n, "local": per_take(TokenBuckets(rate=1e9, burst=100).take, n)}
        for burst in (100, 10):
            shared = SharedBuckets(engine, rate=1e9, burst=burst)
            result[f"shared_lease_{shared.lease:g}"] = per_take(shared.take, n)
        refusing = SharedBuckets(engine, rate=1e-6, burst=1)
        result["shared_refused"] = per_take(refusing.take, n)
        print(json.dumps(result, indent=2))
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
