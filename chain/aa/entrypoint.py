"""EntryPoint v0.8 at its canonical address, deployed from the pinned npm package.

``@account-abstraction/contracts`` 0.8.0 ships ``artifacts/EntryPoint.json``; its creation code sent
through the deterministic CREATE2 deployer (``0x4e59b448…4956C``, present on anvil and most chains)
with the published salt lands at ``0x4337084D…5Ff108``, where every v0.8 account and paymaster
expects it. Copying the code there (``anvil_setCode``) would not do: the EntryPoint's
SenderCreator, created in its constructor, only answers the EntryPoint that created it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.types import TxReceipt

from chain.aa.errors import Create2DeployerMissing, EntryPointNotCanonical
from chain.artifacts import REPO_ROOT
from chain.tx import TxSender

logger = logging.getLogger(__name__)

ENTRYPOINT_V08 = "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108"
CREATE2_DEPLOYER = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
ENTRYPOINT_SALT = bytes.fromhex("0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9")
ENTRYPOINT_PACKAGE = REPO_ROOT / "node_modules" / "@account-abstraction" / "contracts"
ENTRYPOINT_ARTIFACT = ENTRYPOINT_PACKAGE / "artifacts" / "EntryPoint.json"
ENTRYPOINT_PACKAGE_VERSION = "0.8.0"


@dataclass(frozen=True)
class EntryPointArtifact:
    """The npm package's compiled EntryPoint (ABI and creation code)."""

    abi: list[dict[str, Any]]
    bytecode: bytes

    @property
    def bytecode_hash(self) -> str:
        return "0x" + keccak(self.bytecode).hex()


@lru_cache(maxsize=1)
def load_entrypoint_artifact() -> EntryPointArtifact:
    """Read ``EntryPoint.json`` of the pinned package (``npm ci`` installs it)."""
    package = json.loads((ENTRYPOINT_PACKAGE / "package.json").read_text())
    if package.get("version") != ENTRYPOINT_PACKAGE_VERSION:
        raise EntryPointNotCanonical(ENTRYPOINT_V08, f"package version {package.get('version')}")
    data = json.loads(ENTRYPOINT_ARTIFACT.read_text())
    return EntryPointArtifact(abi=data["abi"], bytecode=bytes(HexBytes(data["bytecode"])))


def create2_address(deployer: str, salt: bytes, creation_code: bytes) -> str:
    """``keccak256(0xff ‖ deployer ‖ salt ‖ keccak256(code))[12:]``."""
    digest = keccak(b"\xff" + bytes(HexBytes(deployer)) + salt + keccak(creation_code))
    return to_checksum_address(digest[12:])


@dataclass(frozen=True)
class EntryPointDeployment:
    """Where the EntryPoint is and whether this run deployed it (``receipt`` is then set)."""

    address: str
    receipt: TxReceipt | None

    @property
    def deployed_now(self) -> bool:
        return self.receipt is not None


def ensure_entrypoint(w3: Web3, sender: TxSender, account: LocalAccount) -> EntryPointDeployment:
    """EntryPoint v0.8 at its canonical address: reused if there, else deployed by ``account``.

    Refuses (:class:`EntryPointNotCanonical`) creation code that would land elsewhere, and
    (:class:`Create2DeployerMissing`) a chain without the deterministic deployer.
    """
    artifact = load_entrypoint_artifact()
    computed = create2_address(CREATE2_DEPLOYER, ENTRYPOINT_SALT, artifact.bytecode)
    if computed != ENTRYPOINT_V08:
        raise EntryPointNotCanonical(ENTRYPOINT_V08, computed)
    if w3.eth.get_code(ENTRYPOINT_V08):
        logger.info("reusing EntryPoint v0.8 at %s", ENTRYPOINT_V08)
        return EntryPointDeployment(ENTRYPOINT_V08, None)
    if not w3.eth.get_code(CREATE2_DEPLOYER):
        raise Create2DeployerMissing(CREATE2_DEPLOYER)
    logger.info("deploying EntryPoint v0.8 through the CREATE2 deployer")
    receipt = sender.send(account, to=CREATE2_DEPLOYER, data=ENTRYPOINT_SALT + artifact.bytecode)
    assert not isinstance(receipt, bytes)
    if not w3.eth.get_code(ENTRYPOINT_V08):
        raise EntryPointNotCanonical(ENTRYPOINT_V08, "no code after deployment")
    return EntryPointDeployment(ENTRYPOINT_V08, receipt)
