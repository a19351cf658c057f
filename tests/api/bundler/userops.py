"""The bundler tests' shared steps: JSON-RPC to ``POST /v1/bundler`` and a fresh passkey account's join."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.testclient import TestClient

from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.webauthn import SoftwarePasskey
from chain.context import Chain

from ..relay.conftest import TOP_PRICE, DealSetup


def rpc(client: TestClient, method: str, *params: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/bundler", json={"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == 7 and body["jsonrpc"] == "2.0"
    return body


def result(client: TestClient, method: str, *params: Any) -> Any:
    body = rpc(client, method, *params)
    assert "error" not in body, body
    return body["result"]


def error(client: TestClient, method: str, *params: Any) -> dict[str, Any]:
    body = rpc(client, method, *params)
    assert "error" in body, body
    return body["error"]


def new_passkey() -> SoftwarePasskey:
    return SoftwarePasskey.from_secret(secrets.token_bytes(32))


def funded_account(chain: Chain, key: SoftwarePasskey, tokens: int = 100 * TOP_PRICE) -> str:
    """``key``'s counterfactual account, holding ``tokens`` of the stablecoin and no ETH."""
    account = chain.passkeys.account_address(key)
    chain.clients.token.mint(account, tokens, signer=chain.platform)
    return account


def send_join(client: TestClient, chain: Chain, deal: DealSetup) -> str:
    """A fresh passkey account's first operation (create, approve and join one unit), sent: its hash."""
    key = new_passkey()
    account = funded_account(chain, key, TOP_PRICE)
    accounts = chain.passkeys
    op = accounts.user_operation(
        account=account,
        calls=accounts.approve_and_join(deal.deal_id, 1, deal.leader.address, TOP_PRICE),
        create_with=key,
    )
    return result(client, "eth_sendUserOperation", accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08)
