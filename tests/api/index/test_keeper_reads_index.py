"""The keeper reads which deals to look at from the index (the service's keeper) or, with no
index, from the escrow's logs read incrementally; both plan the same actions, and a pass after
the first looks only at what may be due (its cost does not grow with every deal ever listed)."""

from __future__ import annotations

from api.keeper import Keeper
from api.services import Services

from .conftest import make_indexer
from .world import World, advance, now


def test_a_pass_looks_only_at_what_is_due(
    world: World, services: Services, fresh_engine, chain_snapshot: None
) -> None:
    engine = fresh_engine()
    make_indexer(engine, services).sync_until_idle()
    from_index = Keeper(world.chain, index=engine)
    from_logs = Keeper(world.chain)

    first = from_index.plan()
    assert first == from_logs.plan()
    assert from_index.looked_at == from_logs.looked_at
    # The first pass looks at every deal (an open one may sell a recalled batch).
    assert {world.failed_deal, world.open_deal} <= set(from_index.looked_at)

    # Nothing happened since: the second pass looks again only at the deals it planned for
    # (the plan was not executed), and plans the same.
    again = from_index.plan()
    assert from_index.looked_at == sorted({a.deal_id for a in first})
    assert world.open_deal not in from_index.looked_at
    assert again == first
    assert from_logs.plan() == first and from_logs.looked_at == from_index.looked_at

    # Time alone closes the open deal: its join deadline passing makes it due.
    deadline = world.chain.clients.escrow.deal_params(world.open_deal).join_deadline
    advance(world.chain, max(0, deadline - now(world.chain)) + 1)
    from_index.plan()
    from_logs.plan()
    assert world.open_deal in from_index.looked_at
    assert world.open_deal in from_logs.looked_at
