"""A request whose calldata is not exactly its call's ABI encoding is refused at accept.

Found in review: Solidity's (and eth-abi's) decoder ignores bytes after the arguments, and
nothing bounded a request's calldata: any fresh account, with no tokens, could sign a cheap call
that succeeds (``pushPayouts(deal, [])``) followed by ~100 KB of junk. The relayer then carries
the junk in its ``executeBatch``: ~40 gas a byte under EIP-7623's calldata floor, which the
batch's gas limit (the requests' signed ``gas`` and overhead, ``16 × len(calldata)``) does not
cover. Seen on anvil before the fix: the batch was taken into the pool and never mined (``sent``,
"not mined within 60 s"), and every later batch of that relayer key queued behind its nonce.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from chain.context import Chain

from .conftest import make_deal, own_outbox, signed_forward


def _signed(chain: Chain, account: LocalAccount, data: bytes) -> dict[str, Any]:
    """A fresh account's first request (nonce 0) of ``data`` to the escrow."""
    escrow = chain.clients.escrow
    return signed_forward(chain, account, escrow.address, data, nonce=0, gas=200_000)


def test_a_request_with_bytes_after_its_arguments_is_refused(services: Services, tmp_path) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    escrow = chain.clients.escrow
    deal = make_deal(chain, min_quantity=1)
    call = escrow.calldata("pushPayouts", deal.deal_id, [])
    with TestClient(create_app(own)) as client:
        junk = call + b"\x5a" * 100_000
        response = client.post("/v1/relay", json=_signed(chain, Account.create(), junk))
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_request"
        # A call the relayer pays for: one byte after its arguments is refused too.
        withdraw = escrow.calldata("withdraw", deal.deal_id)
        junked = client.post("/v1/relay", json=_signed(chain, Account.create(), withdraw + b"\0"))
        assert junked.status_code == 400 and junked.json()["code"] == "invalid_request"
        exact = client.post("/v1/relay", json=_signed(chain, Account.create(), withdraw))
        # Exactly encoded, it passes the request's checks and meets the contract's own refusal.
        assert exact.status_code == 409 and exact.json()["details"]["error"] == "NothingOwed"


def test_a_call_the_relayer_does_not_pay_for_is_refused(services: Services, tmp_path) -> None:
    """``pushPayouts(deal, [])`` succeeds for anyone: relayed, a fresh key could spend the
    relayer's gas on it again and again. Only the actions tuanchain's pages prepare are paid."""
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    deal = make_deal(chain, min_quantity=1)
    call = chain.clients.escrow.calldata("pushPayouts", deal.deal_id, [])
    with TestClient(create_app(own)) as client:
        response = client.post("/v1/relay", json=_signed(chain, Account.create(), call))
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "not_sponsored" and body["details"]["function"] == "pushPayouts"
    with own.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM relay_requests").scalar() == 0
