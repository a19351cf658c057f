"""connect(): settings → a ready chain (node checks, manifest, clients)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.anvil import Anvil
from chain.context import connect
from chain.errors import ChainIdMismatch, NodeUnavailable, UnknownContract
from chain.settings import Settings


def test_connect_deploys_then_loads(anvil_node: Anvil, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, rpc_url=anvil_node.rpc_url, deployments_dir=tmp_path)
    with pytest.raises(UnknownContract):
        connect(settings)
    deployed = connect(settings, deploy=True)
    loaded = connect(settings)
    assert loaded.deployment.contracts == deployed.deployment.contracts
    assert loaded.clients.token.name() == "Tuan USD"
    assert loaded.clients.escrow.has_role("PLATFORM_ROLE", loaded.platform.address)
    assert loaded.relayer.address != loaded.platform.address


def test_connect_checks_the_node(anvil_node: Anvil, tmp_path: Path) -> None:
    wrong_id = Settings(
        _env_file=None, rpc_url=anvil_node.rpc_url, chain_id=1337, deployments_dir=tmp_path
    )
    with pytest.raises(ChainIdMismatch):
        connect(wrong_id)
    with Anvil() as node:
        dead_url = node.rpc_url
    with pytest.raises(NodeUnavailable):
        connect(Settings(_env_file=None, rpc_url=dead_url, deployments_dir=tmp_path))
