"""The dashboard's list of stuck transactions, read from both outboxes on each database backend:
waiting past ``relayer_replace_after_seconds`` or flagged at a ceiling that still holds."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path

from eth_account import Account
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from api.bundler.models import UserOperationRow
from api.queries.stuck import stuck_transactions
from api.relayer.models import RelayBatch, RelayRequest
from api.services import Services
from chain.settings import Settings
from chain.tx import bumped
from traceability.ipfs import EmbeddedDocumentStore

GWEI = 10**9


def _hash() -> str:
    return "0x" + secrets.token_hex(32)


def test_stuck_and_at_ceiling_transactions_are_listed(engine: Engine, tmp_path: Path) -> None:
    now = time.time()
    settings = Settings(
        database_url=str(engine.url),
        relayer_max_fee_per_gas=bumped(10 * GWEI) - 1,  # a 10 gwei cap cannot be raised
        relayer_replace_after_seconds=30.0,
    )
    services = Services(settings, EmbeddedDocumentStore(tmp_path / "ipfs"), engine)
    fresh, waiting, flagged, raised = _hash(), _hash(), _hash(), _hash()
    with Session(engine) as session:
        # (hash, cap, sent, flagged since): young; old; flagged at the ceiling; flagged under a
        # ceiling raised since (a 1 gwei cap fits under it now).
        for tx_hash, cap, sent, flag in (
            (fresh, GWEI, now - 5, None),
            (waiting, GWEI, now - 600, None),
            (flagged, 10 * GWEI, now - 10, now - 5),
            (raised, GWEI, now - 10, now - 5),
        ):
            session.add(
                RelayBatch(
                    tx_hash=tx_hash,
                    raw_tx="0x00",
                    max_fee_per_gas=cap,
                    sent_block=1,
                    sent_at=sent,
                    at_ceiling_since=flag,
                )
            )
            for nonce in range(2):
                session.add(
                    RelayRequest(
                        id=str(uuid.uuid4()),
                        action="join",
                        signer=Account.create().address,
                        target="0x" + "2" * 40,
                        nonce=nonce,
                        deadline=0,
                        request_digest=_hash(),
                        typed_data={},
                        signature="0x",
                        status="sent",
                        tx_hash=tx_hash,
                        relayer_nonce=7,
                    )
                )
        bundler = Account.create()
        signed = bundler.sign_transaction(
            {
                "to": bundler.address,
                "value": 0,
                "gas": 21_000,
                "maxFeePerGas": 3 * GWEI,
                "maxPriorityFeePerGas": GWEI,
                "nonce": 8,
                "chainId": 31337,
                "type": 2,
            }
        )
        bundle = signed.hash.to_0x_hex()
        session.add(
            UserOperationRow(
                id=str(uuid.uuid4()),
                user_op_hash=_hash(),
                entry_point="0x" + "4" * 40,
                sender=Account.create().address,
                nonce="0",
                nonce_key="0",
                nonce_seq=0,
                user_operation={},
                chain_key=_hash(),
                accepted_block=1,
                status="sent",
                tx_hash=bundle,
                raw_tx=signed.raw_transaction.to_0x_hex(),
                bundler_nonce=8,
                sent_block=1,
                sent_at=now - 120,
            )
        )
        session.commit()
    try:
        listed = {
            x["tx_hash"]: x
            for x in stuck_transactions(services, now=now)
            if x["tx_hash"] in {fresh, waiting, flagged, raised, bundle}
        }
    finally:  # the outbox is the session's: no other test's worker may find these rows
        with Session(engine) as session:
            mine = [fresh, waiting, flagged, raised]
            session.execute(delete(RelayRequest).where(RelayRequest.tx_hash.in_(mine)))
            session.execute(delete(RelayBatch).where(RelayBatch.tx_hash.in_(mine)))
            session.execute(delete(UserOperationRow).where(UserOperationRow.tx_hash == bundle))
            session.commit()
    assert set(listed) == {waiting, flagged, bundle}
    assert listed[waiting]["requests"] == 2 and listed[waiting]["nonce"] == 7
    assert [listed[h]["at_ceiling"] for h in (waiting, flagged, bundle)] == [False, True, False]
    assert listed[bundle]["kind"] == "bundle" and listed[bundle]["max_fee_per_gas"] == 3 * GWEI
    assert listed[bundle]["waited"] == 120
