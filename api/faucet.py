"""The demo faucet: test stablecoins for a new account, on a local chain only.

``POST /v1/faucet {"address": ...}`` mints :data:`FAUCET_AMOUNT` of the deployment's
``TestStablecoin`` to the address with the platform key (the token's minter). It is refused with
403 ``faucet_unavailable`` unless the service runs against a local chain (a local chain id *and* a
loopback RPC host, :attr:`chain.settings.Settings.is_local`): on a testnet or mainnet the token is
real money, or at least someone else's. Per address: one grant per :data:`WINDOW_SECONDS`, and none
while the address already holds :data:`FAUCET_AMOUNT` or more (429 ``faucet_limit``).

The per-address window lives in the process (a demo on one machine); what a public faucet would
need — a durable, shared limiter, per IP or per verified person — is out of scope here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from api.errors import ApiError
from chain.accounts import LOCAL_CHAIN_IDS
from chain.context import Chain

logger = logging.getLogger(__name__)

FAUCET_AMOUNT = 200 * 10**6  # 200 tUSD (6 decimals)
WINDOW_SECONDS = 3600.0


class Faucet:
    """Grants and their per-address window (``clock`` injectable: tests never wait)."""

    def __init__(
        self,
        *,
        amount: int = FAUCET_AMOUNT,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.amount = amount
        self.window = window
        self.clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def grant(self, chain: Chain, address: str) -> dict[str, Any]:
        if not (chain.settings.is_local and chain.chain_id in LOCAL_CHAIN_IDS):
            raise ApiError(
                403,
                "faucet_unavailable",
                f"the faucet runs on a local chain only; this service serves chain "
                f"{chain.chain_id} at {chain.settings.rpc_url}",
                chain_id=chain.chain_id,
            )
        token = chain.clients.token
        with self._lock:
            now = self.clock()
            last = self._last.get(address)
            if last is not None and now - last < self.window:
                wait = int(self.window - (now - last)) + 1
                raise ApiError(
                    429,
                    "faucet_limit",
                    f"{address} got test tokens recently; try again in {wait} s",
                    retry_after_seconds=wait,
                )
            balance = token.balance_of(address)
            if balance >= self.amount:
                raise ApiError(
                    429,
                    "faucet_limit",
                    f"{address} already holds {balance / 10**6:.2f} tUSD; the faucet tops up "
                    f"accounts below {self.amount / 10**6:.2f}",
                    balance=balance,
                )
            self._last[address] = now
        try:
            receipt = token.mint(address, self.amount, signer=chain.platform)
        except Exception:
            with self._lock:
                self._last.pop(address, None)  # nothing given: the address may ask again
            raise
        logger.info("faucet: %d to %s", self.amount, address)
        return {
            "address": address,
            "amount": self.amount,
            "balance": token.balance_of(address),
            "tx_hash": receipt["transactionHash"].to_0x_hex(),
        }
