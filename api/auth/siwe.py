"""EIP-4361 (Sign-In with Ethereum) messages: the text format, built and parsed strictly.

Why not the PyPI ``siwe`` / ``signinwithethereum`` packages: both pin ``web3<8`` and
``eth-account<0.14``, older than this project's. The format is small; this module follows the
EIP's ABNF line by line (``[scheme "://"] domain`` header, the checksummed address, an optional
one-line statement, then the ``Key: value`` fields in their fixed order) and refuses anything else,
so two different texts never parse to the same message. Signature checking (EIP-191
``personal_sign`` of the exact text) is :func:`recover_signer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address
from hexbytes import HexBytes

HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
NONCE_PATTERN = re.compile(r"[A-Za-z0-9]{8,}")
# RFC 3986 authority (host[:port], optional userinfo); no spaces, slashes or control characters.
DOMAIN_PATTERN = re.compile(r"[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]]+")
SCHEME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# RFC 3986 "reserved / unreserved / space": printable ASCII without LF (and without controls).
STATEMENT_PATTERN = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]*")
URI_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[^\s]+")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
OPTIONAL_FIELDS = (
    ("Expiration Time", "expiration_time"),
    ("Not Before", "not_before"),
    ("Request ID", "request_id"),
)


class InvalidSiweMessage(ValueError):
    """The text is not an EIP-4361 message; ``reason`` says which part is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not an EIP-4361 message: {reason}")
        self.reason = reason


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as wallets and the reference library write it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str, name: str) -> datetime:
    if not RFC3339.fullmatch(text):
        raise InvalidSiweMessage(f"{name} {text!r} is not an RFC 3339 date-time")
    try:
        return datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise InvalidSiweMessage(f"{name} {text!r} is not a valid date") from None


@dataclass(frozen=True)
class SiweMessage:
    """The fields of one message; :meth:`text` is what the wallet shows and signs."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    scheme: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default=())

    def text(self) -> str:
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain}{HEADER_SUFFIX}", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines.append("")
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        for label, attr in OPTIONAL_FIELDS:
            value = getattr(self, attr)
            if value is not None:
                lines.append(f"{label}: {value}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def parse(text: str) -> SiweMessage:
    """The message in ``text``, or :class:`InvalidSiweMessage` naming the first wrong part."""
    lines = text.split("\n")
    if len(lines) < 9:
        raise InvalidSiweMessage("too few lines")
    header = lines[0]
    if not header.endswith(HEADER_SUFFIX):
        raise InvalidSiweMessage(f"the first line must end with {HEADER_SUFFIX.strip()!r}")
    authority = header.removesuffix(HEADER_SUFFIX)
    scheme = None
    if "://" in authority:
        scheme, authority = authority.split("://", 1)
        if not SCHEME_PATTERN.fullmatch(scheme):
            raise InvalidSiweMessage(f"scheme {scheme!r} is not an RFC 3986 scheme")
    if not DOMAIN_PATTERN.fullmatch(authority):
        raise InvalidSiweMessage(f"domain {authority!r} is not an RFC 3986 authority")
    address = lines[1]
    if not is_checksum_address(address):
        raise InvalidSiweMessage(f"address {address!r} is not an EIP-55 checksummed address")
    if lines[2] != "":
        raise InvalidSiweMessage("an empty line must follow the address")
    statement: str | None
    if lines[3] == "":
        statement, at = None, 4
    else:
        statement = lines[3]
        if not STATEMENT_PATTERN.fullmatch(statement):
            raise InvalidSiweMessage("the statement holds characters the EIP does not allow")
        if lines[4] != "":
            raise InvalidSiweMessage("the statement must be one line followed by an empty line")
        at = 5
    values: dict[str, str] = {}
    for label in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
        if at >= len(lines) or not lines[at].startswith(f"{label}: "):
            raise InvalidSiweMessage(f"line {at + 1} must be '{label}: ...'")
        values[label] = lines[at].removeprefix(f"{label}: ")
        at += 1
    optional: dict[str, str] = {}
    for label, attr in OPTIONAL_FIELDS:
        if at < len(lines) and lines[at].startswith(f"{label}: "):
            optional[attr] = lines[at].removeprefix(f"{label}: ")
            at += 1
    resources: list[str] = []
    if at < len(lines) and lines[at] == "Resources:":
        at += 1
        while at < len(lines) and lines[at].startswith("- "):
            resources.append(lines[at].removeprefix("- "))
            at += 1
    if at != len(lines):
        raise InvalidSiweMessage(f"unexpected line {at + 1}: {lines[at][:40]!r}")

    for uri in (values["URI"], *resources):
        if not URI_PATTERN.fullmatch(uri):
            raise InvalidSiweMessage(f"{uri!r} is not an RFC 3986 URI")
    if values["Version"] != "1":
        raise InvalidSiweMessage(f"version {values['Version']!r} is not 1")
    if not values["Chain ID"].isdigit() or values["Chain ID"].startswith("0"):
        raise InvalidSiweMessage(f"chain id {values['Chain ID']!r} is not a positive integer")
    if not NONCE_PATTERN.fullmatch(values["Nonce"]):
        raise InvalidSiweMessage("the nonce must be at least 8 letters or digits")
    parse_time(values["Issued At"], "Issued At")
    for label, attr in OPTIONAL_FIELDS[:2]:
        if attr in optional:
            parse_time(optional[attr], label)
    return SiweMessage(
        domain=authority,
        address=address,
        uri=values["URI"],
        chain_id=int(values["Chain ID"]),
        nonce=values["Nonce"],
        issued_at=values["Issued At"],
        statement=statement,
        scheme=scheme,
        resources=tuple(resources),
        **optional,
    )


def recover_signer(text: str, signature: str) -> str:
    """The account whose EIP-191 ``personal_sign`` of ``text`` is ``signature``.

    Raises :class:`InvalidSiweMessage` for a signature that cannot be checked at all."""
    try:
        return str(
            Account.recover_message(encode_defunct(text=text), signature=HexBytes(signature))
        )
    except Exception:  # noqa: BLE001 — eth-account raises many types for malformed signatures
        raise InvalidSiweMessage("the signature is not a 65-byte secp256k1 signature") from None
