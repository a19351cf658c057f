"""The per-client rate limit (api.ratelimit): the token bucket's arithmetic, a bounded table, and
the 429 ``rate_limited`` answer with ``Retry-After`` through the app, counted per client address
as uvicorn's proxy-headers middleware reports it.

Every clock here is the test's own (a list it moves): nothing sleeps, nothing is timed. The apps
run without a node (an RPC URL nobody listens on): what a request that passes the limit answers
(400, 503) does not matter here, only whether it was refused with 429.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.app import create_app
from api.ratelimit import TokenBuckets, client_key, retry_after
from api.routes.qr import MAX_QR_TEXT
from api.services import build_services
from chain.settings import Settings

from ..clock import SetClock

# --------------------------------------------------------------------------- the bucket

steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30, allow_nan=False),  # seconds before the request
        st.sampled_from(["a", "b"]),  # whose
        st.integers(min_value=1, max_value=4),  # its cost
    ),
    max_size=60,
)


@given(
    rate=st.floats(min_value=0.01, max_value=50, allow_nan=False),
    burst=st.integers(min_value=1, max_value=20),
    steps=steps,
)
def test_a_key_is_never_given_more_than_its_burst_plus_the_refill(
    rate: float, burst: int, steps: list[tuple[float, str, int]]
) -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=rate, burst=burst, clock=clock)
    start = clock.now
    granted = {"a": 0, "b": 0}
    for gap, key, cost in steps:
        clock.now += gap
        wait = buckets.take(key, cost)
        assert wait >= 0
        if not wait:
            granted[key] += min(cost, burst)
    for key, total in granted.items():
        assert total <= burst + rate * (clock.now - start) + 1e-6, key


@given(
    rate=st.floats(min_value=0.01, max_value=50, allow_nan=False),
    burst=st.integers(min_value=1, max_value=20),
    cost=st.integers(min_value=1, max_value=20),
    spent=st.integers(min_value=0, max_value=40),
)
def test_a_refused_request_passes_once_its_retry_after_has_passed(
    rate: float, burst: int, cost: int, spent: int
) -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=rate, burst=burst, clock=clock)
    for _ in range(spent):
        buckets.take("a")
    wait = buckets.take("a", cost)
    if not wait:
        return
    assert buckets.take("a", cost) > 0  # asking again changes nothing
    clock.now += retry_after(wait)
    assert buckets.take("a", cost) == 0.0


def test_a_new_client_has_its_burst_then_one_request_per_refill() -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    assert buckets.take("b") == 0.0  # another client: its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == 0.5


def test_a_cost_above_the_burst_takes_the_whole_bucket() -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=1, burst=5, clock=clock)
    assert buckets.take("a", 50) == 0.0
    assert buckets.take("a") == 1.0


def test_tokens_given_back_are_taken_again() -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=1 / 3600, burst=1, clock=clock)  # the faucet's window
    assert buckets.take("a") == 0.0
    buckets.give_back("a")
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(3600)


def test_rate_zero_is_no_limit_and_keeps_nothing() -> None:
    buckets = TokenBuckets(rate=0, burst=1)
    assert all(buckets.take("a", 10) == 0.0 for _ in range(1000))
    assert len(buckets) == 0


# --------------------------------------------------------------------------- bounded memory


def test_refilled_buckets_are_forgotten() -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=1, burst=10, clock=clock)
    for i in range(1000):
        buckets.take(f"client-{i}", 2)
    assert len(buckets) == 1000
    clock.now += 1  # one token back each: none full yet
    buckets.take("client-0")
    assert len(buckets) == 1000
    clock.now += 1  # all refilled but the one used a second ago
    buckets.take("late")
    assert len(buckets) == 2


def test_the_table_never_holds_more_than_its_bound() -> None:
    clock = SetClock(1000.0)
    buckets = TokenBuckets(rate=0.001, burst=2, max_keys=100, clock=clock)
    buckets.take("busy", 2)
    for i in range(10_000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
        if i % 50 == 0:
            assert buckets.take("busy") > 0  # used recently: kept, still limited
    assert len(buckets) == 100


# --------------------------------------------------------------------------- the client's key


def test_a_client_is_its_address_an_ipv6_client_its_64() -> None:
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key(None) == "unix"


# --------------------------------------------------------------------------- through the app


@pytest.fixture
def limited_app(tmp_path: Path) -> Iterator[tuple[FastAPI, SetClock]]:
    """The app (no node behind it), each client allowed 2 requests then 1 a second."""
    settings = Settings(
        rpc_url="http://127.0.0.1:9",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/index.db",
        deployments_dir=tmp_path / "deployments",
        rate_limit_per_second=1,
        rate_limit_burst=2,
    )
    app = create_app(build_services(settings))
    # SQLite: one process, its buckets in memory (PostgreSQL's: tests/api/test_rate_limit_shared.py).
    assert isinstance(app.state.client_buckets, TokenBuckets)
    assert (app.state.client_buckets.rate, app.state.client_buckets.burst) == (1, 2)
    clock = SetClock(1000.0)
    app.state.client_buckets = TokenBuckets(rate=1, burst=2, clock=clock)
    yield app, clock


JOIN_PREPARE = "/v1/actions/join/prepare"
SEND = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendUserOperation", "params": [{}, "0x"]}


def test_the_third_request_in_a_second_is_429_with_retry_after(
    limited_app: tuple[FastAPI, SetClock],
) -> None:
    app, clock = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    # prepare and relay share one bucket: a join is both.
    assert client.post(JOIN_PREPARE, json={}).status_code != 429
    assert client.post("/v1/relay", json={}).status_code != 429
    refused = client.post("/v1/relay", json={})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["details"] == {"retry_after_seconds": 1}
    # Another client is not this one's business.
    other = TestClient(app, client=("198.51.100.2", 40000))
    assert other.post("/v1/relay", json={}).status_code != 429
    clock.now += 1
    assert client.post("/v1/relay", json={}).status_code != 429


def test_the_bundler_counts_the_calls_that_simulate_and_never_refuses_a_read(
    limited_app: tuple[FastAPI, SetClock],
) -> None:
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    assert client.post("/v1/bundler", json=[SEND, SEND]).status_code == 200  # two tokens, of two
    refused = client.post("/v1/bundler", json=SEND)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert "retry-after" in refused.headers
    read = {"jsonrpc": "2.0", "id": 2, "method": "eth_getUserOperationReceipt", "params": ["0x"]}
    for _ in range(5):
        assert client.post("/v1/bundler", json=read).status_code == 200


def test_sign_in_nonces_and_attempts_are_limited_per_client(
    limited_app: tuple[FastAPI, SetClock],
) -> None:
    # Found by review: POST /v1/auth/nonce wrote a database row per call and /v1/auth/verify ran
    # a signature recovery (or an ERC-1271 call) per call, for any client, without limit.
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    address = {"address": "0x" + "ab" * 20}
    assert client.post("/v1/auth/nonce", json=address).status_code == 200
    assert (
        client.post("/v1/auth/verify", json={"message": "x", "signature": "0x"}).status_code != 429
    )
    assert client.post("/v1/auth/nonce", json=address).status_code == 429
    assert (
        client.post("/v1/auth/verify", json={"message": "x", "signature": "0x"}).status_code == 429
    )


def test_the_limited_routes_declare_429(limited_app: tuple[FastAPI, SetClock]) -> None:
    app, _ = limited_app
    paths = app.openapi()["paths"]
    for path in (
        "/v1/relay",
        "/v1/actions/{action}/prepare",
        "/v1/bundler",
        "/v1/faucet",
        "/v1/auth/nonce",
        "/v1/auth/verify",
        "/v1/ops/deals/check",
        "/v1/qr",
        "/v1/documents/private",
        "/v1/documents",
    ):
        assert "429" in paths[path]["post"]["responses"], path
    assert "429" in paths["/v1/actions/{action}/prepare-userop"]["post"]["responses"]


def test_a_client_forwarded_by_a_trusted_proxy_is_counted_as_that_client(
    limited_app: tuple[FastAPI, SetClock],
) -> None:
    """As ``tuanchain serve`` runs the app: behind uvicorn's proxy-headers middleware trusting
    the proxy at 127.0.0.1 (``TUANCHAIN_FORWARDED_ALLOW_IPS``' default)."""
    app, _ = limited_app
    served = ProxyHeadersMiddleware(app, trusted_hosts=Settings().forwarded_allow_ips)
    proxy = TestClient(served, client=("127.0.0.1", 40000))

    def post(forwarded_for: str) -> int:
        return proxy.post(
            "/v1/relay", json={}, headers={"x-forwarded-for": forwarded_for}
        ).status_code

    assert [post("203.0.113.7") for _ in range(3)][-1] == 429
    assert post("203.0.113.8") != 429  # another client behind the same proxy
    assert post("10.9.9.9, 203.0.113.7") == 429  # whatever the client itself claimed first
    # A peer that is not a trusted proxy is counted as itself, whatever it forwards.
    direct = TestClient(served, client=("198.51.100.1", 40000))
    statuses = [
        direct.post("/v1/relay", json={}, headers={"x-forwarded-for": f"192.0.2.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses[-1] == 429


def test_serve_trusts_the_configured_proxies_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tuanchain serve`` hands ``TUANCHAIN_FORWARDED_ALLOW_IPS`` to uvicorn (whose own
    ``FORWARDED_ALLOW_IPS`` it does not read): the server is built, not run."""
    import uvicorn

    from api.serve import _serve
    from chain.shutdown import Stop

    built: list[uvicorn.Config] = []

    def run(server: uvicorn.Server) -> None:
        built.append(server.config)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    settings = Settings(
        rpc_url="http://127.0.0.1:9",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/index.db",
        deployments_dir=tmp_path / "deployments",
        forwarded_allow_ips="10.0.0.5",
    )
    _serve(build_services(settings), "127.0.0.1", 8000, Stop(), background=False)
    assert [config.forwarded_allow_ips for config in built] == ["10.0.0.5"]


def test_a_refused_client_is_logged_once_a_minute_not_per_request(
    limited_app: tuple[FastAPI, SetClock], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.77", 40000))
    with caplog.at_level("WARNING", logger="api.ratelimit"):
        statuses = [client.post("/v1/relay", json={}).status_code for _ in range(6)]
    assert statuses.count(429) == 4
    assert [r.getMessage() for r in caplog.records if "198.51.100.77" in r.getMessage()] == [
        "rate limit: refusing 198.51.100.77 (1 a second after a burst of 2)"
    ]


def test_qr_codes_are_limited_per_client_by_their_length(
    limited_app: tuple[FastAPI, SetClock],
) -> None:
    """Found in review: POST /v1/qr drew a code for anyone without limit, at up to ~0.35-0.8 s
    of the one interpreter's CPU for the longest text it takes: a few clients could hold the
    service. Each started 100 characters is a token of the client's bucket."""
    app, clock = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    short = {"text": "tc2." + "a" * 90}
    assert client.post("/v1/qr", json=short).status_code == 200
    assert client.post("/v1/qr", json=short).status_code == 200
    assert client.post("/v1/qr", json=short).status_code == 429
    clock.now += 2
    long = {"text": "a" * MAX_QR_TEXT}  # more tokens than the burst: the whole bucket
    assert client.post("/v1/qr", json=long).status_code == 200
    refused = client.post("/v1/qr", json=short)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"


def test_listing_checks_are_limited_per_client(limited_app: tuple[FastAPI, SetClock]) -> None:
    """Found in review: POST /v1/ops/deals/check, open to anyone, asks the chain about every
    batch a listing names (up to 64) per call, without limit."""
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    assert client.post("/v1/ops/deals/check", json={}).status_code == 422
    assert client.post("/v1/ops/deals/check", json={}).status_code == 422
    refused = client.post("/v1/ops/deals/check", json={})
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"


def test_sensor_csvs_are_limited_per_client_by_their_size(
    limited_app: tuple[FastAPI, SetClock],
) -> None:
    """Found in review: POST /v1/supplier/sensor-events, open to anyone, validates every
    reading's event against the EPCIS schema (a full 2 MB CSV: about 100 s of CPU on the review
    machine), without limit. A token per started 20 kB: this 25 kB file takes the burst of 2."""
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    form = {"gtin14": "06901234500028", "lot": "P1", "location": "x", "min_c": "0", "max_c": "4"}
    csv = {"file": ("readings.csv", b"time,device_id,type,value,unit\n" + b"x" * 25_000)}
    first = client.post("/v1/supplier/sensor-events", data=form, files=csv)
    assert first.status_code == 400 and first.json()["code"] == "input_error"
    refused = client.post("/v1/supplier/sensor-events", data=form, files=csv)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"


@pytest.mark.parametrize("chunked", [False, True])
def test_a_limited_route_charges_a_large_body_by_its_size(
    limited_app: tuple[FastAPI, SetClock], chunked: bool
) -> None:
    """Found in review: a prepare took one token whatever its body, and an anchor_event prepare
    naming an event with thousands of sensor readings costs seconds of CPU (its EPCIS schema
    validation) before anything else is checked. A token more per 64 kB: this 70 kB body takes
    the burst of 2, declared or chunked."""
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    body = json.dumps({"from": "0x" + "11" * 20, "padding": "x" * 70_000}).encode()
    content: Any = iter([body[:30_000], body[30_000:]]) if chunked else body
    headers = {"content-type": "application/json"}
    first = client.post(JOIN_PREPARE, content=content, headers=headers)
    assert first.status_code != 429, first.text
    refused = client.post(JOIN_PREPARE, json={})
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"


def test_signed_uploads_are_limited_per_client(limited_app: tuple[FastAPI, SetClock]) -> None:
    """Found in review: POST /v1/documents recovered a signature (or asked the chain through
    ERC-1271) and read roles on chain for every upload, whoever sent it, without limit."""
    app, _ = limited_app
    client = TestClient(app, client=("198.51.100.1", 40000))
    form = {"address": "0x" + "11" * 20, "timestamp": "0", "signature": "0x00"}
    upload = {"file": ("a.pdf", b"%PDF-1.7 x", "application/pdf")}
    for _ in range(2):
        assert client.post("/v1/documents", data=form, files=upload).status_code == 400
    refused = client.post("/v1/documents", data=form, files=upload)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
