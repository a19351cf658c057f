"""Errors of the chain layer, and revert data decoded into named Python exceptions.

Every custom Solidity error (ours and OpenZeppelin's) becomes one Python class named like the
error, a subclass of :class:`ContractRevert`, so callers write::

    from chain import errors
    try:
        escrow.join(...)
    except errors.DealClosed as e:
        e.joinDeadline          # the error's argument, by its ABI name

Classes are created by name (one per error name, whatever its argument types: the registry
and the escrow both declare a ``BatchNotActive``, with different arguments, and both decode to
``errors.BatchNotActive``). The selector → ABI table lives in an :class:`ErrorRegistry` built
from compiled ABIs; the module-level default registry is filled from ``build/artifacts`` when
first needed. Decoding reads artifacts and never compiles: only :mod:`chain.compile` runs solc.

The failures that are not reverts (``ChainError``, ``NodeUnavailable``, ...) are defined in
:mod:`chain.exceptions`, which the artifact loader imports without this module, and re-exported
here: ``from chain.errors import ChainError`` is the way to name any of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import abi_to_signature, keccak, to_checksum_address

from chain.abi_codec import split_tuple as _split_tuple
from chain.artifacts import load_all_artifacts
from chain.exceptions import (
    AlreadyKnown,
    ChainError,
    ChainIdMismatch,
    CompilationFailed,
    DeploymentMismatch,
    DevDocumentKeyOnPublicChain,
    DevKeyOnPublicChain,
    InvalidSignature,
    NodeRejected,
    NodeUnavailable,
    NonceRejected,
    NonceTooLow,
    ReceiptWaitStopped,
    TransactionFailed,
    TransactionTimeout,
    UndecodableCall,
    UnknownContract,
)

logger = logging.getLogger(__name__)

# The failures of chain.exceptions are re-exported: import any chain error from here.
__all__ = [
    "AlreadyKnown",
    "ChainError",
    "ChainIdMismatch",
    "CompilationFailed",
    "ContractRevert",
    "DeploymentMismatch",
    "DevDocumentKeyOnPublicChain",
    "DevKeyOnPublicChain",
    "ErrorRegistry",
    "InvalidSignature",
    "NodeRejected",
    "NodeUnavailable",
    "NonceRejected",
    "NonceTooLow",
    "Panic",
    "ReceiptWaitStopped",
    "RevertWithReason",
    "TransactionFailed",
    "TransactionTimeout",
    "UndecodableCall",
    "UnknownContract",
    "UnknownRevert",
    "default_registry",
    "error_class",
    "load_default_registry",
]


class ContractRevert(ChainError):
    """A call or transaction reverted. Subclasses are named after the Solidity error.

    ``name`` is the error's name, ``args`` a dict of its arguments by ABI name (``arg0``... for
    unnamed ones; addresses checksummed), ``selector`` the 4-byte selector as ``0x`` hex and
    ``data`` the raw revert data. Arguments are also readable as attributes (``e.dealId``).
    """

    # ``BaseException.args`` is a tuple slot; a dict is what callers want here, so the class
    # shadows it with a property and keeps the message in the C-level args for ``str(e)``.
    def __init__(
        self,
        message: str = "",
        *,
        name: str = "",
        arguments: Mapping[str, Any] | None = None,
        selector: str = "",
        data: bytes = b"",
        signature: str = "",
    ) -> None:
        super().__init__(message or name or "execution reverted")
        self.name = name
        self._arguments = dict(arguments or {})
        self.selector = selector
        self.data = data
        self.signature = signature

    @property  # type: ignore[override]
    def args(self) -> dict[str, Any]:
        return self._arguments

    def __getattr__(self, item: str) -> Any:
        arguments = self.__dict__.get("_arguments", {})
        if item in arguments:
            return arguments[item]
        raise AttributeError(f"{type(self).__name__} has no attribute {item!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (type(self).__name__, str(self), self.name, self._arguments, self.selector, self.data),
        )


class RevertWithReason(ContractRevert):
    """``Error(string)``: a ``require(cond, "message")`` or ``revert("message")``."""


class Panic(ContractRevert):
    """``Panic(uint256)``: a failed assert, arithmetic overflow, division by zero, ..."""


class UnknownRevert(ContractRevert):
    """Revert data that matches no known error (or no data at all)."""


PANIC_CODES: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to zero-initialized internal function",
}

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
PANIC_SELECTOR = bytes.fromhex("4e487b71")

_CLASSES: dict[str, type[ContractRevert]] = {
    "Error": RevertWithReason,
    "Panic": Panic,
}
_CLASSES_LOCK = threading.Lock()


def error_class(name: str) -> type[ContractRevert]:
    """Return the (unique) exception class for the Solidity error ``name``, creating it once."""
    with _CLASSES_LOCK:
        cls = _CLASSES.get(name)
        if cls is None:
            cls = type(
                name,
                (ContractRevert,),
                {"__doc__": f"Solidity custom error ``{name}``.", "__module__": __name__},
            )
            _CLASSES[name] = cls
        return cls


def _rebuild(
    class_name: str,
    message: str,
    name: str,
    arguments: dict[str, Any],
    selector: str,
    data: bytes,
) -> ContractRevert:
    cls = error_class(class_name) if class_name not in globals() else globals()[class_name]
    return cls(message, name=name, arguments=arguments, selector=selector, data=data)


def _abi_type(param: Mapping[str, Any]) -> str:
    """Canonical ABI type of a parameter, tuples expanded (``(uint32,uint96)[]``)."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def _normalize(value: Any, abi_type: str) -> Any:
    """Make decoded values friendly: checksummed addresses, lists instead of tuples."""
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return [_normalize(v, inner) for v in value]
    if abi_type.startswith("("):
        inner_types = _split_tuple(abi_type[1:-1])
        return tuple(_normalize(v, t) for v, t in zip(value, inner_types, strict=True))
    return value


class ErrorRegistry:
    """Selector → error ABI table, built from compiled contract ABIs."""

    def __init__(self, source: Callable[[], list[list[dict[str, Any]]]] | None = None) -> None:
        """``source``: contract ABIs to register when first needed, asked again at each use
        until it gives some (the default registry reads ``build/artifacts``, which a compile
        may write after this process started)."""
        self._by_selector: dict[bytes, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._source = source

    def fill(self) -> ErrorRegistry:
        """Register the ABIs of ``source`` unless that was done already."""
        if self._source is not None:
            abis = self._source()
            for abi in abis:
                self.register_abi(abi)
            if abis:
                self._source = None
        return self

    def register_abi(self, abi: Iterable[Mapping[str, Any]]) -> None:
        """Add every ``error`` entry of a contract ABI (creating its exception class)."""
        for entry in abi:
            if entry.get("type") != "error":
                continue
            signature = abi_to_signature(dict(entry))
            selector = keccak(text=signature)[:4]
            with self._lock:
                known = self._by_selector.get(selector)
                if known is not None and abi_to_signature(known) != signature:
                    # A real 4-byte collision between two different errors: keep the first.
                    logger.warning("selector collision %s: %s", selector.hex(), signature)
                    continue
                self._by_selector[selector] = dict(entry)
            error_class(str(entry["name"]))

    def __contains__(self, name: object) -> bool:
        self.fill()
        return any(e["name"] == name for e in self._by_selector.values())

    def errors(self) -> list[dict[str, Any]]:
        """Every registered error ABI entry."""
        self.fill()
        return list(self._by_selector.values())

    def decode(self, data: bytes | str | None) -> ContractRevert:
        """Turn revert data into the matching named exception (never raises)."""
        self.fill()
        raw = _to_bytes(data)
        selector, body = raw[:4], raw[4:]
        if not raw:
            return UnknownRevert("execution reverted without data", data=raw)
        if selector == ERROR_STRING_SELECTOR:
            try:
                (reason,) = abi_decode(["string"], body)
            except DecodingError:
                return UnknownRevert(
                    "malformed Error(string)", data=raw, selector="0x" + selector.hex()
                )
            return RevertWithReason(
                f"Error({reason!r})",
                name="Error",
                arguments={"message": reason},
                selector="0x" + selector.hex(),
                data=raw,
                signature="Error(string)",
            )
        if selector == PANIC_SELECTOR:
            try:
                (code,) = abi_decode(["uint256"], body)
            except DecodingError:
                return UnknownRevert(
                    "malformed Panic(uint256)", data=raw, selector="0x" + selector.hex()
                )
            meaning = PANIC_CODES.get(code, "unknown panic code")
            return Panic(
                f"Panic(0x{code:02x}): {meaning}",
                name="Panic",
                arguments={"code": code, "meaning": meaning},
                selector="0x" + selector.hex(),
                data=raw,
                signature="Panic(uint256)",
            )
        entry = self._by_selector.get(selector)
        if entry is None:
            return UnknownRevert(
                f"unknown revert selector 0x{selector.hex()}",
                data=raw,
                selector="0x" + selector.hex(),
            )
        types = [_abi_type(p) for p in entry["inputs"]]
        try:
            values = abi_decode(types, body, strict=False)
        except DecodingError:
            return UnknownRevert(
                f"revert data does not decode as {abi_to_signature(entry)}",
                data=raw,
                selector="0x" + selector.hex(),
            )
        arguments = {
            (p.get("name") or f"arg{i}"): _normalize(v, t)
            for i, (p, v, t) in enumerate(zip(entry["inputs"], values, types, strict=True))
        }
        signature = abi_to_signature(entry)
        shown = ", ".join(f"{k}={_show(v)}" for k, v in arguments.items())
        return error_class(str(entry["name"]))(
            f"{entry['name']}({shown})",
            name=str(entry["name"]),
            arguments=arguments,
            selector="0x" + selector.hex(),
            data=raw,
            signature=signature,
        )


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value) if isinstance(value, str) and not value.startswith("0x") else str(value)


def _to_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        text = data[2:] if data.startswith(("0x", "0X")) else data
        try:
            return bytes.fromhex(text)
        except ValueError:
            return b""
    return bytes(data)


def _artifact_abis() -> list[list[dict[str, Any]]]:
    return [artifact.abi for artifact in load_all_artifacts()]


# Filled from ``build/artifacts`` when first needed; never compiles (only chain.compile does):
# with no artifacts yet, reverts decode as UnknownRevert until a compile writes them.
default_registry = ErrorRegistry(source=_artifact_abis)


def load_default_registry() -> ErrorRegistry:
    """The default registry, filled from ``build/artifacts`` if there are any by now."""
    return default_registry.fill()


def __getattr__(name: str) -> type[ContractRevert]:
    """``errors.DealClosed``: the class of a known custom error (PEP 562 module attribute)."""
    if name in _CLASSES:
        return _CLASSES[name]
    if name[:1].isupper():
        load_default_registry()
        if name in _CLASSES:
            return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (no such custom error)")
