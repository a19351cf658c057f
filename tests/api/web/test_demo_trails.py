"""The demo trails as pure data: dated before the seed epoch, in order, and deterministic."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from api.demo import catalog, trails
from traceability.epcis import event_hash_id

# Any second from 2001 to 2099: anvil's clock, a forked chain's, or a far-future time jump.
EPOCHS = st.integers(min_value=978_307_200, max_value=4_102_444_799)
CERTS = {p.key: f"ipfs://cert-{p.key}" for p in catalog.PRODUCTS}


def _timeline(clock: catalog.DemoClock) -> dict[str, list]:
    built = trails.trails(clock, CERTS)
    out = {
        key: [event for event, _ in trail.single] + list(trail.merkle)
        for key, trail in built.items()
    }
    out["oranges"].append(trails.orange_recall(clock, "ipfs://reason"))
    return out


@given(EPOCHS)
def test_every_event_precedes_the_epoch_in_trail_order(epoch: int) -> None:
    """Whatever the epoch's hour, each trail is dated before it and reads forward in time."""
    clock = catalog.DemoClock(epoch)
    at_epoch = datetime.fromtimestamp(epoch, UTC)
    for key, events in _timeline(clock).items():
        times = [e.eventTime for e in events]
        assert times == sorted(times), key
        assert all(t < at_epoch for t in times), key
        assert (at_epoch - times[0]).days < 21, key  # weeks, not a year, before the receipts


@settings(deadline=None)  # hashes 15 events per example: time is not what this test is about
@given(EPOCHS)
def test_same_epoch_same_events(epoch: int) -> None:
    """Determinism is what makes a rerun of the seed send nothing: same epoch, same hashes."""
    first, again = _timeline(catalog.DemoClock(epoch)), _timeline(catalog.DemoClock(epoch))
    assert {k: [event_hash_id(e) for e in v] for k, v in first.items()} == {
        k: [event_hash_id(e) for e in v] for k, v in again.items()
    }


@given(EPOCHS)
def test_harvest_dates_agree(epoch: int) -> None:
    """The lot master data and the commissioning event name the same harvest day."""
    clock = catalog.DemoClock(epoch)
    for product in catalog.PRODUCTS:
        commissioning = _timeline(clock)[product.key][0]
        harvest = product.metadata(clock)["harvest_date"]
        assert harvest == clock.harvest(product).isoformat()
        assert commissioning.ilmd and commissioning.ilmd["cbvmda:harvestStartDate"] == harvest
        assert commissioning.eventTime.date().isoformat() == harvest  # local (CST) date
