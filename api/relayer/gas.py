"""Gas bounds of relayed requests and of the batches that carry them (one home for both).

``request.gas`` is signed by the user and the forwarder passes exactly that much to the target;
an under-gassed request makes the forwarder's ``_checkForwardedGas`` consume the whole batch's
gas, and an over-gassed one reserves block space the relayer must sign for. So accept refuses
``gas`` above :data:`MAX_REQUEST_GAS` (a join is given 400k by ``prepare``; too little is caught
by accept's simulation), and a batch reserves, per request, its ``gas`` plus the 1/64 the EVM
keeps back (EIP-150) plus what the forwarder spends around the call.
"""

from __future__ import annotations

# Highest ``request.gas`` the relayer accepts (2.5× a join's 400k from ``prepare``).
MAX_REQUEST_GAS = 1_000_000
# The forwarder's own work per request of a batch: ABI decoding, the EIP-712 hash and ecrecover,
# the trust check, the nonce, the event, and the request's calldata (measured ~45k; margin).
REQUEST_OVERHEAD_GAS = 60_000
# A transaction's base cost plus executeBatch's own loop and refund check.
BATCH_BASE_GAS = 21_000 + 30_000
# Bounds of one executeBatch: requests and gas (well under a 30M block, so batches pipeline).
MAX_BATCH_REQUESTS = 32
MAX_BATCH_GAS = 15_000_000
# A permit transaction (EIP-2612 ``permit``: ~75k with its base cost).
PERMIT_GAS = 100_000
# PermitBatcher.permitAll: its transaction and loop, and each permit (~55k with the try/catch).
PERMIT_BATCH_BASE_GAS = 21_000 + 30_000
PERMIT_IN_BATCH_GAS = 70_000
# A batch that reverted as a whole this many times is given up (its requests fail, named).
MAX_BATCH_ATTEMPTS = 3


def request_gas_in_batch(request_gas: int) -> int:
    """Gas one request reserves in a batch: its own, the 1/64 kept back, the forwarder's."""
    return request_gas + request_gas // 63 + 1 + REQUEST_OVERHEAD_GAS


__all__ = [
    "BATCH_BASE_GAS",
    "MAX_BATCH_ATTEMPTS",
    "MAX_BATCH_GAS",
    "MAX_BATCH_REQUESTS",
    "MAX_REQUEST_GAS",
    "PERMIT_BATCH_BASE_GAS",
    "PERMIT_GAS",
    "PERMIT_IN_BATCH_GAS",
    "REQUEST_OVERHEAD_GAS",
    "request_gas_in_batch",
]
