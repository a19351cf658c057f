"""EIP-712 builders checked against the contracts themselves (forwarder verify, token permit)."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from chain import errors
from chain.accounts import dev_account
from chain.clients import Clients
from chain.eip712 import (
    Signature,
    forward_request_data,
    forward_request_typed_data,
    permit_typed_data,
    recover_typed_data_signer,
    sign_typed_data,
    typed_data_digest,
)

FAR_FUTURE = 2**40


def _now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def test_forwarder_domain_matches_the_builder(clients: Clients, w3: Web3) -> None:
    typed = clients.forwarder.prepare(
        sender=dev_account(3).address, target=clients.registry.address, data=b"", gas=1
    )
    _fields, name, version, chain_id, verifying, _salt, _ext = clients.forwarder._call(
        "eip712Domain"
    )
    assert typed["domain"] == {
        "name": name,
        "version": version,
        "chainId": chain_id,
        "verifyingContract": verifying,
    }
    assert name == "TuanchainForwarder" and version == "1"


def test_signed_forward_request_verifies_and_executes_as_the_signer(
    clients: Clients, probe: Contract, w3: Web3
) -> None:
    user = Account.create()  # no ETH at all
    data = probe.functions.bump(9)._encode_transaction_data()
    typed = clients.forwarder.prepare(
        sender=user.address, target=probe.address, data=bytes.fromhex(data[2:])
    )
    signature = sign_typed_data(user, typed)
    assert recover_typed_data_signer(typed, signature.signature) == user.address
    assert clients.forwarder.verify(typed, signature.signature)

    tampered = json.loads(json.dumps(typed))
    tampered["message"]["gas"] += 1
    assert not clients.forwarder.verify(tampered, signature.signature)

    clients.forwarder.execute(typed, signature.signature, relayer=dev_account(1))
    assert probe.functions.bumpsBy(user.address).call() == 1
    assert w3.eth.get_balance(user.address) == 0
    assert clients.forwarder.nonces(user.address) == 1

    with pytest.raises(errors.ERC2771ForwarderInvalidSigner) as replay:
        clients.forwarder.execute(typed, signature.signature, relayer=dev_account(1))
    assert replay.value.args["from"] == user.address


def test_expired_forward_request_is_refused(clients: Clients, probe: Contract, w3: Web3) -> None:
    user = Account.create()
    data = bytes.fromhex(probe.functions.bump(1)._encode_transaction_data()[2:])
    deadline = _now(w3) - 1
    typed = clients.forwarder.prepare(
        sender=user.address, target=probe.address, data=data, gas=100_000, deadline=deadline
    )
    signature = sign_typed_data(user, typed)
    with pytest.raises(errors.ERC2771ForwarderExpiredRequest) as expired:
        clients.forwarder.execute(typed, signature.signature, relayer=dev_account(1))
    assert expired.value.deadline == deadline


def test_failing_inner_call_raises_the_target_error(clients: Clients, probe: Contract) -> None:
    user = Account.create()
    data = bytes.fromhex(probe.functions.failClosed(5)._encode_transaction_data()[2:])
    typed = clients.forwarder.prepare(
        sender=user.address, target=probe.address, data=data, gas=100_000
    )
    signature = sign_typed_data(user, typed)
    with pytest.raises(errors.Closed):
        clients.forwarder.execute(typed, signature.signature, relayer=dev_account(1))


def test_permit_domain_separator_and_on_chain_acceptance(clients: Clients, w3: Web3) -> None:
    owner, spender, relayer = Account.create(), dev_account(4).address, dev_account(1)
    typed = clients.token.permit_typed_data(
        owner=owner.address, spender=spender, value=1_500_000, deadline=FAR_FUTURE
    )
    assert encode_typed_data(full_message=typed).header == bytes(
        clients.token._call("DOMAIN_SEPARATOR")
    )
    signature = sign_typed_data(owner, typed)
    clients.token.permit(owner.address, spender, 1_500_000, FAR_FUTURE, signature, signer=relayer)
    assert clients.token.allowance(owner.address, spender) == 1_500_000
    assert clients.token.nonces(owner.address) == 1

    with pytest.raises(errors.ERC2612InvalidSigner):  # replay: the nonce moved on
        clients.token.permit(
            owner.address, spender, 1_500_000, FAR_FUTURE, signature, signer=relayer
        )

    late = clients.token.permit_typed_data(
        owner=owner.address, spender=spender, value=1, deadline=1
    )
    with pytest.raises(errors.ERC2612ExpiredSignature) as expired:
        clients.token.permit(
            owner.address, spender, 1, 1, sign_typed_data(owner, late), signer=relayer
        )
    assert expired.value.deadline == 1


addresses = st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address)


@settings(max_examples=30, deadline=None)
@given(
    sender=addresses,
    to=addresses,
    forwarder=addresses,
    data=st.binary(max_size=100),
    nonce=st.integers(0, 2**256 - 1),
    gas=st.integers(0, 2**256 - 1),
    deadline=st.integers(0, 2**48 - 1),
    value=st.integers(0, 2**256 - 1),
    chain_id=st.integers(1, 2**64),
)
def test_forward_request_survives_json_and_signs_identically(
    sender: str,
    to: str,
    forwarder: str,
    data: bytes,
    nonce: int,
    gas: int,
    deadline: int,
    value: int,
    chain_id: int,
) -> None:
    typed = forward_request_typed_data(
        forwarder=forwarder,
        chain_id=chain_id,
        sender=sender,
        to=to,
        data=data,
        nonce=nonce,
        deadline=deadline,
        gas=gas,
        value=value,
    )
    again = json.loads(json.dumps(typed))
    assert again == typed
    assert typed_data_digest(again) == typed_data_digest(typed)
    signer = dev_account(5)
    assert sign_typed_data(signer, again) == sign_typed_data(signer, typed)
    request = forward_request_data(again, b"\x01" * 65)
    assert request == (sender, to, value, gas, deadline, data, b"\x01" * 65)


@settings(max_examples=30, deadline=None)
@given(
    owner=addresses,
    spender=addresses,
    value=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, 2**256 - 1),
    deadline=st.integers(0, 2**256 - 1),
)
def test_permit_survives_json(
    owner: str, spender: str, value: int, nonce: int, deadline: int
) -> None:
    typed = permit_typed_data(
        token=spender,
        chain_id=31337,
        owner=owner,
        spender=spender,
        value=value,
        nonce=nonce,
        deadline=deadline,
    )
    again = json.loads(json.dumps(typed))
    assert again == typed and typed_data_digest(again) == typed_data_digest(typed)
    assert set(typed) == {"types", "primaryType", "domain", "message"}
    assert typed["types"]["EIP712Domain"][0] == {"name": "name", "type": "string"}


@settings(max_examples=25)
@given(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.sampled_from([0, 1, 27, 28]),
)
def test_signature_from_bytes_splits_r_s_v(r: bytes, s: bytes, v: int) -> None:
    """The one splitter of a 65-byte signature: wallets give v as 27/28, some as 0/1."""
    raw = r + s + bytes([v])
    for given_as in (raw, "0x" + raw.hex()):
        parts = Signature.from_bytes(given_as)
        assert (parts.r, parts.s, parts.v, parts.signature) == (r, s, v if v >= 27 else v + 27, raw)


def test_a_signature_that_cannot_be_split_or_checked_is_invalid_signature() -> None:
    user = dev_account(3)
    typed = permit_typed_data(
        token=dev_account(4).address, chain_id=31337, owner=user.address,
        spender=dev_account(5).address, value=1, nonce=0, deadline=FAR_FUTURE,
    )  # fmt: skip
    good = sign_typed_data(user, typed).signature
    for bad in (good[:64], good + b"\x00", "0xnothex"):
        with pytest.raises(errors.InvalidSignature):
            Signature.from_bytes(bad)
    with pytest.raises(errors.InvalidSignature):
        recover_typed_data_signer(typed, good[:64])
    with pytest.raises(errors.InvalidSignature):
        recover_typed_data_signer({"types": {}, "message": {}}, good)
    assert isinstance(errors.InvalidSignature("x"), ValueError | errors.ChainError)
