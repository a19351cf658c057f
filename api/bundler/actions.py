"""What a passkey account can do through the platform's paymaster: the consumer's actions
(``ConsumerSponsorPolicy`` on chain sponsors these calls only). Apart from :mod:`api.bundler.prepare`
so the pages can name them without importing the chain side: a page holding a passkey says at once
that a leader's or a supplier's action needs a wallet, before any upload or signature."""

from __future__ import annotations

# "refund" = withdraw.
PASSKEY_ACTIONS = ("join", "cancel", "withdraw", "refund", "file_claim", "add_passkey")
