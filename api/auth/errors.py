"""Refusals of sign-in and of reads that need a session (mapped to 401/403 in :mod:`api.errors`)."""

from __future__ import annotations

from typing import Any


class AuthError(Exception):
    """Root of the sign-in and access failures; ``details`` names the offending values."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class SignInRefused(AuthError):
    """The signed EIP-4361 message is malformed, for another site or chain, expired, replayed,
    or signed by another account; ``details["reason"]`` is a stable code."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class NotSignedIn(AuthError):
    """No session, or an expired or ended one: sign in again."""


class AccessDenied(AuthError):
    """The signed-in account's role does not allow this read."""
