"""Deploy tuanchain's contracts and record them in ``deployments/<chainId>.json``.

Idempotent: a contract recorded in the manifest is reused when (a) the chain is the same one
(same genesis hash), (b) its artifact's creation code is unchanged, (c) its constructor
arguments and linked libraries are unchanged (so a redeployed dependency redeploys its
dependents) and (d) the code at the recorded address is still the code deployed there.
Anything else is redeployed. Role grants are checked and only sent when missing.

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
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chain.artifacts import REPO_ROOT, Artifact
from chain.compile import compile_contracts
from chain.errors import ChainError, UnknownContract
from chain.tx import TxSender

logger = logging.getLogger(__name__)

DEFAULT_DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
MANIFEST_VERSION = 1


class DeploymentError(ChainError):
    """A deployment step failed (no contract address in the receipt, ...)."""


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


def _json_arg(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and Web3.is_address(value):
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_json_arg(v) for v in value]
    return value


class _Deployer:
    """One run of :func:`deploy_all`: reuse-or-deploy each contract, then the roles."""

    def __init__(
        self,
        w3: Web3,
        sender: TxSender,
        account: LocalAccount,
        artifacts: dict[str, Artifact],
        previous: Deployment | None,
    ) -> None:
        self.w3 = w3
        self.sender = sender
        self.account = account
        self.artifacts = artifacts
        self.previous = previous
        self.contracts: dict[str, DeployedContract] = {}
        self.deployed_now: list[str] = []

    def artifact(self, name: str) -> Artifact:
        try:
            return self.artifacts[name]
        except KeyError:
            raise UnknownContract(name, "no compiled artifact") from None

    def ensure(self, name: str, args: list[Any]) -> str:
        artifact = self.artifact(name)
        libraries = {lib: self.ensure(lib, []) for lib in artifact.libraries}
        json_args = _json_arg(args)
        old = self.previous.contracts.get(name) if self.previous else None
        if old is not None and self._reusable(old, artifact, json_args, libraries):
            logger.info("reusing %s at %s", name, old.address)
            self.contracts[name] = old
            return old.address
        if name in self.contracts:  # a library shared by several contracts
            return self.contracts[name].address
        logger.info("deploying %s", name)
        contract = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.link(libraries))
        data = contract.constructor(*args).data_in_transaction
        receipt = self.sender.send(self.account, to=None, data=data)
        address = receipt["contractAddress"]  # type: ignore[index]
        if not address:
            raise DeploymentError(f"no contract address in the receipt of {name}")
        code = self.w3.eth.get_code(address)
        self.contracts[name] = DeployedContract(
            name=name,
            address=to_checksum_address(address),
            tx_hash=receipt["transactionHash"].to_0x_hex(),  # type: ignore[index]
            block=int(receipt["blockNumber"]),  # type: ignore[index]
            bytecode_hash=artifact.bytecode_hash,
            code_hash="0x" + keccak(bytes(code)).hex(),
            constructor_args=json_args,
            libraries=libraries,
        )
        self.deployed_now.append(name)
        return self.contracts[name].address

    def _reusable(
        self,
        old: DeployedContract,
        artifact: Artifact,
        json_args: Any,
        libraries: dict[str, str],
    ) -> bool:
        if old.bytecode_hash != artifact.bytecode_hash:
            logger.info("%s changed since its deployment", artifact.name)
            return False
        if old.constructor_args != json_args or old.libraries != libraries:
            logger.info("%s: constructor arguments or libraries changed", artifact.name)
            return False
        code = bytes(self.w3.eth.get_code(old.address))
        if "0x" + keccak(code).hex() != old.code_hash or not code:
            logger.info("%s: code at %s is not the recorded code", artifact.name, old.address)
            return False
        return True

    def ensure_role(self, contract_name: str, role_name: str, account: str) -> dict[str, str]:
        artifact = self.artifact(contract_name)
        contract = self.w3.eth.contract(
            address=self.contracts[contract_name].address, abi=artifact.abi
        )
        role = self.sender.call(getattr(contract.functions, role_name)())
        if not self.sender.call(contract.functions.hasRole(role, account)):
            logger.info("granting %s on %s to %s", role_name, contract_name, account)
            self.sender.transact(self.account, contract.functions.grantRole(role, account))
        return {"contract": contract_name, "role": role_name, "account": account}


def deploy_all(
    w3: Web3,
    sender: TxSender,
    *,
    platform: LocalAccount,
    fee_recipient: str | None = None,
    deployments_dir: Path = DEFAULT_DEPLOYMENTS_DIR,
    artifacts: dict[str, Artifact] | None = None,
) -> Deployment:
    """Deploy (or reuse) forwarder, registry, token, escrow and wire their roles; then the
    passkey-account stack (:func:`chain.aa.deploy.ensure_passkey_stack`).

    ``platform`` deploys and becomes admin of every contract (DEFAULT_ADMIN_ROLE, PLATFORM_ROLE,
    ARBITER_ROLE, MINTER_ROLE); ``fee_recipient`` defaults to it. Writes the manifest.
    """
    artifacts = artifacts if artifacts is not None else compile_contracts()
    chain_id = sender.chain_id
    genesis_hash = w3.eth.get_block(0)["hash"].to_0x_hex()  # type: ignore[union-attr]
    path = manifest_path(chain_id, deployments_dir)
    previous = Deployment.load(path) if path.is_file() else None
    if previous is not None and previous.genesis_hash != genesis_hash:
        logger.info("chain %d was reset (new genesis): deploying afresh", chain_id)
        previous = None

    run = _Deployer(w3, sender, platform, artifacts, previous)
    admin = platform.address
    forwarder = run.ensure("TuanchainForwarder", [])
    registry = run.ensure("ProvenanceRegistry", [forwarder, admin])
    token = run.ensure("TestStablecoin", [admin])
    escrow = run.ensure("GroupBuyEscrow", [registry, forwarder, admin, fee_recipient or admin])

    roles = [run.ensure_role("ProvenanceRegistry", "RECEIPT_RECORDER_ROLE", escrow)]
    escrow_contract = w3.eth.contract(address=escrow, abi=run.artifact("GroupBuyEscrow").abi)
    if not sender.call(escrow_contract.functions.isTokenAllowed(token)):
        sender.transact(platform, escrow_contract.functions.setTokenAllowed(token, True))

    # Passkey accounts (ERC-4337): EntryPoint v0.8, account factory, sponsoring paymaster.
    from chain.aa.deploy import ensure_passkey_stack  # chain.aa builds on this module

    ensure_passkey_stack(run, escrow=escrow, token=token)

    deployment = Deployment(
        chain_id=chain_id,
        genesis_hash=genesis_hash,
        deployer=platform.address,
        contracts=run.contracts,
        roles=roles,
        deployed_now=run.deployed_now,
    )
    deployment.save(path)
    return deployment
