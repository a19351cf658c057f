"""Fixtures of the chain-layer tests: the test-only ChainProbe contract and the typed clients."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from chain.accounts import dev_account
from chain.artifacts import Artifact
from chain.clients import Clients, DealParams, PriceTier
from chain.deploy import Deployment
from chain.tx import TxSender

# SHA-256 of an applicant's private credentials (the chain holds only this digest).
CREDENTIALS_DIGEST = hashlib.sha256(b"private credentials").digest()

TOP_PRICE = 10_000_000  # 10 tUSD (6 decimals)
TIER_PRICE = 8_000_000  # from 10 units in total
CID = bytes.fromhex("1220") + bytes(range(32))  # a CIDv0 (sha2-256 multihash)
GTIN = "09506000134352"
PREFIX = "9506000"  # GTIN's GS1 Company Prefix, assigned to the supplier


@pytest.fixture(scope="session")
def probe_address(
    w3: Web3,
    tx_sender: TxSender,
    test_artifacts: dict[str, Artifact],
    deployment: Deployment,
) -> str:
    """ChainProbe deployed once per session, trusting the deployment's forwarder."""
    artifact = test_artifacts["ChainProbe"]
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(deployment.address("TuanchainForwarder")).data_in_transaction
    receipt = tx_sender.send(dev_account(9), to=None, data=data)
    return str(receipt["contractAddress"])  # type: ignore[index]


@pytest.fixture
def probe(w3: Web3, probe_address: str, test_artifacts: dict[str, Artifact]) -> Contract:
    return w3.eth.contract(address=probe_address, abi=test_artifacts["ChainProbe"].abi)


@pytest.fixture
def clients(
    w3: Web3, deployment: Deployment, tx_sender: TxSender, artifacts: dict[str, Artifact]
) -> Clients:
    return Clients.connect(w3, deployment, tx_sender, artifacts=artifacts)


def chain_now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def advance_time(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass
class Market:
    clients: Clients
    w3: Web3
    deal_id: int
    join_deadline: int
    leader: LocalAccount
    relayer: LocalAccount
    consumer: LocalAccount
    supplier: LocalAccount
    batch_id: bytes


@pytest.fixture
def market(clients: Clients, w3: Web3) -> Market:
    platform, supplier, leader = dev_account(0), dev_account(10), dev_account(11)
    registry, escrow = clients.registry, clients.escrow
    registry.apply_as_supplier(CID, CREDENTIALS_DIGEST, signer=supplier)
    registry.approve_supplier(supplier.address, signer=platform)
    registry.assign_company_prefix(PREFIX, supplier.address, signer=platform)
    registry.apply_as_leader(CID, CREDENTIALS_DIGEST, signer=leader)
    registry.approve_leader(leader.address, signer=platform)
    batch_id = registry.register_batch(GTIN, "LOT-7", CID, signer=supplier)
    assert batch_id == Web3.keccak(Web3().codec.encode(["string", "string"], [GTIN, "LOT-7"]))
    now = chain_now(w3)
    deal_id = escrow.create_deal(
        DealParams(
            supplier=supplier.address,
            token=clients.token.address,
            price_tiers=[PriceTier(0, TOP_PRICE), PriceTier(10, TIER_PRICE)],
            min_total_quantity=5,
            max_total_quantity=100,
            per_buyer_limit=10,
            join_deadline=now + 3600,
            delivery_deadline=now + 7200,
            dispute_window=86_400,
            answer_window=86_400,
            commission_bps=1000,
            platform_fee_bps=200,
            batch_ids=[batch_id],
        ),
        signer=platform,
    )
    consumer = Account.create()
    clients.token.mint(consumer.address, 100 * 10**6, signer=platform)
    return Market(
        clients, w3, deal_id, now + 3600, leader, dev_account(1), consumer, supplier, batch_id
    )
