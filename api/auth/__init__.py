"""Who is asking: Sign-In with Ethereum (EIP-4361) sessions for the reads personal data needs.

- :mod:`api.auth.siwe` — the EIP-4361 message text, built and parsed strictly;
- :mod:`api.auth.sessions` — challenges (single-use nonces) and sessions (bearer token or cookie);
- :mod:`api.auth.roles` — what an address is on chain (platform, supplier, leader);
- :mod:`api.auth.models` — their tables; :mod:`api.auth.errors` — what can be refused.
"""
