"""Revert data → named Python exceptions carrying the error's arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import abi_to_signature, keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

from chain import errors
from chain.accounts import dev_account
from chain.clients import Clients
from chain.errors import ContractRevert, ErrorRegistry, _abi_type
from chain.tx import TxSender


def _all_error_entries() -> list[dict[str, Any]]:
    from chain.compile import compile_contracts

    registry = ErrorRegistry()
    for artifact in compile_contracts().values():
        registry.register_abi(artifact.abi)
    return sorted(registry.errors(), key=abi_to_signature)


ALL_ERRORS = _all_error_entries()


def _strategy(abi_type: str) -> st.SearchStrategy[Any]:
    """Values of an ABI type, as the decoder returns them (addresses checksummed)."""
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        size = abi_type[abi_type.rindex("[") + 1 : -1]
        elements = _strategy(inner)
        if size:
            return st.lists(elements, min_size=int(size), max_size=int(size))
        return st.lists(elements, max_size=3)
    if abi_type.startswith("("):
        parts = errors._split_tuple(abi_type[1:-1])
        return st.tuples(*(_strategy(p) for p in parts))
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
    if abi_type == "bool":
        return st.booleans()
    if abi_type == "string":
        return st.text(max_size=24)
    if abi_type == "bytes":
        return st.binary(max_size=40)
    if abi_type.startswith("bytes"):
        n = int(abi_type[5:])
        return st.binary(min_size=n, max_size=n)
    if abi_type.startswith("uint"):
        return st.integers(0, 2 ** int(abi_type[4:] or 256) - 1)
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    raise AssertionError(f"no strategy for {abi_type}")


def _as_encodable(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_encodable(v) for v in value]
    return value


def test_registry_covers_our_and_openzeppelin_errors() -> None:
    names = {e["name"] for e in ALL_ERRORS}
    for expected in (
        "DealClosed",
        "DealFull",
        "InvalidGtin",
        "UnexpectedPartyStatus",  # ours
        "ERC20InsufficientBalance",
        "ERC2771ForwarderInvalidSigner",  # OpenZeppelin
        "ERC2771ForwarderExpiredRequest",
        "AccessControlUnauthorizedAccount",
        "ERC2612ExpiredSignature",
        "ERC2612InvalidSigner",
        "SafeERC20FailedOperation",
    ):
        assert expected in names


@pytest.mark.parametrize("entry", ALL_ERRORS, ids=abi_to_signature)
def test_every_custom_error_decodes_to_its_named_exception(entry: dict[str, Any]) -> None:
    registry = ErrorRegistry()
    registry.register_abi(ALL_ERRORS)
    types = [_abi_type(p) for p in entry["inputs"]]
    selector = keccak(text=abi_to_signature(entry))[:4]

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.tuples(*(_strategy(t) for t in types)))
    def roundtrip(values: tuple[Any, ...]) -> None:
        data = selector + encode(types, [_as_encodable(v) for v in values])
        exc = registry.decode(data)
        assert type(exc) is getattr(errors, entry["name"])
        assert isinstance(exc, ContractRevert)
        assert exc.name == entry["name"]
        assert exc.selector == "0x" + selector.hex()
        assert exc.signature == abi_to_signature(entry)
        names = [p["name"] or f"arg{i}" for i, p in enumerate(entry["inputs"])]
        assert list(exc.args) == names
        assert tuple(exc.args.values()) == values
        for name, value in zip(names, values, strict=True):
            assert getattr(exc, name) == value

    roundtrip()


def test_same_name_different_arguments_share_one_class() -> None:
    """Registry and escrow both declare BatchNotActive, with different arguments."""
    signatures = {abi_to_signature(e) for e in ALL_ERRORS if e["name"] == "BatchNotActive"}
    assert signatures == {"BatchNotActive(bytes32)", "BatchNotActive(bytes32,uint8)"}
    registry = ErrorRegistry()
    registry.register_abi(ALL_ERRORS)
    one = registry.decode(keccak(text="BatchNotActive(bytes32)")[:4] + b"\x01" * 32)
    two = registry.decode(
        keccak(text="BatchNotActive(bytes32,uint8)")[:4]
        + encode(["bytes32", "uint8"], [b"\x02" * 32, 2])
    )
    assert type(one) is type(two) is errors.BatchNotActive
    assert two.args == {"batchId": b"\x02" * 32, "status": 2}


def test_error_string_panic_unknown_and_malformed() -> None:
    registry = ErrorRegistry()
    reason = registry.decode(bytes.fromhex("08c379a0") + encode(["string"], ["nope"]))
    assert isinstance(reason, errors.RevertWithReason) and reason.args == {"message": "nope"}
    panic = registry.decode(bytes.fromhex("4e487b71") + encode(["uint256"], [0x12]))
    assert isinstance(panic, errors.Panic) and panic.code == 0x12
    assert panic.meaning == "division or modulo by zero"
    assert isinstance(registry.decode(b""), errors.UnknownRevert)
    assert isinstance(registry.decode("0xdeadbeef"), errors.UnknownRevert)
    registry.register_abi(ALL_ERRORS)
    truncated = keccak(text="DealClosed(uint256,uint256)")[:4] + b"\x00" * 10
    assert isinstance(registry.decode(truncated), errors.UnknownRevert)


def test_unknown_module_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        errors.NoSuchErrorAnywhere  # noqa: B018


# ---------------------------------------------------------------- reverts from real calls


def test_probe_reverts_are_named_with_arguments(probe: Contract, tx_sender: TxSender) -> None:
    with pytest.raises(errors.Closed) as closed:
        tx_sender.call(probe.functions.failClosed(7))
    assert closed.value.id == 7 and closed.value.deadline > 0

    caller = dev_account(3).address
    with pytest.raises(errors.Mismatch) as mismatch:
        tx_sender.call(probe.functions.failMismatch(b"\x11" * 32, "why"), sender=caller)
    assert mismatch.value.args == {"who": caller, "tag": b"\x11" * 32, "note": "why"}

    with pytest.raises(errors.TierRefused) as tier:
        tx_sender.call(probe.functions.failTier(5, 900))
    assert tier.value.tier == (5, 900) and tier.value.values == [5, 900]

    with pytest.raises(errors.Bare):
        tx_sender.call(probe.functions.failBare())
    with pytest.raises(errors.RevertWithReason, match="plain reason"):
        tx_sender.call(probe.functions.failReason())
    with pytest.raises(errors.Panic) as panic:
        tx_sender.call(probe.functions.failPanic(0))
    assert panic.value.code == 0x12
    with pytest.raises(errors.UnknownRevert):
        tx_sender.call(probe.functions.failEmpty())


def test_probe_revert_in_a_transaction_is_named(probe: Contract, tx_sender: TxSender) -> None:
    with pytest.raises(errors.Closed):
        tx_sender.transact(dev_account(4), probe.functions.failClosed(1))


def test_real_contract_reverts_are_named(clients: Clients) -> None:
    platform, stranger = dev_account(0), dev_account(5)
    with pytest.raises(errors.AccessControlUnauthorizedAccount) as denied:
        clients.registry.approve_supplier(stranger.address, signer=stranger)
    assert denied.value.account == stranger.address
    assert denied.value.neededRole == clients.registry.role("PLATFORM_ROLE")

    with pytest.raises(errors.UnexpectedPartyStatus) as status:
        clients.registry.approve_supplier(stranger.address, signer=platform)
    assert status.value.args == {"kind": 0, "account": stranger.address, "status": 0}

    with pytest.raises(errors.NotApprovedSupplier):
        clients.registry.register_batch(
            "09506000134352", "L1", b"\x12\x20" + b"\x01" * 32, signer=stranger
        )

    with pytest.raises(errors.GtinNotOwned) as not_owned:  # an approved supplier, not the GTIN's
        clients.registry.apply_as_supplier(
            b"\x12\x20" + b"\x01" * 32, b"\x01" * 32, signer=stranger
        )
        clients.registry.approve_supplier(stranger.address, signer=platform)
        clients.registry.register_batch(
            "09506000134352", "L1", b"\x12\x20" + b"\x01" * 32, signer=stranger
        )
    assert not_owned.value.args == {
        "gtin": "09506000134352",
        "account": stranger.address,
        "owner": "0x0000000000000000000000000000000000000000",
    }

    with pytest.raises(errors.ERC20InsufficientBalance) as balance:
        clients.token.transfer(platform.address, 10, signer=stranger)
    assert balance.value.args == {"sender": stranger.address, "balance": 0, "needed": 10}

    with pytest.raises(errors.DealNotFound) as missing:
        clients.escrow.cancel(42, signer=stranger)
    assert missing.value.dealId == 42


def test_exceptions_are_chain_errors_and_pickle() -> None:
    import pickle

    registry = ErrorRegistry()
    registry.register_abi(ALL_ERRORS)
    exc = registry.decode(
        keccak(text="DealClosed(uint256,uint256)")[:4] + encode(["uint256", "uint256"], [3, 99])
    )
    assert isinstance(exc, errors.ChainError)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is errors.DealClosed and again.args == {"dealId": 3, "joinDeadline": 99}
    assert str(again) == str(exc) == "DealClosed(dealId=3, joinDeadline=99)"


def test_reading_an_error_class_loads_artifacts_and_never_compiles(
    artifacts: dict[str, Any], tmp_path: Path
) -> None:
    """In a fresh process where importing the compiler fails: with no artifacts, an error class
    is unknown (no compile to learn it); once artifacts are there, ``errors.DealClosed`` comes
    from them. chain.compile is never loaded."""
    code = f"""
import sys
from pathlib import Path
sys.modules["solcx"] = None  # importing py-solc-x, hence chain.compile, would fail
from chain import artifacts, errors
real = artifacts.load_all_artifacts.__defaults__
artifacts.load_all_artifacts.__defaults__ = (Path({str(tmp_path)!r}),)  # none yet
assert not hasattr(errors, "DealClosed")
artifacts.load_all_artifacts.__defaults__ = real
assert errors.DealClosed.__name__ == "DealClosed"
assert "chain.compile" not in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_registry_with_a_source_fills_itself_once_the_source_has_abis() -> None:
    """The default registry's case: no artifacts yet (a fresh clone) decodes as UnknownRevert;
    once a compile wrote them, the same registry object decodes by name, and reads them once."""
    abis: list[list[dict[str, Any]]] = []
    reads: list[int] = []

    def source() -> list[list[dict[str, Any]]]:
        reads.append(len(abis))
        return list(abis)

    registry = ErrorRegistry(source=source)
    data = keccak(text="DealClosed(uint256,uint256)")[:4] + encode(["uint256", "uint256"], [3, 99])
    assert isinstance(registry.decode(data), errors.UnknownRevert)
    abis.append(ALL_ERRORS)
    assert type(registry.decode(data)) is errors.DealClosed
    assert type(registry.decode(data)) is errors.DealClosed
    assert reads == [0, 1]  # asked again while empty, then never
