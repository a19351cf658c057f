"""The dashboard's money figures against the chain, on the seeded demo (a real anvil): what the
index says is still in escrow is what GroupBuyEscrow's token balance holds beyond what it owes to
accounts (``owed``, ``cashOwed``: pull payments not yet taken), and the tier rebates are the
escrow's own rule over its order and group state (a received group's units × (top − final price)
in each settled deal). And the figures add up: paid in (and the cash orders leaders booked) =
refunds + rebates + GMV + in escrow."""

from __future__ import annotations

from pathlib import Path

import pytest

from api import queries
from api.db import init_db, session_factory
from api.demo.seed import SeedReport
from api.indexer.runner import make_indexer
from api.services import Services, make_engine
from chain.deal_rules import DealStatus

pytestmark = pytest.mark.sqlite_only  # one index of the chain; the SQL runs on both elsewhere


def test_the_dashboard_figures_add_up_against_the_escrow(
    seeded_chain: tuple[Services, SeedReport], tmp_path: Path
) -> None:
    chain_services, _ = seeded_chain
    engine = make_engine("sqlite:///" + str(tmp_path / "index.db"))
    init_db(engine)
    services = Services(
        settings=chain_services.settings.model_copy(update={"database_url": str(engine.url)}),
        store=chain_services.store,
        engine=engine,
        _chain=chain_services.chain,
    )
    make_indexer(services).sync_until_idle()  # the chain as it stands: read below, unmoved
    with session_factory(engine)() as session:
        d = queries.dashboard(session)
    refunded = sum(r["amount"] for r in d["refunds"].values())
    assert d["paid_in"] + d["cash_booked"] == refunded + d["rebates"] + d["gmv"] + d["in_escrow"]
    assert d["rebates"] > 0 and d["in_escrow"] > 0 and d["gmv"] > 0  # the demo has each

    escrow = chain_services.chain.clients.escrow
    events = escrow.contract.events
    joined = events.Joined.get_logs(from_block=0)
    created = events.DealCreated.get_logs(from_block=0)
    booked = events.CashOrderBooked.get_logs(from_block=0)
    buyers: dict[int, set[str]] = {}
    accounts: dict[int, set[str]] = {}
    for log in joined:
        a = log["args"]
        buyers.setdefault(a["dealId"], set()).add(a["buyer"])
        accounts.setdefault(a["dealId"], set()).update((a["buyer"], a["leader"]))
    for log in created:
        a = log["args"]
        accounts.setdefault(a["dealId"], set()).update((a["supplier"], a["feeRecipient"]))
    tokens = {log["args"]["token"] for log in created}
    assert len(tokens) == 1  # the demo's one stablecoin: its balance is the escrow's money
    owed = sum(escrow.owed(deal, x) for deal, xs in accounts.items() for x in xs)
    cash_owed = sum(
        escrow.cash_owed(a["dealId"], a["leader"], a["beneficiaryRef"])
        for a in (log["args"] for log in booked)
    )
    balance = chain_services.chain.clients.token.balance_of(escrow.address)
    assert balance == d["in_escrow"] + owed + cash_owed

    # A received group's units in a settled deal: its buyers' orders and its leader's cash orders.
    units: list[tuple[int, str, int]] = [
        (deal, order.leader, order.quantity)
        for deal, who in buyers.items()
        for order in (escrow.order(deal, buyer) for buyer in who)
    ]
    units += [(a["dealId"], a["leader"], a["quantity"]) for a in (x["args"] for x in booked)]
    rebates = 0
    for deal, leader, quantity in units:
        if escrow.deal_status(deal) != DealStatus.SETTLED:
            continue
        if not escrow.leader_info(deal, leader).received_at:
            continue  # undelivered: all back, a refund
        top = max(t.unit_price for t in escrow.deal_params(deal).price_tiers)
        rebates += quantity * (top - escrow.final_unit_price(deal))
    assert d["rebates"] == rebates
