"""EIP-4361 messages: the EIP's own example parses, every built message round-trips, anything
else is refused with its reason; and the checks of a parsed message against this service."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given
from hypothesis import strategies as st

from api.auth import siwe
from api.auth.errors import SignInRefused
from api.auth.sessions import check_message
from chain.settings import Settings

# The example of EIP-4361 ("Example message"), verbatim.
EIP_EXAMPLE = """example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def test_the_eip_example_parses_and_prints_back() -> None:
    message = siwe.parse(EIP_EXAMPLE)
    assert message.domain == "example.com" and message.chain_id == 1
    assert message.nonce == "32891756" and len(message.resources) == 2
    assert message.statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos"
    assert message.text() == EIP_EXAMPLE


def test_a_message_without_statement_has_two_empty_lines() -> None:
    message = siwe.parse(EIP_EXAMPLE).__class__(
        domain="localhost:8000",
        address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        uri="http://localhost:8000",
        chain_id=31337,
        nonce="abcdefgh12",
        issued_at="2026-01-01T00:00:00.000Z",
        scheme="http",
    )
    assert "Cc2\n\n\nURI:" in message.text()
    assert siwe.parse(message.text()) == message


statement = st.text(
    alphabet=st.sampled_from("abcXYZ019-._~:/?#[]@!$&'()*+,;= "), min_size=1, max_size=40
)


@given(
    address=st.binary(min_size=20, max_size=20),
    chain_id=st.integers(min_value=1, max_value=2**63),
    nonce=st.text(alphabet="abcdefABCDEF0123456789", min_size=8, max_size=40),
    statement=st.none() | statement,
    scheme=st.sampled_from([None, "http", "https"]),
    expiration=st.none() | st.just("2030-01-01T00:00:00Z"),
    resources=st.lists(st.sampled_from(["https://a.example/x", "ipfs://bafy"]), max_size=3),
)
def test_every_built_message_parses_back_to_itself(
    address: bytes,
    chain_id: int,
    nonce: str,
    statement: str | None,
    scheme: str | None,
    expiration: str | None,
    resources: list[str],
) -> None:
    from eth_utils import to_checksum_address

    message = siwe.SiweMessage(
        domain="shop.example:8443",
        address=to_checksum_address(address),
        uri="https://shop.example:8443/login",
        chain_id=chain_id,
        nonce=nonce,
        issued_at="2026-11-30T18:00:00.123Z",
        statement=statement,
        scheme=scheme,
        expiration_time=expiration,
        resources=tuple(resources),
    )
    assert siwe.parse(message.text()) == message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda t: t.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0x" + "c0" * 20),
            "EIP-55",
        ),
        (lambda t: t.replace("Version: 1", "Version: 2"), "version"),
        (lambda t: t.replace("Nonce: 32891756", "Nonce: 1234"), "nonce"),
        (lambda t: t.replace("Chain ID: 1", "Chain ID: 01"), "chain id"),
        (lambda t: t.replace("2021-09-30T16:25:24Z", "yesterday"), "RFC 3339"),
        (lambda t: t.replace("URI: https://example.com/login", "URI: not a uri"), "URI"),
        (lambda t: t + "\nExtra: field", "unexpected line"),
        (lambda t: t.replace("Version: 1\n", ""), "Version"),
        (lambda t: t.replace(" wants you", " asks you"), "first line"),
        (lambda t: t.replace("Terms of Service:", "Terms\nof Service:"), "statement"),
    ],
)
def test_malformed_messages_are_refused_with_their_reason(change, reason: str) -> None:
    with pytest.raises(siwe.InvalidSiweMessage, match=reason):
        siwe.parse(change(EIP_EXAMPLE))


def test_the_signer_is_recovered_from_the_exact_text() -> None:
    account = Account.create()
    text = EIP_EXAMPLE.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", account.address)
    signature = account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()
    assert siwe.recover_signer(text, signature) == account.address
    assert siwe.recover_signer(text + " ", signature) != account.address
    with pytest.raises(siwe.InvalidSiweMessage, match="65-byte"):
        siwe.recover_signer(text, "0x1234")


SETTINGS = Settings(public_url="https://shop.example", chain_id=31337)
NOW = 1_800_000_000  # 2027-01-15


def _message(**changes) -> siwe.SiweMessage:
    fields = {
        "domain": "shop.example",
        "address": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        "uri": "https://shop.example/",
        "chain_id": 31337,
        "nonce": "abcdefgh",
        "issued_at": "2027-01-15T08:00:00Z",
        "scheme": "https",
        "expiration_time": "2027-01-15T08:10:00Z",
    }
    return siwe.SiweMessage(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"domain": "evil.example"}, "wrong_domain"),
        ({"scheme": "http"}, "wrong_scheme"),
        ({"uri": "https://evil.example/"}, "wrong_uri"),
        ({"chain_id": 1}, "wrong_chain"),
        ({"expiration_time": "2027-01-15T07:59:59Z"}, "expired"),
        ({"issued_at": "2027-01-15T08:30:00Z"}, "not_yet_valid"),
        ({"not_before": "2027-01-15T09:00:00Z"}, "not_yet_valid"),
    ],
)
def test_a_message_for_another_site_chain_or_time_is_refused(changes, reason: str) -> None:
    check_message(_message(), SETTINGS, now=NOW)  # the unchanged message passes
    with pytest.raises(SignInRefused) as refused:
        check_message(_message(**changes), SETTINGS, now=NOW)
    assert refused.value.reason == reason


LOCAL = Settings(public_url="http://127.0.0.1:8000", chain_id=31337)


def _local(host: str) -> siwe.SiweMessage:
    return _message(domain=host, uri=f"http://{host}/", scheme="http")


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000"])
def test_a_local_service_accepts_each_loopback_name_of_its_own_port(host: str) -> None:
    # Passkey pages must be opened on localhost (an RP ID cannot be an IP address), the printed
    # URL is 127.0.0.1: a local service signs people in on either.
    check_message(_local(host), LOCAL, now=NOW)


@pytest.mark.parametrize(
    ("settings", "host"),
    [
        (LOCAL, "localhost:8001"),  # another port is another site
        (LOCAL, "evil.example"),
        (SETTINGS, "localhost"),  # a public service accepts only its own name
    ],
)
def test_other_names_stay_refused(settings: Settings, host: str) -> None:
    with pytest.raises(SignInRefused) as refused:
        check_message(_local(host), settings, now=NOW)
    assert refused.value.reason in {"wrong_domain", "wrong_scheme"}
