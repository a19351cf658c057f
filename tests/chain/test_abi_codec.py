"""``chain.abi_codec``'s lean address path against eth-abi's own encoder, and ``chain.address``'s
EIP-55 path against eth-utils: the same bytes or text for every value they take, the same
exception type for every value they refuse."""

from __future__ import annotations

from typing import Any

import eth_abi
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import abi_codec, address

hex40 = st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40)
# Addresses in every form a caller may hand over, valid or nearly so.
address_like = st.one_of(
    hex40.map(lambda h: "0x" + h),
    hex40.map(lambda h: "0X" + h),
    hex40,
    st.text(alphabet="0123456789abcdefABCDEFxXg", min_size=38, max_size=44),
    st.binary(min_size=19, max_size=21),
    st.binary(min_size=20, max_size=20).map(bytearray),
    st.integers(),
    st.none(),
    st.text(max_size=50),
)


def _outcome(encode: Any, types: list[str], values: list[Any]) -> Any:
    try:
        return encode(types, values)
    except Exception as exc:  # noqa: BLE001 — the refusal itself is what is compared
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(value=address_like)
def test_one_address_as_eth_abi(value: Any) -> None:
    assert _outcome(abi_codec.encode, ["address"], [value]) == _outcome(
        eth_abi.encode, ["address"], [value]
    )


@settings(max_examples=100, deadline=None)
@given(
    requests=st.lists(
        st.tuples(
            address_like,
            address_like,
            st.integers(min_value=0, max_value=2**256 - 1),
            st.binary(max_size=80),
        ),
        max_size=4,
    ),
    refund=address_like,
)
def test_nested_addresses_as_eth_abi(requests: list[Any], refund: Any) -> None:
    """The relayer's shapes: addresses inside a tuple array, one after it (``executeBatch``)."""
    types = ["(address,address,uint256,bytes)[]", "address"]
    assert _outcome(abi_codec.encode, types, [requests, refund]) == _outcome(
        eth_abi.encode, types, [requests, refund]
    )


@settings(max_examples=400, deadline=None)
@given(value=address_like)
def test_checksum_as_eth_utils(value: Any) -> None:
    """``chain.address``'s direct EIP-55 path: eth-utils' answer or its refusal."""
    assert _outcome(lambda _, v: address._checksum(v[0]), [], [value]) == _outcome(
        lambda _, v: to_checksum_address(v[0]), [], [value]
    )


# ------------------------------------------------------------------ static words read directly

_STATIC_TYPES = [
    "uint256",
    "uint",
    "uint8",
    "uint64",
    "uint248",
    "int256",
    "int",
    "int8",
    "int24",
    "address",
    "bool",
    "bytes32",
    "bytes1",
    "bytes4",
    "bytes31",
]


@st.composite
def _word(draw: st.DrawFn, kind: str) -> bytes:
    """A word eth-abi wrote for a value of ``kind``, or one nearly so, or any 32 bytes."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return bytes(draw(st.binary(min_size=32, max_size=32)))
    word = bytearray(draw(st.binary(min_size=32, max_size=32)))
    if kind.startswith(("uint", "int")) or kind in ("address", "bool"):
        keep = {"address": 20, "bool": 1}.get(kind) or int(kind.lstrip("uint") or 256) // 8
        fill = 0xFF if kind.startswith("int") and word[32 - keep] & 0x80 else 0
        word[: 32 - keep] = bytes([fill]) * (32 - keep)
        if kind == "bool":
            word[31] &= 1
    else:
        size = int(kind.removeprefix("bytes"))
        word[size:] = bytes(32 - size)
    if choice == 2:  # one byte changed: often padding eth-abi refuses
        word[draw(st.integers(0, 31))] ^= 1 << draw(st.integers(0, 7))
    return bytes(word)


@st.composite
def _static_data(draw: st.DrawFn) -> tuple[list[str], bytes]:
    types = draw(st.lists(st.sampled_from(_STATIC_TYPES), min_size=1, max_size=4))
    data = b"".join(draw(_word(kind)) for kind in types)
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))] + draw(st.binary(max_size=33))
    return types, data


@settings(max_examples=500)
@given(_static_data())
def test_static_words_read_as_eth_abi_reads_them(case: tuple[list[str], bytes]) -> None:
    types, data = case
    decode = abi_codec.static_decoder(types)
    assert decode is not None
    fast = decode(data)
    try:
        expected = eth_abi.decode(types, data)
    except Exception as exc:  # noqa: BLE001 — refused: the direct path left it to eth-abi
        assert fast is None
        with pytest.raises(type(exc)):
            abi_codec.decode(types, data)
        return
    assert abi_codec.decode(types, data) == expected
    if len(data) == 32 * len(types):  # every word eth-abi takes is read directly
        assert fast == expected
        assert [type(v) for v in fast] == [type(v) for v in expected]
    else:
        assert fast is None


def test_types_not_read_directly_are_left_to_eth_abi() -> None:
    for kind in (
        "string",
        "bytes",
        "uint7",
        "uint264",
        "int0",
        "bytes33",
        "uint256[]",
        "(uint256)",
    ):
        assert abi_codec.static_decoder(["uint256", kind]) is None, kind


# ------------------------------------------------------------------ common values encoded directly

_ELEMENTARY = [
    "uint256",
    "uint8",
    "uint48",
    "uint160",
    "int256",
    "int8",
    "int40",
    "address",
    "bool",
    "bytes32",
    "bytes1",
    "bytes20",
    "bytes",
    "string",
]


def _abi_types() -> st.SearchStrategy[str]:
    """ABI types: elementary ones, tuples and arrays of them, nested."""
    return st.recursive(
        st.sampled_from(_ELEMENTARY),
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map(lambda ts: "(" + ",".join(ts) + ")"),
            inner.map(lambda t: t + "[]"),
            st.tuples(inner, st.integers(1, 3)).map(lambda p: f"{p[0]}[{p[1]}]"),
        ),
        max_leaves=6,
    )


# Values near the common forms that eth-abi takes or refuses in its own way.
_ODD = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**257), max_value=2**257),
    st.binary(max_size=40),
    st.binary(max_size=33).map(bytearray),
    st.text(max_size=5),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40).map(lambda h: "0x" + h),
    st.none(),
    st.floats(allow_nan=False),
    st.just("\ud800"),
)


def _mutated(value: Any, data: st.DataObject) -> Any:
    """``value`` with now and then one of its leaves (or a list's length) replaced."""
    if isinstance(value, (list, tuple)) and value and data.draw(st.integers(0, 3)):
        i = data.draw(st.integers(0, len(value) - 1))
        items = list(value)
        items[i] = _mutated(items[i], data)
        if data.draw(st.integers(0, 9)) == 0:
            items = items[:-1]  # a wrong length
        return items if isinstance(value, list) or data.draw(st.booleans()) else tuple(items)
    if data.draw(st.integers(0, 3)) == 0:
        return data.draw(_ODD)
    return value


@settings(max_examples=400, deadline=None)
@given(types=st.lists(_abi_types(), min_size=1, max_size=4), data=st.data())
def test_encoded_directly_as_eth_abi_encodes(types: list[str], data: st.DataObject) -> None:
    """Every value: eth-abi's bytes, or eth-abi's refusal (the direct path leaves what is not
    one of its common forms to eth-abi)."""
    from eth_abi.tools import get_abi_strategy

    values = list(data.draw(get_abi_strategy("(" + ",".join(types) + ")")))
    if data.draw(st.booleans()):
        values = _mutated(values, data)
    assert _outcome(abi_codec.encode, types, values) == _outcome(eth_abi.encode, types, values)


def test_the_relayers_calls_are_encoded_directly() -> None:
    """executeBatch's requests, joinWithPermit's arguments, permitAll's permits: no eth-abi."""
    for types in (
        ["(address,address,uint256,uint256,uint48,bytes,bytes)[]", "address"],
        ["uint256", "uint256", "address", "uint256", "uint8", "bytes32", "bytes32"],
        ["(address,address,address,uint256,uint256,uint8,bytes32,bytes32)[]"],
    ):
        assert abi_codec._direct_encoder(tuple(types)) is not None, types
