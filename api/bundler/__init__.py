"""The ERC-4337 bundler: user operations accepted at ``POST /v1/bundler``, stored in an outbox, then
bundled with ``handleOps`` — the relayer's guarantees for passkey accounts (issue 14).

- :mod:`api.bundler.models` — the outbox table ``user_operations`` (kept across chain changes,
  pending ones failed ``chain_changed``: :mod:`api.binding`);
- :mod:`api.bundler.accept` — parse, nonce, validation and execution simulated, then stored;
- :mod:`api.bundler.rpc` / :mod:`api.bundler.errors` — the ERC-7769 methods and error codes;
- :mod:`api.bundler.worker` — bundles each operation once, restart-safe;
- :mod:`api.bundler.prepare` — unsigned operations of consumer actions for pages holding a passkey.

All chain work goes through :mod:`chain.aa` (``Chain.passkeys``, ``Chain.bundling``).
"""
