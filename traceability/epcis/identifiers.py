"""GS1 keys and their URI forms: check digits, EPC URNs, canonical GS1 Digital Link URIs.

The CBV 2.0 event hash's own normalisation of identifiers (EPC URI -> Digital Link, rules 17
and 18) is ``digital_link_reference``: it must match GS1's reference generator exactly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

from traceability.epcis.errors import InvalidIdentifier

logger = logging.getLogger(__name__)

DL_ROOT = "https://id.gs1.org"

# GS1 AI 82 character set, the one allowed in lot numbers and serials (GS1 General Specs 7.11).
_AI82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")


def gs1_check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of ``digits`` (the key without its check digit)."""
    if not digits.isdigit():
        raise InvalidIdentifier(digits, "check digit input must be digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _validate_key(value: str, *, length: int, name: str) -> str:
    if not (isinstance(value, str) and value.isdigit() and len(value) == length):
        raise InvalidIdentifier(str(value), f"{name} must be {length} digits")
    if gs1_check_digit(value[:-1]) != value[-1]:
        raise InvalidIdentifier(
            value, f"{name} check digit should be {gs1_check_digit(value[:-1])}"
        )
    return value


def validate_gtin14(gtin: str) -> str:
    """Return ``gtin`` if it is a GTIN-14 with a valid check digit that names a product, else
    raise. All zeros passes the check digit (0) but is no GTIN: no prefix is allocated for it and
    it is what an empty field padded to 14 digits reads (the registry refuses it too,
    ``ProvenanceFormats.isValidGtin14``)."""
    value = _validate_key(gtin, length=14, name="GTIN-14")
    if not value.strip("0"):
        raise InvalidIdentifier(value, "an all-zeros GTIN names no product")
    return value


# GS1 Company Prefixes are 6 to 12 digits (12: a single GTIN). The registry keeps their owners.
COMPANY_PREFIX_LENGTHS = range(6, 13)


def is_restricted_circulation(digits: str) -> bool:
    """Whether a company-prefix part (a prefix, or a GTIN-14's digits after the indicator) is a
    restricted-circulation number: GS1 prefixes 020-029, 040-049, 200-299 (in-store and
    variable-measure numbers every retailer reuses). The Python mirror of the registry's
    ``ProvenanceFormats.isRestrictedCirculation``."""
    return digits[:1] == "2" or digits[:2] in ("02", "04")


def validate_company_prefix(prefix: str) -> str:
    """Return ``prefix`` if the registry accepts it as a GS1 Company Prefix, else raise."""
    if not (
        isinstance(prefix, str)
        and prefix.isascii()
        and prefix.isdigit()
        and len(prefix) in COMPANY_PREFIX_LENGTHS
    ):
        raise InvalidIdentifier(str(prefix), "a GS1 Company Prefix is 6 to 12 digits")
    if is_restricted_circulation(prefix):
        raise InvalidIdentifier(prefix, "restricted-circulation numbers (02, 04, 2x) have no owner")
    return prefix


def gtin_company_prefix(gtin14: str, prefixes: Iterable[str]) -> str | None:
    """The prefix among ``prefixes`` that ``gtin14``'s company-prefix part starts with (its digits
    after the indicator digit: a GTIN-12 padded to 14 reads "0" + its UPC prefix), or None."""
    part = gtin14[1:13]
    return next((p for p in prefixes if part.startswith(p)), None)


def validate_gln(gln: str) -> str:
    """Return ``gln`` if it is a 13-digit GLN with a valid check digit, else raise."""
    return _validate_key(gln, length=13, name="GLN")


def validate_lot(lot: str) -> str:
    """Return ``lot`` if it fits GS1 AI 10 (1-20 chars of the AI 82 set), else raise."""
    if not isinstance(lot, str) or not _AI82.fullmatch(lot):  # "$" would allow a final "\n"
        raise InvalidIdentifier(str(lot), "lot must be 1-20 characters of the GS1 AI 82 set")
    return lot


def dl_encode(value: str) -> str:
    """A GS1 Digital Link path value: every character outside RFC 3986 "unreserved"
    percent-encoded (Digital Link 1.x escapes all of ``!"%&'()*+,/:;<=>?``), so a ``?`` or ``/``
    in a lot never changes the URI's structure (lots "A" and "A?B" are two links)."""
    return quote(value, safe="")


def lot_digital_link(gtin14: str, lot: str) -> str:
    """Canonical Digital Link of a lot: ``https://id.gs1.org/01/{gtin}/10/{lot}``."""
    return f"{DL_ROOT}/01/{validate_gtin14(gtin14)}/10/{dl_encode(validate_lot(lot))}"


def location_digital_link(gln: str, extension: str | None = None) -> str:
    """Canonical Digital Link of a location (GLN, optional AI 254 extension)."""
    uri = f"{DL_ROOT}/414/{validate_gln(gln)}"
    return uri + (f"/254/{dl_encode(extension)}" if extension and extension != "0" else "")


def party_digital_link(gln: str) -> str:
    """Canonical Digital Link of a party (PGLN, AI 417)."""
    return f"{DL_ROOT}/417/{validate_gln(gln)}"


def lgtin_urn(gtin14: str, lot: str, *, company_prefix_length: int) -> str:
    """EPC class URI ``urn:epc:class:lgtin:{cp}.{indicator+itemref}.{lot}`` (TDS 6.3.2).

    The company prefix length is not derivable from the GTIN, so the caller gives it.
    """
    gtin = validate_gtin14(gtin14)
    if not 6 <= company_prefix_length <= 12:
        raise InvalidIdentifier(gtin, "company prefix length must be 6..12")
    cp = gtin[1 : 1 + company_prefix_length]
    item_ref = gtin[0] + gtin[1 + company_prefix_length : 13]
    return f"urn:epc:class:lgtin:{cp}.{item_ref}.{_epc_escape(validate_lot(lot))}"


def sgln_urn(gln: str, *, company_prefix_length: int, extension: str = "0") -> str:
    """EPC URI ``urn:epc:id:sgln:{cp}.{locref}.{ext}`` of a GLN."""
    gln = validate_gln(gln)
    if not 6 <= company_prefix_length <= 12:
        raise InvalidIdentifier(gln, "company prefix length must be 6..12")
    return (
        f"urn:epc:id:sgln:{gln[:company_prefix_length]}.{gln[company_prefix_length:12]}.{extension}"
    )


def _epc_escape(value: str) -> str:
    # TDS 1.13 table A-1: characters that must be %-escaped in EPC URI components.
    return "".join(f"%{ord(c):02X}" if c in '"%&/<>?' else c for c in value)
