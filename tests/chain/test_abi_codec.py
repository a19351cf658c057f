"""``chain.abi_codec``'s lean address path against eth-abi's own encoder, and ``chain.address``'s
EIP-55 path against eth-utils: the same bytes or text for every value they take, the same
exception type for every value they refuse."""

from __future__ import annotations

from typing import Any

import eth_abi
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
