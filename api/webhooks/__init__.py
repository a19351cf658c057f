"""Notices delivered to an operator's SMS or WeChat gateway as Standard Webhooks.

- :mod:`api.webhooks.signing`: the Standard Webhooks format (``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``, ``whsec_`` secrets);
- :mod:`api.webhooks.models`: the endpoints operators register, the delivery outbox, and the
  consented contact of an address (phone / WeChat openid: personal data, sealed, never on chain);
- :mod:`api.webhooks.contacts`: consent given and withdrawn by the address itself;
- :mod:`api.webhooks.outbox`: notices (:mod:`api.notices`) become deliveries, sent at least once
  with backoff, dead-lettered after too many failures, retried by an operator;
- :mod:`api.webhooks.runner`: the background loop (a singleton role: one sender).
"""
