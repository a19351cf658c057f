"""tuanchain's chain layer: compile, anvil, deployments, typed clients, transactions, EIP-712.

Modules, one job each:
- :mod:`chain.errors` — ``ChainError`` and the named revert exceptions (``errors.DealClosed``),
  decoded from revert data with the compiled ABIs; the plain failures are defined in
  :mod:`chain.exceptions` (so the artifact loader needs no decoder) and re-exported there.
- :mod:`chain.compile` / :mod:`chain.artifacts` — py-solc-x compilation into ``build/artifacts``.
- :mod:`chain.anvil` — local node launcher.
- :mod:`chain.settings` / :mod:`chain.accounts` — ``TUANCHAIN_*`` settings, keys, dev-key refusal.
- :mod:`chain.tx` — nonces, gas, fees, signing, broadcasting, receipts, named reverts; foreign
  errors (web3, requests, the node's messages) translated into :mod:`chain.errors` once.
- :mod:`chain.eip712` — forward requests and permits as ``eth_signTypedData_v4`` dicts; signing,
  recovering and splitting signatures.
- :mod:`chain.deploy` — idempotent deployment (:mod:`chain.deployer`) and the
  ``deployments/<chainId>.json`` manifests (:mod:`chain.manifest`).
- :mod:`chain.clients` — one typed client per contract (a package: views, base, one module each);
  the forwarder's client simulates forwarded calls, the one way to.
- :mod:`chain.aa` — passkey accounts (ERC-4337).
- :mod:`chain.context` — ``connect(settings)``: all of the above, ready to use.
- :mod:`chain.cli` — ``tuanchain node | deploy | verify``.

Nothing here imports ``api``; ``tests/test_import_graph.py`` keeps the graph acyclic.
"""

import os as _os

# Keccak through safe-pysha3 (pinned; C) rather than eth-hash's first choice, pycryptodome: 0.7
# vs 21 µs a hash, and signature checks, typed-data digests, checksummed addresses and ABI
# selectors hash constantly (20 % of the relayer's accept under load, issue 15). eth-hash reads
# this on its first hash, which comes after this package is imported.
_os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
