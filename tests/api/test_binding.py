"""The database bound to its chain (api.binding): a reset chain or another chain never crashes the
service, is never mixed into the index, and never receives a request accepted for the old one.

Real nodes: a chain is "reset" by stopping its anvil and starting a fresh one on the same port
(same chain id, new genesis); deployed by the same account, the contracts land at the *same
addresses* — the dangerous case, where an old signature is valid on the new chain. "Another
chain" is a second anvil with chain id 1337. The same batch (GTIN + lot) is registered on both
chains: what crashed the indexer (``UNIQUE constraint failed: batches.gtin, batches.lot``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from api.binding import KEPT_TABLES, REBUILDABLE_TABLES, ChainBinding, bind
from api.db import Base, drop_db, init_db
from api.db import models as m
from api.indexer.runner import make_indexer
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services, make_engine
from api.webhooks.models import WebhookEndpoint
from chain.accounts import dev_account
from chain.anvil import Anvil, free_port
from chain.context import Chain, connect
from chain.errors import DeploymentMismatch
from chain.settings import Settings
from traceability.ipfs import EmbeddedDocumentStore
from tuanchain_cli import app as cli_app

from .conftest import database_backends, temporary_schema

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()

GTIN = "09506000134352"
CREDENTIAL = bytes.fromhex("1220") + bytes(range(32))
SUPPLIER = dev_account(5)  # has ETH on every fresh anvil


@pytest.fixture(params=database_backends())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        db = make_engine(f"sqlite:///{tmp_path}/index.db")
        init_db(db)
        yield db
        db.dispose()
        return
    with temporary_schema("bind") as url:
        db = make_engine(url)
        drop_db(db)
        init_db(db)
        yield db
        db.dispose()


def settings_for(node: Anvil, tmp_path: Path, engine: Engine) -> Settings:
    return Settings(
        _env_file=None,
        rpc_url=node.rpc_url,
        chain_id=node.chain_id,
        data_dir=tmp_path / "data",
        deployments_dir=tmp_path / "deployments",
        database_url=engine.url.render_as_string(hide_password=False),
    )


def services_on(settings: Settings, engine: Engine, chain: Chain | None = None) -> Services:
    return Services(
        settings=settings,
        store=EmbeddedDocumentStore(settings.data_dir / "ipfs"),
        engine=engine,
        _chain=chain,
    )


def approve_and_register(chain: Chain, lot: str) -> None:
    registry = chain.clients.registry
    registry.apply_as_supplier(CREDENTIAL, CREDENTIALS_DIGEST, signer=SUPPLIER)
    registry.approve_supplier(SUPPLIER.address, signer=chain.platform)
    registry.assign_company_prefix(GTIN[1:8], SUPPLIER.address, signer=chain.platform)
    registry.register_batch(GTIN, lot, CREDENTIAL, signer=SUPPLIER)


def relay_register_batch(client: TestClient, lot: str) -> dict[str, Any]:
    """prepare → sign (as a v4 wallet) → POST /v1/relay: a gasless batch registration."""
    prepared = client.post(
        "/v1/actions/register_batch/prepare",
        json={"from": SUPPLIER.address, "gtin14": GTIN, "lot": lot, "metadata": {"lot": lot}},
    )
    assert prepared.status_code == 200, prepared.text
    body = prepared.json()
    body["signatures"] = {
        name: SUPPLIER.sign_typed_data(full_message=payload).signature.to_0x_hex()
        for name, payload in body["payloads"].items()
    }
    relayed = client.post("/v1/relay", json=body)
    assert relayed.status_code == 202, relayed.text
    return {"id": relayed.json()["id"], "signed": body}


def indexed_batches(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        return [
            (b.gtin, b.lot, b.tx_hash)
            for b in session.scalars(select(m.Batch).order_by(m.Batch.lot))
        ]


def test_every_table_is_either_rebuilt_or_kept(tmp_path: Path) -> None:
    """A new table must be classified, or a chain change would silently mix or lose it."""
    init_db(make_engine(f"sqlite:///{tmp_path}/tables.db"))  # (loads every model module)
    classified = {t.__tablename__ for t in (*REBUILDABLE_TABLES, *KEPT_TABLES)}
    assert classified == set(Base.metadata.tables)


@pytest.mark.parametrize(
    "reset_genesis_time", [1_700_000_000, 1_700_000_001], ids=["same-genesis", "other-genesis"]
)
def test_a_reset_chain_fails_old_requests_and_rebuilds_the_index(
    engine: Engine, tmp_path: Path, reset_genesis_time: int
) -> None:
    # A dev chain restarted within the same second has the same genesis block: both cases, every
    # run, whatever the clock reads.
    port = free_port()
    with Anvil(port=port, extra_args=["--timestamp", "1700000000"]) as old_node:
        settings = settings_for(old_node, tmp_path, engine)
        old = connect(settings, deploy=True)
        services = services_on(settings, engine, old)
        approve_and_register(old, "L1")
        make_indexer(services).sync_until_idle()
        assert [(g, lot) for g, lot, _ in indexed_batches(engine)] == [(GTIN, "L1")]
        with TestClient(create_app(services)) as client:
            queued = relay_register_batch(client, "L2")  # accepted; the worker has not run
        old_addresses = {n: c.address for n, c in old.deployment.contracts.items()}

    with Anvil(port=port, extra_args=["--timestamp", str(reset_genesis_time)]) as new_node:
        worker = RelayWorker(services)
        worker.run_once()  # the running service notices before sending anything
        with TestClient(create_app(services)) as client:
            status = client.get(f"/v1/relay/{queued['id']}").json()
            assert status["status"] == "failed"
            assert status["error"]["code"] == "chain_changed"
            assert "never sent" in status["error"]["message"]
            health = client.get("/healthz")
            assert health.status_code == 503 and "chain" in health.json()["down"]
            # Nothing is deployed on the new chain yet: 503 saying what to do, not a crash.
            refused = client.post(
                "/v1/actions/register_batch/prepare",
                json={"from": SUPPLIER.address, "gtin14": GTIN, "lot": "L3", "metadata": {}},
            )
            assert refused.status_code == 503
            assert refused.json()["code"] == "deployment_mismatch"
            assert "`tuanchain deploy`" in refused.json()["message"]
        with pytest.raises(DeploymentMismatch, match="tuanchain deploy"):
            _ = services.chain
        if reset_genesis_time == 1_700_000_000:
            # Known limit: redeployed there with identical code at the same addresses, the chain
            # has the identity the index is bound to (chain id, genesis, code); telling it apart
            # would need the deployment block's hash in the identity. The old request above was
            # failed, never sent, which is what must hold.
            return

        new = connect(settings, deploy=True)
        assert {n: c.address for n, c in new.deployment.contracts.items()} == old_addresses
        approve_and_register(new, "L1")  # the same GTIN + lot as on the old chain
        make_indexer(services).sync_until_idle()  # reconnects, re-binds, rebuilds: no crash
        [(gtin, lot, tx_hash)] = indexed_batches(engine)
        receipt = new.w3.eth.get_transaction_receipt(tx_hash)  # the new chain's registration
        assert (gtin, lot, receipt["status"]) == (GTIN, "L1", 1)

        # The old request was never sent, and a replay of its signature is refused.
        assert new.clients.forwarder.nonces(SUPPLIER.address) == 0
        registry = new.clients.registry
        assert registry.batch_status(registry.compute_batch_id(GTIN, "L2")).name == "UNKNOWN"
        with TestClient(create_app(services)) as client:
            replay = client.post("/v1/relay", json=queued["signed"])
            assert replay.status_code == 400
            assert replay.json()["code"] == "signed_for_another_chain"
        assert new_node.chain_id == old_node.chain_id


def test_an_rpc_url_pointed_at_another_chain(engine: Engine, tmp_path: Path) -> None:
    with Anvil() as first:
        settings = settings_for(first, tmp_path, engine)
        chain = connect(settings, deploy=True)
        services = services_on(settings, engine, chain)
        approve_and_register(chain, "L1")
        make_indexer(services).sync_until_idle()
        with TestClient(create_app(services)) as client:
            queued = relay_register_batch(client, "L2")

        with Anvil(chain_id=1337) as other:  # the service restarted with another RPC URL
            other_settings = settings_for(other, tmp_path, engine)
            other_chain = connect(other_settings, deploy=True)
            approve_and_register(other_chain, "L1")
            restarted = services_on(other_settings, engine)
            make_indexer(restarted).sync_until_idle()
            [(_, _, tx_hash)] = indexed_batches(engine)
            assert other_chain.w3.eth.get_transaction_receipt(tx_hash)["status"] == 1
            with Session(engine) as session:
                row = session.get(RelayRequest, queued["id"])
                assert row is not None and row.status == "failed"
                assert row.error_code == "chain_changed"
                assert row.error_args["accepted_on"]["chainId"] == 31337
            RelayWorker(restarted).run_once()
            assert other_chain.clients.forwarder.nonces(SUPPLIER.address) == 0


@pytest.mark.parametrize(
    "reset_genesis_time",
    [1_700_000_000, 1_700_000_001],
    ids=["same-genesis", "other-genesis"],
)
def test_a_manifest_of_another_chain_is_refused_in_one_line(
    engine: Engine, tmp_path: Path, reset_genesis_time: int
) -> None:
    # A dev chain restarted within the same second has the same genesis block: only the missing
    # code tells it apart. Fixed genesis times make both cases happen every run.
    port = free_port()
    with Anvil(port=port, extra_args=["--timestamp", "1700000000"]) as node:
        settings = settings_for(node, tmp_path, engine)
        connect(settings, deploy=True)
    with Anvil(port=port, extra_args=["--timestamp", str(reset_genesis_time)]):  # not redeployed
        env = {
            "TUANCHAIN_RPC_URL": settings.rpc_url,
            "TUANCHAIN_DEPLOYMENTS_DIR": str(settings.deployments_dir),
            "TUANCHAIN_DATA_DIR": str(settings.data_dir),
            "TUANCHAIN_DATABASE_URL": settings.database_url,
        }
        result = CliRunner().invoke(cli_app, ["index", "--once"], env=env)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: DeploymentMismatch: ") and "`tuanchain deploy`" in line


def test_an_index_of_other_hash_rules_is_rebuilt(engine: Engine, tmp_path: Path) -> None:
    with Anvil() as node:
        settings = settings_for(node, tmp_path, engine)
        chain = connect(settings, deploy=True)
        approve_and_register(chain, "L1")
        services = services_on(settings, engine, chain)
        make_indexer(services).sync_until_idle()
        with Session(engine) as session, session.begin():
            session.execute(update(ChainBinding).values(hash_rules=0))
            hook = WebhookEndpoint(
                url="https://gateway.example/hook",
                secret_sealed=b"",
                key_id="",
                created_by=SUPPLIER.address,
                created_at=0,
                since=0,
                scanned_block=10**6,  # the webhook outbox's cursor in the old index
                scanned_time=10**9,
            )
            session.add(hook)
        change = bind(engine, chain)
        assert change is not None and change.index_cleared and "hash rules 0" in change.reason
        assert indexed_batches(engine) == []
        with Session(engine) as session:  # kept, and it looks at the whole new index again
            kept = session.scalars(select(WebhookEndpoint)).one()
            assert (kept.url, kept.scanned_block, kept.scanned_time) == (
                "https://gateway.example/hook",
                None,
                None,
            )
        make_indexer(services).sync_until_idle()
        assert [(g, lot) for g, lot, _ in indexed_batches(engine)] == [(GTIN, "L1")]
        assert bind(engine, chain) is None  # bound: nothing more to do


@pytest.mark.parametrize("index_follows_the_chain", [True, False])
def test_a_database_of_older_code_keeps_its_requests_only_if_its_index_proves_the_chain(
    engine: Engine, tmp_path: Path, index_follows_the_chain: bool
) -> None:
    """Older code recorded no binding and no chain on its requests."""
    with Anvil() as node:
        settings = settings_for(node, tmp_path, engine)
        chain = connect(settings, deploy=True)
        approve_and_register(chain, "L1")
        services = services_on(settings, engine, chain)
        make_indexer(services).sync_until_idle()
        with TestClient(create_app(services)) as client:
            queued = relay_register_batch(client, "L2")
        with Session(engine) as session, session.begin():  # as older code left it
            session.execute(update(RelayRequest).values(chain_key=None))
            session.query(ChainBinding).delete()
            if not index_follows_the_chain:
                session.execute(update(m.IndexedBlock).values(hash="0x" + "ab" * 32))
        bind(engine, chain)
        with Session(engine) as session:
            row = session.get(RelayRequest, queued["id"])
            assert row is not None
            if index_follows_the_chain:
                assert (row.status, row.chain_key) == ("queued", chain.identity.key)
            else:
                assert (row.status, row.error_code) == ("failed", "chain_changed")
        RelayWorker(services).run_once()
        expected = 1 if index_follows_the_chain else 0
        assert chain.clients.forwarder.nonces(SUPPLIER.address) == expected
