"""eth-abi's encoder with a lean ``address``: the same bytes, the same refusals, less work.

eth-abi checks and converts every address through eth-utils (``is_address``, then
``to_canonical_address`` → ``to_normalized_address`` → ``hexstr_if_str`` with its
``_assert_one_val`` decorator checks): ~5 µs an address, and a relayed join encodes a dozen
(``nonces(signer)``, ``joinWithPermit``'s leader, the ``executeBatch`` requests' ``from`` and
``to``...). Under the rush that was ~4 % of the service's time (issue 15, py-spy:
``_has_one_val`` alone 6 % self time, shared with the indexer's checksums). Here the two common
forms take a direct path — ``0x`` + 40 hex digits (any case, as eth-utils: no checksum check) and
20 raw bytes — and anything else goes through eth-utils as before, so every other value is
accepted or refused exactly as eth-abi does (``tests/chain/test_abi_codec.py`` holds the two
together with hypothesis).
"""

from __future__ import annotations

import re
from typing import Any

from eth_abi.codec import ABICodec
from eth_abi.decoding import AddressDecoder
from eth_abi.encoding import AddressEncoder
from eth_abi.registry import BaseEquals
from eth_abi.registry import registry as _default_registry
from eth_utils import is_address, to_canonical_address

_HEX_ADDRESS = re.compile("0x[0-9a-fA-F]{40}", re.ASCII)


def canonical_address(value: Any) -> bytes:
    """``eth_utils.to_canonical_address(value)`` (20 bytes), directly for the common forms."""
    if type(value) is str and _HEX_ADDRESS.fullmatch(value):
        return bytes.fromhex(value[2:])
    if type(value) is bytes and len(value) == 20:
        return value
    return to_canonical_address(value)


def _is_address(value: Any) -> bool:
    if type(value) is str and _HEX_ADDRESS.fullmatch(value):
        return True
    if type(value) is bytes and len(value) == 20:
        return True
    return is_address(value)


class LeanAddressEncoder(AddressEncoder):
    """eth-abi's ``AddressEncoder`` with the direct paths above."""

    encode_fn = staticmethod(canonical_address)

    @classmethod
    def validate_value(cls, value: Any) -> None:
        if not _is_address(value):
            cls.invalidate_value(value)


def _registry() -> Any:
    registry = _default_registry.copy()
    registry.unregister("address")
    registry.register(BaseEquals("address"), LeanAddressEncoder, AddressDecoder, label="address")
    return registry


codec = ABICodec(_registry())
encode = codec.encode

__all__ = ["LeanAddressEncoder", "canonical_address", "codec", "encode"]
