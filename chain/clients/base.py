"""What every typed client shares: a deployed contract, the sender, calls, sends, calldata,
roles and events."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import function_abi_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from chain.artifacts import Artifact, load_artifact
from chain.errors import UndecodableCall
from chain.manifest import Deployment
from chain.tx import TxSender, decode_uint, dry_run_call, translate_errors


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
        self._encoders: dict[str, tuple[bytes, list[str]]] = {}

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
        selector_and_types = self._encoders.get(fn_name)
        if selector_and_types is None:
            abi = getattr(self.contract.functions, fn_name)(*args).abi
            types = [i["type"] for i in abi["inputs"]]
            selector = function_abi_to_4byte_selector(abi)
            selector_and_types = self._encoders[fn_name] = (selector, types)
        selector, types = selector_and_types
        return dry_run_call(
            None, self.address, selector + abi_encode(types, list(args)), block=block
        )

    def _send(self, signer: LocalAccount, fn_name: str, *args: Any) -> TxReceipt:
        return self.sender.transact(signer, getattr(self.contract.functions, fn_name)(*args))

    def calldata(self, fn_name: str, *args: Any) -> bytes:
        """ABI-encoded call of ``fn_name(*args)`` (what a forward request carries)."""
        fn = getattr(self.contract.functions, fn_name)(*args)
        return bytes(HexBytes(fn._encode_transaction_data()))

    def decode_call(self, data: bytes) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(function name, its ABI inputs, decoded arguments) of calldata to this contract;
        :class:`UndecodableCall` if it is no function of the ABI."""
        try:
            fn, args = self.contract.decode_function_input(data)
        except Exception as exc:  # web3 raises several types for undecodable calldata
            raise UndecodableCall(
                f"no function of {self.artifact_name} takes this calldata"
            ) from exc
        return str(fn.fn_name), list(fn.abi["inputs"]), dict(args)

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
