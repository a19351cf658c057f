"""Compiled contract artifacts (``build/artifacts/<Name>.json``), read-only access.

Artifacts are produced by :mod:`chain.compile` only; nothing else writes them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from chain.exceptions import ChainError, UnknownContract

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTIFACTS_DIR = REPO_ROOT / "build" / "artifacts"


class LinkError(ChainError):
    """Creation code still holds placeholders for libraries that were not given."""

    def __init__(self, contract: str, missing: list[str]) -> None:
        super().__init__(f"{contract} needs linked libraries {', '.join(missing)}")
        self.contract = contract
        self.missing = missing


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode_hex: str
    deployed_bytecode_hex: str
    link_references: dict[str, dict[str, list[dict[str, int]]]] = field(default_factory=dict)
    compiler: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    source_hash: str = ""

    @property
    def bytecode_hash(self) -> str:
        """keccak256 of the (unlinked) creation code: identifies the code a deployment came from."""
        return "0x" + keccak(text=self.bytecode_hex).hex()

    @property
    def deployable(self) -> bool:
        """False for interfaces and abstract contracts (no creation code)."""
        return bool(self.bytecode_hex)

    @property
    def libraries(self) -> list[str]:
        """Names of the linked libraries the creation code needs (``GroupBuyDeals``)."""
        return sorted({lib for libs in self.link_references.values() for lib in libs})

    @property
    def bytecode(self) -> bytes:
        """Creation code; :class:`LinkError` if it still needs libraries (use :meth:`link`)."""
        return self.link({})

    def link(self, libraries: dict[str, str]) -> bytes:
        """Creation code with each library placeholder replaced by its deployed address."""
        text = self.bytecode_hex
        missing = [name for name in self.libraries if name not in libraries]
        if missing:
            raise LinkError(self.name, missing)
        chars = list(text)
        for libs in self.link_references.values():
            for lib_name, spots in libs.items():
                address = libraries[lib_name].lower().removeprefix("0x")
                for spot in spots:
                    start = spot["start"] * 2
                    chars[start : start + spot["length"] * 2] = address
        return bytes.fromhex("".join(chars))

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": "0x" + self.bytecode_hex,
            "linkReferences": self.link_references,
            "deployedBytecode": "0x" + self.deployed_bytecode_hex,
            "compiler": self.compiler,
            "settings": self.settings,
            "sourceHash": self.source_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            name=data["contractName"],
            source=data["sourceName"],
            abi=data["abi"],
            bytecode_hex=data["bytecode"].removeprefix("0x"),
            link_references=data.get("linkReferences", {}),
            deployed_bytecode_hex=data["deployedBytecode"].removeprefix("0x"),
            compiler=data.get("compiler", ""),
            settings=data.get("settings", {}),
            source_hash=data.get("sourceHash", ""),
        )


def load_artifact(name: str, artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR) -> Artifact:
    """Read ``<artifacts_dir>/<name>.json``; :class:`UnknownContract` if absent."""
    path = artifacts_dir / f"{name}.json"
    if not path.is_file():
        raise UnknownContract(name, f"no artifact at {path}; run chain.compile.compile_contracts()")
    return Artifact.from_json(json.loads(path.read_text()))


def load_all_artifacts(artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR) -> list[Artifact]:
    """Every artifact in the folder (empty list if it does not exist yet)."""
    if not artifacts_dir.is_dir():
        return []
    return [
        Artifact.from_json(json.loads(p.read_text()))
        for p in sorted(artifacts_dir.glob("*.json"))
        if not p.name.startswith("_")
    ]
