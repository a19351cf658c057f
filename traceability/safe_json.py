"""JSON parsing of untrusted documents with a bound on nesting depth.

Importing web3 imports ``py_ecc``, which raises the interpreter's recursion limit to 100,000;
after that, ``json.loads`` of a document nested a few ten thousand levels deep overflows the
C stack and kills the process (a segfault, not a ``RecursionError``). Documents fetched from
IPFS or given on the command line are untrusted, so their nesting is measured first —
brackets outside strings, a linear scan — and anything deeper than any EPCIS document or
batch manifest could be is refused before the parser sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from traceability.errors import TraceabilityError

MAX_JSON_DEPTH: Final = 128  # EPCIS documents nest about 8 levels deep

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class UnsafeJson(TraceabilityError, ValueError):
    """Bytes that are not UTF-8, or JSON nested deeper than ``MAX_JSON_DEPTH``."""


def json_depth(text: str) -> int:
    """Deepest bracket nesting of ``text`` outside string literals."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_bounded(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses non-UTF-8 bytes and excessive nesting with ``UnsafeJson``.

    Malformed JSON still raises ``json.JSONDecodeError`` (a ``ValueError``).
    """
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsafeJson(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    depth = json_depth(data)
    if depth > max_depth:
        raise UnsafeJson(f"JSON nested {depth} levels deep (at most {max_depth} accepted)")
    return json.loads(data)
