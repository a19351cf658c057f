"""tuanchain's chain layer: compile, anvil, deployments, typed clients, transactions, EIP-712.

Modules, one job each:
- :mod:`chain.errors` — ``ChainError`` and the named revert exceptions (``errors.DealClosed``).
- :mod:`chain.compile` / :mod:`chain.artifacts` — py-solc-x compilation into ``build/artifacts``.
- :mod:`chain.anvil` — local node launcher.
- :mod:`chain.settings` / :mod:`chain.accounts` — ``TUANCHAIN_*`` settings, keys, dev-key refusal.
- :mod:`chain.tx` — nonces, gas, fees, receipts, named reverts.
- :mod:`chain.eip712` — forward requests and permits as ``eth_signTypedData_v4`` dicts.
- :mod:`chain.deploy` — idempotent deployment and ``deployments/<chainId>.json``.
- :mod:`chain.clients` — one typed client per contract (a package: views, base, one module each).
- :mod:`chain.context` — ``connect(settings)``: all of the above, ready to use.
"""
