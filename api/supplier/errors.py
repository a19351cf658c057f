"""The supplier CLI's failures: each becomes one line on stderr and exit code 1."""

from __future__ import annotations

from typing import Any


class SupplierCliError(Exception):
    """Root of the supplier CLI's own errors (bad input, keystore, the service's refusals)."""


class KeystoreError(SupplierCliError):
    """A keystore that is missing, malformed, locked with another password, or not allowed here."""


class InputError(SupplierCliError):
    """A file or option the CLI cannot use (names the file, line and field)."""


class ServiceRefused(SupplierCliError):
    """The service answered an error (its ``code`` and ``message``), or a relayed call failed."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message
        # The error body's ``details``: a contract's revert names its error and arguments there
        # (``{"error": "UnexpectedPartyStatus", "args": {...}}``).
        self.details: dict[str, Any] = details or {}

    @property
    def revert(self) -> tuple[str, dict[str, Any]] | None:
        """The contract error the refusal is, with its arguments, if it is one."""
        name, args = self.details.get("error"), self.details.get("args")
        if isinstance(name, str) and isinstance(args, dict):
            return name, args
        return None
