"""The TestStablecoin client (ERC-20 with EIP-2612 permits)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chain.clients.base import ContractClient
from chain.eip712 import Signature, permit_typed_data, sign_typed_data


class TokenClient(ContractClient):
    """TestStablecoin (ERC-20 + EIP-2612 permit + minter faucet)."""

    artifact_name = "TestStablecoin"

    def name(self) -> str:
        return str(self._call("name"))

    @cached_property
    def permit_domain_name(self) -> str:
        """The name in the token's EIP-712 domain (its ``name()``, which OpenZeppelin's
        ``ERC20Permit`` fixes at deployment), read once: accept checks every permit against it."""
        return self.name()

    def decimals(self) -> int:
        return int(self._call("decimals"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", account))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", owner, spender))

    def nonces(self, owner: str) -> int:
        return self._call_uint("nonces", owner)

    def mint(self, to: str, amount: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "mint", to, amount)

    def transfer(self, to: str, amount: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "transfer", to, amount)

    def approve(self, spender: str, amount: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "approve", spender, amount)

    def permit(
        self,
        owner: str,
        spender: str,
        value: int,
        deadline: int,
        signature: Signature,
        *,
        signer: LocalAccount,
    ) -> TxReceipt:
        return self._send(
            signer, "permit", owner, spender, value, deadline, signature.v, signature.r, signature.s
        )

    def permit_calldata(self, message: dict[str, Any], signature: bytes | str) -> bytes:
        """The ``permit`` call of a signed EIP-2612 ``Permit`` message (anyone may submit it);
        :class:`InvalidSignature` if the signature is not 65 bytes."""
        parts = Signature.from_bytes(signature)
        return self.calldata(
            "permit",
            message["owner"],
            message["spender"],
            int(message["value"]),
            int(message["deadline"]),
            parts.v,
            parts.r,
            parts.s,
        )

    def permit_typed_data(
        self, *, owner: str, spender: str, value: int, deadline: int
    ) -> dict[str, Any]:
        """Typed data of a permit from ``owner`` (current nonce) to ``spender``."""
        return permit_typed_data(
            token=self.address,
            chain_id=self.sender.chain_id,
            owner=owner,
            spender=spender,
            value=value,
            nonce=self.nonces(owner),
            deadline=deadline,
            name=self.name(),
        )

    def sign_permit(
        self, owner: LocalAccount, *, spender: str, value: int, deadline: int
    ) -> Signature:
        typed = self.permit_typed_data(
            owner=owner.address, spender=spender, value=value, deadline=deadline
        )
        return sign_typed_data(owner, typed)
