"""tuanchain's service: indexer, FastAPI app (resolver, provenance, gasless relay), relayer, keeper, pages.

Modules, one job each (who owns what):
- :mod:`api.services` — ``Services``: settings, chain connection, document store, database engine.
- :mod:`api.errors` — one mapping from domain errors to HTTP status + ``{"code", "message"}``.
- :mod:`api.app` — ``create_app(services)``: the FastAPI app with every router.
- :mod:`api.db` / :mod:`api.indexer` — SQL tables and the chain-log indexer that fills them.
- :mod:`api.relayer` / :mod:`api.keeper` — the outbox relayer and the settlement keeper.
- :mod:`api.routes` — one router per area (read, relay, documents, ipfs, resolver, pages).
"""
