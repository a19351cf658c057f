"""Unsigned user operations for a consumer's passkey account, built by the service for a page.

A page holding a passkey knows only its public key (qx, qy). ``account`` tells it the account's
counterfactual address (``factory.getAddress``), whether it is deployed, and its stablecoin
balance. ``prepare`` builds the operation of a consumer action — the ERC-7821 batch, the
account's creation on its first operation, the consumer paymaster, the nonce after the account's
operations pending in the outbox, and ``callGasLimit`` from the calls simulated as the EntryPoint
makes them (a call that would revert is refused here, 409 with the contract's error) — and returns
it with its ``userOpHash``: the WebAuthn challenge the passkey signs. The page then encodes the
signature and sends the operation to ``/v1/bundler`` itself, as any ERC-4337 client would; nothing
here is trusted later (the bundler checks the operation from scratch).

Actions — the consumer calls the paymaster sponsors: ``join`` (approve exactly quantity × the
deal's top price, then join), ``cancel``, ``withdraw`` (alias ``refund``) and ``file_claim`` (its
evidence document stored first), and ``add_passkey`` (``new_qx``, ``new_qy``: a second device's
passkey; that passkey then acts for the account by naming it in ``account``).
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.bundler.accept import pending_of
from api.bundler.actions import PASSKEY_ACTIONS
from api.errors import ApiError
from api.private.store import evidence_stored
from api.relayer.describe import ACTION_OF_FUNCTION
from api.relayer.prepare import cid_bytes
from chain.aa.bundling import ExecutionReverted, checksum
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.erc7739 import (
    personal_sign_digest,
    personal_sign_hash,
    typed_data_sign_digest,
    wrap_signature,
)
from chain.aa.userop import Call, pre_verification_gas
from chain.context import Chain
from traceability.ipfs import DocumentStore

CALL_GAS_MARGIN_PERCENT = 20


def parse_coordinate(value: Any, name: str) -> bytes:
    try:
        raw = bytes(HexBytes(str(value)))
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ApiError(400, "invalid_public_key", f"{name} must be 32 bytes of 0x hex", field=name)
    return raw


def _check_uint256(value: int, name: str) -> None:
    # The calls' ABI encoding takes uint256 only: a negative or wider number is the caller's
    # mistake (400), not an eth_abi error deep in the encoder (a 500).
    if not 0 <= value < 1 << 256:
        raise ApiError(400, "invalid_request", f"{name} must be a uint256, got {value}")


def account(chain: Chain, qx: bytes, qy: bytes) -> dict[str, Any]:
    """The passkey's account: address (deployed or not), deployment and stablecoin balance."""
    accounts = chain.passkeys
    address = accounts.factory.get_address(qx, qy)
    return {
        "address": address,
        "deployed": accounts.is_deployed(address),
        "balance": chain.clients.token.balance_of(address),
        "token": chain.clients.token.address,
        "entryPoint": ENTRYPOINT_V08,
        "chainId": chain.chain_id,
        "signer": "0x" + (bytes(HexBytes(accounts.verifier)) + qx + qy).hex(),
    }


def _calls(
    chain: Chain,
    action: str,
    body: dict[str, Any],
    *,
    account_address: str,
    store: DocumentStore | None,
    engine: Engine | None,
) -> tuple[list[Call], dict[str, Any]]:
    escrow = chain.clients.escrow
    if action == "add_passkey":
        new_qx = parse_coordinate(body.get("new_qx"), "new_qx")
        new_qy = parse_coordinate(body.get("new_qy"), "new_qy")
        call = chain.passkeys.add_passkey_call(account_address, new_qx, new_qy)
        return [call], {"new_qx": "0x" + new_qx.hex(), "new_qy": "0x" + new_qy.hex()}
    try:
        deal_id = int(body["deal_id"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "invalid_request", "deal_id (an integer) is required") from None
    _check_uint256(deal_id, "deal_id")
    if action == "join":
        try:
            quantity = int(body["quantity"])
            leader = checksum(str(body["leader"]))
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                400, "invalid_request", "quantity (integer) and leader (address) are required"
            ) from None
        if quantity <= 0:
            raise ApiError(400, "invalid_request", "quantity must be positive")
        _check_uint256(quantity, "quantity")
        deal = escrow.deal_params(deal_id)  # DealNotFound: 404
        amount = quantity * max(t.unit_price for t in deal.price_tiers)
        _check_uint256(amount, "quantity × price")
        calls = chain.passkeys.approve_and_join(deal_id, quantity, leader, amount)
        return calls, {
            "deal_id": deal_id,
            "quantity": quantity,
            "leader": leader,
            "amount": amount,
        }
    if action == "cancel":
        return [Call(escrow.address, escrow.calldata("cancel", deal_id))], {"deal_id": deal_id}
    if action in ("withdraw", "refund"):
        owed = escrow.owed(deal_id, account_address)
        data = escrow.calldata("withdraw", deal_id)
        return [Call(escrow.address, data)], {"deal_id": deal_id, "amount": owed}
    # file_claim: the evidence document must be stored already (as for the relayer's prepare).
    try:
        quantity = int(body["quantity"])
        evidence_cid = str(body["evidence_cid"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(
            400, "invalid_request", "quantity (integer) and evidence_cid are required"
        ) from None
    _check_uint256(quantity, "quantity")
    if not evidence_stored(store, engine, cid=evidence_cid, owner=account_address, deal_id=deal_id):
        raise ApiError(
            400, "evidence_not_stored", f"upload the evidence first: {evidence_cid} is unknown"
        )
    data = escrow.calldata("fileClaim", deal_id, quantity, cid_bytes(evidence_cid))
    return [Call(escrow.address, data)], {
        "deal_id": deal_id,
        "quantity": quantity,
        "evidence_cid": evidence_cid,
    }


def prepare(
    session: Session,
    chain: Chain,
    *,
    action: str,
    qx: bytes,
    qy: bytes,
    body: dict[str, Any],
    store: DocumentStore | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """The unsigned operation of ``action`` for the passkey (qx, qy), and its hash (``engine``:
    the private document store's database, where a claim's evidence is kept)."""
    if action not in PASSKEY_ACTIONS and action in set(ACTION_OF_FUNCTION.values()):
        # A leader's, a supplier's or the platform's action: the paymaster pays for none of
        # them, and the forwarder takes only ECDSA signatures (not a passkey account's).
        raise ApiError(
            403,
            "needs_wallet",
            f"a passkey account cannot {action}: sign it with a wallet",
            actions=list(PASSKEY_ACTIONS),
        )
    if action not in PASSKEY_ACTIONS:
        raise ApiError(
            404, "unknown_action", f"no passkey action {action!r}", actions=list(PASSKEY_ACTIONS)
        )
    accounts = chain.passkeys
    info = acting_account(chain, qx, qy, body.get("account"))
    address = info["address"]
    calls, details = _calls(
        chain, action, body, account_address=address, store=store, engine=engine
    )
    pending = pending_of(session, address, 0)
    on_chain = accounts.nonce(address)
    nonce = max([on_chain, *(int(row.nonce) + 1 for row in pending)])
    # Created by its first operation (one already pending creates it first).
    create = not info["deployed"] and not pending
    op = accounts.user_operation(
        account=address, calls=calls, create_with=(qx, qy) if create else None, nonce=nonce
    )
    if not pending:
        try:
            call_gas = chain.bundling.simulate_execution(op)
        except ExecutionReverted as exc:
            revert = exc.revert
            raise ApiError(
                409,
                "would_revert",
                f"the action would fail: {exc}",
                error=revert.name or type(revert).__name__,
                args={k: str(v) for k, v in revert.args.items()},
            ) from None
        op = op.replace(call_gas_limit=call_gas * (100 + CALL_GAS_MARGIN_PERCENT) // 100)
        op = op.replace(pre_verification_gas=pre_verification_gas(op))
    return {
        "action": "withdraw" if action == "refund" else action,
        "account": address,
        "deployed": info["deployed"],
        "entryPoint": ENTRYPOINT_V08,
        "chainId": chain.chain_id,
        "userOperation": op.to_rpc(),
        "userOpHash": "0x" + accounts.user_op_hash(op).hex(),
        "signer": info["signer"],
        "details": details,
    }


def acting_account(chain: Chain, qx: bytes, qy: bytes, named: Any = None) -> dict[str, Any]:
    """The account the passkey (qx, qy) acts for, as :func:`account` tells it: its own
    counterfactual account, or ``named`` (a request's ``account``) — a passkey added later, on
    another device, acts for the account it was added to: 403 ``not_a_passkey_of_account``
    unless it is one of that account's passkeys on chain."""
    info = account(chain, qx, qy)
    if named in (None, "", info["address"]):
        return info
    try:
        address = checksum(str(named))
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_address", "account must be an address") from None
    if not chain.passkeys.is_passkey(address, qx, qy):
        raise ApiError(
            403,
            "not_a_passkey_of_account",
            f"this passkey is not one of {address}'s passkeys",
            account=address,
        )
    # The named account's own balance, not the passkey's unused counterfactual one's.
    return {
        **info,
        "address": address,
        "deployed": True,
        "balance": chain.clients.token.balance_of(address),
    }


def message_challenge(
    chain: Chain, *, qx: bytes, qy: bytes, message: str, named: Any = None
) -> dict[str, Any]:
    """What the passkey signs so that its account signs ``message`` (``personal_sign``, checked
    with ERC-1271 ``isValidSignature``): the ERC-7739 ``PersonalSign`` digest under the account's
    domain (``named``: the account a second device's passkey acts for, :func:`acting_account`).
    The signature to hand over is the plain account signature over that challenge."""
    info = acting_account(chain, qx, qy, named)
    message_hash = personal_sign_hash(message)
    challenge = personal_sign_digest(message_hash, account=info["address"], chain_id=chain.chain_id)
    return {
        "account": info["address"],
        "messageHash": "0x" + message_hash.hex(),
        "challenge": "0x" + challenge.hex(),
        "signer": info["signer"],
    }


def typed_data_challenge(
    chain: Chain, *, qx: bytes, qy: bytes, typed_data: dict[str, Any], named: Any = None
) -> dict[str, Any]:
    """What the passkey signs so that its account signs ``typed_data`` for an application that
    checks ERC-1271 (the escrow's ``Handover`` pickup code): the ERC-7739 ``TypedDataSign``
    digest under the account's domain (``named``: as :func:`message_challenge`). The signature
    to hand over is the account signature over that challenge followed by ``suffix`` (the app's
    domain separator, contents hash and type)."""
    info = acting_account(chain, qx, qy, named)
    try:
        challenge = typed_data_sign_digest(
            typed_data, account=info["address"], chain_id=chain.chain_id
        )
        suffix = wrap_signature(b"", typed_data)
    except Exception as exc:  # noqa: BLE001 - eth-account raises many kinds for malformed input
        raise ApiError(400, "invalid_typed_data", f"not EIP-712 typed data: {exc}") from None
    return {
        "account": info["address"],
        "challenge": "0x" + challenge.hex(),
        "suffix": "0x" + suffix.hex(),
        "signer": info["signer"],
    }
