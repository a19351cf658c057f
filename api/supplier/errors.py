"""The supplier CLI's failures: each becomes one line on stderr and exit code 1."""

from __future__ import annotations


class SupplierCliError(Exception):
    """Root of the supplier CLI's own errors (bad input, keystore, the service's refusals)."""


class KeystoreError(SupplierCliError):
    """A keystore that is missing, malformed, locked with another password, or not allowed here."""


class InputError(SupplierCliError):
    """A file or option the CLI cannot use (names the file, line and field)."""


class ServiceRefused(SupplierCliError):
    """The service answered an error (its ``code`` and ``message``), or a relayed call failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
