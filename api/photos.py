"""Product photos on the pages: one rule for what a master-data ``image`` may be.

A product photo is a document stored here (``ipfs://<cid>`` in master data, served by this
service's /ipfs/ gateway) and nothing else: a picture from another host would tell that host
who opens which page, when (a supplier's tracking pixel on every shopper's phone). The pages' policy enforces it too:
img-src 'self' (``api.render.CONTENT_SECURITY_POLICY``); inputs refuse anything else.
"""

from __future__ import annotations

import re

PHOTO_URI = re.compile(r"^ipfs://([A-Za-z0-9]{20,100})$")


def photo_path(value: object) -> str | None:
    """The page's ``src`` for a master-data photo: ``/ipfs/<cid>`` for an ``ipfs://`` document,
    None for anything else (an https URL included; pages show the product's picture instead)."""
    found = PHOTO_URI.match(value) if isinstance(value, str) else None
    return f"/ipfs/{found[1]}" if found else None
