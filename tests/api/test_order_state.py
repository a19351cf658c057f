"""An order's state in words (``api.shop.order_state``) for every combination of facts."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from api.shop import ORDER_STATES, order_state

DEAL_STATES = ("open", "succeeded", "failed", "frozen", "settled")


# Undelivered by the deadline (no receipt at the point): owed in full, before and after settling.
@example("succeeded", 2, False, None, 90_000_000, "awaiting_delivery", 90_000_000, 0, 0)
@example("settled", 2, False, None, 90_000_000, "awaiting_delivery", 90_000_000, 0, 0)
# 陈静 of the demo: received at the point, never picked up, the deal settled.
@example("settled", 3, True, None, 0, "no_show", 135_000_000, 15_300_000, 0)
@given(
    status=st.sampled_from(DEAL_STATES),
    quantity=st.integers(0, 50),
    received=st.booleans(),
    claim=st.sampled_from([None, "filed", "rejected", "upheld", "denied"]),
    owed=st.one_of(st.none(), st.integers(0, 10**9)),
    pickup=st.sampled_from(["awaiting_delivery", "awaiting_pickup", "picked_up", "no_show"]),
    paid=st.integers(0, 10**9),
    refunded=st.integers(0, 10**9),
    withdrawn=st.integers(0, 10**9),
)
def test_every_order_has_one_state_that_fits_the_facts(
    status: str,
    quantity: int,
    received: bool,
    claim: str | None,
    owed: int | None,
    pickup: str,
    paid: int,
    refunded: int,
    withdrawn: int,
) -> None:
    order = {
        "quantity": quantity,
        "received": received,
        "claim": claim,
        "pickup": {"status": pickup},
        "paid": paid,
        "refunded": refunded,
        "withdrawn": withdrawn,
    }
    state = order_state({"status": status}, order, owed)
    assert state in ORDER_STATES
    if quantity == 0:
        assert state == "refunded"  # a cancel refunds in the same transaction
    elif status == "open":
        assert state == "joining"
    elif status in ("failed", "frozen") and owed is None:
        # The node unreachable: the index's figures (such a deal pays everything back).
        assert state == ("refunding" if paid > refunded + withdrawn else "refunded")
    elif status in ("failed", "frozen"):
        assert state == ("refunding" if owed else "refunded")
    elif claim == "upheld" and owed:
        assert state == "refunding"
    elif 0 < paid <= refunded + withdrawn:
        assert state == "refunded"  # all paid came back: not "formed" nor "done"
    elif not received and owed:
        assert state == "refunding"  # undelivered by the deadline: owed in full, not "formed"
    elif status == "settled":
        # Never handed over by the pickup deadline (settlement comes after it): not 已完成.
        assert state == ("no_show" if pickup == "no_show" else "done")
    elif pickup in ("picked_up", "no_show"):
        assert state == pickup  # 已提货 with its time, or past the pickup deadline
    else:
        assert state == ("ready" if received else "formed")
    # Money owed on a failed or frozen deal is never shown as settled or refunded.
    if owed and quantity and status in ("failed", "frozen"):
        assert state == "refunding"
