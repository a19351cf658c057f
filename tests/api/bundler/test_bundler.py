"""``POST /v1/bundler`` on anvil: user operations signed by a software passkey (WebAuthn format,
``cryptography``), accepted into the outbox, bundled by the worker with ``handleOps``.

A consumer's first operation creates the account counterfactually and joins (approve + join in
one ERC-7821 batch), paid by the platform's paymaster; the account holds no ETH. Refusals carry
the ERC-7769 codes (bad signature, high s, replayed nonce, a call the paymaster does not sponsor,
calls that would revert). A restart between storing the signed bundle and broadcasting it sends
the same transaction. A failed deal's refund is pushed to the contract account.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.binding import CHAIN_CHANGED, fail_requests
from api.bundler import accept as accept_module
from api.bundler.models import OpStatus, UserOperationRow
from api.bundler.worker import BundlerWorker
from api.db import session_factory
from api.services import Services
from chain.aa.bundling import Bundling
from chain.aa.clients import PasskeyAccounts
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.userop import Call, UserOperation, pre_verification_gas
from chain.aa.webauthn import P256_N, SoftwarePasskey
from chain.context import Chain

from ..relay.conftest import TOP_PRICE, DealSetup, advance_time, make_deal
from .userops import error, funded_account, new_passkey, result


@pytest.fixture(scope="module")
def deal(api_chain: Chain) -> DealSetup:
    return make_deal(api_chain, min_quantity=1)


@pytest.fixture
def bundler(services: Services) -> BundlerWorker:
    return BundlerWorker(services)


def join_op(
    accounts: PasskeyAccounts,
    client: TestClient,
    key: SoftwarePasskey,
    deal: DealSetup,
    *,
    quantity: int = 1,
    create: bool = True,
) -> UserOperation:
    """An unsigned approve + join from ``key``'s account, its call gas from the bundler."""
    account = accounts.account_address(key)
    op = accounts.user_operation(
        account=account,
        calls=accounts.approve_and_join(
            deal.deal_id, quantity, deal.leader.address, quantity * TOP_PRICE
        ),
        create_with=key if create else None,
    )
    estimate = result(client, "eth_estimateUserOperationGas", op.to_rpc(), ENTRYPOINT_V08)
    return op.replace(call_gas_limit=int(estimate["callGasLimit"], 16))


def test_supported_entry_points_and_chain_id(client: TestClient, api_chain: Chain) -> None:
    assert result(client, "eth_supportedEntryPoints") == [ENTRYPOINT_V08]
    assert int(result(client, "eth_chainId"), 16) == api_chain.chain_id


def test_a_first_operation_creates_the_account_and_joins_paid_by_the_paymaster(
    client: TestClient, api_chain: Chain, deal: DealSetup, bundler: BundlerWorker
) -> None:
    accounts = api_chain.passkeys
    key = new_passkey()
    account = funded_account(api_chain, key)
    assert not accounts.is_deployed(account)
    op = accounts.sign(join_op(accounts, client, key, deal), key)
    op_hash = result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08)
    assert op_hash == "0x" + accounts.user_op_hash(op).hex()
    # Stored before it is bundled: visible, no receipt yet; the same operation again is a retry.
    assert result(client, "eth_getUserOperationReceipt", op_hash) is None
    pending = result(client, "eth_getUserOperationByHash", op_hash)
    assert pending["userOperation"]["sender"] == account and pending["transactionHash"] is None
    assert result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08) == op_hash

    bundler.run_once()

    receipt = result(client, "eth_getUserOperationReceipt", op_hash)
    assert receipt["success"] is True and receipt["sender"] == account
    assert receipt["paymaster"] == accounts.paymaster.address
    assert int(receipt["actualGasUsed"], 16) > 0
    assert receipt["receipt"]["transactionHash"] == receipt["receipt"]["transactionHash"].lower()
    assert receipt["receipt"]["from"].lower() == api_chain.relayer.address.lower()
    found = result(client, "eth_getUserOperationByHash", op_hash)
    assert found["transactionHash"] == receipt["receipt"]["transactionHash"]
    assert int(found["blockNumber"], 16) == int(receipt["receipt"]["blockNumber"], 16)
    assert accounts.is_deployed(account)
    assert api_chain.clients.escrow.order(deal.deal_id, account).quantity == 1
    assert api_chain.w3.eth.get_balance(account) == 0  # paid no ETH
    status = client.get(f"/v1/bundler/ops/{op_hash}").json()
    assert status["status"] == "mined" and status["success"] is True

    # Replayed: the mined operation's hash again (idempotent), and a new operation on its nonce
    # is refused by the EntryPoint's nonce rule.
    assert result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08) == op_hash
    again = accounts.sign(
        join_op(accounts, client, key, deal, create=False).replace(nonce=op.nonce), key
    )
    refused = error(client, "eth_sendUserOperation", again.to_rpc(), ENTRYPOINT_V08)
    assert refused["code"] == -32500 and "AA25" in refused["message"]

    # The next operation (deployed account, nonce 1) goes through too.
    second = accounts.sign(join_op(accounts, client, key, deal, create=False), key)
    assert second.nonce == 1
    second_hash = result(client, "eth_sendUserOperation", second.to_rpc(), ENTRYPOINT_V08)
    bundler.run_once()
    assert result(client, "eth_getUserOperationReceipt", second_hash)["success"] is True
    assert api_chain.clients.escrow.order(deal.deal_id, account).quantity == 2


def test_the_next_operation_is_accepted_while_an_executed_one_awaits_settling(
    client: TestClient, api_chain: Chain, deal: DealSetup, bundler: BundlerWorker
) -> None:
    # Found by review: accept simulated every pending operation of the sender before the new
    # one, including one already executed on chain (bundled by someone else, or mined while the
    # worker has not settled it yet): AA25 on it, and the next operation was refused (-32500
    # "a pending operation no longer validates") though nothing was wrong.
    accounts = api_chain.passkeys
    key = new_passkey()
    funded_account(api_chain, key)
    first = accounts.sign(join_op(accounts, client, key, deal), key)
    first_hash = result(client, "eth_sendUserOperation", first.to_rpc(), ENTRYPOINT_V08)
    accounts.submit(first, bundler=api_chain.platform)  # another bundler took it first
    second = accounts.sign(join_op(accounts, client, key, deal, create=False), key)
    assert second.nonce == first.nonce + 1
    second_hash = result(client, "eth_sendUserOperation", second.to_rpc(), ENTRYPOINT_V08)
    bundler.run_once()
    assert result(client, "eth_getUserOperationByHash", first_hash)["status"] == OpStatus.MINED
    assert result(client, "eth_getUserOperationReceipt", second_hash)["success"] is True


def test_an_operation_another_bundler_mines_while_it_is_being_accepted_is_found_mined(
    client: TestClient,
    api_chain: Chain,
    deal: DealSetup,
    bundler: BundlerWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by review: the row's accepted_block (where the worker looks for the operation's
    # event once its nonce is used) was read after the checks; an operation mined by another
    # bundler during them, a block or more before, was never found and was failed nonce_used.
    accounts = api_chain.passkeys
    key = new_passkey()
    funded_account(api_chain, key)
    op = accounts.sign(join_op(accounts, client, key, deal), key)
    simulate = Bundling.simulate_execution

    def mined_meanwhile(self: Bundling, checked: UserOperation) -> int:
        gas = simulate(self, checked)
        accounts.submit(checked, bundler=api_chain.platform)
        api_chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        return gas

    monkeypatch.setattr(Bundling, "simulate_execution", mined_meanwhile)
    op_hash = result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08)
    monkeypatch.undo()
    bundler.run_once()
    found = result(client, "eth_getUserOperationByHash", op_hash)
    assert found["status"] == OpStatus.MINED, found
    assert result(client, "eth_getUserOperationReceipt", op_hash)["success"] is True


def test_the_same_operation_sent_twice_at_once_answers_its_hash_both_times(
    client: TestClient,
    api_chain: Chain,
    services: Services,
    deal: DealSetup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by review: a client retry racing its first send (two API processes) lost the unique
    # index on (sender, nonce) and was told -32602 "nonce taken by another operation" although
    # the operation taking it was its own: accepted, its hash withheld.
    accounts = api_chain.passkeys
    key = new_passkey()
    funded_account(api_chain, key)
    op = accounts.sign(join_op(accounts, client, key, deal), key)
    check = accept_module.check

    def first_send_wins_meanwhile(chain: Chain, checked: UserOperation, pending: Any) -> None:
        check(chain, checked, pending)
        monkeypatch.setattr(accept_module, "check", check)
        with session_factory(services.engine)() as other:  # the other API process
            accept_module.accept(other, chain, checked.to_rpc(), ENTRYPOINT_V08)

    monkeypatch.setattr(accept_module, "check", first_send_wins_meanwhile)
    op_hash = result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08)
    assert op_hash == "0x" + accounts.user_op_hash(op).hex()


def test_an_operation_whose_fee_fell_below_the_base_fee_waits_instead_of_costing_the_bundler(
    client: TestClient, api_chain: Chain, services: Services, deal: DealSetup
) -> None:
    # Found by review: the fee was checked against the base fee at accept only. Bundled after
    # the base fee rose above the operation's maxFeePerGas, the EntryPoint repaid the bundler
    # at maxFeePerGas while the bundle paid the base fee: the difference, the relayer's.
    now = [1000.0]
    worker = BundlerWorker(services, clock=lambda: now[0])
    worker.run_once()  # other tests' leftovers settled: only this one is pending
    accounts = api_chain.passkeys
    key = new_passkey()
    account = funded_account(api_chain, key)
    base = api_chain.bundling.base_fee()
    op = join_op(accounts, client, key, deal).replace(
        max_fee_per_gas=base, max_priority_fee_per_gas=0
    )
    op_hash = result(
        client, "eth_sendUserOperation", accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08
    )

    def next_base_fee(value: int) -> None:
        make_request = api_chain.w3.provider.make_request
        make_request("anvil_setNextBlockBaseFeePerGas", [hex(value)])  # type: ignore[arg-type]
        make_request("evm_mine", [])  # type: ignore[arg-type]

    next_base_fee(base * 10)
    try:
        first_block = api_chain.w3.eth.block_number + 1
        worker.run_once()
        assert not _bundles_carrying(api_chain, account, first_block)
        assert result(client, "eth_getUserOperationByHash", op_hash)["status"] == "queued"
    finally:
        next_base_fee(base)
    now[0] += 3600
    worker.run_once()
    assert result(client, "eth_getUserOperationReceipt", op_hash)["success"] is True


def test_a_bad_signature_is_refused_with_32507(
    client: TestClient, api_chain: Chain, deal: DealSetup
) -> None:
    accounts = api_chain.passkeys
    key, stranger = new_passkey(), new_passkey()
    funded_account(api_chain, key)
    op = join_op(accounts, client, key, deal)
    # Signed by another passkey, presented as the account's own passkey.
    forged = accounts.with_assertion(op, key, stranger.assertion(accounts.user_op_hash(op)))
    refused = error(client, "eth_sendUserOperation", forged.to_rpc(), ENTRYPOINT_V08)
    assert refused["code"] == -32507 and refused["data"]["aaCode"] == "AA24"


def test_a_high_s_signature_is_refused_and_its_low_s_twin_accepted(
    client: TestClient, api_chain: Chain, deal: DealSetup, bundler: BundlerWorker
) -> None:
    accounts = api_chain.passkeys
    key = new_passkey()
    funded_account(api_chain, key)
    op = join_op(accounts, client, key, deal)
    assertion = key.assertion(accounts.user_op_hash(op), normalise=True)
    high = dataclasses.replace(assertion, s=P256_N - assertion.s)
    assert high.is_high_s and key.verify(high)
    refused = error(
        client,
        "eth_sendUserOperation",
        accounts.with_assertion(op, key, high).to_rpc(),
        ENTRYPOINT_V08,
    )
    assert refused["code"] == -32507
    low = accounts.with_assertion(op, key, high.normalised())
    op_hash = result(client, "eth_sendUserOperation", low.to_rpc(), ENTRYPOINT_V08)
    bundler.run_once()
    assert result(client, "eth_getUserOperationReceipt", op_hash)["success"] is True


def test_a_pre_verification_gas_below_the_bundlers_cost_is_refused(
    client: TestClient, api_chain: Chain, deal: DealSetup
) -> None:
    # Found by review: accept checked fees and nonce but not preVerificationGas, so an operation
    # signed with 0 was bundled and the bundler key paid its 21,000 + calldata, never repaid.
    accounts = api_chain.passkeys
    key = new_passkey()
    funded_account(api_chain, key)
    op = join_op(accounts, client, key, deal)
    cheap = accounts.sign(op.replace(pre_verification_gas=1000), key)
    refused = error(client, "eth_sendUserOperation", cheap.to_rpc(), ENTRYPOINT_V08)
    assert refused["code"] == -32602
    assert int(refused["data"]["preVerificationGas"], 16) == pre_verification_gas(cheap)
    # The estimate's figure (placeholder signature) covers the real passkey signature.
    estimate = result(client, "eth_estimateUserOperationGas", op.to_rpc(), ENTRYPOINT_V08)
    fair = accounts.sign(
        op.replace(pre_verification_gas=int(estimate["preVerificationGas"], 16)), key
    )
    assert fair.pre_verification_gas >= pre_verification_gas(fair)
    result(client, "eth_sendUserOperation", fair.to_rpc(), ENTRYPOINT_V08)


def test_a_call_the_paymaster_does_not_sponsor_is_refused_with_32501(
    client: TestClient, api_chain: Chain, deal: DealSetup
) -> None:
    accounts = api_chain.passkeys
    key = new_passkey()
    account = funded_account(api_chain, key)
    token = api_chain.clients.token
    transfer = Call(token.address, token.calldata("transfer", deal.leader.address, 1))
    op = accounts.user_operation(account=account, calls=[transfer], create_with=key)
    refused = error(
        client, "eth_sendUserOperation", accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08
    )
    assert refused["code"] == -32501 and refused["data"]["aaCode"] == "AA33"
    assert refused["data"]["revert"]["error"] == "CallNotSponsored"


def test_calls_that_would_revert_are_refused_with_32521(
    client: TestClient, api_chain: Chain, deal: DealSetup
) -> None:
    accounts = api_chain.passkeys
    key = new_passkey()
    account = funded_account(api_chain, key)
    op = accounts.user_operation(
        account=account,
        calls=accounts.approve_and_join(deal.deal_id, 11, deal.leader.address, 11 * TOP_PRICE),
        create_with=key,
    )  # the deal's per-buyer limit is 10
    refused = error(client, "eth_estimateUserOperationGas", op.to_rpc(), ENTRYPOINT_V08)
    assert refused["code"] == -32521
    refused = error(
        client, "eth_sendUserOperation", accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08
    )
    assert refused["code"] == -32521 and refused["data"]["revert"]["error"]


def test_malformed_requests(client: TestClient) -> None:
    assert (
        error(client, "eth_sendUserOperation", {"sender": "0x12"}, ENTRYPOINT_V08)["code"] == -32602
    )
    assert error(client, "eth_sendUserOperation", {}, "0x" + "11" * 20)["code"] == -32602
    assert error(client, "eth_getUserOperationReceipt", "0x12")["code"] == -32602
    assert error(client, "eth_sendTransaction")["code"] == -32601
    assert result(client, "eth_getUserOperationByHash", "0x" + "00" * 32) is None
    assert client.post("/v1/bundler", content=b"{nope").json()["error"]["code"] == -32700
    batch = client.post(
        "/v1/bundler",
        json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_supportedEntryPoints", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "nope", "params": []},
        ],
    ).json()
    assert batch[0]["result"] == [ENTRYPOINT_V08] and batch[1]["error"]["code"] == -32601


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nonce", "-0x1"),
        ("nonce", hex(1 << 256)),
        ("preVerificationGas", "-0x5"),
        ("preVerificationGas", hex(1 << 256)),
    ],
)
def test_a_quantity_outside_uint256_is_invalid_params_not_a_crash(
    client: TestClient, field: str, value: str
) -> None:
    # Found by review: nonce and preVerificationGas were not range-checked, so the userOpHash
    # (eth_abi) raised ValueOutOfBounds through the JSON-RPC dispatcher: a 500.
    op = {
        "sender": "0x" + "12" * 20,
        "nonce": "0x0",
        "callData": "0x",
        "callGasLimit": "0x1",
        "verificationGasLimit": "0x1",
        "preVerificationGas": "0x1",
        "maxFeePerGas": "0x1",
        "maxPriorityFeePerGas": "0x1",
        "signature": "0x",
        field: value,
    }
    for method in ("eth_sendUserOperation", "eth_estimateUserOperationGas"):
        refused = error(client, method, op, ENTRYPOINT_V08)
        assert refused["code"] == -32602 and "256" in refused["message"]


def test_a_restart_between_signing_and_broadcasting_sends_the_same_bundle(
    client: TestClient,
    api_chain: Chain,
    services: Services,
    deal: DealSetup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = api_chain.passkeys
    BundlerWorker(services).run_once()  # nothing else pending: this operation alone is at stake
    key = new_passkey()
    account = funded_account(api_chain, key)
    op = accounts.sign(join_op(accounts, client, key, deal), key)
    op_hash = result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08)

    class Crash(Exception):
        """The process dies right after committing the signed bundle."""

    def crash(*_: Any) -> bool:
        raise Crash

    monkeypatch.setattr(BundlerWorker, "_broadcast", crash)
    BundlerWorker(services).run_once()
    with Session(services.engine) as session:
        row = session.query(UserOperationRow).filter_by(user_op_hash=op_hash).one()
        assert row.status == OpStatus.SENDING and row.raw_tx and row.tx_hash
        stored_hash = row.tx_hash
    assert api_chain.sender.receipt(stored_hash) is None  # never left
    monkeypatch.undo()

    BundlerWorker(services, clock=lambda: 1e12).run_once()  # restarted, backoff elapsed
    receipt = result(client, "eth_getUserOperationReceipt", op_hash)
    assert receipt["receipt"]["transactionHash"] == stored_hash and receipt["success"]
    assert api_chain.clients.escrow.order(deal.deal_id, account).quantity == 1


def test_a_failed_deal_refunds_the_contract_account(
    client: TestClient, api_chain: Chain, bundler: BundlerWorker, chain_snapshot: None
) -> None:
    accounts = api_chain.passkeys
    failing = make_deal(api_chain, min_quantity=50)
    key = new_passkey()
    account = funded_account(api_chain, key)
    before = api_chain.clients.token.balance_of(account)
    op = accounts.sign(join_op(accounts, client, key, failing, quantity=2), key)
    op_hash = result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08)
    bundler.run_once()
    assert result(client, "eth_getUserOperationReceipt", op_hash)["success"] is True
    assert api_chain.clients.token.balance_of(account) == before - 2 * TOP_PRICE
    advance_time(api_chain, failing.join_deadline - int(api_chain.sender.chain_time()) + 1)
    api_chain.clients.escrow.push_payouts(failing.deal_id, [account], signer=api_chain.platform)
    assert api_chain.clients.token.balance_of(account) == before


def _bundles_carrying(chain: Chain, sender: str, first_block: int) -> list[Any]:
    """The relayer's transactions since ``first_block`` that carry an operation of ``sender``
    (its address in the calldata). Not the relayer's nonce: the same passes may also bundle
    other tests' leftover operations."""
    w3 = chain.w3
    return [
        tx
        for number in range(first_block, w3.eth.block_number + 1)
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]
        if tx["from"] == chain.relayer.address and sender[2:].lower() in tx["input"].hex()
    ]


# An ERC-4337 account in raw EVM code: validateUserOp (any call) answers 0 (valid) when
# tx.gasprice is 0 — eth_call and eth_estimateGas — and reverts in a real transaction.
VALID_ONLY_IN_SIMULATION = "0x3a156008575f5ffd5b60205ff3"


def test_an_operation_refused_on_chain_after_passing_simulation_is_bundled_once(
    client: TestClient, api_chain: Chain, services: Services, bundler: BundlerWorker
) -> None:
    # Found by review (bundler-key griefing): a bundle that reverted on chain was taken for
    # "not bundled after all" and re-queued; re-simulated, it passed again and was sent again:
    # one reverted handleOps paid by the relayer every pass, for ever.
    account = api_chain.w3.to_checksum_address("0x" + secrets.token_hex(20))
    api_chain.w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_setCode", [account, VALID_ONLY_IN_SIMULATION]
    )
    deposit = api_chain.passkeys.entry_point.functions.depositTo(account)
    api_chain.sender.transact(api_chain.platform, deposit, value=10**18)
    fees = api_chain.sender.fees()
    op = UserOperation(
        sender=account,
        nonce=0,
        call_data=b"",
        call_gas_limit=10_000,
        verification_gas_limit=100_000,
        pre_verification_gas=0,
        max_fee_per_gas=fees["maxFeePerGas"],
        max_priority_fee_per_gas=fees["maxPriorityFeePerGas"],
    )
    op = op.replace(pre_verification_gas=pre_verification_gas(op))
    op_hash = result(client, "eth_sendUserOperation", op.to_rpc(), ENTRYPOINT_V08)
    first_block = api_chain.w3.eth.block_number + 1
    for _ in range(3):
        bundler.run_once()
    assert len(_bundles_carrying(api_chain, account, first_block)) == 1
    found = result(client, "eth_getUserOperationByHash", op_hash)
    assert found["status"] == OpStatus.FAILED and found["error"]["code"] == "rejected"


def test_operations_of_another_chain_are_failed_chain_changed(services: Services) -> None:
    with Session(services.engine) as session:
        row = UserOperationRow(
            id=secrets.token_hex(8),
            user_op_hash="0x" + secrets.token_hex(32),
            entry_point=ENTRYPOINT_V08,
            sender="0x" + "ab" * 20,
            nonce="0",
            nonce_key="0",
            nonce_seq=0,
            user_operation={},
            chain_key="0x" + "00" * 32,
            accepted_block=0,
            status=OpStatus.QUEUED.value,
            raw_tx="0x00",
        )
        session.add(row)
        session.commit()
        failed = fail_requests(session, keep_key="0x" + "11" * 32, message="reset", args={})
        session.commit()
        session.refresh(row)
        assert failed >= 1
        assert row.status == OpStatus.FAILED and row.error_code == CHAIN_CHANGED
        assert row.raw_tx is None
