"""A deal's platform fee is owed to the fee recipient the deal was listed with (the escrow keeps
it per deal): the keeper must push to that account even after the platform named another."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from api.db import models as m
from api.keeper.feeds import IndexFeed

OLD_FEE = "0x" + "0f" * 20


def test_the_index_feed_names_the_deals_own_fee_recipient(fresh_engine) -> None:
    engine = fresh_engine()
    with Session(engine) as session:
        session.add(
            m.Deal(
                block_number=1,
                tx_hash="0x" + "aa" * 32,
                log_index=0,
                block_time=datetime(2026, 9, 1, tzinfo=UTC),
                deal_id=7,
                supplier="0x" + "11" * 20,
                token="0x" + "22" * 20,
                fee_recipient=OLD_FEE,
                price_tiers=[[0, 100]],
                commission_tiers=[],
                min_quantity=1,
                max_quantity=10,
                per_buyer_limit=10,
                join_deadline=10,
                delivery_deadline=20,
                dispute_window=5,
                answer_window=5,
                commission_bps=500,
                platform_fee_bps=100,
            )
        )
        session.commit()

    parties, _ = IndexFeed(engine).parties({7})

    assert OLD_FEE in parties[7]
