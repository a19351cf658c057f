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
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import eth_abi
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


# ---------------------------------------------------------------- static words, decoded directly

# Decoding through eth-abi costs ~10 µs a call however small the value (its decoders are built,
# looked up and run as streams): the indexer decodes every log's topics and data so, ~4 % of the
# service under the rush (issue 15). A static elementary value is one 32-byte word; these read it
# directly and give what eth-abi gives (``tests/chain/test_abi_codec.py``, with hypothesis). A word
# eth-abi would refuse (padding that is not zeros or the sign, a bool not 0 or 1) or a type not
# here makes :func:`static_decoder` answer None: the caller asks eth-abi, which refuses as ever.
_IRREGULAR = object()
_TYPE = re.compile(r"(u?int)(8|[1-9][0-9]{1,2})?|bytes([1-9]|[12][0-9]|3[0-2])|address|bool")


def _word_reader(kind: str) -> Callable[[bytes], Any] | None:
    match = _TYPE.fullmatch(kind)
    if match is None:
        return None
    integer, bits_text, size_text = match.groups()
    if integer is not None:
        bits = int(bits_text or 256)
        if bits % 8 or bits > 256:
            return None  # not an ABI type: eth-abi says so
        if integer == "uint":
            return lambda word: (
                value if (value := int.from_bytes(word)) >> bits == 0 else _IRREGULAR
            )
        low, high = -(1 << (bits - 1)), 1 << (bits - 1)
        return lambda word: (
            value if low <= (value := int.from_bytes(word, signed=True)) < high else _IRREGULAR
        )
    if size_text is not None:
        size = int(size_text)
        padding = bytes(32 - size)
        return lambda word: word[:size] if word[size:] == padding else _IRREGULAR
    if kind == "address":
        return lambda word: "0x" + word[12:].hex() if word[:12] == _ZEROS_12 else _IRREGULAR
    return lambda word: _BOOLS.get(word, _IRREGULAR)  # bool


_ZEROS_12 = bytes(12)
_BOOLS = {bytes(32): False, bytes(31) + b"\x01": True}


def static_decoder(
    types: list[str] | tuple[str, ...],
) -> Callable[[bytes], tuple[Any, ...] | None] | None:
    """A function reading ``types`` (all static elementary types, one word each) from data of
    exactly their words, as ``eth_abi.decode(types, data)`` would (addresses in lower case);
    it returns None for data eth-abi would refuse or read otherwise (any other length). None
    when a type is not one of these (``string``, ``bytes``, arrays, tuples)."""
    readers = [_word_reader(kind) for kind in types]
    if any(reader is None for reader in readers):
        return None
    length = 32 * len(readers)

    def decode(data: bytes) -> tuple[Any, ...] | None:
        if len(data) != length:
            return None
        values = tuple(
            reader(data[i : i + 32])  # type: ignore[misc]
            for i, reader in zip(range(0, length, 32), readers, strict=True)
        )
        return None if _IRREGULAR in values else values

    return decode


@lru_cache(maxsize=512)
def _static_decoder_of(types: tuple[str, ...]) -> Callable[[bytes], tuple[Any, ...] | None] | None:
    return static_decoder(types)


def decode(types: list[str] | tuple[str, ...], data: bytes) -> tuple[Any, ...]:
    """``eth_abi.decode(types, data)``: the same values, or the same refusal; static words are
    read directly (:func:`static_decoder`)."""
    read = _static_decoder_of(tuple(types))
    if read is not None and (values := read(data)) is not None:
        return values
    return tuple(eth_abi.decode(list(types), data))


__all__ = [
    "LeanAddressEncoder",
    "canonical_address",
    "codec",
    "decode",
    "encode",
    "static_decoder",
]
