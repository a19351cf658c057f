"""Decoded ABI values as JSON values: one conversion for every place that stores or shows them.

bytes → lowercase ``0x`` hex, tuples and lists → lists, mappings → dicts. Integers stay exact
by default (Python's ``json`` writes any size, and the index stores them so); for bodies read by
JavaScript clients, whose numbers lose precision past 2^53, ``big_ints_as_text`` writes those as
decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JS_SAFE_INTEGER = 2**53


def json_safe(value: Any, *, big_ints_as_text: bool = False) -> Any:
    if isinstance(value, bytes | bytearray):  # HexBytes is a bytes
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        # Mapping.items, not value.items: web3's AttributeDict makes each key an attribute, so
        # an event argument named ``items`` (or ``keys``) hides the method.
        return {k: json_safe(v, big_ints_as_text=big_ints_as_text) for k, v in Mapping.items(value)}
    if isinstance(value, list | tuple):
        return [json_safe(v, big_ints_as_text=big_ints_as_text) for v in value]
    if (
        big_ints_as_text
        and isinstance(value, int)
        and not isinstance(value, bool)
        and abs(value) >= JS_SAFE_INTEGER
    ):
        return str(value)
    return value
