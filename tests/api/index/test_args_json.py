"""``args_json`` (the encoder calling back for bytes and mappings only) writes exactly what
``json_safe`` then ``json.dumps`` wrote: the stored ``raw_logs.args`` did not change form."""

from __future__ import annotations

import json

from hexbytes import HexBytes
from hypothesis import example, given
from hypothesis import strategies as st
from web3.datastructures import AttributeDict

from api.indexer.logs import args_json
from chain.jsonable import json_safe

leaves = st.one_of(
    st.integers(min_value=-(2**255), max_value=2**256 - 1),
    st.booleans(),
    st.text(max_size=8),
    st.binary(max_size=40),
    st.binary(max_size=40).map(HexBytes),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4).map(AttributeDict),
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), values, max_size=6))
# An AttributeDict makes each key an attribute: keys named like Mapping's methods hide them.
@example({"v": AttributeDict({"items": 0, "keys": 1})})
def test_args_json_writes_what_json_safe_wrote(args: dict) -> None:
    expected = json.dumps(json_safe(args), sort_keys=True, separators=(",", ":"))
    assert args_json(args) == expected
