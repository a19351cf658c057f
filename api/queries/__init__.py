"""Read queries over the index: what the read API, the resolver and the pages show.

Functions take a SQLAlchemy ``Session`` and return JSON-ready dicts (shapes documented by the
pydantic models in :mod:`api.schemas.read`). Current state is derived from event rows here
(latest party action, recall rows, deal phase from chain time), so the tables stay append-only.

One module per job: :mod:`~api.queries.common` (batch keys, index state, chain time, parties),
:mod:`~api.queries.deals`, :mod:`~api.queries.batches` (provenance included),
:mod:`~api.queries.dashboard`, :mod:`~api.queries.pickups` (pickups and leaders' cash orders), and :mod:`~api.queries.cache`: hot provenance responses cached per
``(gtin, lot)`` and keyed by the index ``version`` (bumped by every indexer commit); the indexer
also clears the cache directly when it runs in this process (:func:`api.indexer.on_index_change`).
"""

from api.queries.batches import list_batches, provenance
from api.queries.cache import ProvenanceCache
from api.queries.cash_orders import booked_deals, leader_cash_orders, led_deals
from api.queries.common import MAX_PAGE, chain_now, check_batch_key, index_state, party_status
from api.queries.dashboard import dashboard
from api.queries.deals import (
    _deal_status_sql,
    _DealFacts,
    buyer_orders,
    deal_detail,
    deal_details,
    deal_summary,
    list_deals,
)

__all__ = [
    "MAX_PAGE",
    "ProvenanceCache",
    "_DealFacts",
    "_deal_status_sql",
    "booked_deals",
    "buyer_orders",
    "chain_now",
    "check_batch_key",
    "dashboard",
    "deal_detail",
    "deal_details",
    "deal_summary",
    "index_state",
    "leader_cash_orders",
    "led_deals",
    "list_batches",
    "list_deals",
    "party_status",
    "provenance",
]
