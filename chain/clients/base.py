"""What every typed client shares: a deployed contract, the sender, calls, sends, calldata,
roles and events."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import function_abi_to_4byte_selector
from eth_utils.abi import collapse_if_tuple
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from chain.abi_codec import decode as abi_decode
from chain.abi_codec import encode as abi_encode
from chain.address import checksum_address
from chain.artifacts import Artifact, load_artifact
from chain.errors import UndecodableCall
from chain.manifest import Deployment
from chain.tx import TxSender, decode_uint, dry_run_call, translate_errors

# Argument types the direct ABI paths below take (web3's own machinery handles the rest): the
# elementary types whose values eth-abi encodes and decodes as web3 does, an address aside
# (checksummed on decoding, as web3 gives it).
_ELEMENTARY_PREFIXES = ("uint", "int", "bytes", "address", "bool", "string")


def _elementary(types: list[str]) -> bool:
    return all(t.startswith(_ELEMENTARY_PREFIXES) and "[" not in t for t in types)


@dataclass(frozen=True)
class _Function:
    name: str
    abi: dict[str, Any]
    selector: bytes
    types: list[str]  # inputs, tuples collapsed ("(address,uint256)")
    outputs: list[str]

    @property
    def flat(self) -> bool:
        return _elementary(self.types)


class ContractClient:
    """A deployed contract, a sender, and helpers shared by the typed clients."""

    artifact_name: ClassVar[str] = ""

    def __init__(
        self,
        w3: Web3,
        address: str,
        sender: TxSender,
        *,
        artifact: Artifact | None = None,
    ) -> None:
        self.w3 = w3
        self.sender = sender
        self.artifact = artifact or load_artifact(self.artifact_name)
        self.address: ChecksumAddress = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.artifact.abi)
        self._functions: dict[str, _Function] = {}
        self._selectors: dict[bytes, _Function] = {}
        names: list[str] = []
        for item in self.artifact.abi:
            if item.get("type") != "function":
                continue
            fn = _Function(
                name=item["name"],
                abi=item,
                selector=function_abi_to_4byte_selector(item),
                types=[collapse_if_tuple(i) for i in item.get("inputs", [])],
                outputs=[collapse_if_tuple(o) for o in item.get("outputs", [])],
            )
            self._selectors[fn.selector] = fn
            names.append(fn.name)
            self._functions[fn.name] = fn
        for name in {n for n in names if names.count(n) > 1}:
            # An overloaded name goes through web3, which picks the overload by its arguments.
            del self._functions[name]

    @classmethod
    def from_deployment(
        cls, w3: Web3, deployment: Deployment, sender: TxSender, **kwargs: Any
    ) -> Self:
        name = cls.artifact_name  # type: ignore[attr-defined]
        return cls(w3, deployment.address(name), sender, **kwargs)  # type: ignore[call-arg]

    def _call(self, fn_name: str, *args: Any, block: Any = "latest") -> Any:
        return self.sender.call(getattr(self.contract.functions, fn_name)(*args), block=block)

    def _call_uint(self, fn_name: str, *args: Any, block: Any = "latest") -> int:
        """``_call`` of a view returning one ``uint`` (nonces...), encoded and decoded here and
        sent through :meth:`TxSender.rpc`: the hot reads of the relayer skip web3's machinery."""
        return decode_uint(self.sender.rpc(*self.view_call(fn_name, *args, block=block)))

    def view_call(self, fn_name: str, *args: Any, block: Any = "latest") -> tuple[str, list[Any]]:
        """The ``eth_call`` request (method, params) of a view, for :meth:`TxSender.rpc_batch`."""
        return dry_run_call(None, self.address, self._encode(fn_name, args), block=block)

    def decode_result(self, fn_name: str, result: Any) -> tuple[Any, ...]:
        """A view's ``eth_call`` result (hex text, as :meth:`TxSender.rpc_batch` gives it)
        decoded by its ABI outputs, as eth-abi gives it (addresses in lower case)."""
        fn = self._functions[fn_name]
        return tuple(abi_decode(fn.outputs, bytes(HexBytes(result))))

    def _encode(self, fn_name: str, args: tuple[Any, ...]) -> bytes:
        return self.calldata(fn_name, *args)

    def _send(self, signer: LocalAccount, fn_name: str, *args: Any) -> TxReceipt:
        return self.sender.transact(signer, getattr(self.contract.functions, fn_name)(*args))

    def calldata(self, fn_name: str, *args: Any) -> bytes:
        """ABI-encoded call of ``fn_name(*args)`` (what a forward request carries).

        Encoded by eth-abi directly: web3's contract machinery (argument normalisers, ABI
        matching) cost ~1.2 ms for a join and most of a relay batch's signing under the
        relayer's load (issue 15), for the same bytes. A value eth-abi refuses (web3 may
        convert it — a hex string for ``bytes`` — or say why not) and an overloaded name go
        through web3. Addresses take :mod:`chain.abi_codec`'s direct path (the same bytes and
        refusals as eth-abi's)."""
        fn = self._functions.get(fn_name)
        if fn is not None:
            with suppress(Exception):  # web3 converts the value, or raises its own error
                return fn.selector + abi_encode(fn.types, list(args))
        call = getattr(self.contract.functions, fn_name)(*args)
        return bytes(HexBytes(call._encode_transaction_data()))

    def has_trailing_bytes(self, data: bytes) -> bool:
        """Whether ``data`` decodes as a call of this contract yet is not exactly its arguments'
        ABI encoding (bytes after them, or another layout): Solidity's decoder, like eth-abi's,
        ignores what follows the arguments. False for calldata of no function (undecodable)."""
        fn = self._selectors.get(bytes(data[:4]))
        if fn is None:
            return False
        arguments = bytes(data[4:])
        try:
            values = abi_decode(fn.types, arguments)
        except Exception:  # noqa: BLE001 — undecodable: decode_call says so
            return False
        return abi_encode(fn.types, list(values)) != arguments

    def decode_call(self, data: bytes) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(function name, its ABI inputs, decoded arguments) of calldata to this contract;
        :class:`UndecodableCall` if it is no function of the ABI.

        A function with elementary inputs is decoded by eth-abi directly (addresses
        checksummed, as web3 gives them); web3's ``decode_function_input`` took ~2.9 ms."""
        fn = self._selectors.get(bytes(data[:4]))
        if fn is not None and fn.flat:
            try:
                values = abi_decode(fn.types, bytes(data[4:]))
            except Exception as exc:  # eth-abi raises several types for bad calldata
                raise UndecodableCall(
                    f"no function of {self.artifact_name} takes this calldata"
                ) from exc
            inputs = list(fn.abi["inputs"])
            args = {
                i["name"]: checksum_address(v) if t == "address" else v
                for i, t, v in zip(inputs, fn.types, values, strict=True)
            }
            return fn.name, inputs, args
        try:
            fn_abi, args = self.contract.decode_function_input(data)
        except Exception as exc:  # web3 raises several types for undecodable calldata
            raise UndecodableCall(
                f"no function of {self.artifact_name} takes this calldata"
            ) from exc
        return str(fn_abi.fn_name), list(fn_abi.abi["inputs"]), dict(args)

    def role(self, role_name: str) -> bytes:
        return bytes(self._call(role_name))

    def has_role(self, role_name: str, account: str) -> bool:
        return bool(self._call("hasRole", self.role(role_name), account))

    def grant_role(self, role_name: str, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "grantRole", self.role(role_name), account)

    def events_in(self, receipt: TxReceipt, event_name: str) -> list[EventData]:
        """The ``event_name`` logs this contract emitted in ``receipt``."""
        event = getattr(self.contract.events, event_name)()
        return [
            e
            for e in event.process_receipt(receipt, errors=DISCARD)
            if e["address"] == self.address
        ]

    def get_events(
        self,
        event_name: str,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        argument_filters: dict[str, Any] | None = None,
    ) -> list[EventData]:
        """``eth_getLogs`` for one event of this contract, decoded."""
        event = getattr(self.contract.events, event_name)()
        with translate_errors(self.sender.registry):
            return list(
                event.get_logs(
                    from_block=from_block, to_block=to_block, argument_filters=argument_filters
                )
            )
