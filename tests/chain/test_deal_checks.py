"""The listing checks (:mod:`chain.deal_checks`) against ``createDeal`` on anvil, differentially.

Hypothesis draws listing parameters around every edge the contract checks (tiers that do not
rise or fall, rates at and beyond their bounds, zero and inverted quantities, deadlines at the
current second, zero windows, fees at the cap, batches missing, repeated, recalled, another
supplier's, a batch already in 32 live deals) and a caller with or without ``PLATFORM_ROLE``;
``createDeal`` is ``eth_call``-ed as that caller. Python's verdict must be the contract's: both
accept, or both refuse with the same error name and arguments. Calls change nothing, so all
examples share one world (built once, between the test's ``evm_snapshot`` / ``evm_revert``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from web3 import Web3

from chain import deal_checks, deal_economics
from chain.accounts import dev_account
from chain.clients import Clients, CommissionTier, DealParams, PriceTier
from chain.errors import ContractRevert
from chain.tx import TxSender

CID = bytes.fromhex("1220") + bytes(range(32))
DIGEST = bytes(range(1, 33))
GTIN = "09506000134352"  # A's (prefix 9506000)
B_GTIN = "09506001000014"  # B's (prefix 9506001)


@dataclass
class World:
    clients: Clients
    sender: TxSender
    platform: LocalAccount
    stranger: str
    suppliers: list[str]  # approved A, approved B, applied only, nobody
    batches: list[bytes]  # A's active x2, B's active, A's recalled, unknown, A's full (32 live)
    tokens: list[str]  # allowed, not allowed


@pytest.fixture
def world(clients: Clients, tx_sender: TxSender) -> World:
    platform = dev_account(0)
    a, b, applied = dev_account(10), dev_account(11), dev_account(12)
    registry, escrow = clients.registry, clients.escrow
    for supplier in (a, b, applied):
        registry.apply_as_supplier(CID, DIGEST, signer=supplier)
    for supplier, prefix in ((a, "9506000"), (b, "9506001")):
        registry.approve_supplier(supplier.address, signer=platform)
        registry.assign_company_prefix(prefix, supplier.address, signer=platform)
    active = [registry.register_batch(GTIN, f"A-{i}", CID, signer=a) for i in range(2)]
    b_batch = registry.register_batch(B_GTIN, "B-1", CID, signer=b)
    recalled = registry.register_batch(GTIN, "A-R", CID, signer=a)
    registry.recall_batch(recalled, CID, signer=a)
    full = registry.register_batch(GTIN, "A-FULL", CID, signer=a)
    now = tx_sender.chain_time()
    listing = DealParams(
        supplier=a.address,
        token=clients.token.address,
        price_tiers=[PriceTier(0, 100)],
        min_total_quantity=1,
        max_total_quantity=10,
        per_buyer_limit=1,
        join_deadline=now + 10**6,
        delivery_deadline=now + 2 * 10**6,
        dispute_window=1,
        answer_window=1,
        commission_bps=500,
        batch_ids=[full],
    )
    for _ in range(deal_checks.MAX_LIVE_DEALS_PER_BATCH):
        escrow.create_deal(listing, signer=platform)
    return World(
        clients,
        tx_sender,
        platform,
        Account.create().address,
        [a.address, b.address, applied.address, Account.create().address],
        [*active, b_batch, recalled, Web3.keccak(text="unknown"), full],
        [clients.token.address, Account.create().address],
    )


def _price_tiers() -> st.SearchStrategy[list[PriceTier]]:
    rising = st.lists(st.integers(1, 50), max_size=8).map(
        lambda steps: [PriceTier(sum(steps[:i]), 1000 - 100 * i) for i in range(len(steps) + 1)][
            : len(steps) + 1
        ]
    )
    messy = st.lists(
        st.builds(PriceTier, st.integers(0, 4), st.sampled_from([0, 1, 2, 3, 2**96 - 1])),
        max_size=9,
    )
    return st.one_of(rising, messy)


def _rising_price_tiers() -> st.SearchStrategy[list[PriceTier]]:
    return st.lists(st.integers(1, 50), max_size=7).map(
        lambda steps: [PriceTier(sum(steps[:i]), 1000 - 100 * i) for i in range(len(steps) + 1)]
    )


def _rising_commission_tiers(base: int) -> st.SearchStrategy[list[CommissionTier]]:
    return st.lists(st.integers(1, 100), max_size=min(8, max(0, (2000 - base) // 100))).map(
        lambda steps: [
            CommissionTier(sum(steps[: i + 1]), base + 100 * (i + 1)) for i in range(len(steps))
        ]
    )


def _commission_tiers() -> st.SearchStrategy[list[CommissionTier]]:
    rising = st.lists(st.integers(1, 100), max_size=8).map(
        lambda steps: [
            CommissionTier(sum(steps[: i + 1]), 1000 + 100 * (i + 1)) for i in range(len(steps))
        ]
    )
    messy = st.lists(
        st.builds(
            CommissionTier,
            st.integers(0, 3),
            st.sampled_from([0, 499, 500, 1000, 1999, 2000, 2001, 2**16 - 1]),
        ),
        max_size=9,
    )
    return st.one_of(rising, messy)


EDGE_BPS = [0, 499, 500, 501, 1000, 1999, 2000, 2001, 2**16 - 1]


def _contract_verdict(world: World, params: DealParams, caller: str) -> tuple[str, dict] | None:
    escrow = world.clients.escrow
    try:
        world.sender.call(escrow.contract.functions.createDeal(params.to_abi()), sender=caller)
    except ContractRevert as exc:
        return exc.name, dict(exc.args)
    return None


def _normal(args: dict[str, Any]) -> dict[str, Any]:
    return {k: bytes(v) if isinstance(v, bytes | bytearray) else v for k, v in args.items()}


def _pick(data: st.DataObject, label: str, good: Any, bad: st.SearchStrategy[Any]) -> Any:
    """Mostly a value the contract takes, one time in eight an edge (often a fault): so that
    the later checks are reached as often as the first ones."""
    if data.draw(st.integers(0, 7), label=f"{label} at an edge?") == 0:
        return data.draw(bad, label=label)
    return good


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_python_verdict_is_the_contracts(world: World, data: st.DataObject) -> None:
    now = world.sender.chain_time()
    join = now + _pick(data, "join - now", 3600, st.sampled_from([-1, 0, 1, 2]))
    minimum = _pick(data, "min", 2, st.integers(0, 4))
    params = DealParams(
        supplier=_pick(data, "supplier", world.suppliers[0], st.sampled_from(world.suppliers)),
        token=_pick(data, "token", world.tokens[0], st.sampled_from(world.tokens)),
        price_tiers=_pick(
            data, "price tiers", data.draw(_rising_price_tiers(), label="tiers"), _price_tiers()
        ),
        min_total_quantity=minimum,
        max_total_quantity=_pick(data, "max", 40, st.sampled_from([0, 1, 3, 2**32 - 1])),
        per_buyer_limit=_pick(data, "per buyer", 5, st.sampled_from([0, 1, 2**24 - 1, 2**24])),
        join_deadline=join,
        delivery_deadline=join
        + _pick(data, "delivery - join", 86_400, st.sampled_from([-1, 0, 1])),
        dispute_window=_pick(data, "dispute window", 60, st.integers(0, 2)),
        answer_window=_pick(data, "answer window", 60, st.integers(0, 2)),
        commission_bps=(base := _pick(data, "commission bps", 1000, st.sampled_from(EDGE_BPS))),
        commission_tiers=_pick(
            data,
            "commission tiers",
            data.draw(_rising_commission_tiers(base), label="leader tiers"),
            _commission_tiers(),
        ),
        platform_fee_bps=_pick(data, "fee", 200, st.sampled_from([0, 999, 1000, 1001, 2**16 - 1])),
        batch_ids=_pick(
            data,
            "batches",
            data.draw(
                st.lists(st.sampled_from(world.batches[:2]), min_size=1, max_size=2, unique=True),
                label="own batches",
            ),
            st.one_of(
                # another's, recalled, unknown, repeated, in 32 live deals; or none, or nine
                st.lists(st.sampled_from(world.batches), min_size=1, max_size=3),
                st.sampled_from([[], [world.batches[0]] * 9]),
            ),
        ),
    )
    offset = _pick(data, "pickup - delivery", 86_400, st.sampled_from([None, -1, 0, 1]))
    params = replace(
        params,
        pickup_deadline=None if offset is None else params.delivery_deadline + offset,
        cash_cap_per_leader=_pick(
            data, "cash cap", 3, st.sampled_from([0, 2**24 - 1, 2**24, 2**32 - 1])
        ),
    )
    caller = _pick(data, "caller", world.platform.address, st.just(world.stranger))
    facts = deal_checks.listing_facts(world.clients, params, sender=caller, now=now)
    mine = deal_checks.verdict(params, facts)
    theirs = _contract_verdict(world, params, caller)
    expected = (theirs[0], _normal(theirs[1])) if theirs else None
    event(theirs[0] if theirs else "listed")
    assert ((mine.error, _normal(mine.args)) if mine else None) == expected, deal_checks.refusals(
        params, facts
    )


def test_a_valid_listing_passes_and_each_refusal_names_its_field(world: World) -> None:
    """The fixed-value twin: one listing the contract takes, then one fault at a time."""
    now = world.sender.chain_time()
    good = DealParams(
        supplier=world.suppliers[0],
        token=world.tokens[0],
        price_tiers=[PriceTier(0, 1000), PriceTier(10, 900)],
        min_total_quantity=5,
        max_total_quantity=100,
        per_buyer_limit=5,
        join_deadline=now + 3600,
        delivery_deadline=now + 7200,
        dispute_window=60,
        answer_window=60,
        commission_bps=1000,
        commission_tiers=[CommissionTier(5, 1200)],
        platform_fee_bps=200,
        batch_ids=world.batches[:2],
    )
    platform = world.platform.address
    facts = deal_checks.listing_facts(world.clients, good, sender=platform, now=now)
    assert deal_checks.refusals(good, facts) == []
    assert _contract_verdict(world, good, platform) is None
    cases = {
        "price_tiers[1]": replace(good, price_tiers=[PriceTier(0, 1000), PriceTier(10, 1000)]),
        "commission_tiers[0]": replace(good, commission_tiers=[CommissionTier(5, 900)]),
        "min_total_quantity": replace(good, min_total_quantity=101),
        "join_deadline": replace(good, join_deadline=now),
        "answer_window": replace(good, answer_window=0),
        "platform_fee_bps": replace(good, platform_fee_bps=1001),
        "batch_ids[1]": replace(good, batch_ids=[world.batches[0], world.batches[2]]),
        "batch_ids": replace(good, batch_ids=[]),
        "batch_ids[0]": replace(good, batch_ids=[world.batches[3]]),  # recalled
        "batch_ids[2]": replace(good, batch_ids=[*world.batches[:2], world.batches[0]]),
        "batch_ids[01]": replace(good, batch_ids=[world.batches[0], world.batches[5]]),  # full
        "token": replace(good, token=world.tokens[1]),
        "supplier": replace(good, supplier=world.suppliers[2], batch_ids=[]),
        "pickup_deadline": replace(good, pickup_deadline=good.delivery_deadline - 1),
        "cash_cap_per_leader": replace(good, cash_cap_per_leader=2**24),
    }
    errors = set()
    for where, params in cases.items():
        facts = deal_checks.listing_facts(world.clients, params, sender=platform, now=now)
        refusal, *_ = deal_checks.refusals(params, facts)
        assert refusal.field == where.replace("[01]", "[1]")
        assert _contract_verdict(world, params, platform)[0] == refusal.error  # type: ignore[index]
        errors.add(refusal.error)
    assert {
        "BatchNotActive",
        "DuplicateBatch",
        "TooManyLiveDeals",
        "TokenNotAllowed",
        "InvalidPickupDeadline",
        "InvalidCashCap",
    } <= errors
    stranger = deal_checks.listing_facts(world.clients, good, sender=world.stranger, now=now)
    assert deal_checks.verdict(good, stranger).error == "AccessControlUnauthorizedAccount"  # type: ignore[union-attr]
    huge = replace(good, max_total_quantity=2**32)
    facts = deal_checks.listing_facts(world.clients, huge, sender=platform, now=now)
    assert [r.error for r in deal_checks.refusals(huge, facts)] == [deal_checks.OUT_OF_RANGE]


def test_economics_of_each_tier_use_the_settlement_arithmetic() -> None:
    params = DealParams(
        supplier="0x" + "11" * 20,
        token="0x" + "22" * 20,
        price_tiers=[PriceTier(0, 1999), PriceTier(10, 1501)],
        min_total_quantity=3,
        max_total_quantity=100,
        per_buyer_limit=5,
        join_deadline=1,
        delivery_deadline=2,
        dispute_window=1,
        answer_window=1,
        commission_bps=1000,
        commission_tiers=[CommissionTier(10, 1500)],
        platform_fee_bps=250,
    )
    tiers, leaders = deal_economics.economics(params)
    first, second = tiers
    # 3 units at 1999: revenue 5997; fee ⌊5997 × 250 / 10000⌋ = 149; commission ⌊5997 × 0.1⌋ = 599.
    assert (first.quantity, first.revenue, first.platform, first.leader) == (3, 5997, 149, 599)
    assert first.supplier == 5997 - 149 - 599
    # 10 units at 1501, the leader's 15% tier: 15010, fee 375, commission 2251, rebate 498 a unit.
    assert (second.revenue, second.platform, second.leader, second.leader_bps) == (
        15010,
        375,
        2251,
        1500,
    )
    assert second.rebate_per_unit == 498 and second.supplier == 15010 - 375 - 2251
    assert [(e.min_volume, e.bps) for e in leaders] == [(0, 1000), (10, 1500)]
