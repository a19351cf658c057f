"""The keeper's own guess of a deal's settlement time cannot see the last handover (no view
returns ``lastPickupAt``), so after the pickups of a deal it tries ``settle`` early and the escrow
refuses with ``SettlementTooEarly(dealId, settleableAt)``. The keeper must then wait for that
time, not try again on every pass (each try also asked ``owed`` of every party of the deal: one
call per buyer every few seconds, for up to a whole dispute window)."""

from __future__ import annotations

from types import SimpleNamespace

from api.keeper import Keeper
from chain import errors as chain_errors
from chain.clients import DealStatus

DEAL = 1
PICKUP_DEADLINE = 10_000
DISPUTE_WINDOW = 3_600
LAST_PICKUP = PICKUP_DEADLINE - 60  # a handover just before the pickup deadline
TRUE_SETTLEABLE_AT = LAST_PICKUP + DISPUTE_WINDOW
BUYERS = [f"0xBuyer{i:02d}" for i in range(40)]


class _Escrow:
    """A succeeded deal, every group received in full, whose last handover the keeper cannot see."""

    def __init__(self, clock: dict[str, int]) -> None:
        self.clock = clock
        self.settle_calls: list[int] = []
        self.owed_calls = 0
        self.settled = False

    def deal_status(self, deal_id: int) -> DealStatus:
        return DealStatus.SETTLED if self.settled else DealStatus.SUCCEEDED

    def deal_params(self, deal_id: int) -> SimpleNamespace:
        return SimpleNamespace(
            batch_ids=[],
            supplier="0xSupplier",
            delivery_deadline=PICKUP_DEADLINE - 7_200,
            pickup_deadline=PICKUP_DEADLINE,
            dispute_window=DISPUTE_WINDOW,
            answer_window=1_800,
        )

    def deal_totals(self, deal_id: int) -> SimpleNamespace:
        return SimpleNamespace(open_claims=0, last_receipt_at=PICKUP_DEADLINE - 7_300)

    def leader_info(self, deal_id: int, leader: str) -> SimpleNamespace:
        return SimpleNamespace(received_at=PICKUP_DEADLINE - 7_300)

    def shortfall(self, deal_id: int, leader: str) -> SimpleNamespace:
        return SimpleNamespace(short=False)

    def fee_recipient(self) -> str:
        return "0xFee"

    def owed(self, deal_id: int, account: str) -> int:
        self.owed_calls += 1
        return 5 if self.settled and account in BUYERS else 0

    def settle(self, deal_id: int, *, signer: object) -> None:
        now = self.clock["timestamp"]
        self.settle_calls.append(now)
        if now < TRUE_SETTLEABLE_AT:
            raise chain_errors.error_class("SettlementTooEarly")(
                name="SettlementTooEarly",
                arguments={"dealId": deal_id, "settleableAt": TRUE_SETTLEABLE_AT},
            )
        self.settled = True

    def push_payouts(self, deal_id: int, accounts: list[str], *, signer: object) -> None:
        self.pushed = list(accounts)


class _Feed:
    def __init__(self, *, busy: bool = False) -> None:
        self.busy = busy  # the deal has new events on every pass (payouts, other parties' acts)

    def changed(self) -> set[int] | None:
        return {DEAL} if self.busy else set()

    def every(self) -> set[int]:
        return {DEAL}

    def closing(self, after: int | None, until: int) -> set[int]:
        return set()

    def parties(self, deal_ids: set[int]) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        return {DEAL: set(BUYERS) | {"0xLeader"}}, {}

    def cash(self, deal_ids: set[int]) -> dict[int, dict[str, set[str]]]:
        return {}


def _keeper(clock: dict[str, int], *, busy: bool = False) -> tuple[Keeper, _Escrow]:
    escrow = _Escrow(clock)
    w3 = SimpleNamespace(eth=SimpleNamespace(get_block=lambda _: dict(clock)))
    chain = SimpleNamespace(w3=w3, clients=SimpleNamespace(escrow=escrow), keeper="keeper")
    keeper = Keeper(chain, index=object())  # type: ignore[arg-type]
    keeper.feed = _Feed(busy=busy)  # type: ignore[assignment]
    return keeper, escrow


def test_a_settle_refused_as_too_early_waits_for_the_time_the_escrow_named() -> None:
    clock = {"timestamp": PICKUP_DEADLINE + 5}  # past the keeper's own guess, before the truth
    keeper, escrow = _keeper(clock)

    for _ in range(20):  # a hundred seconds of passes, five seconds apart
        keeper.run_once()
        clock["timestamp"] += 5
    assert escrow.settle_calls == [PICKUP_DEADLINE + 5]  # tried once, then waited
    parties = len(BUYERS) + 3  # buyers, the leader, the supplier, the fee recipient
    assert escrow.owed_calls <= 3 * parties  # not one round of owed() per pass

    clock["timestamp"] = TRUE_SETTLEABLE_AT
    keeper.run_once()
    assert escrow.settle_calls[-1] == TRUE_SETTLEABLE_AT
    assert escrow.settled
    assert sorted(escrow.pushed) == sorted(BUYERS)


def test_a_deal_looked_at_again_for_its_events_is_not_settled_before_that_time() -> None:
    clock = {"timestamp": PICKUP_DEADLINE + 5}
    keeper, escrow = _keeper(clock, busy=True)
    for _ in range(10):
        keeper.run_once()
        clock["timestamp"] += 5
    assert escrow.settle_calls == [PICKUP_DEADLINE + 5]
    clock["timestamp"] = TRUE_SETTLEABLE_AT
    keeper.run_once()
    assert escrow.settled
