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
_eth_abi_encode = codec.encode


# ---------------------------------------------------------------- common values, encoded directly

# eth-abi's encoders validate and convert each value through several layers of Python (~1.1 ms
# for a 30-request ``executeBatch``, ~15 µs for a ``joinWithPermit``; together with the permits'
# ``permitAll`` ~4 % of the service under the rush, issue 15). The encoders below take the common
# forms only — ints (not bools) in range, ``0x`` + 40 hex digits or 20 raw bytes for an
# address, ``bytes`` (not bytearray), ``str``, bools, lists and tuples of the right length — and
# anything else raises _Other: :func:`encode` then asks eth-abi, which encodes or refuses it as
# ever (``tests/chain/test_abi_codec.py`` holds the two together with hypothesis).


class _Other(Exception):
    """A value (or type) the direct encoders leave to eth-abi."""


_UINT = re.compile(r"uint(8|[1-9][0-9]{1,2})")
_INT = re.compile(r"int(8|[1-9][0-9]{1,2})")
_BYTES_N = re.compile(r"bytes([1-9]|[12][0-9]|3[0-2])")
_ARRAY = re.compile(r"(.+)\[([0-9]*)\]")


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 32)


class _Encoder:
    """One ABI type: ``dynamic`` (encoded in the tail), ``encode(value) -> bytes``."""

    dynamic = False

    def encode(self, value: Any) -> bytes:  # pragma: no cover — every kind overrides it
        raise NotImplementedError


class _Word(_Encoder):
    def __init__(self, encode: Callable[[Any], bytes]) -> None:
        self.encode = encode  # type: ignore[method-assign]


def _uint_word(bits: int) -> Callable[[Any], bytes]:
    bound = 1 << bits

    def encode(value: Any) -> bytes:
        if type(value) is not int or not 0 <= value < bound:
            raise _Other
        return value.to_bytes(32, "big")

    return encode


def _int_word(bits: int) -> Callable[[Any], bytes]:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def encode(value: Any) -> bytes:
        if type(value) is not int or not low <= value < high:
            raise _Other
        return value.to_bytes(32, "big", signed=True)

    return encode


def _address_word(value: Any) -> bytes:
    if type(value) is str and _HEX_ADDRESS.fullmatch(value):
        return _ZEROS_12 + bytes.fromhex(value[2:])
    if type(value) is bytes and len(value) == 20:
        return _ZEROS_12 + value
    raise _Other


def _bool_word(value: Any) -> bytes:
    if type(value) is not bool:
        raise _Other
    return _WORD_TRUE if value else _WORD_FALSE


def _bytes_n_word(size: int) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        if type(value) is not bytes or len(value) > size:
            raise _Other
        return value.ljust(32, b"\0")

    return encode


class _Bytes(_Encoder):
    dynamic = True

    def encode(self, value: Any) -> bytes:
        if type(value) is not bytes:
            raise _Other
        return len(value).to_bytes(32, "big") + _pad(value)


class _String(_Encoder):
    dynamic = True

    def encode(self, value: Any) -> bytes:
        if type(value) is not str:
            raise _Other
        try:
            data = value.encode()
        except UnicodeError:
            raise _Other from None
        return len(data).to_bytes(32, "big") + _pad(data)


class _Tuple(_Encoder):
    """A tuple (also the arguments of a call, and a fixed-size array's items)."""

    def __init__(self, items: list[_Encoder]) -> None:
        self.items = items
        self.dynamic = any(item.dynamic for item in items)

    def encode(self, value: Any) -> bytes:
        if type(value) not in (list, tuple) or len(value) != len(self.items):
            raise _Other
        if not self.dynamic:
            return b"".join([item.encode(v) for item, v in zip(self.items, value, strict=True)])
        encoded = [item.encode(v) for item, v in zip(self.items, value, strict=True)]
        # The heads: a static item's encoding in place, a dynamic one's offset (one word).
        offset = sum(32 if item.dynamic else len(e) for item, e in zip(self.items, encoded))
        heads: list[bytes] = []
        tails: list[bytes] = []
        for item, e in zip(self.items, encoded, strict=True):
            if item.dynamic:
                heads.append(offset.to_bytes(32, "big"))
                tails.append(e)
                offset += len(e)
            else:
                heads.append(e)
        return b"".join(heads) + b"".join(tails)


class _Array(_Encoder):
    """``T[]``: its length, then its items as a tuple; ``T[k]``: the items as a tuple."""

    def __init__(self, item: _Encoder, size: int | None) -> None:
        self.item, self.size = item, size
        self.dynamic = size is None or item.dynamic

    def encode(self, value: Any) -> bytes:
        if type(value) not in (list, tuple) or (self.size is not None and len(value) != self.size):
            raise _Other
        items = _Tuple([self.item] * len(value)).encode(value)
        return items if self.size is not None else len(value).to_bytes(32, "big") + items


def split_tuple(inner: str) -> list[str]:
    """The component types of a tuple type ``(T1,T2,...)`` given without its parentheses
    (``T1,T2,...``; nested tuples kept whole)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return parts


def _encoder_of(kind: str) -> _Encoder:
    """The direct encoder of ABI type ``kind``; _Other for a type left to eth-abi."""
    array = _ARRAY.fullmatch(kind)
    if array is not None and not kind.endswith(")"):
        item, size = array.groups()
        return _Array(_encoder_of(item), int(size) if size else None)
    if kind.startswith("(") and kind.endswith(")"):
        parts = split_tuple(kind[1:-1])
        if not parts or "" in parts:
            raise _Other
        return _Tuple([_encoder_of(part) for part in parts])
    if (match := _UINT.fullmatch(kind)) is not None:
        bits = int(match.group(1))
        if bits % 8 or bits > 256:
            raise _Other
        return _Word(_uint_word(bits))
    if (match := _INT.fullmatch(kind)) is not None:
        bits = int(match.group(1))
        if bits % 8 or bits > 256:
            raise _Other
        return _Word(_int_word(bits))
    if (match := _BYTES_N.fullmatch(kind)) is not None:
        return _Word(_bytes_n_word(int(match.group(1))))
    if kind == "address":
        return _Word(_address_word)
    if kind == "bool":
        return _Word(_bool_word)
    if kind == "bytes":
        return _Bytes()
    if kind == "string":
        return _String()
    raise _Other


@lru_cache(maxsize=512)
def _direct_encoder(types: tuple[str, ...]) -> _Tuple | None:
    try:
        return _Tuple([_encoder_of(kind) for kind in types])
    except (_Other, ValueError):
        return None


def encode(types: list[str] | tuple[str, ...], args: Any) -> bytes:
    """``eth_abi.encode(types, args)`` (with the lean address above): the same bytes, or the same
    refusal; the common forms encoded directly (see _Other)."""
    direct = _direct_encoder(tuple(types))
    if direct is not None:
        try:
            return direct.encode(args)
        except _Other:
            pass
    return _eth_abi_encode(types, args)


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
_WORD_FALSE, _WORD_TRUE = bytes(32), bytes(31) + b"\x01"
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
    "split_tuple",
    "static_decoder",
]
