"""Deployment manifests: ``deployments/<chainId>.json``, what :func:`chain.deploy.deploy_all` wrote.

Manifest format (JSON)::

    {"chainId": 31337, "genesisHash": "0x..", "deployer": "0x..",
     "contracts": {"GroupBuyEscrow": {"address": "0x..", "txHash": "0x..", "block": 12,
                   "bytecodeHash": "0x..", "codeHash": "0x..", "constructorArgs": [...],
                   "libraries": {"GroupBuyDeals": "0x.."}}, ...},
     "roles": [{"contract": "ProvenanceRegistry", "role": "RECEIPT_RECORDER_ROLE",
                "account": "0x.."}]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.artifacts import REPO_ROOT
from chain.exceptions import UnknownContract

DEFAULT_DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
MANIFEST_VERSION = 1


@dataclass
class DeployedContract:
    """One contract as recorded in a manifest."""

    name: str
    address: str
    tx_hash: str
    block: int
    bytecode_hash: str
    code_hash: str
    constructor_args: list[Any]
    libraries: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "txHash": self.tx_hash,
            "block": self.block,
            "bytecodeHash": self.bytecode_hash,
            "codeHash": self.code_hash,
            "constructorArgs": self.constructor_args,
            "libraries": self.libraries,
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> DeployedContract:
        return cls(
            name=name,
            address=data["address"],
            tx_hash=data["txHash"],
            block=int(data["block"]),
            bytecode_hash=data["bytecodeHash"],
            code_hash=data["codeHash"],
            constructor_args=data["constructorArgs"],
            libraries=data.get("libraries", {}),
        )


@dataclass
class Deployment:
    """The contracts of one chain (a loaded or freshly written manifest)."""

    chain_id: int
    genesis_hash: str
    deployer: str
    contracts: dict[str, DeployedContract]
    roles: list[dict[str, str]] = field(default_factory=list)
    path: Path | None = None
    # Names deployed by the last :func:`deploy_all` run (empty when everything was reused).
    deployed_now: list[str] = field(default_factory=list)

    def address(self, name: str) -> str:
        """Address of ``name``; :class:`UnknownContract` if it is not in this deployment."""
        try:
            return self.contracts[name].address
        except KeyError:
            raise UnknownContract(name, f"not in the deployment of chain {self.chain_id}") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "chainId": self.chain_id,
            "genesisHash": self.genesis_hash,
            "deployer": self.deployer,
            "contracts": {n: c.to_json() for n, c in sorted(self.contracts.items())},
            "roles": self.roles,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> Deployment:
        data = json.loads(path.read_text())
        return cls(
            chain_id=int(data["chainId"]),
            genesis_hash=data["genesisHash"],
            deployer=data["deployer"],
            contracts={
                n: DeployedContract.from_json(n, c) for n, c in data.get("contracts", {}).items()
            },
            roles=data.get("roles", []),
            path=path,
        )


def manifest_path(chain_id: int, deployments_dir: Path = DEFAULT_DEPLOYMENTS_DIR) -> Path:
    return deployments_dir / f"{chain_id}.json"


def load_deployment(chain_id: int, deployments_dir: Path = DEFAULT_DEPLOYMENTS_DIR) -> Deployment:
    """The recorded deployment of ``chain_id``; :class:`UnknownContract` if there is none."""
    path = manifest_path(chain_id, deployments_dir)
    if not path.is_file():
        raise UnknownContract("*", f"no deployment manifest at {path}")
    return Deployment.load(path)
