"""Sign-in with EIP-4361: a challenge per address, a session per signed challenge.

1. :func:`issue_challenge` stores a random nonce for the address (valid :data:`NONCE_TTL_SECONDS`)
   and returns the message to sign, bound to this service (domain and URI from
   ``settings.public_url``) and its chain id.
2. :func:`sign_in` checks a signed message — format, domain, scheme, URI, chain id, time window,
   signer — then spends its nonce (one ``UPDATE ... WHERE used_at IS NULL``: two concurrent
   sign-ins with one nonce cannot both win) and opens a session. Wallets may rebuild the message
   themselves (statement, resources, their own expiration): any well-formed message with a nonce
   this service issued to that address is accepted.
3. The session token (32 random bytes, URL-safe) is returned once; only its SHA-256 is stored.
   :func:`session_address` turns a token back into the signed-in address or :class:`NotSignedIn`.
   A session lasts :data:`SESSION_TTL_SECONDS`. The Expiration Time of the message this service
   issued is the challenge's (:data:`NONCE_TTL_SECONDS`: sign within ten minutes), not the
   session's; one the wallet chose itself ends the session earlier, if earlier.
4. Spent and expired nonces are deleted as new ones are issued, and expired or ended sessions as
   new ones open (:data:`SWEEP_BATCH` at most per request: bounded work per request, and tables
   bounded by the challenges of the last :data:`NONCE_TTL_SECONDS` and the sessions of the last
   :data:`SESSION_TTL_SECONDS`). A deleted nonce is as unusable as a spent one, a deleted session
   as an ended one.

Times are unix seconds from the caller (``now``), so tests pass their own clock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.orm import Session

from api.auth import siwe
from api.auth.errors import NotSignedIn, SignInRefused
from api.auth.models import AuthNonce, AuthSession
from api.db import ensure_db, session_factory
from chain.settings import Settings

NONCE_TTL_SECONDS = 600
SESSION_TTL_SECONDS = 8 * 3600
# Expired nonces deleted per challenge issued, and expired or ended sessions per session opened,
# at most (more than one: a backlog shrinks).
SWEEP_BATCH = 100
# Wallet and server clocks differ a little: an Issued At up to this far ahead is still accepted.
CLOCK_SKEW_SECONDS = 60
STATEMENT = "Sign in to tuanchain to read the private documents your role allows."


@dataclass(frozen=True)
class Origin:
    """Where this service is reached: what every accepted message must name."""

    scheme: str
    domain: str
    uri: str

    @classmethod
    def of(cls, settings: Settings, host: str | None = None) -> Origin:
        """The public URL's origin; or, when ``host`` (the request's) is another loopback name
        of it (``localhost`` for ``127.0.0.1``, same port), that one: a local service is opened
        as either, and passkey pages need ``localhost``."""
        url = urlparse(settings.public_url)
        if host and host != url.netloc and host in loopback_aliases(url.netloc):
            return cls(scheme=url.scheme, domain=host, uri=f"{url.scheme}://{host}")
        return cls(scheme=url.scheme, domain=url.netloc, uri=settings.public_url.rstrip("/"))


_LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "localhost", "::1": "[::1]"}


def loopback_aliases(netloc: str) -> frozenset[str]:
    """``netloc`` and, if it is a loopback name, the other loopback names with its port."""
    try:
        url = urlparse("//" + netloc)
        host, port = url.hostname, url.port
    except ValueError:
        return frozenset({netloc})
    if host not in _LOOPBACK_HOSTS:
        return frozenset({netloc})
    names = _LOOPBACK_HOSTS.values()
    return frozenset(f"{name}:{port}" if port else name for name in names)


@dataclass(frozen=True)
class OpenedSession:
    token: str
    address: str
    expires_at: int


def _epoch(text: str) -> int:
    return int(siwe.parse_time(text, "time").timestamp())


def _iso(seconds: int) -> str:
    return siwe.format_time(datetime.fromtimestamp(seconds, UTC))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _delete_some(session: Session, key: Any, *where: Any) -> None:
    """Delete at most :data:`SWEEP_BATCH` rows of ``key``'s table matching ``where``."""
    some = select(key).where(*where).limit(SWEEP_BATCH).scalar_subquery()
    session.execute(delete(key.class_).where(key.in_(some)))


def issue_challenge(
    engine: Engine, settings: Settings, *, address: str, now: int, host: str | None = None
) -> siwe.SiweMessage:
    """A fresh nonce for ``address`` (checksummed) and the message to sign with it, for the
    public URL (or ``host``, the request's, when it is a loopback alias of it)."""
    ensure_db(engine)
    origin = Origin.of(settings, host)
    nonce = secrets.token_hex(16)
    with session_factory(engine).begin() as session:
        # Nonces past their expiry (spent or not) can never sign anyone in: deleted, a batch.
        _delete_some(session, AuthNonce.nonce, AuthNonce.expires_at <= now)
        session.add(
            AuthNonce(
                nonce=nonce,
                address=address,
                chain_id=settings.chain_id,
                issued_at=now,
                expires_at=now + NONCE_TTL_SECONDS,
            )
        )
    return siwe.SiweMessage(
        scheme=origin.scheme,
        domain=origin.domain,
        address=address,
        statement=STATEMENT,
        uri=origin.uri,
        chain_id=settings.chain_id,
        nonce=nonce,
        issued_at=_iso(now),
        expiration_time=_iso(now + NONCE_TTL_SECONDS),
    )


def check_message(message: siwe.SiweMessage, settings: Settings, *, now: int) -> None:
    """Everything about a parsed message except its signature and nonce."""
    origin = Origin.of(settings, message.domain)
    if message.domain != origin.domain:
        raise SignInRefused(
            "wrong_domain",
            f"the message is for {message.domain!r}, not {origin.domain!r}",
            expected=origin.domain,
        )
    if message.scheme is not None and message.scheme != origin.scheme:
        raise SignInRefused(
            "wrong_scheme", f"the message is for {message.scheme}://, not {origin.scheme}://"
        )
    uri = urlparse(message.uri)
    if f"{uri.scheme}://{uri.netloc}" != f"{origin.scheme}://{origin.domain}":
        raise SignInRefused(
            "wrong_uri", f"the message's URI {message.uri!r} is not on {origin.uri}"
        )
    if message.chain_id != settings.chain_id:
        raise SignInRefused(
            "wrong_chain",
            f"the message is for chain {message.chain_id}, this service runs on {settings.chain_id}",
        )
    if _epoch(message.issued_at) > now + CLOCK_SKEW_SECONDS:
        raise SignInRefused("not_yet_valid", f"issued in the future ({message.issued_at})")
    if message.not_before is not None and _epoch(message.not_before) > now + CLOCK_SKEW_SECONDS:
        raise SignInRefused("not_yet_valid", f"not valid before {message.not_before}")
    if message.expiration_time is not None and _epoch(message.expiration_time) <= now:
        raise SignInRefused("expired", f"the message expired at {message.expiration_time}")


# ERC-1271: does the contract account ``address`` accept ``signature`` of the message ``text``
# (personal_sign)? Given by the caller, which knows the chain (a passkey account signs so).
ContractSignatureCheck = Callable[[str, str, str], bool]


def sign_in(
    engine: Engine,
    settings: Settings,
    *,
    text: str,
    signature: str,
    now: int,
    contract_check: ContractSignatureCheck | None = None,
) -> OpenedSession:
    """A session for the signer of ``text``, or :class:`SignInRefused` saying why not. An
    account with code (a passkey account) signs through ERC-1271, checked by ``contract_check``."""
    ensure_db(engine)
    try:
        message = siwe.parse(text)
    except siwe.InvalidSiweMessage as exc:
        raise SignInRefused("invalid_message", str(exc)) from None
    try:
        signer: str | None = siwe.recover_signer(text, signature)
    except siwe.InvalidSiweMessage as exc:
        if contract_check is None:
            raise SignInRefused("invalid_message", str(exc)) from None
        signer = None  # not an EOA's signature: perhaps the named contract account's
    check_message(message, settings, now=now)
    if signer != message.address and not (
        contract_check is not None and contract_check(message.address, text, signature)
    ):
        if signer is None:
            raise SignInRefused(
                "invalid_message",
                "the signature is neither a 65-byte secp256k1 signature nor accepted by "
                f"{message.address} (ERC-1271)",
            )
        raise SignInRefused(
            "wrong_signer",
            f"the message names {message.address} but is signed by {signer}",
            signer=signer,
        )
    token = secrets.token_urlsafe(32)
    with session_factory(engine).begin() as session:
        challenge_end = session.execute(
            update(AuthNonce)
            .where(
                AuthNonce.nonce == message.nonce,
                AuthNonce.address == message.address,
                AuthNonce.chain_id == message.chain_id,
                AuthNonce.used_at.is_(None),
                AuthNonce.expires_at > now,
            )
            .values(used_at=now)
            .returning(AuthNonce.expires_at)
        ).scalar_one_or_none()
        if challenge_end is None:
            raise SignInRefused(
                "nonce_not_valid",
                "the nonce was not issued to this address by this service, is used, or expired: "
                "ask for a new one",
            )
        expires_at = now + SESSION_TTL_SECONDS
        if message.expiration_time is not None:
            # The challenge's own end (the message this service issued) bounds the signing,
            # not the session; an Expiration Time the wallet chose ends the session.
            chosen = _epoch(message.expiration_time)
            if chosen != challenge_end:
                expires_at = min(expires_at, chosen)
        # Sessions past their end can never be used again: deleted, a batch.
        _delete_some(
            session,
            AuthSession.token_hash,
            or_(AuthSession.expires_at <= now, AuthSession.ended_at.is_not(None)),
        )
        session.add(
            AuthSession(
                token_hash=token_hash(token),
                address=message.address,
                nonce=message.nonce,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return OpenedSession(token=token, address=message.address, expires_at=expires_at)


def session_address(engine: Engine, token: str | None, *, now: int) -> tuple[str, int]:
    """The signed-in address of ``token`` and when its session ends, or :class:`NotSignedIn`."""
    if not token:
        raise NotSignedIn(
            "sign in first: POST /v1/auth/nonce, sign the message, POST /v1/auth/verify"
        )
    ensure_db(engine)
    with session_factory(engine)() as session:
        row = session.get(AuthSession, token_hash(token))
    if row is None or row.ended_at is not None:
        raise NotSignedIn("this session does not exist or was ended: sign in again")
    if row.expires_at <= now:
        raise NotSignedIn("this session expired: sign in again", expired_at=_iso(row.expires_at))
    return row.address, row.expires_at


def end_session(engine: Engine, token: str, *, now: int) -> None:
    ensure_db(engine)
    with session_factory(engine).begin() as session:
        session.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(token), AuthSession.ended_at.is_(None))
            .values(ended_at=now)
        )
