"""Sessions and nonces of Sign-In with Ethereum, against a real database.

Found in review: a session opened with the very message this service issued ended with that
message's Expiration Time — the challenge's ten minutes — not after ``SESSION_TTL_SECONDS``
(8 hours); and nonce rows were never deleted (one per challenge, for ever).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import Engine, func, select

from api.auth import sessions, siwe
from api.auth.errors import NotSignedIn, SignInRefused
from api.auth.models import AuthNonce, AuthSession
from api.services import make_engine
from chain.settings import Settings

SETTINGS = Settings(public_url="https://shop.example", chain_id=31337)
NOW = 1_800_000_000


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine("sqlite:///" + str(tmp_path / "auth.db"))


def _signed(account, message: siwe.SiweMessage) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    text = message.text()
    return text, account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def _rows(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _nonces(engine: Engine) -> int:
    return _rows(engine, AuthNonce)


def test_a_session_from_the_services_own_message_lasts_the_session_lifetime(
    engine: Engine,
) -> None:
    account = Account.create()
    message = sessions.issue_challenge(engine, SETTINGS, address=account.address, now=NOW)
    assert message.expiration_time is not None  # the challenge's: sign within ten minutes
    text, signature = _signed(account, message)
    opened = sessions.sign_in(engine, SETTINGS, text=text, signature=signature, now=NOW + 5)
    assert opened.expires_at == NOW + 5 + sessions.SESSION_TTL_SECONDS
    later = NOW + sessions.NONCE_TTL_SECONDS + 3600  # an hour past the challenge's end
    assert sessions.session_address(engine, opened.token, now=later)[0] == account.address
    with pytest.raises(NotSignedIn):
        sessions.session_address(engine, opened.token, now=opened.expires_at)


def test_an_expiration_the_wallet_chose_ends_the_session(engine: Engine) -> None:
    account = Account.create()
    issued = sessions.issue_challenge(engine, SETTINGS, address=account.address, now=NOW)
    chosen = NOW + 1800  # the wallet rebuilt the message with its own Expiration Time
    own = dataclasses.replace(
        issued, expiration_time=siwe.format_time(datetime.fromtimestamp(chosen, UTC))
    )
    text, signature = _signed(account, own)
    opened = sessions.sign_in(engine, SETTINGS, text=text, signature=signature, now=NOW + 5)
    assert opened.expires_at == chosen


def test_spent_and_expired_nonces_are_deleted_a_bounded_batch_per_challenge(
    engine: Engine,
) -> None:
    account = Account.create()
    backlog = 2 * sessions.SWEEP_BATCH + 50
    first = sessions.issue_challenge(engine, SETTINGS, address=account.address, now=NOW)
    text, signature = _signed(account, first)
    sessions.sign_in(engine, SETTINGS, text=text, signature=signature, now=NOW)  # spent
    for _ in range(backlog - 1):
        sessions.issue_challenge(engine, SETTINGS, address=account.address, now=NOW)
    assert _nonces(engine) == backlog  # none expired yet: none deleted

    later = NOW + sessions.NONCE_TTL_SECONDS
    for issued in range(1, 4):
        sessions.issue_challenge(engine, SETTINGS, address=account.address, now=later)
        left = max(0, backlog - issued * sessions.SWEEP_BATCH)
        assert _nonces(engine) == left + issued
    assert _nonces(engine) == 3  # only the three live ones
    # The spent nonce, deleted, is refused as before.
    with pytest.raises(SignInRefused) as refused:
        sessions.sign_in(engine, SETTINGS, text=text, signature=signature, now=NOW + 1)
    assert refused.value.reason == "nonce_not_valid"


def _sessions(engine: Engine) -> int:
    return _rows(engine, AuthSession)


def test_expired_and_ended_sessions_are_deleted_a_bounded_batch_per_sign_in(
    engine: Engine,
) -> None:
    account = Account.create()
    backlog = sessions.SWEEP_BATCH + 30

    def open_one(now: int) -> str:
        message = sessions.issue_challenge(engine, SETTINGS, address=account.address, now=now)
        text, signature = _signed(account, message)
        return sessions.sign_in(engine, SETTINGS, text=text, signature=signature, now=now).token

    ended = open_one(NOW)
    sessions.end_session(engine, ended, now=NOW + 1)
    for _ in range(backlog - 1):
        open_one(NOW + 2)
    assert _sessions(engine) == backlog - 1  # the ended one deleted (by the next sign-in)

    later = NOW + 2 + sessions.SESSION_TTL_SECONDS  # every session so far has expired
    live = open_one(later)
    assert _sessions(engine) == backlog - sessions.SWEEP_BATCH  # a batch, not all at once
    open_one(later)
    assert _sessions(engine) == 2  # the rest, and the two live ones stay
    assert sessions.session_address(engine, live, now=later + 1)[0] == account.address
    with pytest.raises(NotSignedIn):  # a deleted session is refused like an ended one
        sessions.session_address(engine, ended, now=later)
