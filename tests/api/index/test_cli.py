"""``tuanchain index``: catches up from the environment's settings; bad settings exit 1."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.db import models as m
from chain.settings import Settings
from tuanchain_cli import app

from .world import World


def _env(settings: Settings, database_url: str) -> dict[str, str]:
    return {
        "TUANCHAIN_RPC_URL": settings.rpc_url,
        "TUANCHAIN_DATA_DIR": str(settings.data_dir),
        "TUANCHAIN_DEPLOYMENTS_DIR": str(settings.deployments_dir),
        "TUANCHAIN_DATABASE_URL": database_url,
    }


def test_index_once_then_from_scratch(
    world: World, api_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = "sqlite:///" + str(tmp_path_factory.mktemp("cli") / "index.db")
    runner = CliRunner()
    result = runner.invoke(app, ["index", "--once"], env=_env(api_settings, url))
    assert result.exit_code == 0, result.output
    assert "indexed up to block" in result.output
    engine = create_engine(url)
    with Session(engine) as session:
        lots = set(session.scalars(select(m.Batch.lot)).all())
        assert world.rice[1] in lots
        before = session.scalar(select(m.IndexerState.last_block))
    result = runner.invoke(app, ["index", "--once", "--from-scratch"], env=_env(api_settings, url))
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        assert session.scalar(select(m.IndexerState.last_block)) >= before
        assert world.rice[1] in set(session.scalars(select(m.Batch.lot)).all())
    engine.dispose()


def test_index_with_the_node_down_exits_1(
    api_settings: Settings, tmp_path_factory: pytest.TempPathFactory, closed_port: int
) -> None:
    settings = api_settings.model_copy(update={"rpc_url": f"http://127.0.0.1:{closed_port}"})
    url = "sqlite:///" + str(tmp_path_factory.mktemp("cli") / "index.db")
    result = CliRunner().invoke(app, ["index", "--once"], env=_env(settings, url))
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_index_with_a_malformed_store_address_exits_1(
    api_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A Kubo address that is not one: one line naming it, exit 1 (it was a traceback)."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("cli") / "index.db")
    env = {
        **_env(api_settings, url),
        "TUANCHAIN_IPFS_BACKEND": "kubo",
        "TUANCHAIN_IPFS_API_URL": "ftp://nowhere",
    }
    result = CliRunner().invoke(app, ["index", "--once"], env=env)
    assert result.exit_code == 1
    assert "error:" in result.output and "ftp://nowhere" in result.output
    assert "Traceback" not in result.output
