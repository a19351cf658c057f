"""The seeded demo's read answers and the SQL statements each costs, to compare two versions of
the code on one index (issue 15: a read made faster must answer the same bytes).

``--seed DIR``: start anvil, deploy, seed the demo (:func:`api.demo.seed.seed`), index it into
``DIR/index.db``, then run ``--answers`` with this tree's code and with each ``--tree`` given
(another checkout, e.g. ``git archive`` of the commit before), all on the same chain and index,
and print per URL whether the bodies are byte-identical and the statements each tree ran.

``--answers``: (a subprocess of the above) with ``TUANCHAIN_*`` set, GET every read URL of the
demo through the app (no background roles) and print ``{url: {status, sha256, bytes,
statements}}`` as JSON. The statements are counted on the app's engine
(``before_cursor_execute``), each URL asked once with the response cache cleared first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def urls(engine: Any) -> list[str]:
    """Every read of the demo: pages of deals, each deal, dashboards, buyers, leaders."""
    from sqlalchemy import select

    from api.db import models as m
    from api.db import session_factory

    with session_factory(engine)() as session:
        deal_ids = sorted(session.scalars(select(m.Deal.deal_id)))
        buyers = sorted(set(session.scalars(select(m.OrderEvent.buyer))))
        leaders = sorted(set(session.scalars(select(m.OrderEvent.leader))))
        suppliers = sorted(set(session.scalars(select(m.Deal.supplier))))
    found = ["/v1/deals", "/v1/deals?limit=2&offset=1", "/v1/dashboard", "/dashboard", "/"]
    for status in ("open", "succeeded", "failed", "frozen", "settled"):
        found.append(f"/v1/deals?status={status}")
    for deal_id in deal_ids:
        found += [f"/v1/deals/{deal_id}", f"/deals/{deal_id}"]
    for buyer in buyers:
        found += [f"/v1/buyers/{buyer}/orders", f"/orders/{buyer}"]
    for leader in leaders:
        found += [
            f"/v1/dashboard?leader={leader}",
            f"/leader/{leader}",
            f"/v1/leaders/{leader}/cash-orders",
        ]
    for supplier in suppliers:
        found += [f"/v1/dashboard?supplier={supplier}", f"/supplier/{supplier}"]
    return found


def answers() -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from api.app import create_app
    from api.services import build_services

    services = build_services()
    app = create_app(services)
    counted: list[int] = [0]

    @event.listens_for(services.engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        counted[0] += 1

    result: dict[str, Any] = {}
    with TestClient(app) as client:
        for url in urls(services.engine):
            cache = getattr(app.state, "read_cache", None)
            if cache is not None:
                cache.clear()
            counted[0] = 0
            started = time.process_time()
            response = client.get(url)
            result[url] = {
                "status": response.status_code,
                "sha256": hashlib.sha256(response.content).hexdigest(),
                "bytes": len(response.content),
                "statements": counted[0],
                "cpu_ms": round((time.process_time() - started) * 1000, 2),
            }
    print(json.dumps(result))


def seed_and_compare(base: Path, trees: list[Path]) -> None:
    from api.demo.seed import seed
    from api.indexer import Indexer
    from api.services import build_services
    from chain.anvil import Anvil
    from chain.context import connect
    from chain.settings import Settings

    base.mkdir(parents=True, exist_ok=True)
    with Anvil() as node:
        env = {
            "TUANCHAIN_RPC_URL": node.rpc_url,
            "TUANCHAIN_DATA_DIR": str(base / "data"),
            "TUANCHAIN_DEPLOYMENTS_DIR": str(base / "deployments"),
            "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(base / "index.db"),
        }
        os.environ.update(env)
        connect(Settings(), deploy=True)
        services = build_services()
        seed(services)
        Indexer(
            engine=services.engine, chain=services.chain, store=services.store
        ).sync_until_idle()
        runs = {}
        for tree in [HERE.parent, *trees]:
            out = subprocess.run(
                [sys.executable, str(tree / "scripts" / Path(__file__).name), "--answers"],
                env={**os.environ, **env},
                cwd=tree,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs[str(tree)] = json.loads(out.splitlines()[-1])
    here, *others = runs
    report: dict[str, Any] = {"urls": len(runs[here]), "trees": list(runs)}
    for other in others:
        differ = [
            url
            for url in runs[here]
            if (runs[here][url]["status"], runs[here][url]["sha256"])
            != (runs[other].get(url, {}).get("status"), runs[other].get(url, {}).get("sha256"))
        ]
        report[f"differ_from_{other}"] = differ
    report["statements"] = {
        url: [runs[tree][url]["statements"] for tree in runs] for url in runs[here]
    }
    report["cpu_ms"] = {url: [runs[tree][url]["cpu_ms"] for tree in runs] for url in runs[here]}
    report["statuses"] = sorted({v["status"] for v in runs[here].values()})
    print(json.dumps(report, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=Path, metavar="DIR")
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--answers", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path.cwd() if args.answers else HERE.parent))
    if args.answers:
        answers()
    else:
        seed_and_compare(args.seed, args.tree)


if __name__ == "__main__":
    main()
