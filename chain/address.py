"""EIP-55 checksummed addresses, remembered.

``eth_utils.to_checksum_address`` hashes the address on every call; accepting one relayed join
checksummed ~30 addresses (the signer, the escrow, the forwarder, the token, over and over) and
that was ~5 ms of it under the profiler (issue 15). The same few addresses recur, so the answer
is kept; an invalid address raises ``ValueError`` as before (and is not kept).
"""

from __future__ import annotations

from functools import lru_cache

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address


@lru_cache(maxsize=65_536)
def checksum_address(address: str | bytes) -> ChecksumAddress:
    """``to_checksum_address(address)``, remembered."""
    return to_checksum_address(address)


__all__ = ["checksum_address"]
