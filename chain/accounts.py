"""Local signing accounts, and anvil's public development accounts.

The development keys come from the public mnemonic "test test ... junk" (anvil's default).
They are the only keys allowed in the repository, and only on a local chain
(see :mod:`chain.settings`).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.anvil import DEV_MNEMONIC

logger = logging.getLogger(__name__)

DEV_ACCOUNT_COUNT = 20
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})

Account.enable_unaudited_hdwallet_features()


@lru_cache(maxsize=1)
def dev_accounts() -> tuple[LocalAccount, ...]:
    """anvil's development accounts (index i = derivation path m/44'/60'/0'/0/i)."""
    return tuple(
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(DEV_ACCOUNT_COUNT)
    )


def dev_account(index: int) -> LocalAccount:
    """The ``index``-th anvil development account."""
    return dev_accounts()[index]


@lru_cache(maxsize=1)
def dev_addresses() -> frozenset[str]:
    return frozenset(a.address for a in dev_accounts())


def is_dev_key(private_key: str | bytes) -> bool:
    """True if ``private_key`` is one of anvil's public development keys."""
    return account_from_key(private_key).address in dev_addresses()


def account_from_key(private_key: str | bytes) -> LocalAccount:
    """A signing account from a hex (``0x`` optional) or raw private key."""
    return Account.from_key(private_key)
