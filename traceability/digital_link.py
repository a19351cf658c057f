"""GS1 Digital Link URIs of a batch: ``https://{resolver}/01/{gtin14}/10/{lot}``.

* GTIN-8, -12, -13 and -14 are accepted and normalised to GTIN-14 (left-padded with zeros,
  as GS1 General Specifications 3.3.2 define), with the mod-10 check digit validated.
* The lot is GS1 AI (10): 1-20 characters of the GS1 AI encodable character set 82. In the
  URI path every character outside RFC 3986 "unreserved" is percent-encoded (GS1 Digital
  Link 1.x: ``!"%&'()*+,/:;<=>?`` are all escaped), so ``/`` or ``?`` in a lot never
  changes the URI's structure.
* ``linkType`` (``gs1:pip``, ``gs1:traceability``, ``gs1:certificationInfo`` ...) rides in
  the query string, as resolvers expect it.

The GS1 key rules are those of :mod:`traceability.epcis.identifiers` (one implementation of
the check digit and of the character set); this module adds the URI forms and their errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import (
    dl_encode,
    gs1_check_digit,
    validate_gtin14,
    validate_lot,
)

DEFAULT_RESOLVER: Final = "id.gs1.org"
GS1_VOC: Final = "https://gs1.org/voc/"
# The link types this project publishes (GS1 Web Vocabulary LinkType terms).
LINK_TYPES: Final = ("gs1:pip", "gs1:traceability", "gs1:certificationInfo")

_LINK_TYPE = re.compile(r"^gs1:[A-Za-z][A-Za-z0-9]*$")
_PATH = re.compile(r"^(?P<prefix>.*?)/01/(?P<gtin>[^/]+)/10/(?P<lot>[^/]+)/?$")


class InvalidGtin(InvalidIdentifier):
    """Not a GTIN-8/12/13/14, or its check digit is wrong."""

    @property
    def details(self) -> dict[str, str]:
        return {"gtin": self.value}


class InvalidLot(InvalidIdentifier):
    """Not a GS1 AI (10) lot: 1-20 characters of the AI encodable character set 82."""

    @property
    def details(self) -> dict[str, str]:
        return {"lot": self.value}


class InvalidDigitalLink(InvalidIdentifier):
    """A URI is not a GS1 Digital Link ``.../01/{gtin}/10/{lot}`` this project understands."""


def batch_id_of(gtin14: str, lot: str) -> bytes:
    """The registry's batch id, ``keccak256(abi.encode(gtin14, lot))`` (``computeBatchId``)."""
    return keccak(abi_encode(["string", "string"], [gtin14, lot]))


def normalize_gtin(gtin: str) -> str:
    """GTIN-8/12/13/14 → GTIN-14 with a verified check digit; ``InvalidGtin`` otherwise."""
    text = gtin.strip() if isinstance(gtin, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) not in (8, 12, 13, 14):
        raise InvalidGtin(str(gtin), "a GTIN is 8, 12, 13 or 14 digits")
    gtin14 = text.zfill(14)
    expected = gs1_check_digit(gtin14[:-1])
    if gtin14[-1] != expected:
        raise InvalidGtin(text, f"check digit should be {expected}, not {gtin14[-1]}")
    try:
        return validate_gtin14(gtin14)  # the one rule of a GTIN-14 (all zeros is none)
    except InvalidIdentifier as exc:
        raise InvalidGtin(text, exc.reason) from None


def check_lot(lot: str) -> str:
    """Return ``lot`` if it is a valid GS1 AI (10) value; ``InvalidLot`` otherwise."""
    try:
        return validate_lot(lot)
    except InvalidIdentifier as exc:
        raise InvalidLot(exc.value, exc.reason) from None


def encode_lot(lot: str) -> str:
    """Percent-encode a lot for a URI path segment (only ``A-Za-z0-9-._`` stay as they are)."""
    return dl_encode(check_lot(lot))


def normalize_link_type(link_type: str) -> str:
    """``gs1:xyz`` (or ``https://gs1.org/voc/xyz``) → ``gs1:xyz``; ``all`` stays ``all``."""
    value = link_type.strip()
    if value.startswith(GS1_VOC):
        value = "gs1:" + value[len(GS1_VOC) :]
    if value != "all" and not _LINK_TYPE.match(value):
        raise InvalidDigitalLink(link_type, "linkType must be 'all' or a gs1: link type")
    return value


def _resolver_base(resolver: str) -> str:
    """``host[:port][/path]`` or an http(s) URL → base URL without a trailing slash."""
    text = resolver.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        valid = False
    if not valid or parts.query or parts.fragment or any(c.isspace() for c in text):
        raise InvalidDigitalLink(resolver, "resolver must be a host name or an http(s) URL")
    return text.rstrip("/")


@dataclass(frozen=True)
class DigitalLink:
    """A parsed batch Digital Link."""

    gtin14: str
    lot: str
    resolver: str  # base URL, e.g. https://id.gs1.org
    link_type: str | None = None

    @property
    def uri(self) -> str:
        return build_link(self.gtin14, self.lot, resolver=self.resolver, link_type=self.link_type)


def link_path(gtin: str, lot: str) -> str:
    """``/01/{gtin14}/10/{lot}``, the lot percent-encoded: the path of every batch link."""
    return f"/01/{normalize_gtin(gtin)}/10/{encode_lot(lot)}"


def build_link(
    gtin: str, lot: str, *, resolver: str = DEFAULT_RESOLVER, link_type: str | None = None
) -> str:
    """``https://{resolver}/01/{gtin14}/10/{lot}`` (plus ``?linkType=`` when given)."""
    uri = _resolver_base(resolver) + link_path(gtin, lot)
    if link_type is not None:
        uri += "?" + urlencode({"linkType": normalize_link_type(link_type)}, safe=":")
    return uri


def parse_link(uri: str) -> DigitalLink:
    """Parse a batch Digital Link back into GTIN-14, lot, resolver and linkType.

    A path prefix before ``/01/`` is kept in the resolver (resolvers may live under a
    path). ``InvalidDigitalLink``, ``InvalidGtin`` or ``InvalidLot`` say what is wrong.
    """
    if not isinstance(uri, str):
        raise InvalidDigitalLink(repr(uri), "not a string")
    try:
        parts = urlsplit(uri.strip())
        hostname = parts.hostname
    except ValueError as exc:  # urllib refuses some malformed authorities outright
        raise InvalidDigitalLink(uri, f"not a URI: {exc}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise InvalidDigitalLink(uri, "a Digital Link is an http(s) URI with a host")
    match = _PATH.match(parts.path)
    if not match:
        raise InvalidDigitalLink(uri, "path must end with /01/{gtin}/10/{lot}")
    gtin14 = normalize_gtin(unquote(match["gtin"]))
    raw_lot = match["lot"]
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw_lot):
        raise InvalidDigitalLink(uri, "malformed percent-encoding in the lot")
    try:
        lot = check_lot(unquote(raw_lot, errors="strict"))
    except UnicodeDecodeError:
        raise InvalidDigitalLink(uri, "the lot is not percent-encoded UTF-8") from None
    link_type = None
    if parts.query:
        values = parse_qs(parts.query, keep_blank_values=True).get("linkType")
        if values:
            if len(values) > 1:
                raise InvalidDigitalLink(uri, "linkType given more than once")
            link_type = normalize_link_type(values[0])
    resolver = f"{parts.scheme}://{parts.netloc}{match['prefix']}"
    return DigitalLink(gtin14=gtin14, lot=lot, resolver=resolver, link_type=link_type)
