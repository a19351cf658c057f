"""Bounded JSON parsing: untrusted documents cannot crash the process by nesting.

With web3 imported, py_ecc has raised the recursion limit to 100,000, so an unguarded
``json.loads`` of the documents below would overflow the C stack and kill pytest itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import web3  # noqa: F401  (imported for its side effect on the recursion limit)
from hypothesis import given
from hypothesis import strategies as st

from traceability.safe_json import MAX_JSON_DEPTH, UnsafeJson, json_depth, loads_bounded


def test_the_hazard_is_real() -> None:
    """In a fresh process (api.app lowers the limit again in this one): py_ecc, imported by web3,
    raises the recursion limit to 100,000, deep enough for json.loads to overflow the C stack."""
    probe = "import sys, web3; print(sys.getrecursionlimit())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 100_000


@pytest.mark.parametrize(
    "text",
    ["[" * 200_000 + "]" * 200_000, '{"a":' * 200_000 + "1" + "}" * 200_000, "[" * 500_000],
)
def test_deep_nesting_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(UnsafeJson, match="nested"):
        loads_bounded(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"lot": "[[[[{{{{" * 100, "quote": 'a"[b\\\\', "n": [[1]]})
    assert json_depth(text) == 3
    assert loads_bounded(text)["n"] == [[1]]


def test_non_utf8_is_refused() -> None:
    with pytest.raises(UnsafeJson, match="UTF-8"):
        loads_bounded(b'{"a": "\xff"}')


def test_malformed_json_stays_a_value_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads_bounded("{not json")


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(), max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=25,
)


@given(value=json_values, ascii_only=st.booleans())
def test_depth_is_the_structural_depth(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert json_depth(text) == _depth(value)
    if _depth(value) <= MAX_JSON_DEPTH:
        assert loads_bounded(text.encode()) == value


def test_epcis_text_is_parsed_through_the_bounded_loader() -> None:
    """A document nested past the bound, or not UTF-8, is an invalid EPCIS document (400 at
    the API), never a RecursionError."""
    from traceability.epcis.document import parse_document
    from traceability.epcis.errors import InvalidEpcisDocument

    for data in ("[" * 10_000 + "]" * 10_000, b"\xff{}"):
        with pytest.raises(InvalidEpcisDocument):
            parse_document(data)
