"""Helpers of the relayer tests: parties on the shared service chain, a deal, and the gasless
round trip (prepare → sign with eth-account, as MetaMask's ``eth_signTypedData_v4`` does → relay).

Every test that creates parties uses fresh random accounts, and fresh GTIN/lot pairs, so it cannot
collide with another test's registrations on the session's shared chain.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.db import init_db
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.routes.documents import upload_message
from api.services import Services, make_engine
from chain.anvil import Anvil
from chain.clients import DealParams, PriceTier
from chain.clients.views import PartyKind
from chain.context import Chain, connect
from chain.settings import Settings
from traceability.epcis.identifiers import gs1_check_digit
from traceability.ipfs import EmbeddedDocumentStore

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()

TOP_PRICE = 10_000_000  # 10 tUSD
TIER_PRICE = 8_000_000  # from 5 units in total
CREDENTIAL = bytes.fromhex("1220") + bytes(range(32))  # a CIDv0, as a credential document id
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + secrets.token_bytes(64)


def chain_now(chain: Chain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def advance_time(chain: Chain, seconds: int) -> None:
    chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _digits(n: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(n))


def new_prefix() -> str:
    """A fresh 9-digit GS1 Company Prefix (starting 1: clear of the restricted ranges, 02 04 2x,
    and of the demo's 69...; two random ones overlap only if equal)."""
    return "1" + _digits(8)


def new_gtin(prefix: str | None = None) -> str:
    """A GTIN-14 under ``prefix`` (a fresh one if None: a GTIN nobody holds)."""
    prefix = prefix or new_prefix()
    body = "0" + prefix + _digits(12 - len(prefix))
    return body + gs1_check_digit(body)


def assign_new_prefix(chain: Chain, supplier: str) -> str:
    """The platform assigns a fresh GS1 Company Prefix to ``supplier``: its GTINs' batches."""
    prefix = new_prefix()
    chain.clients.registry.assign_company_prefix(prefix, supplier, signer=chain.platform)
    return prefix


def funded(chain: Chain, eth: float = 1.0) -> LocalAccount:
    """A fresh account with some ETH (for the parties that act directly)."""
    account = Account.create()
    chain.sender.send(chain.platform, to=account.address, value=int(eth * 10**18))
    return account


def sign(account: LocalAccount, prepared: dict[str, Any]) -> dict[str, Any]:
    """The prepare response with ``signatures``: each payload signed as a v4 wallet signs it."""
    signatures = {
        name: account.sign_typed_data(full_message=payload).signature.to_0x_hex()
        for name, payload in prepared["payloads"].items()
    }
    return {**prepared, "signatures": signatures}


@dataclass
class DealSetup:
    deal_id: int
    supplier: LocalAccount
    leader: LocalAccount
    gtin14: str
    lot: str
    batch_id: bytes
    join_deadline: int
    delivery_deadline: int
    prefix: str  # the supplier's GS1 Company Prefix (gtin14's)


def make_deal(
    chain: Chain,
    *,
    min_quantity: int = 3,
    max_quantity: int = 100,
    dispute_window: int = 86_400,
    join_window: int = 3600,
    pickup_window: int = 0,
    cash_cap: int = 0,
) -> DealSetup:
    """An approved supplier and leader, a registered batch and an open deal selling it."""
    registry, escrow = chain.clients.registry, chain.clients.escrow
    supplier, leader = funded(chain), funded(chain)
    registry.apply_as_supplier(CREDENTIAL, CREDENTIALS_DIGEST, signer=supplier)
    registry.approve_supplier(supplier.address, signer=chain.platform)
    prefix = assign_new_prefix(chain, supplier.address)
    registry.apply_as_leader(CREDENTIAL, CREDENTIALS_DIGEST, signer=leader)
    registry.approve_leader(leader.address, signer=chain.platform)
    gtin, lot = new_gtin(prefix), "L" + secrets.token_hex(4).upper()
    batch_id = registry.register_batch(gtin, lot, CREDENTIAL, signer=supplier)
    now = chain_now(chain)
    deal_id = escrow.create_deal(
        DealParams(
            supplier=supplier.address,
            token=chain.clients.token.address,
            price_tiers=[PriceTier(0, TOP_PRICE), PriceTier(5, TIER_PRICE)],
            min_total_quantity=min_quantity,
            max_total_quantity=max_quantity,
            per_buyer_limit=10,
            join_deadline=now + join_window,
            delivery_deadline=now + join_window + 3600,
            dispute_window=dispute_window,
            answer_window=86_400,
            commission_bps=1000,
            platform_fee_bps=200,
            batch_ids=[batch_id],
            pickup_deadline=now + join_window + 3600 + pickup_window,
            cash_cap_per_leader=cash_cap,
        ),
        signer=chain.platform,
    )
    return DealSetup(
        deal_id,
        supplier,
        leader,
        gtin,
        lot,
        batch_id,
        now + join_window,
        now + join_window + 3600,
        prefix,
    )


def own_outbox(services: Services, tmp_path: Path) -> Services:
    """The session's chain and store with an outbox of the test's own (a fresh SQLite file): no
    other test's rows in its queues, batches or counts."""
    engine = make_engine("sqlite:///" + str(tmp_path / "own.db"))
    init_db(engine)
    return Services(services.settings, services.store, engine, _chain=services.chain)


def own_chain_services(node: Anvil, tmp_path: Path, database: Path) -> Services:
    """A service on a node of the test's own (the contracts deployed there), with an outbox of
    its own in the SQLite file ``database`` and its documents under ``tmp_path``."""
    settings = Settings(
        rpc_url=node.rpc_url,
        chain_id=node.chain_id,
        data_dir=tmp_path / "data",
        deployments_dir=tmp_path / "deployments",
        database_url="sqlite:///" + str(database),
    )
    engine = make_engine(settings.database_url)
    init_db(engine)
    chain = connect(settings, deploy=True)
    return Services(
        settings, EmbeddedDocumentStore(settings.data_dir / "ipfs"), engine, _chain=chain
    )


class Crash(BaseException):
    """Stands for the process dying at a chosen point (nothing after it runs)."""


class CrashBeforeBroadcast(RelayWorker):
    """A worker that dies right after committing a signed batch, before broadcasting it."""

    def _broadcast_batch(
        self, session: Session, chain: Chain, rows: list[RelayRequest], raw: str | None = None
    ) -> None:
        raise Crash(rows[0].id)


def signed_forward(
    chain: Chain, signer: LocalAccount, target: str, data: bytes, *, nonce: int, gas: int = 100_000
) -> dict[str, Any]:
    """A relay body: ``signer``'s forward request of ``data`` to ``target`` with this ``nonce``,
    signed as eth_signTypedData_v4 signs it (tests that shape requests prepare would not)."""
    typed = chain.clients.forwarder.prepare(
        sender=signer.address, target=target, data=data, gas=gas
    )
    typed["message"]["nonce"] = nonce
    signature = signer.sign_typed_data(full_message=typed).signature.to_0x_hex()
    return {"payloads": {"request": typed}, "signatures": {"request": signature}}


def repeatable_call(chain: Chain, deal: DealSetup) -> tuple[LocalAccount, str, bytes]:
    """(signer, target, calldata) of a call the relayer pays for and its signer can make succeed
    again and again, no tokens involved: the deal's approved leader updating its profile."""
    registry = chain.clients.registry
    data = registry.calldata("updateProfile", PartyKind.LEADER, CREDENTIAL)
    return deal.leader, registry.address, data


def consumer(chain: Chain, tokens: int = 100 * 10**6) -> LocalAccount:
    """A consumer with stablecoins and zero ETH."""
    account = Account.create()
    chain.clients.token.mint(account.address, tokens, signer=chain.platform)
    return account


def prepare(client: TestClient, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/v1/actions/{action}/prepare", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def relay(
    client: TestClient, account: LocalAccount, action: str, body: dict[str, Any]
) -> dict[str, Any]:
    """prepare → sign → POST /v1/relay; returns the accepted outbox row."""
    prepared = prepare(client, action, {"from": account.address, **body})
    response = client.post("/v1/relay", json=sign(account, prepared))
    assert response.status_code == 202, response.text
    return response.json()


def relay_and_mine(
    client: TestClient,
    worker: RelayWorker,
    account: LocalAccount,
    action: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """The round trip plus one worker pass; returns the final status (asserted mined)."""
    accepted = relay(client, account, action, body)
    worker.run_once()
    status = client.get(f"/v1/relay/{accepted['id']}").json()
    assert status["status"] == "mined", status
    return status


def upload(
    client: TestClient,
    account: LocalAccount,
    data: bytes,
    *,
    content_type: str = "image/png",
    deal_id: int | None = None,
    timestamp: int | None = None,
    signer: LocalAccount | None = None,
    reencode: Callable[[bytes], bytes] = bytes,
) -> Any:
    """POST /v1/documents signed with personal_sign (returns the response); ``reencode`` turns
    the 65-byte signature into the one sent."""
    import hashlib

    ts = int(time.time()) if timestamp is None else timestamp
    message = upload_message(hashlib.sha256(data).hexdigest(), ts)
    signed = (signer or account).sign_message(encode_defunct(text=message)).signature
    signature = "0x" + reencode(bytes(signed)).hex()
    form: dict[str, Any] = {
        "address": account.address,
        "timestamp": str(ts),
        "signature": signature,
    }
    if deal_id is not None:
        form["deal_id"] = str(deal_id)
    return client.post("/v1/documents", data=form, files={"file": ("evidence", data, content_type)})


@pytest.fixture
def worker(services: Services) -> RelayWorker:
    return RelayWorker(services)


class RecordingWorker(RelayWorker):
    """Records every broadcast of an ``executeBatch`` transaction, by request id."""

    broadcasts: Counter[str]
    lock = threading.Lock()

    def _broadcast_batch(
        self, session: Session, chain: Chain, rows: list[RelayRequest], raw: str | None = None
    ) -> None:
        with self.lock:
            self.broadcasts.update(row.id for row in rows)
        super()._broadcast_batch(session, chain, rows, raw)


class Competitor:
    """Another account taking every block from a pending transaction ``first_tx`` (decoded):
    the block's gas limit is set to ``first_tx``'s gas, and before each block the competitor
    reserves all of it at 5 % higher fees — a busy chain outbidding the platform's transaction.

    ``outbid``: the transaction whose fees it tops (``first_tx``'s until set). A self-transfer
    uses 21,000 gas of the block, leaving room for a small transaction (a 21,000-gas
    cancellation): with ``fill=True`` its transaction calls code that is only ``INVALID``, which
    uses all the gas it is given, so the block has room for nothing else."""

    def __init__(self, chain: Chain, first_tx: dict[str, Any], *, fill: bool = False) -> None:
        self.chain, self.first_tx, self.outbid = chain, first_tx, first_tx
        self.account, self.nonce = Account.create(), 0
        self.to = self.account.address
        chain.sender.rpc("anvil_setBlockGasLimit", [hex(first_tx["gas"])])
        chain.sender.rpc("anvil_setBalance", [self.account.address, hex(10**21)])
        if fill:
            self.to = Account.create().address
            chain.sender.rpc("anvil_setCode", [self.to, "0xfe"])

    def block(self) -> list[str]:
        """The competitor's transaction, then a block; the block's transaction hashes."""
        tx = {
            "to": self.to,
            "value": 0,
            "gas": self.first_tx["gas"],  # the whole block
            "maxFeePerGas": self.outbid["maxFeePerGas"] * 105 // 100,
            "maxPriorityFeePerGas": self.outbid["maxPriorityFeePerGas"] * 105 // 100,
            "nonce": self.nonce,
            "chainId": self.chain.chain_id,
            "type": 2,
        }
        self.nonce += 1
        self.chain.sender.broadcast(self.account.sign_transaction(tx).raw_transaction)
        self.chain.sender.rpc("evm_mine", [])
        block = self.chain.w3.eth.get_block("latest")
        return [h.to_0x_hex() for h in block["transactions"]]
