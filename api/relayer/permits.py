"""Escrow calls paid with an EIP-2612 permit: a buyer's ``join`` and a leader's ``bookCashOrder``.

The signed forward request calls the plain function (the wallet has not signed the permit yet when
the request's calldata is fixed); the relayer submits the permit first and simulates the
``...WithPermit`` twin as the signer to check both together (:mod:`api.relayer.accept`,
:mod:`api.relayer.send`). One table, so both places treat both calls alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chain.clients.escrow import EscrowClient
from chain.eip712 import Signature

# function → (its twin taking a permit, the arguments before the permit's deadline, v, r, s)
WITH_PERMIT: dict[str, tuple[str, tuple[str, ...]]] = {
    "join": ("joinWithPermit", ("dealId", "quantity", "leader")),
    "bookCashOrder": ("bookCashOrderWithPermit", ("dealId", "quantity", "beneficiaryRef")),
}


def with_permit_calldata(
    escrow: EscrowClient,
    function: str,
    args: Mapping[str, Any],
    permit_deadline: int,
    signature: Signature,
) -> bytes:
    """Calldata of ``function``'s permit twin with the call's own arguments and the permit."""
    twin, names = WITH_PERMIT[function]
    return escrow.calldata(
        twin,
        *(args[name] for name in names),
        int(permit_deadline),
        signature.v,
        signature.r,
        signature.s,
    )


__all__ = ["WITH_PERMIT", "with_permit_calldata"]
