"""The chain layer's settings: one pydantic-settings object read from ``TUANCHAIN_*``.

Development keys (anvil's public accounts) are refused with :class:`DevKeyOnPublicChain` unless
the configuration is local: a local chain id (31337) *and* an RPC URL on the loopback host.
:func:`check_node_allows_keys` repeats the check against the chain id the node really reports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.accounts import LOCAL_CHAIN_IDS, LOCAL_HOSTS, account_from_key, dev_account, is_dev_key
from chain.artifacts import REPO_ROOT
from chain.errors import ChainIdMismatch, DevDocumentKeyOnPublicChain, DevKeyOnPublicChain

logger = logging.getLogger(__name__)

# The development key of the private document store: known to everyone, so local use only.
DEV_DOCUMENT_KEY = "7475616e636861696e20646576656c6f706d656e7420646f63756d656e74206b"


class Settings(BaseSettings):
    """Everything configurable, from the environment (``TUANCHAIN_RPC_URL`` ...) or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="TUANCHAIN_", env_file=".env", extra="ignore")

    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = 31337
    # Keys of the service's own accounts. Defaults: anvil dev accounts 0/1/2 (local only).
    platform_key: SecretStr = Field(default_factory=lambda: SecretStr(dev_account(0).key.hex()))
    relayer_key: SecretStr = Field(default_factory=lambda: SecretStr(dev_account(1).key.hex()))
    # More relayer keys, comma-separated: the relayer's key pool (``relayer_key`` is its first
    # lane). Each key is a nonce lane of its own; a signer's requests always take the same lane
    # (chain.context.Chain.relayer_for). Empty: one lane.
    relayer_keys: SecretStr = SecretStr("")
    keeper_key: SecretStr = Field(default_factory=lambda: SecretStr(dev_account(2).key.hex()))
    data_dir: Path = REPO_ROOT / "data"
    deployments_dir: Path = REPO_ROOT / "deployments"
    database_url: str = "sqlite:///" + str(REPO_ROOT / "data" / "tuanchain.db")
    # Documents: "embedded" (on-disk content-addressed store) or "kubo" (Kubo RPC API).
    ipfs_backend: str = "embedded"
    ipfs_api_url: str = "http://127.0.0.1:5001"
    tx_timeout_seconds: float = 60.0
    # One JSON-RPC request to the node: past this it counts as unavailable (503 on pages and the
    # API), and it is not sent again (chain.context.make_web3).
    rpc_timeout_seconds: float = Field(default=30.0, gt=0)
    # The highest fee cap (wei per gas) the relayer signs a batch again with when the base fee
    # outgrew the cap it was sent with (api.relayer.replace): a ceiling on what a fee spike costs.
    relayer_max_fee_per_gas: int = Field(default=500 * 10**9, ge=1)
    # A relayer batch or bundle transaction the base fee did not price out, yet unmined this many
    # blocks *and* this many seconds after it was signed, is outbid (its tip too low): signed again
    # with both fees raised >= 10 % (api.relayer.replace), under the ceiling above.
    relayer_replace_after_blocks: int = Field(default=3, ge=1)
    relayer_replace_after_seconds: float = Field(default=30.0, ge=0)
    gas_margin_percent: int = 20
    # Blocks the indexer keeps provisional (a re-org may still replace them): 0 on anvil,
    # which never re-orgs; a few on a public chain. Negative would mark blocks past the head final.
    index_confirmations: int = Field(default=0, ge=0)
    # Where people reach this service: the EIP-4361 (Sign-In with Ethereum) messages it accepts
    # must name this origin's host as their domain and this URL as their URI, so a signature
    # collected by another site is useless here.
    public_url: str = "http://127.0.0.1:8000"
    # AES-256 key (64 hex digits) sealing private documents (credentials, claim photos) at rest.
    # The default is public (it is in this file): refused, like anvil's keys, off a local chain.
    document_key: SecretStr = SecretStr(DEV_DOCUMENT_KEY)
    # Webhooks (api.webhooks.targets): may a gateway's URL reach loopback / private addresses,
    # and may it be plain http? Unset: only on a local chain (where the development gateway
    # listens on 127.0.0.1); set true for a gateway on the operator's own private network.
    webhook_private_targets: bool | None = None
    webhook_plain_http: bool | None = None
    # Per client address, on the writes that cost the service CPU (relay, prepare, the bundler's
    # sends; api.ratelimit): tokens a second and the bucket's size. Each token is about one
    # accept (4-5 ms of CPU), so one address takes at most ~5 % of the interpreter sustained,
    # while a pickup point's neighbours behind one NAT joining at once (prepare + relay each)
    # pass. 0: no limit (the benchmarks and the test suite, one address at full speed).
    rate_limit_per_second: float = Field(default=10.0, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Bytes of private documents that all addresses without a role on chain keep together
    # (api.private.store; fresh addresses cost nothing, so a quota per address alone bounds
    # nothing). Past it, their uploads are refused with 429 private_store_full.
    private_pool_max_bytes: int = Field(default=2 * 1024**3, ge=0)
    # The proxies whose X-Forwarded-For names the client (comma-separated IPs or networks, "*"
    # for any: uvicorn's forwarded_allow_ips). The client address is what the rate limit counts:
    # behind a proxy elsewhere, name it here, or every client is the proxy.
    forwarded_allow_ips: str = "127.0.0.1,::1"

    @property
    def is_local(self) -> bool:
        """A local chain id and a loopback RPC host."""
        host = (urlparse(self.rpc_url).hostname or "").lower()
        return self.chain_id in LOCAL_CHAIN_IDS and host in LOCAL_HOSTS

    @property
    def relayer_pool(self) -> list[SecretStr]:
        """Every relayer key, ``relayer_key`` first, without repeats."""
        keys = [self.relayer_key]
        seen = {self.relayer_key.get_secret_value().lower().removeprefix("0x")}
        for raw in self.relayer_keys.get_secret_value().split(","):
            key = raw.strip().lower().removeprefix("0x")
            if key and key not in seen:
                seen.add(key)
                keys.append(SecretStr(key))
        return keys

    @property
    def service_keys(self) -> list[SecretStr]:
        """The keys the service signs with: refused if any is a development key off a local chain."""
        return [self.platform_key, *self.relayer_pool, self.keeper_key]

    @field_validator("relayer_keys")
    @classmethod
    def _relayer_keys_are_keys(cls, keys: SecretStr) -> SecretStr:
        for raw in keys.get_secret_value().split(","):
            if raw.strip():
                try:
                    account_from_key(raw.strip())
                except Exception:  # noqa: BLE001 — eth-account's several errors for a bad key
                    raise ValueError(
                        "TUANCHAIN_RELAYER_KEYS: comma-separated private keys (32 bytes hex)"
                    ) from None
        return keys

    @field_validator("document_key")
    @classmethod
    def _document_key_is_256_bits(cls, key: SecretStr) -> SecretStr:
        value = key.get_secret_value().lower().removeprefix("0x")
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError("TUANCHAIN_DOCUMENT_KEY must be 64 hex digits (an AES-256 key)")
        return SecretStr(value)

    @model_validator(mode="after")
    def _refuse_dev_keys_off_local(self) -> Settings:
        if not self.is_local:
            for key in self.service_keys:
                if is_dev_key(key.get_secret_value()):
                    raise DevKeyOnPublicChain(
                        account_from_key(key.get_secret_value()).address,
                        self.chain_id,
                        self.rpc_url,
                    )
            if self.document_key.get_secret_value() == DEV_DOCUMENT_KEY:
                raise DevDocumentKeyOnPublicChain(self.chain_id, self.rpc_url)
        return self


def check_node_allows_keys(settings: Settings, node_chain_id: int) -> None:
    """Refuse to run against a node whose chain id is not the configured one, or dev keys on it."""
    if node_chain_id != settings.chain_id:
        raise ChainIdMismatch(settings.chain_id, node_chain_id)
    if node_chain_id not in LOCAL_CHAIN_IDS:
        for key in settings.service_keys:
            if is_dev_key(key.get_secret_value()):
                raise DevKeyOnPublicChain(
                    account_from_key(key.get_secret_value()).address,
                    node_chain_id,
                    settings.rpc_url,
                )
