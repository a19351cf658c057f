"""The flat EIP-712 hasher (ForwardRequest, Permit, the domain) against eth-account's encoder.

``chain.eip712`` hashes typed data whose types are all elementary itself, because eth-account's
generic encoder dominated accepting a relayed join (issue 15); these properties hold the fast
path to eth-account's digest, and to its refusals, for any such typed data."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.eip712 import (
    EIP712_DOMAIN_TYPE,
    FORWARD_REQUEST_TYPE,
    PERMIT_TYPE,
    _flat_signable,
    _recover_digest,
    recover_typed_data_signer,
    typed_data_digest,
)

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1's order


def _reference(typed: dict[str, Any]) -> bytes:
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


addresses = st.binary(min_size=20, max_size=20).flatmap(
    lambda raw: st.sampled_from(["0x" + raw.hex(), to_checksum_address("0x" + raw.hex())])
)
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
uint48 = st.integers(min_value=0, max_value=2**48 - 1)
domains = st.fixed_dictionaries(
    {
        "name": st.text(max_size=20),
        "version": st.text(max_size=4),
        "chainId": st.integers(min_value=1, max_value=2**64),
        "verifyingContract": addresses,
    }
)
forward_requests = st.fixed_dictionaries(
    {
        "from": addresses,
        "to": addresses,
        "value": uint256,
        "gas": uint256,
        "nonce": uint256,
        "deadline": uint48,
        "data": st.binary(max_size=300).map(lambda b: "0x" + b.hex()),
    }
)
permits = st.fixed_dictionaries(
    {
        "owner": addresses,
        "spender": addresses,
        "value": uint256,
        "nonce": uint256,
        "deadline": uint256,
    }
)


def _typed(primary: str, fields: list[dict[str, str]], domain: Any, message: Any) -> dict:
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": domain,
        "message": message,
    }


@settings(max_examples=150, deadline=None)
@given(domain=domains, message=forward_requests)
def test_a_forward_request_hashes_as_eth_account_hashes_it(domain: Any, message: Any) -> None:
    typed = _typed("ForwardRequest", FORWARD_REQUEST_TYPE, domain, message)
    assert _flat_signable(typed) is not None  # the fast path took it
    assert typed_data_digest(typed) == _reference(typed)


@settings(max_examples=100, deadline=None)
@given(domain=domains, message=permits)
def test_a_permit_hashes_as_eth_account_hashes_it(domain: Any, message: Any) -> None:
    typed = _typed("Permit", PERMIT_TYPE, domain, message)
    assert _flat_signable(typed) is not None
    assert typed_data_digest(typed) == _reference(typed)


@settings(max_examples=60, deadline=None)
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(["bool", "bytes32", "bytes4", "uint8", "string", "address", "bytes"]),
            st.data(),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_any_flat_struct_hashes_as_eth_account_hashes_it(fields: list[Any]) -> None:
    values = {
        "bool": st.booleans(),
        "bytes32": st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()),
        "bytes4": st.binary(min_size=4, max_size=4).map(lambda b: "0x" + b.hex()),
        "uint8": st.integers(min_value=0, max_value=255),
        "string": st.text(max_size=10),
        "address": addresses,
        "bytes": st.binary(max_size=40).map(lambda b: "0x" + b.hex()),
    }
    types = [{"name": f"f{i}", "type": kind} for i, (kind, _) in enumerate(fields)]
    message = {f"f{i}": data.draw(values[kind]) for i, (kind, data) in enumerate(fields)}
    domain = {"name": "X", "version": "1", "chainId": 1, "verifyingContract": "0x" + "11" * 20}
    typed = _typed("Thing", types, domain, message)
    assert typed_data_digest(typed) == _reference(typed)


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": -1},  # out of range
        {"deadline": 2**48},  # uint48 overflow
        {"gas": "400000"},  # a string where an integer is due
        {"value": True},  # a bool is no uint
        {"from": "0x" + "Ab" * 20},  # a wrong checksum
        {"data": "0x123"},  # odd hex
    ],
)
def test_what_the_fast_path_does_not_copy_is_left_to_eth_account(change: dict) -> None:
    """Values eth-account converts or refuses are not hashed here: both paths agree, whether
    eth-account hashes them or raises."""
    message = {
        "from": "0x" + "11" * 20,
        "to": "0x" + "22" * 20,
        "value": 0,
        "gas": 1,
        "nonce": 0,
        "deadline": 1,
        "data": "0x",
        **change,
    }
    domain = {"name": "F", "version": "1", "chainId": 1, "verifyingContract": "0x" + "33" * 20}
    typed = _typed("ForwardRequest", FORWARD_REQUEST_TYPE, domain, message)
    assert _flat_signable(typed) is None
    try:
        expected: Any = _reference(typed)
    except Exception as exc:  # noqa: BLE001 — eth-account's refusal is the expected outcome
        expected = type(exc)
    try:
        got: Any = typed_data_digest(typed)
    except Exception as exc:  # noqa: BLE001
        got = type(exc)
    assert got == expected


@settings(max_examples=20, deadline=None)
@given(domain=domains, message=forward_requests)
def test_the_signer_is_recovered_through_the_fast_path(domain: Any, message: Any) -> None:
    account = Account.create()
    message = {**message, "from": account.address}
    typed = _typed("ForwardRequest", FORWARD_REQUEST_TYPE, domain, message)
    signature = account.sign_typed_data(full_message=typed).signature
    assert recover_typed_data_signer(typed, signature) == account.address


@settings(max_examples=200, deadline=None)
@given(
    digest=st.binary(min_size=32, max_size=32),
    body=st.one_of(
        st.binary(min_size=64, max_size=64),
        # r or s at the edges of the curve order, where eth-keys refuses
        st.tuples(
            st.sampled_from([0, 1, 2**256 - 1, _N - 1, _N, _N + 1]),
            st.binary(min_size=32, max_size=32),
        ).map(lambda t: t[0].to_bytes(32, "big") + t[1]),
    ),
    v=st.sampled_from([0, 1, 2, 26, 27, 28, 29, 35, 36, 255]),
)
def test_the_fast_recovery_agrees_with_eth_account(digest: bytes, body: bytes, v: int) -> None:
    """Any 65 bytes: the libsecp256k1 path recovers what eth-account recovers, and leaves to
    eth-account whatever it would refuse (or recover differently)."""
    signature = body + bytes([v])
    try:
        expected: Any = Account._recover_hash(digest, signature=signature)
    except Exception:  # noqa: BLE001 — eth-account's refusal
        expected = None
    fast = _recover_digest(digest, signature)
    assert fast is None or fast == expected
    if expected is not None and v in (0, 1, 27, 28):
        assert fast == expected  # the fast path takes every ordinary signature


def test_a_real_signature_is_recovered_from_its_digest() -> None:
    account = Account.create()
    typed = _typed(
        "Permit",
        PERMIT_TYPE,
        {"name": "T", "version": "1", "chainId": 1, "verifyingContract": "0x" + "44" * 20},
        {
            "owner": account.address,
            "spender": "0x" + "55" * 20,
            "value": 1,
            "nonce": 0,
            "deadline": 9,
        },
    )
    signature = account.sign_typed_data(full_message=typed).signature
    digest = typed_data_digest(typed)
    assert _recover_digest(digest, signature) == account.address
    assert recover_typed_data_signer(typed, signature, digest=digest) == account.address
