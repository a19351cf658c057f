"""``chain.txsign`` against eth-account: the same raw transaction and hash for every dynamic-fee
transaction it signs, and None (eth-account's turn) for anything else."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.txsign import sign_dynamic_fee

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_KEYS = st.integers(min_value=1, max_value=_N - 1).map(lambda k: k.to_bytes(32, "big"))
_ADDRESSES = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
# Lengths around RLP's boundaries (55 / 56 bytes, one and two length bytes).
_DATA = st.one_of(st.binary(max_size=70), st.binary(min_size=250, max_size=300), st.just(b"\x01"))
_NUMBERS = st.one_of(
    st.integers(0, 130), st.integers(0, 2**64), st.integers(0, 2**256 - 1), st.just(0)
)


@st.composite
def _transactions(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(_DATA)
    return {
        "to": draw(_ADDRESSES),
        "data": HexBytes(data) if draw(st.booleans()) else data,
        "value": draw(_NUMBERS),
        "gas": draw(st.integers(21_000, 2**63 - 1)),
        "chainId": draw(st.integers(1, 2**64)),
        "maxFeePerGas": draw(_NUMBERS),
        "maxPriorityFeePerGas": draw(_NUMBERS),
        "nonce": draw(st.integers(0, 2**64 - 2)),
    }


@settings(max_examples=300, deadline=None)
@given(secret=_KEYS, tx=_transactions())
def test_signed_as_eth_account_signs(secret: bytes, tx: dict[str, Any]) -> None:
    direct = sign_dynamic_fee(secret, tx)
    assert direct is not None
    expected = Account.sign_transaction(tx, secret)
    assert direct == (bytes(expected.raw_transaction), bytes(expected.hash))


@settings(max_examples=100, deadline=None)
@given(secret=_KEYS, tx=_transactions(), data=st.data())
def test_other_shapes_are_left_to_eth_account(
    secret: bytes, tx: dict[str, Any], data: st.DataObject
) -> None:
    change = data.draw(st.sampled_from(["lower_to", "bool", "negative", "extra", "missing", "str"]))
    if change == "lower_to":
        tx["to"] = tx["to"].lower()
        if tx["to"] == to_checksum_address(tx["to"]):
            return  # (an address with no letters is its own checksum)
    elif change == "bool":
        tx["value"] = True
    elif change == "negative":
        tx["nonce"] = -1
    elif change == "extra":
        tx["accessList"] = []
    elif change == "missing":
        del tx["maxPriorityFeePerGas"]
    else:
        tx["data"] = "0x" + bytes(tx["data"]).hex()
    assert sign_dynamic_fee(secret, tx) is None
