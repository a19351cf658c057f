"""A consumer with nothing installed, on a phone: Playwright drives Debian's Chromium (390x844)
on ``http://localhost:<port>/passkey`` (a WebAuthn RP ID cannot be an IP address).

The authenticator is Chromium's own virtual authenticator, added through the DevTools protocol
(``WebAuthn.addVirtualAuthenticator``: CTAP2, internal transport — a phone's platform
authenticator — with user verification that succeeds): the page's real
``navigator.credentials.create`` / ``.get`` run, and real P-256 signatures with random s reach
passkey.js, which normalises them and encodes the account's signature. Everything else is real:
the API, the faucet, the bundler's outbox and worker, EntryPoint v0.8, the paymaster, anvil.

The consumer creates a passkey, sees the account's counterfactual address, gets test tokens,
joins a deal and uploads claim evidence signed through ERC-1271 — and the account never holds or
pays any ETH. Screenshot:
``test-artifacts/passkey/``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.bundler import worker as bundler_worker
from api.services import Services
from chain.aa.webauthn import P256_N, WebAuthnAssertion, account_signature, base64url
from chain.artifacts import REPO_ROOT
from chain.context import Chain

from ..relay.conftest import TOP_PRICE, make_deal
from ..web.conftest import WAIT_MS as WAIT
from ..web.phone import ADDRESS, SET, passkey_phone

playwright_api = pytest.importorskip("playwright.sync_api")  # a pinned dev dependency

# One backend (a browser's passkey flow; the bundler's outbox runs on both in test_bundler.py): tests/api/conftest.py.
pytestmark = pytest.mark.sqlite_only
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "test-artifacts" / "passkey"
expect = playwright_api.expect


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[str]:
    """The app on a free port with the bundler's worker running, as ``tuanchain serve`` runs it."""
    if not CHROMIUM.is_file():
        pytest.fail(
            "chromium is not installed: apt-get install -y --no-install-recommends chromium"
        )
    app = create_app(services)
    stop_worker = bundler_worker.start_background(services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://localhost:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # readiness, not a timed assertion
            try:
                if httpx.get(base + "/static/passkey.js", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            pytest.fail("uvicorn did not start")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        stop_worker()


@pytest.fixture
def phone(server: str) -> Iterator[Any]:
    """A phone-sized Chromium page with a platform authenticator (virtual, via CDP)."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context, page, errors = passkey_phone(browser)
        try:
            yield page
        finally:
            context.close()
            browser.close()
        assert not errors, errors


def test_a_consumer_signs_in_with_a_passkey_gets_tokens_and_joins_paying_no_eth(
    phone: Any, server: str, api_chain: Chain
) -> None:
    deal = make_deal(api_chain, min_quantity=1)
    page = phone
    page.goto(f"{server}/passkey?lang=zh&deal={deal.deal_id}&leader={deal.leader.address}")
    page.click('[data-action="create"]')
    expect(page.locator("#passkey")).to_have_attribute("data-address", ADDRESS, timeout=WAIT)
    key = json.loads(page.evaluate("localStorage.getItem('tuan.passkey')"))
    expected = api_chain.passkeys.factory.get_address(
        bytes.fromhex(key["qx"][2:]), bytes.fromhex(key["qy"][2:])
    )
    assert page.get_attribute("#passkey", "data-address") == expected
    assert not api_chain.passkeys.is_deployed(expected)  # counterfactual until its first operation

    page.click('[data-action="faucet"]')
    expect(page.locator("[data-field=balance]")).to_have_text("200.00", timeout=WAIT)

    page.fill('form.passkey-join input[name="quantity"]', "2")
    page.click('form.passkey-join button[type="submit"]')
    expect(page.locator("#passkey")).to_have_attribute("data-joined", SET, timeout=WAIT)
    assert page.get_attribute("#passkey", "data-joined") == "yes", page.inner_text("output")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "passkey-joined.png"
    page.screenshot(path=str(shot), full_page=True)

    escrow, token = api_chain.clients.escrow, api_chain.clients.token
    assert escrow.order(deal.deal_id, expected).quantity == 2
    assert token.balance_of(expected) == 200 * 10**6 - 2 * TOP_PRICE
    assert api_chain.passkeys.is_deployed(expected)
    assert api_chain.w3.eth.get_balance(expected) == 0  # no ETH, ever
    assert "成功" in page.inner_text("output")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Claim evidence: the pages' upload signs with the passkey through ERC-1271.
    png = list(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64)))
    stored = page.evaluate(
        """async ([bytes, dealId]) => {
            const blob = new Blob([new Uint8Array(bytes)], { type: "image/png" });
            return await window.Tuan.upload(blob, dealId);
        }""",
        [png, deal.deal_id],
    )
    assert stored["uploader"] == expected and stored["role"] == "buyer"


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    authenticator_data=st.binary(min_size=37, max_size=140),
    challenge=st.binary(min_size=32, max_size=32),
    origin=st.sampled_from(["http://localhost:8000", "https://tuan.example", "android:apk-key"]),
    r=st.integers(1, P256_N - 1),
    s=st.integers(1, P256_N - 1),
    signer=st.binary(min_size=20, max_size=84),
)
def test_the_pages_encoding_is_the_chain_layers_byte_for_byte(
    phone: Any,
    server: str,
    authenticator_data: bytes,
    challenge: bytes,
    origin: str,
    r: int,
    s: int,
    signer: bytes,
) -> None:
    """passkey.js (DER parsing, low s, the WebAuthn tuple, the account's envelope) against
    chain.aa.webauthn, which the contract tests check on chain."""
    page = phone
    if "/passkey" not in page.url:
        page.goto(f"{server}/passkey?lang=en")
        page.wait_for_load_state("load")  # its deferred scripts, window.TuanPasskey's, have run
    client_data = json.dumps(
        {"type": "webauthn.get", "challenge": base64url(challenge), "origin": origin},
        separators=(",", ":"),
    )
    low = WebAuthnAssertion(authenticator_data, client_data, r, s).normalised()
    expected = account_signature([(signer, low)])
    got = page.evaluate(
        """([der, auth, client, signer]) => {
            const P = window.TuanPasskey;
            const parsed = P.parseDer(P.unhex(der));
            const assertion = P.encodeAssertion({
                r: parsed.r, s: P.lowS(parsed.s),
                challengeIndex: client.indexOf('"challenge":"'),
                typeIndex: client.indexOf('"type":"webauthn.get"'),
                authenticatorData: P.unhex(auth),
                clientDataJSON: new TextEncoder().encode(client),
            });
            return P.hex(P.encodeAccountSignature(P.unhex(signer), assertion));
        }""",
        [
            "0x" + encode_dss_signature(r, s).hex(),
            "0x" + authenticator_data.hex(),
            client_data,
            "0x" + signer.hex(),
        ],
    )
    assert got == "0x" + expected.hex()
