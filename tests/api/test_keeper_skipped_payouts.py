"""A payee the token refuses (a blacklisted address: ``pushPayouts`` skips it, it stays owed)
must not make the keeper send a payout transaction for it on every pass, forever."""

from __future__ import annotations

from types import SimpleNamespace

from api.keeper import Keeper
from api.keeper.core import REFUSED_RETRY_SECONDS
from chain.clients import DealStatus

DEAL = 1
SUPPLIER, FEE, PAID, BLOCKED = "0xSupplier", "0xFee", "0xPaid", "0xBlocked"


class _Escrow:
    """A failed deal owing two buyers; the token refuses transfers to ``BLOCKED``."""

    def __init__(self) -> None:
        self.owes = {PAID: 10, BLOCKED: 10}
        self.pushed: list[list[str]] = []

    def deal_status(self, deal_id: int) -> DealStatus:
        return DealStatus.FAILED

    def deal_params(self, deal_id: int) -> SimpleNamespace:
        return SimpleNamespace(batch_ids=[], supplier=SUPPLIER, pickup_deadline=0)

    def fee_recipient(self) -> str:
        return FEE

    def owed(self, deal_id: int, account: str) -> int:
        return self.owes.get(account, 0)

    def push_payouts(self, deal_id: int, accounts: list[str], *, signer: object) -> None:
        self.pushed.append(list(accounts))
        for account in accounts:
            if account != BLOCKED:  # PayoutSkipped for the blocked one: still owed
                self.owes[account] = 0


class _Feed:
    def changed(self) -> set[int] | None:
        return set()

    def every(self) -> set[int]:
        return {DEAL}

    def closing(self, after: int | None, until: int) -> set[int]:
        return set()

    def parties(self, deal_ids: set[int]) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        return {DEAL: {PAID, BLOCKED}}, {}

    def cash(self, deal_ids: set[int]) -> dict[int, dict[str, set[str]]]:
        return {}


def test_a_payee_the_token_refuses_is_not_pushed_again_every_pass() -> None:
    escrow = _Escrow()
    clock = {"timestamp": 1_000}
    w3 = SimpleNamespace(eth=SimpleNamespace(get_block=lambda _: dict(clock)))
    chain = SimpleNamespace(w3=w3, clients=SimpleNamespace(escrow=escrow), keeper="keeper")
    keeper = Keeper(chain, index=object())  # type: ignore[arg-type]
    keeper.feed = _Feed()  # type: ignore[assignment]

    for _ in range(5):
        keeper.run_once()

    assert escrow.pushed == [[BLOCKED, PAID]]  # one attempt; the blocked payee may withdraw
    assert escrow.owes == {PAID: 0, BLOCKED: 10}

    # Much later (the address may have been cleared): one more attempt, then quiet again.
    clock["timestamp"] += REFUSED_RETRY_SECONDS
    for _ in range(5):
        keeper.run_once()
    assert escrow.pushed == [[BLOCKED, PAID], [BLOCKED]]
