"""One call from settings to a ready chain: Web3, sender, deployment, clients and accounts.

``connect(Settings())`` is what the API, the relayer, the keeper and the scripts use; it checks
the node answers, that its chain id is the configured one (and refuses anvil's development keys
on a public chain), then loads the deployment manifest (or deploys, when asked to) and checks it
describes *this* chain: the manifest's genesis hash and code hashes must be the node's, else
:class:`DeploymentMismatch` says to deploy (a reset testnet, or an RPC URL pointed at another
chain, would otherwise be sent requests signed for the old one). The resulting ``Chain`` carries
its :class:`~chain.identity.ChainIdentity`; :meth:`Chain.check_node` re-checks it cheaply.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property

import requests
import requests.adapters
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from chain.aa.bundling import Bundling
from chain.aa.clients import PasskeyAccounts
from chain.accounts import account_from_key
from chain.clients import Clients
from chain.deploy import Deployment, deploy_all, load_deployment
from chain.errors import DeploymentMismatch, NodeUnavailable
from chain.identity import ChainChanged, ChainIdentity, read_identity
from chain.settings import Settings, check_node_allows_keys
from chain.tx import TxSender, translate_errors

logger = logging.getLogger(__name__)

# A key the service signs with (the relayer's lanes, the platform, the keeper): the gasless path
# names it through chain/ and imports no eth-account itself.
Signer = LocalAccount


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
    identity: ChainIdentity
    # The relayer's key pool (``relayer`` first): each key a nonce lane of its own.
    relayers: tuple[LocalAccount, ...] = ()

    def __post_init__(self) -> None:
        if not self.relayers:
            self.relayers = (self.relayer,)

    def relayer_for(self, signer: str) -> LocalAccount:
        """The lane of ``signer``'s requests: the same key for the same signer in every process
        and after every restart (a hash of the address), so a signer's requests stay on one
        lane, in order, and the signers spread over the pool."""
        digest = hashlib.sha256(signer.lower().encode()).digest()
        return self.relayers[int.from_bytes(digest[:8], "big") % len(self.relayers)]

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @cached_property
    def passkeys(self) -> PasskeyAccounts:
        """The passkey-account stack (EntryPoint v0.8, factory, paymaster) of this deployment."""
        return PasskeyAccounts.connect(self.w3, self.deployment, self.sender)

    @cached_property
    def bundling(self) -> Bundling:
        """Bundler operations (simulate, sign and read ``handleOps``) on this deployment."""
        return Bundling(self.passkeys)

    def check_node(self) -> None:
        """:class:`ChainChanged` unless the node still serves this chain (three cheap calls).

        The chain id and the genesis hash tell most chains apart, but a dev chain restarted
        within the same second has the same genesis block: the code of one bound contract (code
        cannot change under a live chain: no SELFDESTRUCT since Cancun) tells the reset apart.
        """
        name, address, bound_code = self.identity.contracts[0]
        # One JSON-RPC batch through the sender's transport: through web3's methods these three
        # reads were ~0.6 ms of the relay worker's CPU per join (issue 15; every pass asks).
        answers = self.sender.rpc_batch(
            [
                ("eth_chainId", []),
                ("eth_getBlockByNumber", ["0x0", False]),
                ("eth_getCode", [address, "latest"]),
            ]
        )
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        chain_id, genesis = int(answers[0], 16), str(answers[1]["hash"]).lower()
        code = "0x" + keccak(bytes(HexBytes(answers[2]))).hex()
        if (chain_id, genesis) != (self.identity.chain_id, self.identity.genesis_hash):
            raise ChainChanged(self.identity, chain_id, genesis, self.settings.rpc_url)
        if code != bound_code:
            raise ChainChanged(
                self.identity, chain_id, genesis, self.settings.rpc_url, missing_code=name
            )


def make_web3(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A Web3 on ``rpc_url`` without two per-call costs that profiling the relayer's accept found
    (issue 15: 37 % and 10 % of its time):

    - web3's ``validation`` middleware asks the node for ``eth_chainId`` before *every*
      ``eth_call`` / ``eth_estimateGas`` to compare with a ``chainId`` in the parameters, which
      this code never puts there (transactions are signed locally with the chain id and sent
      raw); dropping it halves the round trips of a call. :meth:`Chain.check_node` still asks
      the node for its chain id and genesis on every background pass.
    - requests looks for ``~/.netrc`` on every request unless ``trust_env`` is off; one shared
      session (its pool sized for the API's thread pool) does not.

    And one wait that a hung node made five: web3 sends a read that timed out again, up to five
    times, so a node that accepts connections and never answers held a page for 5 × ``timeout``
    (153 s for a consumer's orders, measured with anvil stopped by SIGSTOP). A refused or reset
    connection is still tried again (quick, and a restarting node comes back); a timeout is not.
    """
    session = requests.Session()
    session.trust_env = False  # no proxies / netrc from the environment for the node's RPC
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    retries = ExceptionRetryConfiguration(errors=(requests.ConnectionError,), retries=3)
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout},
        session=session,
        exception_retry_configuration=retries,
    )
    w3 = Web3(provider)
    w3.middleware_onion.remove("validation")
    return w3


def connect(settings: Settings | None = None, *, deploy: bool = False) -> Chain:
    """Connect to ``settings.rpc_url``; load ``deployments/<chainId>.json`` or deploy if asked.

    Raises :class:`NodeUnavailable`, :class:`ChainIdMismatch`, :class:`DevKeyOnPublicChain`, or
    :class:`UnknownContract` when no deployment exists and ``deploy`` is false.
    """
    settings = settings or Settings()
    w3 = make_web3(settings.rpc_url, settings.rpc_timeout_seconds)
    sender = TxSender(
        w3, timeout=settings.tx_timeout_seconds, gas_margin_percent=settings.gas_margin_percent
    )
    with translate_errors(sender.registry):
        try:
            node_chain_id = int(w3.eth.chain_id)
        except Exception as exc:
            if isinstance(exc, NodeUnavailable):
                raise
            raise NodeUnavailable.no_answer(settings.rpc_url, exc) from exc
    check_node_allows_keys(settings, node_chain_id)
    platform = account_from_key(settings.platform_key.get_secret_value())
    if deploy:
        deployment = deploy_all(
            w3, sender, platform=platform, deployments_dir=settings.deployments_dir
        )
    else:
        deployment = load_deployment(node_chain_id, settings.deployments_dir)
    with translate_errors(sender.registry):
        identity = read_identity(
            w3,
            chain_id=node_chain_id,
            addresses={name: c.address for name, c in deployment.contracts.items()},
        )
    _check_manifest(deployment, identity, settings.rpc_url)
    return Chain(
        settings=settings,
        w3=w3,
        sender=sender,
        deployment=deployment,
        clients=Clients.connect(w3, deployment, sender),
        platform=platform,
        relayer=account_from_key(settings.relayer_key.get_secret_value()),
        keeper=account_from_key(settings.keeper_key.get_secret_value()),
        identity=identity,
        relayers=tuple(account_from_key(k.get_secret_value()) for k in settings.relayer_pool),
    )


def _check_manifest(deployment: Deployment, node: ChainIdentity, rpc_url: str) -> None:
    """:class:`DeploymentMismatch` unless the manifest describes the chain the node serves."""
    where = deployment.path or f"the manifest of chain {deployment.chain_id}"
    fix = (
        "deploy there with `tuanchain deploy` (or `tuanchain run` on a local chain), "
        "or point TUANCHAIN_RPC_URL at the node it was written for"
    )
    if deployment.genesis_hash != node.genesis_hash:
        raise DeploymentMismatch(
            f"{where} was written for chain {deployment.chain_id} with genesis "
            f"{deployment.genesis_hash}, but the node at {rpc_url} serves genesis "
            f"{node.genesis_hash} (the chain was reset, or this is another chain): {fix}"
        )
    on_node = {name: code for name, _, code in node.contracts}
    empty = "0x" + keccak(b"").hex()
    wrong = sorted(
        name for name, c in deployment.contracts.items() if on_node.get(name) != c.code_hash
    )
    if wrong:
        missing = [name for name in wrong if on_node.get(name) == empty]
        what = "no code" if len(missing) == len(wrong) else "other code"
        # Same genesis yet other code: a dev chain restarted within the same second has the
        # same genesis block, so the code is what tells the reset apart.
        raise DeploymentMismatch(
            f"{where} records {', '.join(wrong)} but the node at {rpc_url} has {what} at "
            f"their addresses on chain {node.chain_id} (the chain was reset, or this is "
            f"another chain): {fix}"
        )
