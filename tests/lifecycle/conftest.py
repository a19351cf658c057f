"""A seeded local tuanchain, made once by a real ``tuanchain run`` and copied for each test.

The first ``run`` (deploy, seed, index, serve) is the slow part; each test works on its own copy
of the resulting folder (chain state, deployment manifest, index, documents) with its own ports,
so tests neither share processes nor depend on their order.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.demo import catalog
from chain.anvil_state import header_hash
from chain.clients import DealStatus
from chain.context import Chain, connect
from chain.settings import Settings

from .processes import Command, Home, anvil_pid, assert_anvil_gone


@dataclass(frozen=True)
class DemoHome:
    """The template folder, and what the seed made there."""

    root: Path
    deals: dict[str, int]  # demo deal name -> deal id
    statuses: dict[str, DealStatus]  # as seeded

    def copy(self, to: Path) -> Home:
        shutil.copytree(self.root, to)
        return Home(to)


def connect_to(home: Home) -> Chain:
    """The test's own connection to the home's node (while something runs it)."""
    return connect(
        Settings(
            _env_file=None,
            rpc_url=home.rpc_url,
            data_dir=home.data_dir,
            deployments_dir=home.root / "deployments",
            database_url="sqlite:///" + str(home.database),
        )
    )


def demo_deals(chain: Chain) -> dict[str, int]:
    """The demo's deals by name, found on chain as the seed finds them (supplier, batch, stock)."""
    registry, escrow = chain.clients.registry, chain.clients.escrow
    found: dict[str, int] = {}
    for spec in catalog.DEALS:
        batch = registry.compute_batch_id(spec.product.gtin14, spec.product.lot)
        for deal_id in range(1, escrow.deal_count() + 1):
            params = escrow.deal_params(deal_id)
            if (
                params.supplier == spec.product.supplier.address
                and params.batch_ids == [batch]
                and params.max_total_quantity == spec.max_quantity
            ):
                found[spec.name] = deal_id
    assert set(found) == {spec.name for spec in catalog.DEALS}, found
    return found


def saved_chain(home: Home) -> tuple[str, int, int]:
    """(genesis hash, last block number, its timestamp) of the chain as anvil saved it."""
    blocks = json.loads(home.state_file.read_text())["blocks"]
    geneses = [b for b in blocks if int(b["header"]["number"], 16) == 0]
    assert len(geneses) == 1
    last = max(blocks, key=lambda b: int(b["header"]["number"], 16))["header"]
    return header_hash(geneses[0]["header"]), int(last["number"], 16), int(last["timestamp"], 16)


def outbox(home: Home) -> dict[str, str]:
    """Every relay request's status, read straight from the database file."""
    with sqlite3.connect(home.database) as db:
        return dict(db.execute("SELECT id, status FROM relay_requests").fetchall())


def statuses(chain: Chain, deals: dict[str, int]) -> dict[str, DealStatus]:
    return {name: chain.clients.escrow.deal_status(deal_id) for name, deal_id in deals.items()}


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoHome]:
    """``tuanchain run`` on a fresh folder (deploy, seed, index, serve: the URLs, the QR code and
    the demo accounts printed, the consumer page served), then Ctrl-C (SIGINT to its group, as
    a terminal sends it): exit 0, anvil gone, its state saved."""
    home = Home(tmp_path_factory.mktemp("demo-home") / "home")
    home.root.mkdir()
    run = Command(home, ["run", "--port", str(home.api_port)], home.root.parent / "seed-run.log")
    try:
        run.wait_for(r"Uvicorn running")
        pid = anvil_pid(run.output)
        link = f"{home.api_url}/01/{catalog.RICE.gtin14}/10/{catalog.RICE.lot}"
        assert link in run.output and "█" in run.output  # the URL and its QR code in the terminal
        assert "consumer  0x" in run.output  # the demo accounts
        page = httpx.get(link, headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "五常大米" in page.text
        chain = connect_to(home)
        deals = demo_deals(chain)
        seeded = statuses(chain, deals)
        assert run.stop(signal.SIGINT, group=True) == 0, run.output[-3000:]
    finally:
        run.kill()
    assert_anvil_gone(pid, home.rpc_port)
    assert home.state_file.stat().st_size > 0
    # What the story needs, so a later test compares against a known-good seed.
    assert seeded["pork_failed"] == DealStatus.FAILED
    assert seeded["oranges_frozen"] == DealStatus.FROZEN
    assert seeded["rice_open"] == DealStatus.OPEN
    yield DemoHome(home.root, deals, seeded)
