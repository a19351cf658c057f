"""Encrypted JSON keystores (Web3 Secret Storage, what geth and MetaMask export), via eth-account.

The password comes from ``TUANCHAIN_KEYSTORE_PASSWORD`` or a prompt, never from the command
line. anvil's public development keys are refused unless the configured chain is local.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.supplier.errors import KeystoreError
from chain.accounts import LOCAL_CHAIN_IDS, LOCAL_HOSTS, is_dev_key

PASSWORD_ENV = "TUANCHAIN_KEYSTORE_PASSWORD"


class ClientSettings(BaseSettings):
    """What the CLI reads of ``TUANCHAIN_*``: the chain and the service, nothing of the service's
    own keys (:class:`chain.settings.Settings` rightly refuses to load on a public chain without
    the platform's, relayer's and keeper's private keys, which a supplier does not have)."""

    model_config = SettingsConfigDict(env_prefix="TUANCHAIN_", env_file=".env", extra="ignore")

    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = 31337
    public_url: str = "http://127.0.0.1:8000"
    tx_timeout_seconds: float = 60.0

    @property
    def is_local(self) -> bool:
        host = (urlparse(self.rpc_url).hostname or "").lower()
        return self.chain_id in LOCAL_CHAIN_IDS and host in LOCAL_HOSTS


def create(path: Path, password: str, *, kdf: str = "scrypt") -> str:
    """Write a keystore of a new random account to ``path`` (never overwritten); its address."""
    if not password:
        raise KeystoreError("refusing an empty keystore password")
    if path.exists():
        raise KeystoreError(f"{path} exists: refusing to overwrite a keystore")
    account = Account.create()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # readable by its owner only
    with os.fdopen(fd, "w") as out:
        json.dump(Account.encrypt(account.key, password, kdf=kdf), out)
    return account.address


def _read(path: Path) -> Any:
    """The keystore file's JSON; :class:`KeystoreError` if there is none or it is no JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise KeystoreError(f"{path} is not a JSON keystore: {exc}") from None


def address_of(path: Path) -> str:
    """The account a keystore names in its clear ``address`` member (no password needed);
    :class:`KeystoreError` if it names none."""
    keystore = _read(path)
    value = keystore.get("address") if isinstance(keystore, dict) else None
    text = value if not isinstance(value, str) or value.startswith("0x") else "0x" + value
    if not isinstance(text, str) or not is_address(text):
        raise KeystoreError(f"{path} names no account address: give --supplier ADDRESS")
    return to_checksum_address(text)


def load(path: Path, password: str, settings: ClientSettings) -> LocalAccount:
    """The account in ``path``; :class:`KeystoreError` naming what is wrong."""
    keystore = _read(path)
    if not isinstance(keystore, dict) or "crypto" not in {k.lower() for k in keystore}:
        raise KeystoreError(f"{path} is not an encrypted JSON keystore (no 'crypto' section)")
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeystoreError(f"wrong password for keystore {path}") from None
        raise KeystoreError(f"{path} cannot be decrypted: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"{path} is not a valid keystore: missing {exc}") from None
    if is_dev_key(key) and not settings.is_local:
        raise KeystoreError(
            f"{path} holds one of anvil's public development keys: refused for chain id "
            f"{settings.chain_id} at {settings.rpc_url}"
        )
    return Account.from_key(key)
