"""What pages use for passkey accounts: the account of a public key, unsigned operations for
consumer actions (signed here by a software passkey as the page's authenticator would), the demo
faucet (local chain only, limited per address) and the ``/passkey`` page."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.bundler.worker import BundlerWorker
from api.faucet import FAUCET_AMOUNT, Faucet
from api.routes.documents import upload_message
from api.services import Services
from chain.aa.userop import UserOperation
from chain.aa.webauthn import SoftwarePasskey, account_signature
from chain.context import Chain
from chain.eip712 import typed_data_digest

from ..relay.conftest import TOP_PRICE, DealSetup, make_deal


@pytest.fixture(scope="module")
def deal(api_chain: Chain) -> DealSetup:
    return make_deal(api_chain, min_quantity=1)


@pytest.fixture
def fresh_faucet(app: FastAPI) -> Faucet:
    """A faucet with a clock the test moves (the window is never waited for)."""
    now = [0.0]
    faucet = Faucet(clock=lambda: now[0])
    faucet.now = now  # type: ignore[attr-defined]
    app.state.faucet = faucet
    return faucet


def key_params(key: SoftwarePasskey) -> dict[str, str]:
    return {"qx": "0x" + key.qx.hex(), "qy": "0x" + key.qy.hex()}


def test_the_account_of_a_passkey_is_the_factory_address_before_deployment(
    client: TestClient, api_chain: Chain
) -> None:
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    info = client.get("/v1/passkeys/account", params=key_params(key)).json()
    assert info["address"] == api_chain.passkeys.account_address(key)
    assert info["deployed"] is False and info["balance"] == 0
    assert info["signer"] == "0x" + key.signer(api_chain.passkeys.verifier).hex()
    bad = client.get("/v1/passkeys/account", params={"qx": "0x12", "qy": "0x34"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_public_key"


def test_faucet_then_join_prepared_by_the_service_and_signed_by_the_passkey(
    client: TestClient,
    api_chain: Chain,
    services: Services,
    deal: DealSetup,
    fresh_faucet: Faucet,
) -> None:
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    address = api_chain.passkeys.account_address(key)
    granted = client.post("/v1/faucet", json={"address": address})
    assert granted.status_code == 200, granted.text
    assert granted.json()["balance"] == FAUCET_AMOUNT
    again = client.post("/v1/faucet", json={"address": address})
    assert again.status_code == 429 and again.json()["code"] == "faucet_limit"

    prepared = client.post(
        "/v1/actions/join/prepare-userop",
        json={
            **key_params(key),
            "deal_id": deal.deal_id,
            "quantity": 2,
            "leader": deal.leader.address,
        },
    )
    assert prepared.status_code == 200, prepared.text
    body = prepared.json()
    assert body["account"] == address and body["deployed"] is False
    assert body["details"]["amount"] == 2 * TOP_PRICE
    op = UserOperation.from_rpc(body["userOperation"])
    assert op.factory is not None and op.paymaster == api_chain.passkeys.paymaster.address
    assert body["userOpHash"] == "0x" + api_chain.passkeys.user_op_hash(op).hex()
    signed = api_chain.passkeys.sign(op, key)
    sent = client.post(
        "/v1/bundler",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendUserOperation",
            "params": [signed.to_rpc(), body["entryPoint"]],
        },
    ).json()
    assert sent.get("result") == body["userOpHash"], sent
    BundlerWorker(services).run_once()
    assert api_chain.clients.escrow.order(deal.deal_id, address).quantity == 2
    info = client.get("/v1/passkeys/account", params=key_params(key)).json()
    assert info["deployed"] is True and info["balance"] == FAUCET_AMOUNT - 2 * TOP_PRICE
    assert api_chain.w3.eth.get_balance(address) == 0

    # Evidence for a claim: the account signs the upload through ERC-1271 (ERC-7739 PersonalSign).
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + secrets.token_bytes(64)
    timestamp = int(time.time())
    message = upload_message(hashlib.sha256(png).hexdigest(), timestamp)

    def upload_signed_by(signing_key: SoftwarePasskey) -> Any:
        challenge = client.post(
            "/v1/passkeys/sign-message", json={**key_params(key), "message": message}
        ).json()
        assert challenge["account"] == address
        assertion = signing_key.assertion(bytes.fromhex(challenge["challenge"][2:]))
        signature = account_signature([(bytes.fromhex(challenge["signer"][2:]), assertion)])
        return client.post(
            "/v1/documents",
            data={
                "address": address,
                "timestamp": str(timestamp),
                "signature": "0x" + signature.hex(),
                "deal_id": str(deal.deal_id),
            },
            files={"file": ("evidence", png, "image/png")},
        )

    forged = upload_signed_by(SoftwarePasskey.from_secret(secrets.token_bytes(32)))
    assert forged.status_code == 400 and forged.json()["code"] == "bad_signature"
    stored = upload_signed_by(key)
    assert stored.status_code == 201, stored.text
    assert stored.json()["uploader"] == address and stored.json()["role"] == "buyer"

    # Once the window has passed, an account holding less than the faucet's amount is topped up.
    fresh_faucet.now[0] += 3601  # type: ignore[attr-defined]
    assert client.post("/v1/faucet", json={"address": address}).status_code == 200


def test_prepare_refuses_an_action_that_would_revert(client: TestClient, deal: DealSetup) -> None:
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    # No tokens: the join's transfer would fail.
    refused = client.post(
        "/v1/actions/join/prepare-userop",
        json={
            **key_params(key),
            "deal_id": deal.deal_id,
            "quantity": 1,
            "leader": deal.leader.address,
        },
    )
    assert refused.status_code == 409 and refused.json()["code"] == "would_revert"
    # Not sponsored for a passkey account (the relayer's, signed with a wallet): said so.
    unsponsored = client.post("/v1/actions/settle/prepare-userop", json=key_params(key))
    assert unsponsored.status_code == 403 and unsponsored.json()["code"] == "needs_wallet"


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("cancel", {"deal_id": -1}),
        ("withdraw", {"deal_id": 2**256}),
        ("join", {"deal_id": -5, "quantity": 1}),
        ("join", {"quantity": 2**256}),
        ("join", {"quantity": 2**255}),  # quantity × price beyond uint256
    ],
)
def test_prepare_refuses_numbers_outside_uint256_with_400(
    client: TestClient, deal: DealSetup, action: str, fields: dict[str, int]
) -> None:
    # Found by review: deal_id and quantity went unchecked into the calls' ABI encoding, where
    # eth_abi raised MismatchedABI / ValueOutOfBounds: a 500 instead of a named 400.
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    body = {**key_params(key), "deal_id": deal.deal_id, "leader": deal.leader.address, **fields}
    refused = client.post(f"/v1/actions/{action}/prepare-userop", json=body)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_request"


def test_the_faucet_is_refused_off_a_local_chain(api_chain: Chain, fresh_faucet: Faucet) -> None:
    from api.errors import ApiError

    remote = dataclasses.replace(
        api_chain,
        settings=api_chain.settings.model_copy(update={"rpc_url": "https://rpc.example.org"}),
    )
    with pytest.raises(ApiError) as refused:
        fresh_faucet.grant(remote, "0x" + "12" * 20)
    assert refused.value.status == 403 and refused.value.code == "faucet_unavailable"


def test_the_passkey_page_renders(client: TestClient) -> None:
    page = client.get("/passkey?lang=en")
    assert page.status_code == 200 and "/static/passkey.js" in page.text
    assert client.get("/static/passkey.js").status_code == 200


def test_a_second_passkey_added_by_the_first_acts_for_the_account(
    client: TestClient, api_chain: Chain, services: Services, deal: DealSetup
) -> None:
    first = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    second = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    address = api_chain.passkeys.account_address(first)
    api_chain.clients.token.mint(address, 10 * TOP_PRICE, signer=api_chain.platform)

    def run(key: SoftwarePasskey, action: str, body: dict[str, Any]) -> dict[str, Any]:
        prepared = client.post(
            f"/v1/actions/{action}/prepare-userop", json={**key_params(key), **body}
        )
        assert prepared.status_code == 200, prepared.text
        op = UserOperation.from_rpc(prepared.json()["userOperation"])
        signed = api_chain.passkeys.sign(op, key)
        sent = client.post(
            "/v1/bundler",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_sendUserOperation",
                "params": [signed.to_rpc(), prepared.json()["entryPoint"]],
            },
        ).json()
        assert "result" in sent, sent
        BundlerWorker(services).run_once()
        receipt = client.post(
            "/v1/bundler",
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "eth_getUserOperationReceipt",
                "params": [sent["result"]],
            },
        ).json()["result"]
        assert receipt["success"] is True
        return receipt

    # Before it is added, the second passkey cannot act for the account.
    refused = client.post(
        "/v1/actions/cancel/prepare-userop",
        json={**key_params(second), "deal_id": deal.deal_id, "account": address},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_a_passkey_of_account"

    run(
        first,
        "add_passkey",
        {"new_qx": "0x" + second.qx.hex(), "new_qy": "0x" + second.qy.hex()},
    )
    assert api_chain.passkeys.is_passkey(address, second.qx, second.qy)
    join = {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address}
    run(second, "join", {**join, "account": address})
    assert api_chain.clients.escrow.order(deal.deal_id, address).quantity == 1

    # What the second device's page shows: the account it acts for, with that account's balance
    # (not its own unused counterfactual account's, nor its empty balance).
    shown = client.get("/v1/passkeys/account", params={**key_params(second), "account": address})
    assert shown.status_code == 200, shown.text
    assert shown.json()["address"] == address and shown.json()["deployed"] is True
    assert shown.json()["balance"] == api_chain.clients.token.balance_of(address) > 0
    assert shown.json()["signer"] == "0x" + second.signer(api_chain.passkeys.verifier).hex()
    stranger_key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    refused = client.get(
        "/v1/passkeys/account", params={**key_params(stranger_key), "account": address}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_a_passkey_of_account"

    # It signs for the account through ERC-1271 too (sign-in, uploads, pickup codes): found in
    # review, the sign-message and sign-typed-data challenges ignored ``account`` and were those
    # of the second passkey's own (empty, counterfactual) account, which the account refuses.
    from eth_abi import encode as abi_encode
    from eth_utils import function_signature_to_4byte_selector

    from chain.aa.erc7739 import personal_sign_hash

    def valid_for_account(digest: bytes, signature: bytes) -> bool:
        call = function_signature_to_4byte_selector("isValidSignature(bytes32,bytes)")
        call += abi_encode(["bytes32", "bytes"], [digest, signature])
        return api_chain.w3.eth.call({"to": address, "data": call})[:4] == bytes.fromhex("1626ba7e")

    message = "second device, same account"
    challenge = client.post(
        "/v1/passkeys/sign-message",
        json={**key_params(second), "message": message, "account": address},
    )
    assert challenge.status_code == 200, challenge.text
    assert challenge.json()["account"] == address
    assertion = second.assertion(bytes.fromhex(challenge.json()["challenge"][2:]))
    signature = account_signature([(bytes.fromhex(challenge.json()["signer"][2:]), assertion)])
    assert valid_for_account(personal_sign_hash(message), signature)

    typed = {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}],
            "Note": [{"name": "text", "type": "string"}],
        },
        "primaryType": "Note",
        "domain": {"name": "tuanchain test"},
        "message": {"text": message},
    }
    answer = client.post(
        "/v1/passkeys/sign-typed-data",
        json={**key_params(second), "typed_data": typed, "account": address},
    ).json()
    assert answer["account"] == address
    assertion = second.assertion(bytes.fromhex(answer["challenge"][2:]))
    inner = account_signature([(bytes.fromhex(answer["signer"][2:]), assertion)])
    assert valid_for_account(typed_data_digest(typed), inner + bytes.fromhex(answer["suffix"][2:]))

    # A passkey that is not one of the account's is refused, named, as for operations.
    stranger = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    for path, field in (
        ("sign-message", {"message": message}),
        ("sign-typed-data", {"typed_data": typed}),
    ):
        refused = client.post(
            f"/v1/passkeys/{path}", json={**key_params(stranger), **field, "account": address}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "not_a_passkey_of_account"


def test_a_passkey_account_signs_typed_data_an_application_checks_with_erc1271(
    client: TestClient, api_chain: Chain
) -> None:
    """The pickup code's path for passkey accounts: the service gives the ERC-7739 challenge
    and suffix, the passkey signs, the account's isValidSignature accepts the app's digest."""
    from eth_abi import encode as abi_encode
    from eth_utils import function_signature_to_4byte_selector

    from chain.accounts import dev_account
    from chain.eip712 import typed_data_digest

    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    api_chain.passkeys.factory.create_account(key.qx, key.qy, signer=dev_account(0))
    address = api_chain.passkeys.account_address(key)
    typed = {
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
                {"name": "quantity", "type": "uint256"},
            ],
        },
        "primaryType": "Handover",
        "domain": {
            "name": "GroupBuyEscrow",
            "version": "1",
            "chainId": api_chain.chain_id,
            "verifyingContract": api_chain.clients.escrow.address,
        },
        "message": {"dealId": 7, "buyer": address, "quantity": 2},
    }
    answer = client.post(
        "/v1/passkeys/sign-typed-data", json={**key_params(key), "typed_data": typed}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["account"] == address
    inner = account_signature(
        [(bytes.fromhex(body["signer"][2:]), key.assertion(bytes.fromhex(body["challenge"][2:])))]
    )
    signature = inner + bytes.fromhex(body["suffix"][2:])
    call = function_signature_to_4byte_selector("isValidSignature(bytes32,bytes)") + abi_encode(
        ["bytes32", "bytes"], [typed_data_digest(typed), signature]
    )
    assert api_chain.w3.eth.call({"to": address, "data": call})[:4] == bytes.fromhex("1626ba7e")
    bad = client.post(
        "/v1/passkeys/sign-typed-data", json={**key_params(key), "typed_data": {"x": 1}}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_typed_data"


def test_a_passkey_account_signs_in_with_ethereum_through_erc1271(
    services: Services, api_chain: Chain
) -> None:
    """SIWE for a contract account: the passkey signs the account's ERC-7739 PersonalSign
    challenge of the EIP-4361 message; the session is the account's (then: the private store)."""
    from api.app import create_app
    from chain.accounts import dev_account

    origin = "http://testserver"
    site = Services(
        settings=services.settings.model_copy(update={"public_url": origin}),
        store=services.store,
        engine=services.engine,
        _chain=services.chain,
    )
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    api_chain.passkeys.factory.create_account(key.qx, key.qy, signer=dev_account(0))
    address = api_chain.passkeys.account_address(key)
    with TestClient(create_app(site), base_url=origin) as client:

        def signed_by(signing_key: SoftwarePasskey) -> Any:
            text = client.post("/v1/auth/nonce", json={"address": address}).json()["message"]
            challenge = client.post(
                "/v1/passkeys/sign-message", json={**key_params(key), "message": text}
            ).json()
            assertion = signing_key.assertion(bytes.fromhex(challenge["challenge"][2:]))
            signature = account_signature([(bytes.fromhex(challenge["signer"][2:]), assertion)])
            return client.post(
                "/v1/auth/verify", json={"message": text, "signature": "0x" + signature.hex()}
            )

        forged = signed_by(SoftwarePasskey.from_secret(secrets.token_bytes(32)))
        assert forged.status_code == 401 and forged.json()["details"]["reason"] == "invalid_message"
        opened = signed_by(key)
        assert opened.status_code == 200, opened.text
        assert opened.json()["address"] == address


def test_a_leaders_action_from_a_passkey_is_refused_in_words_that_name_the_way_on(
    client: TestClient,
) -> None:
    """The paymaster sponsors consumers' actions only: a leader's action from a passkey account is
    ``needs_wallet`` (words: use a wallet), not an action the service has never heard of."""
    key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
    for action in ("confirm_receipt", "apply_as_leader", "handover", "book_cash_order"):
        refused = client.post(
            f"/v1/actions/{action}/prepare-userop", json={**key_params(key), "deal_id": 1}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "needs_wallet", action
    unknown = client.post("/v1/actions/teleport/prepare-userop", json=key_params(key))
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_action"
