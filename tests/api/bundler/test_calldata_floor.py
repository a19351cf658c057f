"""A user operation with big calldata repays the bundler at least what its bundle costs.

The chain's hardfork (anvil runs ``osaka``, :data:`chain.anvil.HARDFORK`) prices calldata by
EIP-7623 (Prague): a transaction pays at least 21,000 + 10 gas per calldata token (a zero byte
one token, any other byte four), where execution pays only 4 a token. The EntryPoint repays the
bundler the gas it measures plus ``preVerificationGas``; found in review: the bundler's model of
that figure (the reference bundler's, 16 a non-zero byte) left the floor out, so an operation
carrying 20 KB of calldata — accepted with exactly the ``preVerificationGas`` asked for —
cost the bundler ~300k gas more than the EntryPoint repaid it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from api.bundler.worker import BundlerWorker
from api.services import Services
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.userop import Call

from ..relay.conftest import own_outbox
from .userops import new_passkey, result


@pytest.mark.parametrize("tip", ["market", "none"])
def test_an_operation_with_big_calldata_repays_the_bundler_what_its_bundle_costs(
    services: Services, tmp_path: Path, tip: str
) -> None:
    own = own_outbox(services, tmp_path)  # only this operation in the bundler's outbox
    chain = services.chain
    accounts = chain.passkeys
    key = new_passkey()
    account = accounts.account_address(key)
    chain.sender.send(chain.platform, to=account, value=10**18)  # it pays for itself
    # 20 KB of calldata to an address without code: a call that costs little to execute.
    calls = [Call(Account.create().address, b"\xff" * 20_000)]
    op = accounts.user_operation(account=account, calls=calls, create_with=key).replace(
        paymaster=None, paymaster_verification_gas_limit=0, paymaster_post_op_gas_limit=0
    )
    if tip == "none":  # repaid at the base fee alone: a bundle paying the node's tip loses it
        op = op.replace(max_priority_fee_per_gas=0)
    with TestClient(create_app(own)) as client:
        estimate = result(client, "eth_estimateUserOperationGas", op.to_rpc(), ENTRYPOINT_V08)
        op = op.replace(
            call_gas_limit=int(estimate["callGasLimit"], 16),
            verification_gas_limit=int(estimate["verificationGasLimit"], 16),
            pre_verification_gas=int(estimate["preVerificationGas"], 16),  # what it asks, no more
        )
        op_hash = result(
            client, "eth_sendUserOperation", accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08
        )
        BundlerWorker(own).run_once()
        receipt = result(client, "eth_getUserOperationReceipt", op_hash)
    assert receipt["success"] is True
    bundle = chain.w3.eth.get_transaction_receipt(receipt["receipt"]["transactionHash"])
    cost = bundle["gasUsed"] * bundle["effectiveGasPrice"]
    repaid = int(receipt["actualGasCost"], 16)
    assert repaid >= cost, f"the bundler paid {cost} wei and was repaid {repaid}"
