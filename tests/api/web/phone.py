"""A phone in the browser tests: a 390px Chromium context with the injected test wallet.

The wallet is a test double of a browser wallet: an EIP-1193 provider announced through EIP-6963,
whose requests are answered in Python by eth-account (anvil's public development keys) through
Playwright's ``expose_function`` (see :mod:`tests.api.web.test_journeys`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from chain.aa.webauthn import base64url_decode

from .conftest import PHONE, WAIT_MS

# What a page sets once done (``data-address``, ``data-joined``): waited for with expectations,
# never wait_for_function, which evaluates a string in the page and the pages' policy forbids
# that (script-src 'self', api.render.CONTENT_SECURITY_POLICY).
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SET = re.compile(".")

# The injected wallet: an EIP-1193 provider announced per EIP-6963; requests go to Python.
WALLET_JS = """
(() => {
  const provider = {
    request: async ({ method, params }) => {
      const answer = await window.tuanTestWallet(method, params || []);
      if (answer && answer.error) {
        const error = new Error(answer.error.message);
        error.code = answer.error.code;
        throw error;
      }
      return answer.result;
    },
    on() {},
    removeListener() {},
  };
  const info = Object.freeze({
    uuid: "6f1c2b4e-0d1a-4c55-9a61-7e3c1f0b2a90",
    name: "Test wallet (eth-account)",
    icon: "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>",
    rdns: "org.tuanchain.test-wallet",
  });
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", {
    detail: Object.freeze({ info, provider }),
  }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
"""


@dataclass
class Wallet:
    """The Python side of the injected wallet: one account, eth-account's signatures."""

    account: LocalAccount
    signed: int = 0

    def __call__(self, method: str, params: list[Any]) -> dict[str, Any]:
        me = self.account.address
        if method in ("eth_requestAccounts", "eth_accounts"):
            return {"result": [me]}
        if method == "eth_chainId":
            return {"result": hex(31337)}
        if method == "eth_signTypedData_v4":
            address, typed = params
            assert address.lower() == me.lower()
            self.signed += 1
            signed = self.account.sign_typed_data(full_message=json.loads(typed))
            return {"result": signed.signature.to_0x_hex()}
        if method == "personal_sign":
            message, address = params
            assert address.lower() == me.lower()
            self.signed += 1
            signed = self.account.sign_message(encode_defunct(hexstr=message))
            return {"result": signed.signature.to_0x_hex()}
        return {"error": {"code": 4200, "message": f"unsupported method {method}"}}


def phone_context(browser: Any, locale: str | None = "en-US", **options: Any) -> Any:
    """A fresh phone-sized browser context (``options`` override, e.g. another viewport); no
    wallet and no passkey until a caller adds one. ``locale`` None: the browser's own."""
    settings = {"viewport": PHONE, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
    if locale is not None:
        settings["locale"] = locale
    return browser.new_context(**(settings | options))


def phone_page(context: Any) -> tuple[Any, list[str]]:
    """A page of ``context`` and the list its script errors are collected in."""
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def open_phone(
    browser: Any, wallet: Wallet, locale: str = "en-US", **options: Any
) -> tuple[Any, Any, list[str]]:
    """A fresh phone-sized context whose wallet is ``wallet``: (context, page, script errors)."""
    context = phone_context(browser, locale, **options)
    context.expose_function("tuanTestWallet", wallet)
    context.add_init_script(WALLET_JS)
    page, errors = phone_page(context)
    return context, page, errors


def passkey_phone(browser: Any, locale: str = "zh-CN") -> tuple[Any, Any, list[str]]:
    """A fresh phone-sized context with a platform authenticator (a virtual passkey through CDP,
    user verified, no prompt) instead of a wallet: (context, page, script errors)."""
    context = phone_context(browser, locale)
    page, errors = phone_page(context)
    add_passkey_authenticator(context, page)
    return context, page, errors


def add_passkey_authenticator(context: Any, page: Any) -> None:
    """A platform authenticator on ``page`` (a virtual passkey through CDP: user verified, no
    prompt), beside whatever wallet the page has."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


_SHORT_CODE = re.compile(
    r"^tc2\.([0-9]+)\.([0-9a-fA-F]{40})\.([0-9]+)\.([0-9]+)\.([ew])\.([A-Za-z0-9_-]+)$"
)


def read_code(text: str) -> dict[str, Any]:
    """A buyer's pickup code read as the leader's handout page reads it (``static/handout.js``;
    the tests read back what a page shows): the short form
    ``tc2.<deal>.<buyer>.<quantity>.<expiry>.<e|w>.<base64url>`` (``e``: the signature, ``w``: a
    passkey's compact assertion, :mod:`chain.aa.compact`) or the first form's JSON; returns
    ``deal``, ``buyer``, ``quantity``, ``expiry`` and ``signature`` (0x-hex) or ``webauthn``
    (base64url), as ``items`` of the ``handover`` action take them. ValueError otherwise."""
    text = text.strip()
    short = _SHORT_CODE.match(text)
    if short:
        deal, buyer, quantity, expiry, kind, data = short.groups()
        code: dict[str, Any] = {
            "deal": int(deal),
            "buyer": "0x" + buyer,
            "quantity": int(quantity),
            "expiry": int(expiry),
        }
        if kind == "e":
            code["signature"] = "0x" + base64url_decode(data).hex()
        else:
            code["webauthn"] = data
        return code
    try:
        first = json.loads(text)
    except ValueError:
        raise ValueError("not a pickup code") from None
    if not isinstance(first, dict) or first.get("v") != 1 or not first.get("signature"):
        raise ValueError("not a pickup code")
    return {k: first[k] for k in ("deal", "buyer", "quantity", "expiry", "signature")}


def until_indexed(page: Any, check: Any) -> None:
    """Reload until the index shows what the chain has (readiness, bounded; not a timing)."""
    for _ in range(120):
        if check():
            return
        page.wait_for_timeout(500)
        page.reload()
    pytest.fail("the page never showed the indexed state")
