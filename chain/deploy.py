"""Deploy tuanchain's contracts and record them in ``deployments/<chainId>.json``.

Idempotent: a contract recorded in the manifest is reused when (a) the chain is the same one
(same genesis hash), (b) its artifact's creation code is unchanged, (c) its constructor
arguments and linked libraries are unchanged (so a redeployed dependency redeploys its
dependents) and (d) the code at the recorded address is still the code deployed there.
Anything else is redeployed. Role grants are checked and only sent when missing.

Modules: the manifest's format and types in :mod:`chain.manifest`, one run's reuse-or-deploy in
:mod:`chain.deployer` (both re-exported here), the passkey stack in :mod:`chain.aa.deploy`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.aa.deploy import ensure_passkey_stack
from chain.artifacts import Artifact
from chain.compile import compile_contracts
from chain.deployer import Deployer, DeploymentError
from chain.manifest import (
    DEFAULT_DEPLOYMENTS_DIR,
    MANIFEST_VERSION,
    DeployedContract,
    Deployment,
    load_deployment,
    manifest_path,
)
from chain.tx import TxSender

logger = logging.getLogger(__name__)

__all__ = [  # the manifest's names, re-exported: callers import them from here
    "DEFAULT_DEPLOYMENTS_DIR",
    "MANIFEST_VERSION",
    "DeployedContract",
    "Deployment",
    "DeploymentError",
    "deploy_all",
    "load_deployment",
    "manifest_path",
]


def _ensure_recall_notification(
    w3: Web3,
    sender: TxSender,
    run: Deployer,
    platform: LocalAccount,
    previous: Deployment | None,
    registry: str,
    escrow: str,
) -> None:
    """Register the escrow with the registry, so a recall freezes its open deals at once; an
    escrow this manifest replaced is unregistered (the registry notifies at most four)."""
    contract = w3.eth.contract(address=registry, abi=run.artifact("ProvenanceRegistry").abi)
    registered = list(sender.call(contract.functions.escrows()))
    old = previous.contracts.get("GroupBuyEscrow") if previous else None
    if old is not None and old.address != escrow and old.address in registered:
        logger.info("unregistering the replaced escrow %s from recall notifications", old.address)
        sender.transact(platform, contract.functions.removeEscrow(old.address))
    if escrow not in registered:
        logger.info("registering escrow %s for recall notifications", escrow)
        sender.transact(platform, contract.functions.addEscrow(escrow))


def deploy_all(
    w3: Web3,
    sender: TxSender,
    *,
    platform: LocalAccount,
    fee_recipient: str | None = None,
    deployments_dir: Path = DEFAULT_DEPLOYMENTS_DIR,
    artifacts: dict[str, Artifact] | None = None,
) -> Deployment:
    """Deploy (or reuse) forwarder, registry, token, permit batcher, escrow and wire their roles; then the
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

    run = Deployer(w3, sender, platform, artifacts, previous)
    admin = platform.address
    forwarder = run.ensure("TuanchainForwarder", [])
    registry = run.ensure("ProvenanceRegistry", [forwarder, admin])
    token = run.ensure("TestStablecoin", [admin])
    # The relayer's batches submit their joins' permits in one transaction (issue 15).
    run.ensure("PermitBatcher", [])
    escrow = run.ensure("GroupBuyEscrow", [registry, forwarder, admin, fee_recipient or admin])

    roles = [run.ensure_role("ProvenanceRegistry", "RECEIPT_RECORDER_ROLE", escrow)]
    _ensure_recall_notification(w3, sender, run, platform, previous, registry, escrow)
    escrow_contract = w3.eth.contract(address=escrow, abi=run.artifact("GroupBuyEscrow").abi)
    if not sender.call(escrow_contract.functions.isTokenAllowed(token)):
        sender.transact(platform, escrow_contract.functions.setTokenAllowed(token, True))

    # Passkey accounts (ERC-4337): EntryPoint v0.8, account factory, sponsoring paymaster.
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
