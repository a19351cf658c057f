"""``api.routes.jsonbody.FastJsonRoute`` against FastAPI's own route: for every body and content
type, the same status and the same answer (msgspec's values where it reads the body, FastAPI's
own refusal where it does not)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.routes.jsonbody import FastJsonRoute


def _app(route_class: type | None) -> TestClient:
    router = APIRouter(**({"route_class": route_class} if route_class else {}))

    @router.post("/echo")
    def echo(body: Annotated[dict[str, Any], Body()]) -> Any:
        # Python's repr: a value's types show (an int read as a float would differ).
        return {"repr": repr(body)}

    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


PLAIN, FAST = _app(None), _app(FastJsonRoute)

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_bodies = st.one_of(
    st.dictionaries(st.text(max_size=6), _json_values, max_size=4).map(
        lambda v: json.dumps(v).encode()
    ),
    _json_values.map(lambda v: json.dumps(v).encode()),  # not an object: 422
    st.just(b'{"a": 1, "a": 2}'),  # the last of repeated keys
    st.just(b'{"a": NaN, "b": Infinity}'),  # json reads them, msgspec does not
    st.just(b'\xef\xbb\xbf{"a": 1}'),  # a byte order mark
    st.just(b'{"a": "\\ud800"}'),  # a lone surrogate
    st.just(b'{"a": 1'),  # truncated
    st.just(b"\xff\xfe{}"),
    st.just(b"[" * 5000 + b"]" * 5000),  # deeper than either reader goes
    st.binary(max_size=20),
)
_content_types = st.sampled_from(
    [
        "application/json",
        "application/ld+json",
        "text/plain",
        None,
        "application/json; charset=utf-8",
    ]
)


def _answer(client: TestClient, body: bytes, content_type: str | None) -> tuple[int, Any]:
    headers = {"content-type": content_type} if content_type else {}
    try:
        response = client.post("/echo", content=body, headers=headers)
    except Exception as exc:  # noqa: BLE001 — FastAPI's own failure (a body it cannot show)
        return 500, type(exc).__name__
    return response.status_code, response.json()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies, content_type=_content_types)
def test_same_answer_as_fastapis_own_route(body: bytes, content_type: str | None) -> None:
    assert _answer(FAST, body, content_type) == _answer(PLAIN, body, content_type)


def test_big_integers_stay_exact() -> None:
    status, answer = _answer(
        FAST,
        b'{"value": 115792089237316195423570985008687907853269984665640564039457584007913129639935}',
        "application/json",
    )
    assert status == 200 and answer == {"repr": "{'value': " + str(2**256 - 1) + "}"}
