"""One call from settings to a ready chain: Web3, sender, deployment, clients and accounts.

``connect(Settings())`` is what the API, the relayer, the keeper and the scripts use; it checks
the node answers, that its chain id is the configured one (and refuses anvil's development keys
on a public chain), then loads the deployment manifest (or deploys, when asked to).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from chain.accounts import account_from_key
from chain.clients import Clients
from chain.deploy import Deployment, deploy_all, load_deployment
from chain.errors import NodeUnavailable, UnknownContract
from chain.settings import Settings, check_node_allows_keys
from chain.tx import TxSender, translate_errors

logger = logging.getLogger(__name__)


@dataclass
class Chain:
    """Everything needed to talk to tuanchain's contracts on one chain."""

    settings: Settings
    w3: Web3
    sender: TxSender
    deployment: Deployment
    clients: Clients
    platform: LocalAccount
    relayer: LocalAccount
    keeper: LocalAccount

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id


def connect(settings: Settings | None = None, *, deploy: bool = False) -> Chain:
    """Connect to ``settings.rpc_url``; load ``deployments/<chainId>.json`` or deploy if asked.

    Raises :class:`NodeUnavailable`, :class:`ChainIdMismatch`, :class:`DevKeyOnPublicChain`, or
    :class:`UnknownContract` when no deployment exists and ``deploy`` is false.
    """
    settings = settings or Settings()
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))
    sender = TxSender(
        w3, timeout=settings.tx_timeout_seconds, gas_margin_percent=settings.gas_margin_percent
    )
    with translate_errors(sender.registry):
        try:
            node_chain_id = int(w3.eth.chain_id)
        except Exception as exc:
            if isinstance(exc, NodeUnavailable):
                raise
            raise NodeUnavailable(f"{settings.rpc_url}: {exc}") from exc
    check_node_allows_keys(settings, node_chain_id)
    platform = account_from_key(settings.platform_key.get_secret_value())
    if deploy:
        deployment = deploy_all(
            w3, sender, platform=platform, deployments_dir=settings.deployments_dir
        )
    else:
        deployment = load_deployment(node_chain_id, settings.deployments_dir)
        missing = [
            name
            for name, c in deployment.contracts.items()
            if not bytes(w3.eth.get_code(c.address))
        ]
        if missing:
            raise UnknownContract(
                ", ".join(missing), f"no code on chain {node_chain_id} (was the node reset?)"
            )
    return Chain(
        settings=settings,
        w3=w3,
        sender=sender,
        deployment=deployment,
        clients=Clients.connect(w3, deployment, sender),
        platform=platform,
        relayer=account_from_key(settings.relayer_key.get_secret_value()),
        keeper=account_from_key(settings.keeper_key.get_secret_value()),
    )
