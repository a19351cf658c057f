"""One deployment run: reuse or deploy each contract, grant the roles (what ``deploy_all`` and
:mod:`chain.aa.deploy` drive).

A recorded contract is reused when its artifact's creation code, its constructor arguments and
linked libraries are unchanged and the code at its address is still the code deployed there.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chain.artifacts import Artifact
from chain.errors import ChainError, UnknownContract
from chain.manifest import DeployedContract, Deployment
from chain.tx import TxSender

logger = logging.getLogger(__name__)


class DeploymentError(ChainError):
    """A deployment step failed (no contract address in the receipt, ...)."""


def _json_arg(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and Web3.is_address(value):
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_json_arg(v) for v in value]
    return value


class Deployer:
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
