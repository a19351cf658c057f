"""Gas of a join from a passkey account (ERC-4337), beside the gasless join it replaces for
consumers without a wallet: prints ONE JSON object measured in a single run.

Run: ``.venv/bin/python scripts/bench_passkey.py``. It starts its own anvil (osaka, free port),
deploys with :func:`chain.deploy.deploy_all` (EntryPoint v0.8 at its canonical address, the
passkey-account factory, the consumer paymaster) into a temporary deployments directory and
sends every measured transaction for real. Kept apart from ``bench_gas.py``, which another change
is rewriting; both measure ``join_gasless`` the same way.

Measured (the JSON ``notes`` repeat this), each one a buyer's first order in an open deal whose
leader already has an order, paying exactly the order's amount:

* ``join`` — the buyer (an EOA with ETH) calls ``join`` itself after approving (context only).
* ``join_gasless`` — the baseline: the relayer's ``forwarder.execute`` of a signed
  ``joinWithPermit`` request with a permit for exactly the amount (an EOA without ETH).
* ``join_passkey`` — a deployed passkey account's approve + join in one ERC-7821 batch, signed
  with a WebAuthn assertion (software P-256 passkey) and sponsored by the paymaster, alone in a
  ``handleOps`` sent by the bundler: the transaction's ``gasUsed`` (21,000 intrinsic + calldata
  + validation, P-256 precompile, execution, postOp, EntryPoint bookkeeping − refunds).
  ``join_passkey_charged`` is the UserOperationEvent's ``actualGasUsed``: what the EntryPoint
  charges the paymaster, its ``preVerificationGas`` (calldata and overhead) being the reference
  bundler's estimate rather than a measurement.
* ``join_passkey_with_account_creation`` — the same for a consumer's very first operation, which
  also deploys the account (an ERC-1167 clone) and stores its first passkey.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chain.aa.clients import PasskeyAccounts
from chain.aa.userop import UserOperation
from chain.aa.webauthn import SoftwarePasskey
from chain.accounts import dev_account
from chain.anvil import Anvil
from chain.clients import Clients, DealParams, PriceTier
from chain.deploy import deploy_all
from chain.eip712 import sign_typed_data
from chain.tx import TxSender

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()

logger = logging.getLogger("bench_passkey")

UNIT = 10**6
TOP_PRICE = 10 * UNIT
QUANTITY = 10
AMOUNT = QUANTITY * TOP_PRICE
CID = bytes.fromhex("1220") + keccak(b"tuanchain bench document")
GTIN = "09506000134352"
CALL_GAS_MARGIN_PERCENT = 20  # above the estimate, below the EntryPoint's 40,000-gas penalty floor

NOTES = {
    "join": "an EOA buyer's own join (it pays gas); context only",
    "join_gasless": "baseline: relayer's forwarder.execute of a signed joinWithPermit, exact permit",
    "join_passkey": "handleOps gasUsed of one sponsored approve+join batch from a deployed passkey"
    " account (WebAuthn signature checked with the P-256 precompile, ~6,900 gas per check)",
    "join_passkey_charged": "the UserOperationEvent's actualGasUsed for that operation (its"
    " preVerificationGas is the reference bundler's calldata model, not a measurement)",
    "join_passkey_with_account_creation": "the same for the consumer's first operation, which"
    " also clones the account and stores its passkey",
}


class BenchError(RuntimeError):
    """A step did not do what it should (a reverted transaction, a wrong state)."""


def fresh_account(label: str) -> Any:
    return Account.from_key(keccak(f"tuanchain-bench/{label}".encode()))


def run() -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tuanchain-bench-") as tmp, Anvil(accounts=10) as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 120}))
        sender = TxSender(w3, timeout=120)
        platform, relayer = dev_account(0), dev_account(1)
        supplier, leader, first_buyer = dev_account(3), dev_account(4), dev_account(5)
        deployment = deploy_all(w3, sender, platform=platform, deployments_dir=Path(tmp))
        clients = Clients.connect(w3, deployment, sender)
        accounts = PasskeyAccounts.connect(w3, deployment, sender)
        registry, escrow, token = clients.registry, clients.escrow, clients.token

        registry.apply_as_supplier(CID, CREDENTIALS_DIGEST, signer=supplier)
        registry.approve_supplier(supplier.address, signer=platform)
        registry.assign_company_prefix(GTIN[1:8], supplier.address, signer=platform)
        registry.apply_as_leader(CID, CREDENTIALS_DIGEST, signer=leader)
        registry.approve_leader(leader.address, signer=platform)
        batch_id = registry.register_batch(GTIN, "LOT-PASSKEY", CID, signer=supplier)
        now = int(w3.eth.get_block("latest")["timestamp"])
        deal_id = escrow.create_deal(
            DealParams(
                supplier=supplier.address,
                token=token.address,
                price_tiers=[PriceTier(0, TOP_PRICE), PriceTier(100, 8 * UNIT)],
                min_total_quantity=QUANTITY,
                max_total_quantity=100_000,
                per_buyer_limit=QUANTITY,
                join_deadline=now + 3_600,
                delivery_deadline=now + 7_200,
                dispute_window=86_400,
                answer_window=86_400,
                commission_bps=1_000,
                platform_fee_bps=200,
                batch_ids=[batch_id],
            ),
            signer=platform,
        )
        # The leader's group is open before any measured join (as in bench_gas's "join").
        token.mint(first_buyer.address, AMOUNT, signer=platform)
        token.approve(escrow.address, AMOUNT, signer=first_buyer)
        escrow.join(deal_id, QUANTITY, leader.address, signer=first_buyer)

        out: dict[str, Any] = {}
        buyer = dev_account(6)
        token.mint(buyer.address, AMOUNT, signer=platform)
        token.approve(escrow.address, AMOUNT, signer=buyer)
        out["join"] = int(escrow.join(deal_id, QUANTITY, leader.address, signer=buyer)["gasUsed"])
        out["join_gasless"] = join_gasless(clients, deal_id, leader.address, relayer, platform)

        # A passkey account deployed beforehand (not measured), then its first join.
        key = SoftwarePasskey.from_secret(keccak(b"tuanchain-bench/passkey"))
        account = accounts.account_address(key)
        accounts.factory.create_account(key.qx, key.qy, signer=platform)
        token.mint(account, AMOUNT, signer=platform)
        calls = accounts.approve_and_join(deal_id, QUANTITY, leader.address, AMOUNT)
        probe = accounts.user_operation(account=account, calls=calls)
        call_gas = accounts.estimate_call_gas(account, probe.call_data)
        call_gas = call_gas * (100 + CALL_GAS_MARGIN_PERCENT) // 100
        op = accounts.sign(
            accounts.user_operation(account=account, calls=calls, call_gas_limit=call_gas), key
        )
        tx_gas, charged = submit(accounts, op, relayer)
        if escrow.order(deal_id, account).quantity != QUANTITY:
            raise BenchError("the passkey join did not record the order")
        out["join_passkey"] = tx_gas
        out["join_passkey_charged"] = charged

        # A consumer's very first operation: the account is created in it.
        newcomer = SoftwarePasskey.from_secret(keccak(b"tuanchain-bench/newcomer"))
        new_account = accounts.account_address(newcomer)
        token.mint(new_account, AMOUNT, signer=platform)
        first = accounts.user_operation(
            account=new_account,
            calls=accounts.approve_and_join(deal_id, QUANTITY, leader.address, AMOUNT),
            create_with=newcomer,
            call_gas_limit=call_gas,
        )
        tx_gas, charged = submit(accounts, accounts.sign(first, newcomer), relayer)
        if escrow.order(deal_id, new_account).quantity != QUANTITY:
            raise BenchError("the first passkey join did not record the order")
        out["join_passkey_with_account_creation"] = tx_gas
        out["join_passkey_with_account_creation_charged"] = charged
        for name in (account, new_account):
            if w3.eth.get_balance(name) != 0:
                raise BenchError("a passkey account paid ETH")

    out["ratios"] = {
        "join_passkey_over_join_gasless": round(out["join_passkey"] / out["join_gasless"], 3),
        "join_passkey_over_join": round(out["join_passkey"] / out["join"], 3),
    }
    out["notes"] = NOTES
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def join_gasless(clients: Clients, deal_id: int, leader: str, relayer: Any, platform: Any) -> int:
    """The consumer without ETH: forward request + exact permit, relayed (bench_gas's join_gasless)."""
    escrow, token = clients.escrow, clients.token
    consumer = fresh_account("gasless-consumer")
    token.mint(consumer.address, AMOUNT, signer=platform)
    deadline = int(clients.escrow.w3.eth.get_block("latest")["timestamp"]) + 600
    permit = token.sign_permit(consumer, spender=escrow.address, value=AMOUNT, deadline=deadline)
    data = escrow.calldata(
        "joinWithPermit", deal_id, QUANTITY, leader, deadline, permit.v, permit.r, permit.s
    )
    typed = clients.forwarder.prepare(
        sender=consumer.address, target=escrow.address, data=data, gas=300_000
    )
    receipt = clients.forwarder.execute(
        typed, sign_typed_data(consumer, typed).signature, relayer=relayer
    )
    if escrow.order(deal_id, consumer.address).quantity != QUANTITY:
        raise BenchError("the gasless join did not record the order")
    return int(receipt["gasUsed"])


def submit(accounts: PasskeyAccounts, op: UserOperation, bundler: Any) -> tuple[int, int]:
    """(handleOps gasUsed, UserOperationEvent actualGasUsed) of ``op`` bundled alone."""
    result = accounts.handle_ops([op], bundler=bundler)
    (event,) = result.events
    if not event.success:
        raise BenchError("the user operation's batch reverted")
    return result.gas_used, event.actual_gas_used


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run()
    except Exception as exc:  # noqa: BLE001 (the script's edge: any failure is one line, exit 1)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"bench_passkey: {type(exc).__name__}: {first_line}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
