"""JSON text read by msgspec where it reads it as ``json`` does, else by ``json``.

Why (issue 15): under the 2,000-join rush the service spent ~3-4 % of its CPU in ``json.loads``
— the outbox rows' JSON columns read back by the relay worker (the forward request's typed data,
the permit: ``create_engine(json_deserializer=...)``, :func:`api.services.make_engine`) and the
node's JSON-RPC answers (:mod:`chain.rpc_http`). msgspec reads the same text in a quarter of the
time and gives the same values: integers of any size exactly (a uint256 amount; orjson would
read one past 64 bits as a float), the last of repeated keys. What msgspec refuses and ``json``
reads (``NaN``, ``Infinity``, lone surrogates, a byte order mark, UTF-16 bytes) goes to ``json``, as does anything malformed, so
the errors are ``json``'s own (``json.JSONDecodeError``, a ``ValueError``).

:func:`dumps` writes the JSON-RPC requests to the node (~2 % of the service under the rush, as
``json.dumps``): msgspec writes the same JSON values ~9x faster (other than ASCII as UTF-8, not
escaped). For JSON values only — msgspec also writes what ``json`` refuses (bytes as base64,
dates, decimals) and NaN as ``null``: a request's params are hex strings, numbers, booleans,
lists and objects. What msgspec refuses (a lone surrogate, a ``None`` key) ``json`` writes.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_decode = msgspec.json.decode
_encode = msgspec.json.encode


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``, the same value."""
    try:
        return _decode(text)
    except (msgspec.DecodeError, UnicodeError):  # (a str it cannot encode as UTF-8)
        return json.loads(text)


def dumps(value: Any) -> bytes:
    """``json.dumps(value, separators=(",", ":")).encode()`` of a JSON value: the same value."""
    try:
        return _encode(value)
    except (TypeError, UnicodeError, msgspec.EncodeError):
        return json.dumps(value, separators=(",", ":")).encode()
