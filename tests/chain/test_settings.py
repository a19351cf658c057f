"""Settings: anvil's public development keys are refused on any non-local chain."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chain.accounts import dev_account, dev_accounts, is_dev_key
from chain.errors import ChainIdMismatch, DevDocumentKeyOnPublicChain, DevKeyOnPublicChain
from chain.settings import Settings, check_node_allows_keys

PRIVATE_KEY = "0x" + "5a" * 32  # not a dev key


def test_dev_accounts_are_anvils() -> None:
    assert dev_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert dev_account(1).address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert all(is_dev_key(a.key) for a in dev_accounts())
    assert not is_dev_key(PRIVATE_KEY)


def test_local_defaults_use_dev_keys() -> None:
    s = Settings(_env_file=None)
    assert s.is_local
    assert Account.from_key(s.platform_key.get_secret_value()).address == dev_account(0).address


@pytest.mark.parametrize(
    ("rpc_url", "chain_id"),
    [
        ("https://sepolia.example.org", 11155111),
        ("http://127.0.0.1:8545", 11155111),  # a tunnel to a public chain
        ("https://rpc.example.org", 31337),  # chain id 31337 but not on this machine
    ],
)
def test_dev_keys_refused_off_local(rpc_url: str, chain_id: int) -> None:
    with pytest.raises(DevKeyOnPublicChain) as refused:
        Settings(_env_file=None, rpc_url=rpc_url, chain_id=chain_id)
    assert refused.value.address == dev_account(0).address
    assert refused.value.chain_id == chain_id


def test_one_dev_key_among_private_ones_is_refused() -> None:
    with pytest.raises(DevKeyOnPublicChain) as refused:
        Settings(
            _env_file=None,
            rpc_url="https://rpc.example.org",
            chain_id=10,
            platform_key=PRIVATE_KEY,
            relayer_key=PRIVATE_KEY,
            keeper_key=dev_account(2).key.hex(),
        )
    assert refused.value.address == dev_account(2).address


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < 2**255))
def test_private_keys_accepted_on_public_chain(key: bytes) -> None:
    s = Settings(
        _env_file=None,
        rpc_url="https://rpc.example.org",
        chain_id=8453,
        platform_key="0x" + key.hex(),
        relayer_key="0x" + key.hex(),
        keeper_key="0x" + key.hex(),
        document_key=key.hex(),
    )
    assert not s.is_local
    check_node_allows_keys(s, 8453)


def test_the_development_document_key_is_refused_off_local() -> None:
    keys = {"platform_key": PRIVATE_KEY, "relayer_key": PRIVATE_KEY, "keeper_key": PRIVATE_KEY}
    with pytest.raises(DevDocumentKeyOnPublicChain) as refused:
        Settings(_env_file=None, rpc_url="https://rpc.example.org", chain_id=10, **keys)
    assert refused.value.chain_id == 10
    own = Settings(
        _env_file=None,
        rpc_url="https://rpc.example.org",
        chain_id=10,
        document_key="0x" + "AB" * 32,
        **keys,
    )
    assert own.document_key.get_secret_value() == "ab" * 32  # normalized: 64 lowercase hex digits
    with pytest.raises(ValueError, match="64 hex digits"):
        Settings(_env_file=None, document_key="not a key")


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUANCHAIN_RPC_URL", "https://rpc.example.org")
    monkeypatch.setenv("TUANCHAIN_CHAIN_ID", "137")
    with pytest.raises(DevKeyOnPublicChain):
        Settings(_env_file=None)
    monkeypatch.setenv("TUANCHAIN_PLATFORM_KEY", PRIVATE_KEY)
    monkeypatch.setenv("TUANCHAIN_RELAYER_KEY", PRIVATE_KEY)
    monkeypatch.setenv("TUANCHAIN_KEEPER_KEY", PRIVATE_KEY)
    with pytest.raises(DevDocumentKeyOnPublicChain):
        Settings(_env_file=None)
    monkeypatch.setenv("TUANCHAIN_DOCUMENT_KEY", "cd" * 32)
    assert Settings(_env_file=None).chain_id == 137


def test_node_chain_id_is_checked_against_settings() -> None:
    s = Settings(_env_file=None)
    check_node_allows_keys(s, 31337)
    with pytest.raises(ChainIdMismatch):
        check_node_allows_keys(s, 1)


def test_index_confirmations_default_to_zero_and_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TUANCHAIN_INDEX_CONFIRMATIONS", raising=False)
    assert Settings(_env_file=None).index_confirmations == 0  # anvil never re-orgs
    monkeypatch.setenv("TUANCHAIN_INDEX_CONFIRMATIONS", "12")
    assert Settings(_env_file=None).index_confirmations == 12


@pytest.mark.parametrize("bad", ["-1", "three", "1.5"])
def test_index_confirmations_must_be_a_non_negative_integer(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("TUANCHAIN_INDEX_CONFIRMATIONS", bad)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert [e["loc"] for e in refused.value.errors()] == [("index_confirmations",)]


def test_the_relayer_key_pool_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """TUANCHAIN_RELAYER_KEYS adds lanes after the relayer key (repeats and blanks dropped);
    anvil's keys are fine on a local chain."""
    keys = [dev_account(i).key.hex() for i in (5, 6)]
    monkeypatch.setenv("TUANCHAIN_RELAYER_KEYS", f" {keys[0]},0x{keys[1]},,{keys[0]} ")
    pool = Settings(_env_file=None).relayer_pool
    addresses = [Account.from_key(k.get_secret_value()).address for k in pool]
    assert addresses == [dev_account(1).address, dev_account(5).address, dev_account(6).address]


def test_a_development_key_in_the_pool_is_refused_off_local() -> None:
    with pytest.raises(DevKeyOnPublicChain) as refused:
        Settings(
            _env_file=None,
            rpc_url="https://rpc.example.org",
            chain_id=10,
            platform_key=PRIVATE_KEY,
            relayer_key=PRIVATE_KEY,
            keeper_key=PRIVATE_KEY,
            document_key="cd" * 32,
            relayer_keys=f"0x{'ab' * 32},{dev_account(7).key.hex()}",
        )
    assert refused.value.address == dev_account(7).address


def test_a_malformed_pool_key_is_refused_with_its_variable() -> None:
    with pytest.raises(ValidationError, match="TUANCHAIN_RELAYER_KEYS"):
        Settings(_env_file=None, relayer_keys="0x1234")
