"""Personal data (PIPL): documents sealed at rest, out of the public gateway, read by role.

- :mod:`api.private.crypto` — AES-256-GCM sealing with the key from settings;
- :mod:`api.private.models` — the sealed documents and the log of who read them;
- :mod:`api.private.store` — put and read, with the access rule of each purpose.

Only a document's SHA-256 leaves this store (anchored on chain, as a bytes32 or as the CIDv1
``raw`` identifier of the plaintext); the bytes never enter the IPFS document store, so
``/ipfs/{cid}`` and every gateway answer 404 for them.
"""
