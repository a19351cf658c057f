"""The gasless path in one folder: actions prepared for signing, signed requests checked and
stored in an outbox, then sent by a worker.

- :mod:`api.relayer.action_params` — each action's parameters; :mod:`api.relayer.prepare` — the
  EIP-712 payloads of each gasless action (``POST
  /v1/actions/{action}/prepare``), checked against the contract before anyone signs: the shared
  parts in ``prepare/builder.py``, the escrow's actions in ``prepare/deals.py``, the registry's
  in ``prepare/registry.py``.
- :mod:`api.relayer.models` — the outbox table (and upload replay guard, and the lock rows of
  ``claims``) on the index's ``Base``; their schema changes only through migrations
  (:mod:`api.db.migrate`), which carry their rows over.
- :mod:`api.relayer.queue` — a signer's queue: the forwarder / permit nonces its pending requests
  hold, so a signer may have several requests waiting (contiguous nonces).
- :mod:`api.relayer.accept` — checks a signed request (signature, domain, deadline, nonce) and
  simulates it, refusing doomed requests with the contract's own named error, then stores it.
- :mod:`api.relayer.describe` — what the outbox records about a request, decoded from the signed
  payloads only (posted ``details`` are ignored).
- :mod:`api.relayer.claims` — on PostgreSQL, several service processes share the outbox: a worker
  claims a signer's queue with ``SELECT ... FOR UPDATE SKIP LOCKED`` (SQLite: one writer, no-op).
- :mod:`api.relayer.gas` — gas bounds: a request's signed gas (capped at accept) and a batch's.
- :mod:`api.relayer.worker` — sends the queue heads in ``executeBatch`` transactions (each
  signer's requests in nonce order, one per batch) with the relayer key, pipelined; settles each
  request from the batch's logs (a failed call named from a trace), retries, reconciles; fails the requests queued behind a failed one (``previous_request_failed``);
  and now and then deletes prepared documents that were never anchored (below). Its parts:
  :mod:`api.relayer.send` (check the heads, sign and send a batch), :mod:`api.relayer.settle`
  (each request of a mined batch from its logs) and :mod:`api.relayer.outbox` (the rows'
  queries and moves: failed, mined elsewhere, queued again, retried with backoff).

Documents and garbage collection: ``prepare`` stores the documents an action anchors *unpinned*
(preparing is unauthenticated); ``accept`` pins them once the signed request is verified. The
embedded store marks every unpinned ``put`` (``recent/<cid>``, refreshed when stored again) and its
``gc(older_than=...)`` deletes only blocks neither pinned nor reachable from a mark younger than
that (nor written since). The background worker loop runs it at start and then hourly with a
24-hour age (a prepared request expires after one hour). A kubo store collects its own unpinned
blocks (``ipfs repo gc``, or the daemon's ``--enable-gc``); the worker leaves it alone.
"""
