"""Passkey accounts on anvil (osaka): EntryPoint v0.8 at its canonical address, a consumer's
account created counterfactually, funded by the faucet, joining with approve + join in one
ERC-7821 batch that the platform's paymaster sponsors, submitted by the test acting as bundler
(``handleOps``). Passkeys are software P-256 keys (``cryptography``) producing WebAuthn assertions
byte for byte as a browser does; the on-chain verifier is OpenZeppelin's."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from chain import errors
from chain.aa.clients import PasskeyAccounts
from chain.aa.entrypoint import (
    CREATE2_DEPLOYER,
    ENTRYPOINT_V08,
    EntryPointArtifact,
    ensure_entrypoint,
    load_entrypoint_artifact,
)
from chain.aa.erc7739 import typed_data_sign_digest, wrap_signature
from chain.aa.errors import EntryPointNotCanonical, UserOperationFailed
from chain.aa.userop import Call, UserOperation
from chain.aa.webauthn import (
    FLAG_BE,
    FLAG_BS,
    FLAG_UP,
    FLAG_UV,
    P256_N,
    SoftwarePasskey,
    account_signature,
)
from chain.accounts import dev_account
from chain.anvil import Anvil
from chain.deploy import Deployment
from chain.eip712 import typed_data_digest
from chain.tx import TxSender

from .conftest import TOP_PRICE, Market, advance_time

ERC1271_MAGIC = bytes.fromhex("1626ba7e")
ERC7913_VERIFY = function_signature_to_4byte_selector("verify(bytes,bytes32,bytes)")
P256_PRECOMPILE = "0x0000000000000000000000000000000000000100"


@pytest.fixture
def accounts(w3: Web3, deployment: Deployment, tx_sender: TxSender) -> PasskeyAccounts:
    return PasskeyAccounts.connect(w3, deployment, tx_sender)


def passkey(label: str) -> SoftwarePasskey:
    return SoftwarePasskey.from_secret(Web3.keccak(text=f"tuanchain-test/{label}"))


def high_s(op: UserOperation, accounts: PasskeyAccounts, key: SoftwarePasskey) -> UserOperation:
    """``op`` signed with the s a browser may return: the high form of a valid signature."""
    assertion = key.assertion(accounts.user_op_hash(op))
    flipped = dataclasses.replace(assertion, s=P256_N - assertion.s)
    assert flipped.is_high_s and key.verify(flipped)  # valid ECDSA, just not low-s
    return accounts.with_assertion(op, key, flipped)


# ---------------------------------------------------------------------- EntryPoint


def test_entrypoint_v08_sits_at_its_canonical_address(
    w3: Web3, deployment: Deployment, accounts: PasskeyAccounts
) -> None:
    assert deployment.address("EntryPoint") == ENTRYPOINT_V08
    assert w3.eth.get_code(ENTRYPOINT_V08)
    assert accounts.entry_point.functions.senderCreator().call() != "0x" + "00" * 20
    manifest = deployment.contracts["EntryPoint"]
    assert manifest.bytecode_hash == load_entrypoint_artifact().bytecode_hash


def test_entrypoint_is_deployed_through_the_create2_deployer_on_a_fresh_chain() -> None:
    """A chain of its own: the session chain already holds the EntryPoint."""
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        sender = TxSender(w3, timeout=30)
        first = ensure_entrypoint(w3, sender, dev_account(0))
        assert first.deployed_now and first.address == ENTRYPOINT_V08
        assert first.receipt is not None and first.receipt["to"] == CREATE2_DEPLOYER
        assert w3.eth.get_code(ENTRYPOINT_V08)
        block = w3.eth.block_number
        second = ensure_entrypoint(w3, sender, dev_account(0))
        assert not second.deployed_now and w3.eth.block_number == block


def test_entrypoint_refuses_creation_code_that_lands_elsewhere(
    w3: Web3, tx_sender: TxSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    genuine = load_entrypoint_artifact()
    other = EntryPointArtifact(abi=genuine.abi, bytecode=genuine.bytecode + b"\x00")
    monkeypatch.setattr("chain.aa.entrypoint.load_entrypoint_artifact", lambda: other)
    block = w3.eth.block_number
    with pytest.raises(EntryPointNotCanonical) as refused:
        ensure_entrypoint(w3, tx_sender, dev_account(0))
    assert refused.value.expected == ENTRYPOINT_V08 and refused.value.computed != ENTRYPOINT_V08
    assert w3.eth.block_number == block


# ---------------------------------------------------------------------- the precompile (osaka)


def test_p256_verification_goes_through_the_precompile(w3: Web3, accounts: PasskeyAccounts) -> None:
    key = passkey("precompile")
    digest = Web3.keccak(text="challenge")
    assertion = key.assertion(digest)
    message_hash = hashlib.sha256(
        assertion.authenticator_data + hashlib.sha256(assertion.client_data_json.encode()).digest()
    ).digest()
    data = (
        message_hash
        + assertion.r.to_bytes(32, "big")
        + assertion.s.to_bytes(32, "big")
        + key.qx
        + key.qy
    )
    assert w3.provider.make_request("anvil_nodeInfo", [])["result"]["hardFork"].lower() == "osaka"  # type: ignore[arg-type,index]
    assert int.from_bytes(w3.eth.call({"to": P256_PRECOMPILE, "data": data}), "big") == 1
    calldata_gas = sum(4 if b == 0 else 16 for b in data)
    precompile_gas = (
        w3.eth.estimate_gas({"to": P256_PRECOMPILE, "data": data}) - 21_000 - calldata_gas
    )
    assert 6_900 <= precompile_gas < 7_500

    # The whole WebAuthn check (OpenZeppelin's verifier) costs a few precompile calls' worth, far
    # below the ~200,000+ gas of OpenZeppelin's Solidity P-256 fallback.
    verify = ERC7913_VERIFY + abi_encode(
        ["bytes", "bytes32", "bytes"], [key.qx + key.qy, digest, assertion.encode()]
    )
    answer = w3.eth.call({"to": accounts.verifier, "data": verify})
    assert answer[:4] == ERC7913_VERIFY
    assert w3.eth.estimate_gas({"to": accounts.verifier, "data": verify}) < 80_000


# ---------------------------------------------------------------------- WebAuthn format


def verifier_accepts(
    w3: Web3, accounts: PasskeyAccounts, key: SoftwarePasskey, digest: bytes, encoded: bytes
) -> bool:
    data = ERC7913_VERIFY + abi_encode(
        ["bytes", "bytes32", "bytes"], [key.qx + key.qy, digest, encoded]
    )
    return w3.eth.call({"to": accounts.verifier, "data": data})[:4] == ERC7913_VERIFY


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    digest=st.binary(min_size=32, max_size=32),
    flags=st.integers(min_value=0, max_value=255),
    sign_count=st.integers(min_value=0, max_value=2**32 - 1),
    make_high=st.booleans(),
    origin=st.sampled_from(["http://localhost:8000", "https://tuan.example", "http://localhost"]),
)
def test_software_assertions_verify_on_chain_exactly_when_the_rules_say(
    w3: Web3,
    accounts: PasskeyAccounts,
    digest: bytes,
    flags: int,
    sign_count: int,
    make_high: bool,
    origin: str,
) -> None:
    """Differential: our encoding against OpenZeppelin's ERC7913WebAuthnVerifier on chain."""
    key = passkey("format")
    assertion = key.assertion(digest, flags=flags, sign_count=sign_count, origin=origin)
    assert not assertion.is_high_s and assertion.challenge == digest
    if make_high:
        assertion = dataclasses.replace(assertion, s=P256_N - assertion.s)
    expected = (
        bool(flags & FLAG_UP)
        and bool(flags & FLAG_UV)
        and not (flags & FLAG_BS and not flags & FLAG_BE)
        and not make_high
    )
    assert verifier_accepts(w3, accounts, key, digest, assertion.encode()) is expected
    if make_high:  # the client's fix
        assert verifier_accepts(w3, accounts, key, digest, assertion.normalised().encode()) is (
            bool(flags & FLAG_UP)
            and bool(flags & FLAG_UV)
            and not (flags & FLAG_BS and not flags & FLAG_BE)
        )


def test_an_assertion_for_another_challenge_is_refused(w3: Web3, accounts: PasskeyAccounts) -> None:
    key = passkey("challenge")
    assertion = key.assertion(Web3.keccak(text="one operation"))
    assert not verifier_accepts(w3, accounts, key, Web3.keccak(text="another"), assertion.encode())


# ---------------------------------------------------------------------- userOpHash


def user_operations() -> st.SearchStrategy[UserOperation]:
    addresses = st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address)
    u128 = st.integers(min_value=0, max_value=2**128 - 1)
    return st.builds(
        UserOperation,
        sender=addresses,
        nonce=st.integers(min_value=0, max_value=2**256 - 1),
        call_data=st.binary(max_size=300),
        call_gas_limit=u128,
        verification_gas_limit=u128,
        pre_verification_gas=st.integers(min_value=0, max_value=2**256 - 1),
        max_fee_per_gas=u128,
        max_priority_fee_per_gas=u128,
        factory=st.none() | addresses,
        factory_data=st.binary(max_size=100),
        paymaster=st.none() | addresses,
        paymaster_verification_gas_limit=u128,
        paymaster_post_op_gas_limit=u128,
        paymaster_data=st.binary(max_size=60),
        signature=st.binary(max_size=100),
    )


def _normalised(op: UserOperation) -> UserOperation:
    """What survives packing: no factoryData without a factory, no paymaster fields without one."""
    if op.factory is None:
        op = op.replace(factory_data=b"")
    if op.paymaster is None:
        op = op.replace(
            paymaster_verification_gas_limit=0, paymaster_post_op_gas_limit=0, paymaster_data=b""
        )
    return op


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(op=user_operations())
def test_user_op_hash_matches_the_entrypoint(accounts: PasskeyAccounts, op: UserOperation) -> None:
    on_chain = accounts.entry_point.functions.getUserOpHash(op.packed()).call()
    assert accounts.user_op_hash(op) == bytes(on_chain)


@given(op=user_operations())
def test_user_operation_round_trips_through_packing_and_json_rpc(op: UserOperation) -> None:
    op = _normalised(op)
    assert UserOperation.from_packed(op.packed()) == op
    assert UserOperation.from_rpc(op.to_rpc()) == op


# ---------------------------------------------------------------------- a consumer joins


def test_a_new_passkey_account_joins_with_gas_sponsored(
    w3: Web3, market: Market, accounts: PasskeyAccounts
) -> None:
    clients, platform = market.clients, dev_account(0)
    key = passkey("consumer")
    account = accounts.account_address(key)
    assert not accounts.is_deployed(account)

    clients.token.mint(account, 3 * TOP_PRICE, signer=platform)  # the faucet (MINTER_ROLE)
    calls = accounts.approve_and_join(market.deal_id, 3, market.leader.address, 3 * TOP_PRICE)
    op = accounts.sign(accounts.user_operation(account=account, calls=calls, create_with=key), key)
    assert accounts.user_op_hash(op) == bytes(
        accounts.entry_point.functions.getUserOpHash(op.packed()).call()
    )

    deposit = accounts.paymaster.get_deposit()
    bundler_balance = w3.eth.get_balance(market.relayer.address)
    result = accounts.handle_ops([op], bundler=market.relayer)
    (event,) = result.events

    assert (
        event.success and event.sender == account and event.paymaster == accounts.paymaster.address
    )
    assert accounts.is_deployed(account)
    assert clients.escrow.order(market.deal_id, account).quantity == 3
    assert clients.token.balance_of(account) == 0
    assert w3.eth.get_balance(account) == 0, "the account never holds nor pays ETH"
    assert accounts.paymaster.get_deposit() == deposit - event.actual_gas_cost
    fee = result.receipt["effectiveGasPrice"] * result.gas_used
    assert (
        w3.eth.get_balance(market.relayer.address) == bundler_balance - fee + event.actual_gas_cost
    )
    usage = accounts.paymaster.usage(account)
    assert (
        usage["ops"] == 1
        and usage["pendingOps"] == 0
        and 0 < usage["cost"] <= event.actual_gas_cost
    )

    # Cancel, then join again: the account is deployed now, no factory in the operation.
    cancel = Call(clients.escrow.address, clients.escrow.calldata("cancel", market.deal_id))
    accounts.submit(
        accounts.sign(accounts.user_operation(account=account, calls=[cancel]), key),
        bundler=market.relayer,
    )
    assert clients.token.balance_of(account) == 3 * TOP_PRICE, "refunded to the contract account"
    again = accounts.sign(accounts.user_operation(account=account, calls=calls), key)
    assert accounts.submit(again, bundler=market.relayer).success
    assert clients.escrow.order(market.deal_id, account).quantity == 3
    assert w3.eth.get_balance(account) == 0


def test_a_high_s_signature_is_refused_and_its_normalised_form_accepted(
    market: Market, accounts: PasskeyAccounts
) -> None:
    key = passkey("high-s")
    account = accounts.account_address(key)
    market.clients.token.mint(account, TOP_PRICE, signer=dev_account(0))
    calls = accounts.approve_and_join(market.deal_id, 1, market.leader.address, TOP_PRICE)
    unsigned = accounts.user_operation(account=account, calls=calls, create_with=key)

    with pytest.raises(errors.FailedOp) as refused:
        accounts.handle_ops([high_s(unsigned, accounts, key)], bundler=market.relayer)
    assert refused.value.reason == "AA24 signature error"

    assert accounts.submit(accounts.sign(unsigned, key), bundler=market.relayer).success
    assert market.clients.escrow.order(market.deal_id, account).quantity == 1


def test_the_paymaster_refuses_a_call_outside_its_policy(
    market: Market, accounts: PasskeyAccounts
) -> None:
    key = passkey("outside-policy")
    account = accounts.account_address(key)
    market.clients.token.mint(account, TOP_PRICE, signer=dev_account(0))
    transfer = Call(
        accounts.token,
        market.clients.token.calldata("transfer", market.leader.address, TOP_PRICE),
    )
    assert not accounts.paymaster.is_sponsored_call(account, transfer)
    op = accounts.sign(
        accounts.user_operation(account=account, calls=[transfer], create_with=key), key
    )
    block = market.w3.eth.block_number
    with pytest.raises(errors.FailedOpWithRevert) as refused:
        accounts.handle_ops([op], bundler=market.relayer)
    assert refused.value.reason == "AA33 reverted"
    inner = accounts.explain(refused.value.inner)
    assert isinstance(inner, errors.CallNotSponsored)
    assert inner.target == accounts.token and inner.functionSelector == transfer.data[:4]
    assert market.w3.eth.block_number == block, "refused before anything was sent"
    assert market.clients.token.balance_of(account) == TOP_PRICE


def test_a_reverting_batch_is_reported_with_its_reason(
    w3: Web3, market: Market, accounts: PasskeyAccounts
) -> None:
    key = passkey("closed-deal")
    account = accounts.account_address(key)
    market.clients.token.mint(account, TOP_PRICE, signer=dev_account(0))
    calls = accounts.approve_and_join(market.deal_id, 1, market.leader.address, TOP_PRICE)
    advance_time(w3, 3600)  # past the join deadline: join reverts inside the batch
    op = accounts.sign(accounts.user_operation(account=account, calls=calls, create_with=key), key)
    with pytest.raises(UserOperationFailed) as failed:
        accounts.submit(op, bundler=market.relayer)
    assert "DealClosed" in failed.value.reason
    assert w3.eth.get_balance(account) == 0


# ---------------------------------------------------------------------- second passkey, ERC-1271


def test_a_second_passkey_signs_for_the_same_account(
    market: Market, accounts: PasskeyAccounts
) -> None:
    first, second = passkey("phone"), passkey("tablet")
    account = accounts.account_address(first)
    add = Call(account, _account_calldata("addPasskey(bytes32,bytes32)", second.qx, second.qy))
    accounts.submit(
        accounts.sign(
            accounts.user_operation(account=account, calls=[add], create_with=first), first
        ),
        bundler=market.relayer,
    )
    market.clients.token.mint(account, TOP_PRICE, signer=dev_account(0))
    calls = accounts.approve_and_join(market.deal_id, 1, market.leader.address, TOP_PRICE)
    assert accounts.submit(
        accounts.sign(accounts.user_operation(account=account, calls=calls), second),
        bundler=market.relayer,
    ).success


def test_handover_typed_data_signed_by_a_passkey_passes_erc1271(
    w3: Web3, market: Market, accounts: PasskeyAccounts
) -> None:
    """The escrow's handover check is SignatureChecker → isValidSignature on the account; called
    directly here (the handover itself lands with issue 11)."""
    key = passkey("handover")
    account = accounts.account_address(key)
    accounts.factory.create_account(key.qx, key.qy, signer=dev_account(0))
    handover = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Handover": [
                {"name": "dealId", "type": "uint256"},
                {"name": "buyer", "type": "address"},
                {"name": "leader", "type": "address"},
                {"name": "quantity", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Handover",
        "domain": {
            "name": "GroupBuyEscrow",
            "version": "1",
            "chainId": accounts.chain_id,
            "verifyingContract": market.clients.escrow.address,
        },
        "message": {
            "dealId": market.deal_id,
            "buyer": account,
            "leader": market.leader.address,
            "quantity": 2,
            "deadline": 1_900_000_000,
        },
    }
    digest = typed_data_digest(handover)
    challenge = typed_data_sign_digest(handover, account=account, chain_id=accounts.chain_id)
    inner = account_signature([(key.signer(accounts.verifier), key.assertion(challenge))])
    signature = wrap_signature(inner, handover)
    is_valid = _account_calldata("isValidSignature(bytes32,bytes)", digest, signature)
    assert w3.eth.call({"to": account, "data": is_valid})[:4] == ERC1271_MAGIC

    bare = account_signature([(key.signer(accounts.verifier), key.assertion(digest))])
    refused = _account_calldata("isValidSignature(bytes32,bytes)", digest, bare)
    assert w3.eth.call({"to": account, "data": refused})[:4] != ERC1271_MAGIC


def _account_calldata(signature: str, *args: object) -> bytes:
    types = signature[signature.index("(") + 1 : -1].split(",")
    return function_signature_to_4byte_selector(signature) + abi_encode(types, list(args))
