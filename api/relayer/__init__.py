"""The gasless relayer: signed requests checked and stored in an outbox, then sent by a worker.

- :mod:`api.relayer.models` — the outbox table (and upload replay guard) on the index's ``Base``.
- :mod:`api.relayer.accept` — checks a signed request (signature, domain, deadline, nonce) and
  simulates it, refusing doomed requests with the contract's own named error, then stores it.
- :mod:`api.relayer.worker` — sends stored requests with the relayer key, retries, reconciles.
"""
