"""Errors of the passkey-account layer (ERC-4337). Contract reverts stay :mod:`chain.errors` classes."""

from __future__ import annotations

from chain.errors import ChainError


class AccountAbstractionError(ChainError):
    """Root of the errors raised by :mod:`chain.aa`."""


class EntryPointNotCanonical(AccountAbstractionError):
    """The creation code would not land at EntryPoint v0.8's canonical address (wrong artifact)."""

    def __init__(self, expected: str, computed: str) -> None:
        super().__init__(
            f"EntryPoint creation code lands at {computed}, not at the canonical {expected}: "
            "refusing to deploy (is node_modules/@account-abstraction/contracts 0.8.0?)"
        )
        self.expected = expected
        self.computed = computed


class Create2DeployerMissing(AccountAbstractionError):
    """The chain has no deterministic CREATE2 deployer, so the canonical address is unreachable."""

    def __init__(self, address: str) -> None:
        super().__init__(f"no deterministic CREATE2 deployer at {address} on this chain")
        self.address = address


class InvalidAssertion(AccountAbstractionError):
    """A WebAuthn assertion cannot be used (malformed clientDataJSON, DER signature, ...)."""


class UserOperationFailed(AccountAbstractionError):
    """A user operation was included but its calls reverted (UserOperationEvent.success = false)."""

    def __init__(self, user_op_hash: str, reason: str = "") -> None:
        super().__init__(f"user operation {user_op_hash} reverted{': ' + reason if reason else ''}")
        self.user_op_hash = user_op_hash
        self.reason = reason
