"""EIP-55 checksummed addresses, remembered, and computed directly for the common form.

``eth_utils.to_checksum_address`` hashes the address on every call; accepting one relayed join
checksummed ~30 addresses (the signer, the escrow, the forwarder, the token, over and over) and
that was ~5 ms of it under the profiler (issue 15). The same few addresses recur, so the answer
is kept; an invalid address raises ``ValueError`` as before (and is not kept).

A new address (each of the rush's 2,000 fresh consumers, in accept and again in the indexer) is
checksummed here directly when it is ``0x`` and 40 hex digits: eth-utils' normalising path
(``hexstr_if_str`` and its decorator checks, then eth-hash's wrappers around keccak) was ~19 µs
of the ~21 µs such a call took; safe-pysha3's keccak (pinned, C) and the EIP-55 rule are the
same answer (``tests/chain/test_abi_codec.py`` holds it to eth-utils). Any other form goes through
eth-utils, as before.
"""

from __future__ import annotations

import re
from functools import lru_cache

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from sha3 import keccak_256

_HEX_ADDRESS = re.compile("0x[0-9a-fA-F]{40}", re.ASCII)


def _checksum(address: str | bytes) -> ChecksumAddress:
    if type(address) is str and _HEX_ADDRESS.fullmatch(address):
        lower = address[2:].lower()
        digest = keccak_256(lower.encode()).hexdigest()
        return ChecksumAddress(
            "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(lower, digest))
        )
    return to_checksum_address(address)


@lru_cache(maxsize=65_536)
def checksum_address(address: str | bytes) -> ChecksumAddress:
    """``to_checksum_address(address)``, remembered."""
    return _checksum(address)


__all__ = ["checksum_address"]
