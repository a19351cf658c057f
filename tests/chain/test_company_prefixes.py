"""GS1 Company Prefix ownership: the registry against its Python mirror
(``traceability.epcis.identifiers``: ``is_restricted_circulation``, ``gtin_company_prefix``,
``validate_company_prefix``), which the API, the CLI and the pages use to say why before signing.

Each example assigns prefixes on chain between ``evm_snapshot`` and ``evm_revert``; the registry's
verdict (``gtinOwner`` and a simulated ``registerBatch``) must be the mirror's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from chain import errors
from chain.accounts import dev_account
from chain.clients import Clients
from chain.tx import TxSender
from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import (
    gs1_check_digit,
    gtin_company_prefix,
    is_restricted_circulation,
    validate_company_prefix,
)

from .conftest import CID, CREDENTIALS_DIGEST

DIGITS = "0123456789"
# GTIN-13 parts starting at and around the restricted-circulation ranges (02, 04, 2x), and others.
HEADS = ["02", "04", "2", "03", "05", "01", "00", "1", "6", "9"]
bodies = st.builds(
    lambda indicator, head, rest: (indicator + head + rest)[:13],
    st.sampled_from(DIGITS),
    st.sampled_from(HEADS),
    st.text(alphabet=DIGITS, min_size=12, max_size=12),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=bodies,
    prefix=st.builds(str.__add__, st.sampled_from(HEADS), st.text(alphabet=DIGITS, max_size=12)),
    own_length=st.none() | st.integers(6, 12),
)
def test_the_registry_agrees_with_the_python_mirror(
    w3: Web3,
    clients: Clients,
    tx_sender: TxSender,
    body: str,
    prefix: str,
    own_length: int | None,
) -> None:
    platform, supplier, other = dev_account(0), dev_account(10), dev_account(11)
    registry = clients.registry
    gtin = body + gs1_check_digit(body)
    if own_length is not None:  # half the time, a prefix the GTIN falls under
        prefix = gtin[1 : 1 + own_length]
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        for account in (supplier, other):
            registry.apply_as_supplier(CID, CREDENTIALS_DIGEST, signer=account)
            registry.approve_supplier(account.address, signer=platform)
        try:
            validate_company_prefix(prefix)
            python_accepts = True
        except InvalidIdentifier:
            python_accepts = False
        if python_accepts:
            registry.assign_company_prefix(prefix, supplier.address, signer=platform)
            assert registry.company_prefix_owner(prefix) == supplier.address
        else:
            with pytest.raises((errors.InvalidCompanyPrefix, errors.RestrictedCirculationPrefix)):
                registry.assign_company_prefix(prefix, supplier.address, signer=platform)
        held = [prefix] if python_accepts else []
        mine = gtin_company_prefix(gtin, held)
        owner, length = registry.gtin_owner(gtin)
        assert (owner, length) == ((supplier.address, len(mine)) if mine else (None, 0))

        data = registry.calldata("registerBatch", gtin, "L1", CID)
        for account, expected_owner in ((supplier, mine), (other, None)):
            simulated = clients.forwarder.simulate
            if is_restricted_circulation(gtin[1:]):
                with pytest.raises(errors.RestrictedCirculationGtin):
                    simulated(sender=account.address, target=registry.address, data=data)
            elif expected_owner is None:
                with pytest.raises(errors.GtinNotOwned):
                    simulated(sender=account.address, target=registry.address, data=data)
            else:
                simulated(sender=account.address, target=registry.address, data=data)
    finally:
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        tx_sender.reset_all_nonces()
