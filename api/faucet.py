"""The demo faucet: test stablecoins for a new account, on a local chain only.

``POST /v1/faucet {"address": ...}`` mints :data:`FAUCET_AMOUNT` of the deployment's
``TestStablecoin`` to the address with the platform key (the token's minter). It is refused with
403 ``faucet_unavailable`` unless the service runs against a local chain (a local chain id *and* a
loopback RPC host, :attr:`chain.settings.Settings.is_local`): on a testnet or mainnet the token is
real money, or at least someone else's. Per address: one grant per :data:`WINDOW_SECONDS`, and none
while the address already holds :data:`FAUCET_AMOUNT` or more (429 ``faucet_limit``).

The per-address window is a token bucket of one grant refilled once a window
(:class:`api.ratelimit.TokenBuckets`, bounded in memory), in the process (a demo on one machine);
what a public faucet would need — a durable, shared limiter, per verified person — is out of scope
here. The requesting client's own limit (:func:`api.ratelimit.limit_client`) applies before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from api.errors import ApiError
from api.ratelimit import TokenBuckets, retry_after
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
        # One grant per window and address: a bucket of one token, refilled once a window.
        self._grants = TokenBuckets(rate=1 / window, burst=1, clock=clock)
        self._lock = threading.Lock()  # one grant at a time: the balance read, then the mint

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
            wait = self._grants.take(address)
            if wait:
                seconds = retry_after(wait)
                raise ApiError(
                    429,
                    "faucet_limit",
                    f"{address} got test tokens recently; try again in {seconds} s",
                    retry_after_seconds=seconds,
                )
            balance = token.balance_of(address)
            if balance >= self.amount:
                self._grants.give_back(address)  # nothing given: the window does not start
                raise ApiError(
                    429,
                    "faucet_limit",
                    f"{address} already holds {balance / 10**6:.2f} tUSD; the faucet tops up "
                    f"accounts below {self.amount / 10**6:.2f}",
                    balance=balance,
                )
        try:
            receipt = token.mint(address, self.amount, signer=chain.platform)
        except Exception:
            self._grants.give_back(address)  # nothing given: the address may ask again
            raise
        logger.info("faucet: %d to %s", self.amount, address)
        return {
            "address": address,
            "amount": self.amount,
            "balance": token.balance_of(address),
            "tx_hash": receipt["transactionHash"].to_0x_hex(),
        }
