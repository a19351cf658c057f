"""The chain layer's failures that are not reverts: ``ChainError`` and its plain subclasses.

They live apart from :mod:`chain.errors` (which decodes revert data into named exceptions, using
the compiled artifacts) so that the artifact loader and the compiler can raise them without
importing the decoder: ``exceptions ← artifacts ← errors``, no cycle. Callers import them from
:mod:`chain.errors`, which re-exports every one.
"""

from __future__ import annotations


class ChainError(Exception):
    """Root of every error raised by the chain layer."""


class NodeUnavailable(ChainError):
    """The JSON-RPC node does not answer (not started, wrong URL, connection refused)."""

    @classmethod
    def no_answer(cls, rpc_url: str, exc: BaseException) -> NodeUnavailable:
        """No node answered the first question asked of ``rpc_url``: one line saying what to do
        (the HTTP client's own text, pages of it, is the cause's)."""
        return cls(
            f"no Ethereum JSON-RPC node answers at {rpc_url} ({type(exc).__name__}); "
            "start one with `tuanchain node` or set TUANCHAIN_RPC_URL"
        )


class NodeRejected(ChainError):
    """The node refused a request (invalid transaction, insufficient funds, bad parameters)."""


class NonceRejected(NodeRejected):
    """The node refused a transaction's nonce (used already, or too far ahead)."""


class NonceTooLow(NonceRejected):
    """The transaction's nonce was taken by another transaction of the same account."""


class AlreadyKnown(NodeRejected):
    """This very transaction (same hash) is already in the node's pool."""


class ReceiptWaitStopped(ChainError):
    """A stop was requested while waiting for a receipt: the transaction may still be mined."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"stopped waiting for transaction {tx_hash}")
        self.tx_hash = tx_hash


class TransactionTimeout(ChainError):
    """A sent transaction was not mined within the allowed time."""

    def __init__(self, tx_hash: str, timeout: float) -> None:
        super().__init__(f"transaction {tx_hash} not mined within {timeout:g} s")
        self.tx_hash = tx_hash
        self.timeout = timeout


class UnknownContract(ChainError):
    """No artifact or deployment is known for the requested contract name."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"unknown contract {name!r} ({where})")
        self.contract_name = name


class DeploymentMismatch(ChainError):
    """The deployment manifest describes another chain than the node's (reset, or another one)."""


class CompilationFailed(ChainError):
    """The Solidity compiler reported errors."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("solc failed:\n" + "\n".join(messages))
        self.messages = messages


class DevKeyOnPublicChain(ChainError):
    """One of anvil's publicly known development keys was configured for a non-local chain."""

    def __init__(self, address: str, chain_id: int | None, rpc_url: str) -> None:
        super().__init__(
            f"refusing anvil development key {address} for chain id {chain_id} at {rpc_url}: "
            "these keys are public; configure a private key for any non-local chain"
        )
        self.address = address
        self.chain_id = chain_id
        self.rpc_url = rpc_url


class DevDocumentKeyOnPublicChain(ChainError):
    """The private document store's public development key was configured for a non-local chain."""

    def __init__(self, chain_id: int | None, rpc_url: str) -> None:
        super().__init__(
            f"refusing the development document key for chain id {chain_id} at {rpc_url}: it is "
            "public; set TUANCHAIN_DOCUMENT_KEY to 64 random hex digits for any non-local chain"
        )
        self.chain_id = chain_id
        self.rpc_url = rpc_url


class ChainIdMismatch(ChainError):
    """The node's chain id differs from the one the settings or a manifest expect."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected chain id {expected}, the node reports {actual}")
        self.expected = expected
        self.actual = actual


class TransactionFailed(ChainError):
    """A transaction was mined with status 0 and its revert reason could not be recovered."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"transaction {tx_hash} reverted (reason not recoverable)")
        self.tx_hash = tx_hash


class InvalidSignature(ChainError, ValueError):
    """A signature, or the typed data it signs, that cannot be split or checked."""


class UndecodableCall(ChainError, ValueError):
    """Calldata that is no function of the contract's ABI."""
