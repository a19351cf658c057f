"""Deploy the passkey-account stack beside the core contracts (called from ``deploy_all``).

EntryPoint v0.8 (canonical CREATE2 address, :mod:`chain.aa.entrypoint`), the
``PasskeyAccountFactory`` (which creates the WebAuthn verifier and the account implementation in its
constructor) and the ``ConsumerPaymaster`` sponsoring the escrow's consumer actions. On a local
chain the platform also funds the paymaster's EntryPoint deposit and stakes it (public bundlers
require a stake from a paymaster whose validation reads its own storage); on any other chain the
operator does that deliberately (a warning says so): nothing spends real money implicitly.

Idempotent like the rest of ``deploy_all``: reuse what is recorded, top up only a deposit below half
its target, stake only once, so a second run sends no transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from chain.aa.entrypoint import ENTRYPOINT_V08, ensure_entrypoint, load_entrypoint_artifact
from chain.accounts import LOCAL_CHAIN_IDS
from chain.deployer import Deployer
from chain.manifest import DeployedContract

logger = logging.getLogger(__name__)

ENTRYPOINT_NAME = "EntryPoint"
FACTORY_NAME = "PasskeyAccountFactory"
PAYMASTER_NAME = "ConsumerPaymaster"


@dataclass(frozen=True)
class SponsorshipLimits:
    """``IConsumerPaymaster.Limits``: per account, per window of ``window`` seconds."""

    window: int = 86_400
    max_ops_per_window: int = 20
    max_cost_per_window: int = 10**17  # 0.1 ETH of gas

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.window, self.max_ops_per_window, self.max_cost_per_window)


DEFAULT_LIMITS = SponsorshipLimits()
LOCAL_PAYMASTER_DEPOSIT = 100 * 10**18  # wei, topped up when below half
LOCAL_PAYMASTER_STAKE = 1 * 10**18
LOCAL_UNSTAKE_DELAY = 86_400  # seconds (public bundlers ask for at least a day)


@dataclass(frozen=True)
class PasskeyStack:
    """Addresses of the passkey-account stack of one deployment."""

    entry_point: str
    factory: str
    paymaster: str


def ensure_passkey_stack(
    run: Deployer,
    *,
    escrow: str,
    token: str,
    limits: SponsorshipLimits = DEFAULT_LIMITS,
) -> PasskeyStack:
    """Deploy or reuse EntryPoint, factory and paymaster into ``run``; fund the paymaster locally.

    The EntryPoint is recorded in the manifest like the other contracts; when it was already on
    the chain, its ``block`` is the block at which this run found it and ``txHash`` is empty.
    """
    w3, sender, platform = run.w3, run.sender, run.account
    entry = ensure_entrypoint(w3, sender, platform)
    previous = run.previous.contracts.get(ENTRYPOINT_NAME) if run.previous else None
    code = bytes(w3.eth.get_code(ENTRYPOINT_V08))
    if entry.receipt is not None:
        run.deployed_now.append(ENTRYPOINT_NAME)
        tx_hash, block = (
            entry.receipt["transactionHash"].to_0x_hex(),
            int(entry.receipt["blockNumber"]),
        )
    elif previous is not None:
        tx_hash, block = previous.tx_hash, previous.block
    else:
        tx_hash, block = "", int(w3.eth.block_number)
    run.contracts[ENTRYPOINT_NAME] = DeployedContract(
        name=ENTRYPOINT_NAME,
        address=ENTRYPOINT_V08,
        tx_hash=tx_hash,
        block=block,
        bytecode_hash=load_entrypoint_artifact().bytecode_hash,
        code_hash="0x" + keccak(code).hex(),
        constructor_args=[],
    )

    factory = run.ensure(FACTORY_NAME, [])
    paymaster = run.ensure(
        PAYMASTER_NAME, [escrow, token, factory, platform.address, limits.as_tuple()]
    )
    _fund_paymaster(run, paymaster)
    return PasskeyStack(
        entry_point=ENTRYPOINT_V08,
        factory=to_checksum_address(factory),
        paymaster=to_checksum_address(paymaster),
    )


def _fund_paymaster(run: Deployer, paymaster_address: str) -> None:
    if run.sender.chain_id not in LOCAL_CHAIN_IDS:
        logger.warning(
            "%s at %s is not funded: deposit ETH (deposit()) and stake it (addStake) before "
            "consumers can use passkey accounts",
            PAYMASTER_NAME,
            paymaster_address,
        )
        return
    paymaster = run.w3.eth.contract(
        address=to_checksum_address(paymaster_address), abi=run.artifact(PAYMASTER_NAME).abi
    )
    entry_point = run.w3.eth.contract(address=ENTRYPOINT_V08, abi=load_entrypoint_artifact().abi)
    deposit = int(run.sender.call(paymaster.functions.getDeposit()))
    if deposit < LOCAL_PAYMASTER_DEPOSIT // 2:
        logger.info("funding the paymaster's EntryPoint deposit")
        run.sender.transact(
            run.account, paymaster.functions.deposit(), value=LOCAL_PAYMASTER_DEPOSIT - deposit
        )
    info = run.sender.call(entry_point.functions.getDepositInfo(paymaster.address))
    staked, stake = bool(info[1]), int(info[2])
    if not staked or stake < LOCAL_PAYMASTER_STAKE:
        logger.info("staking the paymaster in the EntryPoint")
        run.sender.transact(
            run.account,
            paymaster.functions.addStake(LOCAL_UNSTAKE_DELAY),
            value=LOCAL_PAYMASTER_STAKE,
        )
