"""``describe_call`` turns signed calldata into JSON details: names in snake_case, bytes as hex, CID
arguments as CID text, structs as objects — for functions no ``prepare`` builds too (a signed
request may call any function of the escrow or the registry). Calldata is encoded and decoded with
the compiled contracts' ABIs by web3, exactly as the relay decodes it; no node is needed."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from api.relayer.describe import describe_call, snake
from chain.artifacts import Artifact
from traceability.ipfs import compute_cid, parse_cid


@pytest.fixture(scope="module")
def contracts(artifacts: dict[str, Artifact]) -> dict[str, type[Contract]]:
    return {
        name: Web3().eth.contract(abi=artifacts[name].abi)
        for name in ("GroupBuyEscrow", "ProvenanceRegistry")
    }


def _describe(contract: type[Contract], function: str, *args: Any) -> dict[str, Any]:
    fn, decoded = contract.decode_function_input(contract.encode_abi(function, list(args)))
    return describe_call(fn.fn_name, fn.abi["inputs"], decoded)


def test_names_are_spelled_as_prepare_spells_them() -> None:
    names = ("dealId", "gtin14", "evidenceCid", "uphold", "leafCount", "commissionBps")
    assert [snake(n) for n in names] == [
        "deal_id",
        "gtin14",
        "evidence_cid",
        "uphold",
        "leaf_count",
        "commission_bps",
    ]


def test_a_struct_argument_becomes_an_object(contracts: dict[str, type[Contract]]) -> None:
    supplier, token = "0x" + "11" * 20, "0x" + "22" * 20
    params = (
        Web3.to_checksum_address(supplier),
        Web3.to_checksum_address(token),
        [(0, 10_000_000), (5, 8_000_000)],  # price tiers
        3, 100, 10,  # min, max, per buyer
        1_800_000_000, 1_800_003_600,  # deadlines
        86_400, 86_400,  # dispute, answer windows
        1000, [(50, 1500)], 200,  # commission, its tiers, platform fee
        [b"\x07" * 32],  # batch ids
        1_800_007_200, 5,  # pickup deadline, cash cap per leader
    )  # fmt: skip
    details = _describe(contracts["GroupBuyEscrow"], "createDeal", params)
    assert details == {
        "p": {
            "supplier": Web3.to_checksum_address(supplier),
            "token": Web3.to_checksum_address(token),
            "price_tiers": [
                {"min_quantity": 0, "unit_price": 10_000_000},
                {"min_quantity": 5, "unit_price": 8_000_000},
            ],
            "min_total_quantity": 3,
            "max_total_quantity": 100,
            "per_buyer_limit": 10,
            "join_deadline": 1_800_000_000,
            "delivery_deadline": 1_800_003_600,
            "dispute_window": 86_400,
            "answer_window": 86_400,
            "commission_bps": 1000,
            "commission_tiers": [{"min_volume": 50, "commission_bps": 1500}],
            "platform_fee_bps": 200,
            "batch_ids": ["0x" + "07" * 32],
            "pickup_deadline": 1_800_007_200,
            "cash_cap_per_leader": 5,
        }
    }


def test_cids_become_text_and_other_bytes_hex(contracts: dict[str, type[Contract]]) -> None:
    registry = contracts["ProvenanceRegistry"]
    cid = compute_cid(b"a recall notice")
    details = _describe(registry, "recallBatch", b"\x01" * 32, parse_cid(cid))
    assert details == {"batch_id": "0x" + "01" * 32, "reason_cid": cid}
    # Bytes that are no CID are shown as they are (the contract decides whether they are valid).
    details = _describe(registry, "recallBatch", b"\x01" * 32, b"\xff\x00")
    assert details == {"batch_id": "0x" + "01" * 32, "reason_cid": "0xff00"}
