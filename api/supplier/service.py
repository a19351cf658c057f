"""The service's HTTP API as the supplier CLI uses it.

An action is prepared by the service (which stores the documents it anchors and returns EIP-712
typed data), signed here with the keystore's key, then either relayed (``POST /v1/relay``; the
platform pays gas) and followed until mined, or sent directly: the very call the forward request
carries (``to``, ``data``), as a transaction from the supplier's own account, which pays the gas.
The contract sees the same ``_msgSender()`` both ways.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from web3 import Web3

from api.routes.documents import upload_message
from api.supplier.errors import InputError, ServiceRefused
from api.supplier.inputs import file_bytes
from api.supplier.keystore import ClientSettings
from chain.accounts import LOCAL_CHAIN_IDS, is_dev_key
from chain.errors import ChainError, DevKeyOnPublicChain, NodeUnavailable
from chain.tx import TxSender, translate_errors

RELAY_POLL_SECONDS = 0.5
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".txt": "text/plain",
}


class Service:
    """One service at ``base_url``; ``http`` may be given (tests pass the app's TestClient)."""

    def __init__(self, base_url: str, *, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL as exc:
            raise InputError(f"the service's URL {base_url!r} is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InputError(
                f"the service's URL {base_url!r} is not an http:// or https:// URL with a host"
                " (--api, TUANCHAIN_API_URL)"
            )
        self.http = http or httpx.Client(base_url=self.base_url, timeout=60.0)

    def _json(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            if isinstance(body, dict) and "code" in body:
                details = body.get("details")
                raise ServiceRefused(
                    str(body["code"]),
                    str(body.get("message", "")),
                    details if isinstance(details, dict) else None,
                )
            raise ServiceRefused(f"http_{response.status_code}", response.text[:200])
        return body

    def _call(
        self, method: str, path: str, *, expect: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any]:
        """The JSON object the service answers, holding the members ``expect`` names; anything
        else (a web page, another API behind ``--api``) is ``unexpected_answer``."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceRefused("service_unavailable", f"{self.base_url}: {exc}") from None
        body = self._json(response)
        missing = [k for k in expect if k not in body] if isinstance(body, dict) else list(expect)
        if not isinstance(body, dict) or missing:
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise ServiceRefused(
                "unexpected_answer",
                f"{self.base_url}{path} answered {kind} without {', '.join(missing) or 'an object'}"
                " (is --api the tuanchain service?)",
            )
        return body

    # ------------------------------------------------------------------ gasless actions

    def prepare(self, action: str, account: LocalAccount, body: dict[str, Any]) -> dict[str, Any]:
        prepared = self._call(
            "POST",
            f"/v1/actions/{action}/prepare",
            expect=("payloads",),
            json={"from": account.address, **body},
        )
        if not isinstance(prepared["payloads"], dict) or "request" not in prepared["payloads"]:
            raise ServiceRefused("unexpected_answer", f"{action}: prepared without a request")
        return prepared

    def relay(self, prepared: dict[str, Any], account: LocalAccount) -> dict[str, Any]:
        """Sign every payload as ``eth_signTypedData_v4`` does and hand them to the relayer."""
        signatures = {
            name: account.sign_typed_data(full_message=payload).signature.to_0x_hex()
            for name, payload in prepared["payloads"].items()
        }
        return self._call(
            "POST", "/v1/relay", expect=("id",), json={**prepared, "signatures": signatures}
        )

    def wait(
        self,
        request_id: str,
        *,
        timeout: float,
        on_status: Callable[[str], None] = lambda _: None,
    ) -> dict[str, Any]:
        """Follow a relayed request until mined (returned) or failed (:class:`ServiceRefused`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self._call("GET", f"/v1/relay/{request_id}", expect=("status",))
            except ServiceRefused as exc:
                if exc.code != "service_unavailable":
                    raise
                # Accepted, then the service went away: the request is in its outbox and may
                # well be mined; what to do is what the resumable commands are for.
                raise ServiceRefused(
                    exc.code,
                    f"{exc.message}; request {request_id} was accepted and may still be mined: "
                    "run the same command again once the service answers (what was done is "
                    "skipped)",
                ) from None
            on_status(status["status"])
            if status["status"] == "mined":
                return status
            if status["status"] == "failed":
                error = status.get("error") or {}
                raise ServiceRefused(
                    str(error.get("code") or "relay_failed"),
                    str(error.get("message") or f"relayed request {request_id} failed"),
                    error.get("details") if isinstance(error.get("details"), dict) else None,
                )
            if time.monotonic() > deadline:
                raise ServiceRefused(
                    "relay_timeout",
                    f"request {request_id} is still {status['status']} after {timeout:.0f} s; "
                    f"it stays in the outbox (GET /v1/relay/{request_id}): run the same command "
                    "again later, what was mined by then is skipped",
                )
            time.sleep(RELAY_POLL_SECONDS)

    # ------------------------------------------------------------------ reads

    def batch_supplier(self, gtin14: str, lot: str) -> str | None:
        """The account that registered a batch, as indexed (None: not indexed yet)."""
        try:
            found = self._call(
                "GET", f"/v1/batches/{gtin14}/{quote(lot, safe='')}", expect=("batch",)
            )
        except ServiceRefused as exc:
            if exc.code in ("not_found", "batch_not_found", "not_in_index"):
                return None
            raise
        supplier = (found["batch"] or {}).get("supplier") or {}
        return supplier.get("address") if isinstance(supplier, dict) else None

    def claims(self, supplier: str, *, before: int | None = None) -> dict[str, Any]:
        """One page of ``supplier``'s claims (``GET /v1/supplier/{address}/claims``)."""
        params = {"before": before} if before is not None else {}
        return self._call(
            "GET",
            f"/v1/supplier/{supplier}/claims",
            expect=("claims", "waiting", "next_before"),
            params=params,
        )

    # ------------------------------------------------------------------ sign-in, private files

    def sign_in(self, account: LocalAccount) -> str:
        """A Sign-In with Ethereum session's bearer token."""
        challenge = self._call(
            "POST", "/v1/auth/nonce", expect=("message",), json={"address": account.address}
        )
        signature = account.sign_message(encode_defunct(text=challenge["message"])).signature
        session = self._call(
            "POST",
            "/v1/auth/verify",
            expect=("token",),
            json={"message": challenge["message"], "signature": signature.to_0x_hex()},
        )
        return str(session["token"])

    def upload_public(
        self, account: LocalAccount, data: bytes, *, name: str, content_type: str
    ) -> dict[str, Any]:
        """A public document (a product's master data, its photo) through ``POST /v1/documents``,
        signed as the pages sign it (``personal_sign`` of the upload message)."""
        timestamp = int(time.time())
        message = upload_message(hashlib.sha256(data).hexdigest(), timestamp)
        signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
        return self._call(
            "POST",
            "/v1/documents",
            expect=("cid",),
            data={"address": account.address, "timestamp": str(timestamp), "signature": signature},
            files={"file": (name, data, content_type)},
        )

    def upload_private(
        self, token: str, path: Path, *, purpose: str, deal_id: int = 0
    ) -> dict[str, Any]:
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            raise InputError(
                f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(CONTENT_TYPES)}"
            )
        data = file_bytes(path)
        return self._call(
            "POST",
            "/v1/documents/private",
            expect=("sha256", "digest"),
            headers={"Authorization": f"Bearer {token}"},
            data={"purpose": purpose, "deal_id": str(deal_id)},
            files={"file": (path.name, data, content_type)},
        )


def send_directly(
    prepared: dict[str, Any], account: LocalAccount, settings: ClientSettings
) -> dict[str, Any]:
    """Send the prepared forward request's call as the account's own transaction (it pays gas)."""
    typed = prepared["payloads"]["request"]
    message, domain = typed["message"], typed["domain"]
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))
    sender = TxSender(w3, timeout=settings.tx_timeout_seconds)
    with translate_errors(sender.registry):
        try:
            node_chain_id = int(w3.eth.chain_id)
        except ChainError:
            raise
        except Exception as exc:
            raise NodeUnavailable.no_answer(settings.rpc_url, exc) from exc
        if int(domain["chainId"]) != node_chain_id:
            raise ServiceRefused(
                "chain_mismatch",
                f"the service prepared for chain {domain['chainId']}, {settings.rpc_url} is "
                f"chain {node_chain_id}",
            )
        if node_chain_id not in LOCAL_CHAIN_IDS and is_dev_key(account.key):
            raise DevKeyOnPublicChain(account.address, node_chain_id, settings.rpc_url)
        receipt = sender.send(account, to=message["to"], data=message["data"])
    return {
        "status": "mined",
        "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),  # type: ignore[index]
        "block_number": int(receipt["blockNumber"]),  # type: ignore[index]
        "details": prepared.get("details", {}),
    }
