"""GS1 keys and their URI forms: check digits, EPC URNs, canonical GS1 Digital Link URIs.

The CBV 2.0 event hash compares identifiers in one form only (the constrained canonical
GS1 Digital Link URI, rule 17/18 of the algorithm), so the conversion from every EPC URI
scheme lives here next to the builders that produce those URIs in the first place.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit

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
    """Return ``gtin`` if it is a GTIN-14 with a valid check digit, else raise."""
    return _validate_key(gtin, length=14, name="GTIN-14")


def validate_gln(gln: str) -> str:
    """Return ``gln`` if it is a 13-digit GLN with a valid check digit, else raise."""
    return _validate_key(gln, length=13, name="GLN")


def validate_lot(lot: str) -> str:
    """Return ``lot`` if it fits GS1 AI 10 (1-20 chars of the AI 82 set), else raise."""
    if not isinstance(lot, str) or not _AI82.match(lot):
        raise InvalidIdentifier(str(lot), "lot must be 1-20 characters of the GS1 AI 82 set")
    return lot


def _dl_encode(value: str) -> str:
    # Digital Link 1.2 table 7-1 percent-encodes these in path values.
    return quote(value, safe="\"'-._;<=>?_")


def lot_digital_link(gtin14: str, lot: str) -> str:
    """Canonical Digital Link of a lot: ``https://id.gs1.org/01/{gtin}/10/{lot}``."""
    return f"{DL_ROOT}/01/{validate_gtin14(gtin14)}/10/{_dl_encode(validate_lot(lot))}"


def location_digital_link(gln: str, extension: str | None = None) -> str:
    """Canonical Digital Link of a location (GLN, optional AI 254 extension)."""
    uri = f"{DL_ROOT}/414/{validate_gln(gln)}"
    return uri + (f"/254/{_dl_encode(extension)}" if extension and extension != "0" else "")


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


# ---------------------------------------------------------------- EPC URN -> Digital Link


def _web_escape(value: str) -> str:
    # Same substitutions as the GS1 reference implementation (dl_normaliser.webURIPercentEncoder).
    for char, code in (
        ("!", "%21"),
        ("(", "%28"),
        (")", "%29"),
        ("*", "%2A"),
        ("+", "%2B"),
        (",", "%2C"),
        (":", "%3A"),
    ):
        value = value.replace(char, code)
    return value


def _with_check(digits: str) -> str:
    return digits + gs1_check_digit(digits)


def _parts(body: str, count: int) -> list[str] | None:
    parts = body.split(".")
    return parts if len(parts) == count else None


def _gtin_from(cp: str, item_ref: str) -> str | None:
    if not (cp.isdigit() and item_ref.isdigit() and len(cp) + len(item_ref) == 13):
        return None
    return _with_check(item_ref[0] + cp + item_ref[1:])


def _twelve(cp: str, ref: str) -> str | None:
    if not (cp.isdigit() and ref.isdigit() and len(cp) + len(ref) == 12):
        return None
    return _with_check(cp + ref)


def epc_to_digital_link(uri: str) -> str | None:
    """Canonical GS1 Digital Link of an EPC URI / EPC class / EPC pattern URI, or None.

    None means "not an EPC URI this module knows"; the caller keeps the value as it is.
    """
    m = re.match(r"^urn:epc:(id|class|idpat):([a-z]+):(.+)$", uri)
    if not m:
        return None
    kind, scheme, body = m.groups()
    try:
        return _CONVERTERS[(kind, scheme)](body)
    except (KeyError, TypeError, IndexError):
        logger.debug("EPC URI %s left as is (unsupported or malformed)", uri)
        return None


def _sgtin(body: str) -> str | None:
    cp, ir, serial = body.split(".", 2)
    gtin = _gtin_from(cp, ir)
    return f"{DL_ROOT}/01/{gtin}/21/{_web_escape(serial)}" if gtin else None


def _lgtin(body: str) -> str | None:
    cp, ir, lot = body.split(".", 2)
    gtin = _gtin_from(cp, ir)
    return f"{DL_ROOT}/01/{gtin}/10/{_web_escape(lot)}" if gtin else None


def _idpat_sgtin(body: str) -> str | None:
    cp, ir, star = body.split(".", 2)
    gtin = _gtin_from(cp, ir)
    return f"{DL_ROOT}/01/{gtin}" if gtin and star == "*" else None


def _sscc(body: str) -> str | None:
    cp, sr = body.split(".")
    if not (cp.isdigit() and sr.isdigit() and len(cp) + len(sr) == 17):
        return None
    return f"{DL_ROOT}/00/{_with_check(sr[0] + cp + sr[1:])}"


def _sgln(body: str) -> str | None:
    cp, lr, ext = body.split(".", 2)
    gln = _twelve(cp, lr)
    if not gln:
        return None
    return f"{DL_ROOT}/414/{gln}" + ("" if ext == "0" else f"/254/{_web_escape(ext)}")


def _pgln(body: str) -> str | None:
    cp, pr = body.split(".")
    gln = _twelve(cp, pr)
    return f"{DL_ROOT}/417/{gln}" if gln else None


def _grai(body: str) -> str | None:
    cp, at, serial = body.split(".", 2)
    key = _twelve(cp, at)
    return f"{DL_ROOT}/8003/0{key}{_web_escape(serial)}" if key else None


def _giai(body: str) -> str | None:
    cp, ar = body.split(".", 1)
    return f"{DL_ROOT}/8004/{cp}{_web_escape(ar)}" if cp.isdigit() else None


def _gsrn(ai: str) -> Callable[[str], str | None]:
    def convert(body: str) -> str | None:
        cp, sr = body.split(".")
        if not (cp.isdigit() and sr.isdigit() and len(cp) + len(sr) == 17):
            return None
        return f"{DL_ROOT}/{ai}/{_with_check(cp + sr)}"

    return convert


def _gdti_like(ai: str) -> Callable[[str], str | None]:
    def convert(body: str) -> str | None:
        cp, ref, serial = body.split(".", 2)
        key = _twelve(cp, ref)
        return f"{DL_ROOT}/{ai}/{key}{_web_escape(serial)}" if key else None

    return convert


def _ginc(body: str) -> str | None:
    cp, ref = body.split(".", 1)
    return f"{DL_ROOT}/401/{cp}{_web_escape(ref)}" if cp.isdigit() else None


def _gsin(body: str) -> str | None:
    cp, sr = body.split(".")
    if not (cp.isdigit() and sr.isdigit() and len(cp) + len(sr) == 16):
        return None
    return f"{DL_ROOT}/402/{_with_check(cp + sr)}"


def _cpi(body: str) -> str | None:
    cp, rest = body.split(".", 1)
    ref, serial = rest.rsplit(".", 1)
    return f"{DL_ROOT}/8010/{_web_escape(cp + ref)}/8011/{serial}" if cp.isdigit() else None


def _itip(body: str) -> str | None:
    cp, ir, piece, total, serial = body.split(".", 4)
    gtin = _gtin_from(cp, ir)
    return f"{DL_ROOT}/8006/{gtin}{piece}{total}/21/{_web_escape(serial)}" if gtin else None


def _upui(body: str) -> str | None:
    cp, ir, tpx = body.split(".", 2)
    gtin = _gtin_from(cp, ir)
    return f"{DL_ROOT}/01/{gtin}/235/{_web_escape(tpx)}" if gtin else None


_CONVERTERS = {
    ("id", "sgtin"): _sgtin,
    ("class", "lgtin"): _lgtin,
    ("idpat", "sgtin"): _idpat_sgtin,
    ("id", "sscc"): _sscc,
    ("id", "sgln"): _sgln,
    ("id", "pgln"): _pgln,
    ("id", "grai"): _grai,
    ("id", "giai"): _giai,
    ("id", "gsrn"): _gsrn("8018"),
    ("id", "gsrnp"): _gsrn("8017"),
    ("id", "gdti"): _gdti_like("253"),
    ("id", "sgcn"): _gdti_like("255"),
    ("id", "ginc"): _ginc,
    ("id", "gsin"): _gsin,
    ("id", "cpi"): _cpi,
    ("id", "itip"): _itip,
    ("id", "upui"): _upui,
}

# ------------------------------------------------ constrained canonical Digital Link (rule 18)

_PRIMARY_KEYS = {
    "00",
    "01",
    "253",
    "255",
    "401",
    "402",
    "414",
    "417",
    "8003",
    "8004",
    "8006",
    "8010",
    "8017",
    "8018",
}
# Qualifier kept for each primary key, most fine-grained first.
_QUALIFIERS = {"01": ("21", "10", "235"), "414": ("254",), "8006": ("21", "10"), "8010": ("8011",)}
_KEY_LENGTHS = {"00": (18,), "01": (8, 12, 13, 14), "414": (13,), "417": (13,)}


def constrain_digital_link(uri: str) -> str | None:
    """Constrained canonical form of a GS1 Digital Link URI, or None if ``uri`` is not one.

    Custom domain -> id.gs1.org, query/fragment dropped, GTIN padded to 14 digits, and only
    the primary key with its most fine-grained qualifier kept (CBV 2.0 hash rule 18).
    """
    if not uri.startswith(("http://", "https://")):
        return None
    segments = [s for s in urlsplit(uri).path.split("/") if s]
    for start, segment in enumerate(segments):
        if segment in _PRIMARY_KEYS and start + 1 < len(segments):
            break
    else:
        return None
    pairs = segments[start:]
    values = dict(zip(pairs[0::2], pairs[1::2], strict=False))
    key = pairs[0]
    primary = values[key]
    lengths = _KEY_LENGTHS.get(key)
    if lengths and not (primary.isdigit() and len(primary) in lengths):
        return None
    if key == "01":
        primary = primary.zfill(14)
    out = f"{DL_ROOT}/{key}/{primary}"
    for qualifier in _QUALIFIERS.get(key, ()):
        if qualifier in values:
            return f"{out}/{qualifier}/{values[qualifier]}"
    return out


def canonical_identifier(value: str) -> str | None:
    """Constrained canonical Digital Link of any EPC URI or Digital Link, or None."""
    return epc_to_digital_link(value) or constrain_digital_link(value)
