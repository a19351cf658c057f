"""The TuanchainForwarder client (OpenZeppelin ERC2771Forwarder): gasless requests.

One way to simulate a forwarded call, :meth:`ForwarderClient.simulate`: the target ``eth_call``-ed
exactly as the forwarder calls it. Preparing, accepting, sending and post-mortems all use it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.types import TxReceipt

from chain.abi_codec import canonical_address
from chain.abi_codec import decode as abi_decode
from chain.address import checksum_address
from chain.clients.base import ContractClient
from chain.eip712 import forward_request_data, forward_request_typed_data
from chain.errors import ContractRevert
from chain.tx import dry_run_call, intrinsic_gas


class ForwarderClient(ContractClient):
    """TuanchainForwarder (OpenZeppelin ERC2771Forwarder): gasless requests."""

    artifact_name = "TuanchainForwarder"

    def nonces(self, owner: str) -> int:
        return self._call_uint("nonces", owner)

    def prepare(
        self,
        *,
        sender: str,
        target: str,
        data: bytes,
        gas: int | None = None,
        deadline: int | None = None,
        value: int = 0,
        ttl_seconds: int = 3600,
    ) -> dict[str, Any]:
        """Typed data of a forward request from ``sender`` (current nonce), to sign.

        ``gas`` defaults to an estimate of the call made directly by ``sender`` (what the
        target sees through ERC-2771 is the same sender) plus the sender's margin; a call that
        would revert raises its named error here, before anyone signs.
        """
        if gas is None:
            gas = self.sender.estimate_gas(
                {
                    "from": Web3.to_checksum_address(sender),
                    "to": Web3.to_checksum_address(target),
                    "data": HexBytes(data),
                    "value": value,
                }  # type: ignore[typeddict-item]
            )
        if deadline is None:
            # Chain time, not wall-clock time: the forwarder compares with block.timestamp.
            deadline = self.sender.chain_time() + ttl_seconds
        return forward_request_typed_data(
            forwarder=self.address,
            chain_id=self.sender.chain_id,
            sender=sender,
            to=target,
            data=data,
            nonce=self.nonces(sender),
            deadline=deadline,
            gas=gas,
            value=value,
        )

    def simulate(
        self, *, sender: str, target: str, data: bytes, value: int = 0, block: Any = "latest"
    ) -> bytes:
        """``eth_call`` the target exactly as the forwarder will call it: from the forwarder,
        with the signer's address appended (ERC-2771), so the target's own named error comes
        back (``execute`` would only report ``FailedCall()``). ``block``: replay a mined
        failure on its parent block."""
        return bytes(
            HexBytes(
                self.sender.rpc(
                    *self.simulate_call(
                        sender=sender, target=target, data=data, value=value, block=block
                    )
                )
            )
        )

    def simulate_call(
        self,
        *,
        sender: str,
        target: str,
        data: bytes,
        value: int = 0,
        block: Any = "latest",
        gas: int | None = None,
    ) -> tuple[str, list[Any]]:
        """The ``eth_call`` request of :meth:`simulate`, for :meth:`TxSender.rpc_batch`.
        ``gas``: run the target with exactly this much, as the forwarder passes a request's
        ``gas`` (the call's limit is that plus its intrinsic cost); default: the node's."""
        # (the signer's 20 bytes; web3's checksumming first was ~1 % of the rush, issue 15)
        calldata = bytes(data) + canonical_address(sender)
        return dry_run_call(
            self.address,
            target,
            calldata,
            value=value,
            block=block,
            gas=None if gas is None else gas + intrinsic_gas(calldata),
        )

    def check_execute(
        self, typed_data: dict[str, Any], signature: bytes | str, *, relayer: str
    ) -> None:
        """``eth_call`` ``execute`` as ``relayer`` would send it: the forwarder's own checks
        (signature, nonce, deadline, gas forwarding) and the inner call, as named errors."""
        request = forward_request_data(typed_data, signature)
        self.sender.call(self.contract.functions.execute(request), sender=relayer)

    def execution_of(
        self, signer: str, nonce: int, *, from_block: int
    ) -> tuple[str, int, bool] | None:
        """(transaction hash, block, whether its call succeeded) of the execution of ``signer``'s
        request ``nonce``, by any relayer, from its ``ExecutedForwardRequest`` log (a batch's
        failed call spends the nonce too: ``success=false``); None if there is none."""
        logs = self.get_events(
            "ExecutedForwardRequest", from_block=from_block, argument_filters={"signer": signer}
        )
        for log in logs:
            if int(log["args"]["nonce"]) == nonce:
                return (
                    log["transactionHash"].to_0x_hex(),
                    int(log["blockNumber"]),
                    bool(log["args"]["success"]),
                )
        return None

    def executions_in(self, receipt: Any) -> dict[tuple[str, int], bool]:
        """``{(signer, nonce): success}`` of the requests ``receipt``'s transaction executed (an
        ``execute``/``executeBatch``); a batch's invalid request, skipped, is absent.

        ``receipt`` as web3 gives it or as the node's JSON (:meth:`TxSender.raw_receipt`): the
        logs are decoded here (web3's event processing was a tenth of the relay service's time
        under the rush, issue 15)."""
        topic = self._executed_topic
        outcomes: dict[tuple[str, int], bool] = {}
        for log in receipt["logs"]:
            # (the other logs of a batch — the joins' transfers, approvals, events — skipped
            # before their topics are converted: ~5 a join)
            if len(log["topics"]) != 2 or bytes(HexBytes(log["topics"][0])) != topic:
                continue
            if str(log["address"]).lower() != self.address.lower():
                continue
            signer = bytes(HexBytes(log["topics"][1]))
            data = bytes(HexBytes(log["data"]))
            nonce, success = abi_decode(("uint256", "bool"), data)  # (static: read directly)
            outcomes[(checksum_address("0x" + signer[-20:].hex()), int(nonce))] = bool(success)
        return outcomes

    @cached_property
    def _executed_topic(self) -> bytes:
        return keccak(text="ExecutedForwardRequest(address,uint256,bool)")

    def failed_call_in(
        self, tx_hash: str, *, sender: str, target: str, data: bytes
    ) -> ContractRevert | None:
        """The named error of a forwarded call that failed inside mined transaction ``tx_hash``.

        The forwarder records only ``success=false``; the revert data lives in the call frame
        (forwarder → target, calldata + signer), which ``debug_traceTransaction``'s call tracer
        shows as executed — in a batch, after the requests before it. None when the node cannot
        trace or no failed frame matches."""
        wanted = (bytes(data) + bytes.fromhex(Web3.to_checksum_address(sender)[2:])).hex()
        try:
            trace = self.w3.provider.make_request(
                "debug_traceTransaction",  # type: ignore[arg-type]
                [tx_hash, {"tracer": "callTracer"}],
            )["result"]
        except Exception:  # noqa: BLE001 — a node without tracing: the caller falls back
            return None
        frames = [trace] if isinstance(trace, dict) else []
        while frames:
            frame = frames.pop()
            frames.extend(frame.get("calls") or [])
            if (
                frame.get("error")
                and str(frame.get("from", "")).lower() == self.address.lower()
                and str(frame.get("to", "")).lower() == target.lower()
                and str(frame.get("input", "")).lower().removeprefix("0x") == wanted.lower()
            ):
                output = frame.get("output") or "0x"
                return self.sender.registry.decode(bytes(HexBytes(output)))
        return None

    def verify(self, typed_data: dict[str, Any], signature: bytes | str) -> bool:
        """The forwarder's own check (signature, nonce, deadline, trusted target)."""
        return bool(self._call("verify", forward_request_data(typed_data, signature)))

    def verify_call(
        self, typed_data: dict[str, Any], signature: bytes | str
    ) -> tuple[str, list[Any]]:
        """The ``eth_call`` of :meth:`verify`, for :meth:`TxSender.rpc_batch` (its answer:
        :meth:`verified`)."""
        return self.view_call("verify", forward_request_data(typed_data, signature))

    def verified(self, result: Any) -> bool:
        return bool(self.decode_result("verify", result)[0])

    def check_execute_call(
        self, typed_data: dict[str, Any], signature: bytes | str, *, relayer: str
    ) -> tuple[str, list[Any]]:
        """The ``eth_call`` of :meth:`check_execute`, for :meth:`TxSender.rpc_batch` (a revert
        is its answer)."""
        request = forward_request_data(typed_data, signature)
        return dry_run_call(relayer, self.address, self.calldata("execute", request))

    def execute(
        self, typed_data: dict[str, Any], signature: bytes | str, *, relayer: LocalAccount
    ) -> TxReceipt:
        """Relay a signed request; the relayer pays the gas. Reverts are named exceptions.

        The forwarder reports a failed inner call only as ``FailedCall()``; so the inner call is
        simulated first (:meth:`simulate`), to raise the target's own named error
        (``DealClosed``...). Forwarder errors (``ERC2771ForwarderInvalidSigner``,
        ``...ExpiredRequest``) come from the forwarder's own checks, which run before the inner
        call.
        """
        request = forward_request_data(typed_data, signature)
        if self.sender.call(self.contract.functions.verify(request)):
            self.simulate(sender=request[0], target=request[1], data=request[5], value=request[2])
        fn = self.contract.functions.execute(request)
        return self.sender.transact(relayer, fn, value=int(typed_data["message"]["value"]))
