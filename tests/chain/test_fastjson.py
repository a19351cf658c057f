"""``chain.fastjson.loads`` gives what ``json.loads`` gives, for any JSON text ``json`` writes or
reads — integers of any size exact — and fails where it fails, with its error; ``dumps`` writes
the JSON value ``json.dumps`` writes, for any JSON value."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.fastjson import dumps, loads

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, type for type (1 is not 1.0 here), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(_values, st.booleans(), st.booleans())
def test_reads_what_json_writes_as_json_reads_it(
    value: Any, ascii_only: bool, as_bytes: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    data: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    if as_bytes and not ascii_only and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # not UTF-8: neither reads it
    assert _same(loads(data), json.loads(data))


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551616",
        "-9223372036854775809",
        '{"value": 115792089237316195423570985008687907853269984665640564039457584007913129639935}',
        '{"a": 1, "a": 2}',
        "1e400",
        "-0.0",
        "[NaN, Infinity, -Infinity]",
        '"\\ud800"',
        " [1, 2.5e-3, true, null] ",
        '"\ud800"',  # a lone surrogate itself, not escaped
        b"\xef\xbb\xbf[1]",  # UTF-8 with a byte order mark
        '[1, "\u00e9"]'.encode("utf-16"),
    ],
)
def test_edges_read_as_json_reads_them(text: str | bytes) -> None:
    assert _same(loads(text), json.loads(text))


@pytest.mark.parametrize("text", ["", "{", "[1,]", "01", '{"a" 1}', "nul", "[1] x"])
def test_malformed_text_fails_with_jsons_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(text)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # lone surrogates too
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text() | st.integers() | st.none() | st.booleans(), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(_json_values)
def test_writes_the_json_value_json_writes(value: Any) -> None:
    assert _same(json.loads(dumps(value)), json.loads(json.dumps(value)))
