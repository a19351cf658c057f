"""The clients' direct ABI paths (eth-abi, no web3 contract machinery) against web3's own.

``ContractClient.calldata`` / ``decode_call`` / ``view_call`` + ``decode_result`` encode and
decode elementary arguments with eth-abi directly because web3's machinery dominated accepting a
relayed join (issue 15); these tests hold them to web3's bytes and values."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.clients import Clients

from .conftest import Market

uint256 = st.integers(min_value=0, max_value=2**256 - 1)
addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address("0x" + b.hex()))
bytes32 = st.binary(min_size=32, max_size=32)


def _web3_calldata(client: Any, fn_name: str, *args: Any) -> bytes:
    return bytes(
        HexBytes(getattr(client.contract.functions, fn_name)(*args)._encode_transaction_data())
    )


def _web3_decode(client: Any, data: bytes) -> tuple[str, dict[str, Any]]:
    fn, args = client.contract.decode_function_input(data)
    return str(fn.fn_name), dict(args)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    deal=uint256,
    quantity=uint256,
    leader=addresses,
    deadline=uint256,
    v=st.integers(min_value=0, max_value=255),
    r=bytes32,
    s=bytes32,
)
def test_a_join_with_permit_encodes_and_decodes_as_web3_does(
    clients: Clients,
    deal: int,
    quantity: int,
    leader: str,
    deadline: int,
    v: int,
    r: bytes,
    s: bytes,
) -> None:
    escrow = clients.escrow
    args = (deal, quantity, leader, deadline, v, r, s)
    data = escrow.calldata("joinWithPermit", *args)
    assert data == _web3_calldata(escrow, "joinWithPermit", *args)
    name, _, decoded = escrow.decode_call(data)
    assert (name, decoded) == _web3_decode(escrow, data)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(gtin=st.text(max_size=20), lot=st.text(max_size=20), cid=st.binary(max_size=70))
def test_a_registry_call_with_text_and_bytes_decodes_as_web3_does(
    clients: Clients, gtin: str, lot: str, cid: bytes
) -> None:
    registry = clients.registry
    data = registry.calldata("registerBatch", gtin, lot, cid)
    assert data == _web3_calldata(registry, "registerBatch", gtin, lot, cid)
    name, _, decoded = registry.decode_call(data)
    assert (name, decoded) == _web3_decode(registry, data)


def test_values_eth_abi_refuses_go_to_web3(clients: Clients) -> None:
    """A hex string for bytes32 (web3 converts it) and a tuple argument (the forwarder's
    request) take web3's path and give web3's bytes."""
    registry, forwarder = clients.registry, clients.forwarder
    batch = "0x" + "ab" * 32
    assert registry.calldata("setBatchWriter", batch, "0x" + "11" * 20, True) == _web3_calldata(
        registry, "setBatchWriter", batch, "0x" + "11" * 20, True
    )
    request = ("0x" + "22" * 20, "0x" + "33" * 20, 0, 1, 2, b"\x01", b"\x02" * 65)
    data = forwarder.calldata("execute", request)
    assert data == _web3_calldata(forwarder, "execute", request)
    assert forwarder.decode_call(data)[0] == "execute"


def test_deal_params_from_a_batched_read_equal_the_web3_read(market: Market) -> None:
    escrow = market.clients.escrow
    (answer,) = escrow.sender.rpc_batch([escrow.deal_params_call(market.deal_id)])
    assert escrow.deal_params_from(answer) == escrow.deal_params(market.deal_id)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    requests=st.lists(
        st.tuples(
            addresses,
            addresses,
            uint256,
            uint256,
            st.integers(min_value=0, max_value=2**48 - 1),
            st.binary(max_size=200),
            st.binary(min_size=65, max_size=65),
        ),
        max_size=5,
    ),
    refund=addresses,
)
def test_an_execute_batch_of_tuples_encodes_as_web3_does(
    clients: Clients, requests: list[tuple[Any, ...]], refund: str
) -> None:
    """Arrays of structs (the relayer's ``executeBatch``) go through eth-abi too."""
    forwarder = clients.forwarder
    assert forwarder.calldata("executeBatch", requests, refund) == _web3_calldata(
        forwarder, "executeBatch", requests, refund
    )
