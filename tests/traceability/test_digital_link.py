"""GS1 Digital Link URIs of batches: GTIN normalisation, lot syntax, build and parse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.digital_link import (
    DigitalLink,
    InvalidDigitalLink,
    InvalidGtin,
    InvalidLot,
    build_link,
    encode_lot,
    normalize_gtin,
    parse_link,
)
from traceability.epcis import hash_events_in_document, serialize_document
from traceability.epcis.builders import inspection_event
from traceability.epcis.identifiers import gs1_check_digit, lot_digital_link
from traceability.errors import TraceabilityError

# Published GS1 / retail examples with valid check digits.
VALID = {
    "96385074": "00000096385074",  # EAN-8 (GTIN-8)
    "036000291452": "00036000291452",  # UPC-A (GTIN-12)
    "4006381333931": "04006381333931",  # EAN-13 (GTIN-13)
    "9506000134352": "09506000134352",  # GS1's own example GTIN-13
    "10614141000415": "10614141000415",  # GS1 US example GTIN-14 (indicator 1)
}
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(("gtin", "gtin14"), VALID.items())
def test_gtins_normalise_to_gtin14(gtin: str, gtin14: str) -> None:
    assert normalize_gtin(gtin) == gtin14
    assert normalize_gtin(f"  {gtin} ") == gtin14


@pytest.mark.parametrize(
    ("gtin", "why"),
    [
        ("9506000134353", "check digit should be 2"),
        ("96385075", "check digit should be 4"),
        ("123", "8, 12, 13 or 14 digits"),
        ("950600013435", "check digit"),  # 12 digits, wrong check digit
        ("095060001343520", "8, 12, 13 or 14 digits"),  # 15 digits
        ("95060001343a2", "8, 12, 13 or 14 digits"),
        ("٩٥٠٦٠٠٠١٣٤٣٥٢", "8, 12, 13 or 14 digits"),  # Arabic-Indic digits are not GS1
        ("", "8, 12, 13 or 14 digits"),
        ("00000000000000", "all-zeros GTIN names no product"),  # its check digit is 0
        ("00000000", "all-zeros GTIN names no product"),  # padded to the same
    ],
)
def test_bad_gtins_are_named_errors(gtin: str, why: str) -> None:
    with pytest.raises(InvalidGtin, match=why) as info:
        normalize_gtin(gtin)
    assert isinstance(info.value, TraceabilityError)


# "LOT1\n": a regex "$" also matches before a final newline (the registry refuses it).
@pytest.mark.parametrize(
    "lot", ["", "x" * 21, "LOT 1", "LOT#1", "批次1", "a\nb", "LOT1\n", "~tilde", "[1]"]
)
def test_bad_lots_are_named_errors(lot: str) -> None:
    with pytest.raises(InvalidLot):
        build_link("9506000134352", lot)


def test_every_cset82_character_is_accepted_and_escaped_where_needed() -> None:
    for start in range(0, len(CSET82), 20):
        lot = CSET82[start : start + 20]
        uri = build_link("9506000134352", lot)
        assert parse_link(uri).lot == lot
        segment = uri.rsplit("/", 1)[1]
        assert set(segment) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._%"
        )


def test_build_link_forms() -> None:
    assert build_link("9506000134352", "LOT-7") == "https://id.gs1.org/01/09506000134352/10/LOT-7"
    assert encode_lot("A/B?C%") == "A%2FB%3FC%25"
    assert (
        build_link("9506000134352", "A/1", resolver="http://localhost:8000/", link_type="gs1:pip")
        == "http://localhost:8000/01/09506000134352/10/A%2F1?linkType=gs1:pip"
    )
    assert (
        build_link(
            "9506000134352",
            "L",
            resolver="dl.example.com/tuan",
            link_type="https://gs1.org/voc/traceability",
        )
        == "https://dl.example.com/tuan/01/09506000134352/10/L?linkType=gs1:traceability"
    )


def test_unreserved_lots_agree_with_the_epcis_canonical_link() -> None:
    assert build_link("9506000134352", "LOT_7.a-b") == lot_digital_link(
        "09506000134352", "LOT_7.a-b"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "https://id.gs1.org/01/09506000134352/10/LOT-7",
            DigitalLink("09506000134352", "LOT-7", "https://id.gs1.org"),
        ),
        (
            "https://example.com/resolver/01/9506000134352/10/A%2FB?linkType=gs1:certificationInfo",
            DigitalLink(
                "09506000134352", "A/B", "https://example.com/resolver", "gs1:certificationInfo"
            ),
        ),
        (
            "http://127.0.0.1:8000/01/00000096385074/10/x/?foo=bar",
            DigitalLink("00000096385074", "x", "http://127.0.0.1:8000"),
        ),
        (
            "https://id.gs1.org/01/09506000134352/10/L?linkType=https%3A%2F%2Fgs1.org%2Fvoc%2Fpip",
            DigitalLink("09506000134352", "L", "https://id.gs1.org", "gs1:pip"),
        ),
    ],
)
def test_parse_link(uri: str, expected: DigitalLink) -> None:
    assert parse_link(uri) == expected


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("ftp://id.gs1.org/01/09506000134352/10/L", InvalidDigitalLink),
        ("id.gs1.org/01/09506000134352/10/L", InvalidDigitalLink),
        ("https://id.gs1.org/01/09506000134352", InvalidDigitalLink),
        ("https://id.gs1.org/01/09506000134352/21/SERIAL", InvalidDigitalLink),
        ("https://id.gs1.org/01/09506000134353/10/L", InvalidGtin),
        ("https://id.gs1.org/01/09506000134352/10/" + "x" * 21, InvalidLot),
        ("https://id.gs1.org/01/09506000134352/10/L%2", InvalidDigitalLink),
        ("https://id.gs1.org/01/09506000134352/10/L%FF", InvalidDigitalLink),
        ("https://id.gs1.org/01/09506000134352/10/L%20X", InvalidLot),
        ("https://id.gs1.org/01/09506000134352/10/L%0A", InvalidLot),
        ("https://id.gs1.org/01/09506000134352/10/L?linkType=pip", InvalidDigitalLink),
        (
            "https://id.gs1.org/01/09506000134352/10/L?linkType=gs1:pip&linkType=all",
            InvalidDigitalLink,
        ),
    ],
)
def test_bad_uris_are_named_errors(uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_link(uri)


@pytest.mark.parametrize("resolver", ["ftp://x", "https://", "a b", "https://h/?q=1"])
def test_bad_resolvers(resolver: str) -> None:
    with pytest.raises(InvalidDigitalLink):
        build_link("9506000134352", "L", resolver=resolver)


def _with_check(body: str) -> str:
    return body + gs1_check_digit(body)


gtins = st.one_of(
    *(
        st.text("0123456789", min_size=n - 1, max_size=n - 1)
        .filter(lambda body: body.strip("0"))  # all zeros is no GTIN (a test of its own)
        .map(_with_check)
        for n in (8, 12, 13, 14)
    )
)
lots = st.text(CSET82, min_size=1, max_size=20)
resolvers = st.sampled_from(["id.gs1.org", "https://tuan.example.cn", "http://localhost:8000/dl"])
link_types = st.sampled_from([None, "gs1:pip", "gs1:traceability", "gs1:certificationInfo", "all"])


@settings(max_examples=300)
@given(gtin=gtins, lot=lots, resolver=resolvers, link_type=link_types)
def test_build_then_parse_round_trips(
    gtin: str, lot: str, resolver: str, link_type: str | None
) -> None:
    uri = build_link(gtin, lot, resolver=resolver, link_type=link_type)
    link = parse_link(uri)
    assert (link.gtin14, link.lot, link.link_type) == (gtin.zfill(14), lot, link_type)
    assert link.uri == uri


@settings(max_examples=300)
@given(gtin=gtins, position=st.integers(0, 13), delta=st.integers(1, 9))
def test_any_single_digit_error_is_caught(gtin: str, position: int, delta: int) -> None:
    digits = list(normalize_gtin(gtin))
    digits[position] = str((int(digits[position]) + delta) % 10)
    with pytest.raises(InvalidGtin):
        normalize_gtin("".join(digits))


@settings(max_examples=200)
@given(text=st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        parse_link(text)
    except TraceabilityError:
        pass


@settings(max_examples=300)
@given(gtin=gtins, lot=lots)
def test_the_epcis_lot_link_is_the_batch_link(gtin: str, lot: str) -> None:
    """The lot's link inside EPCIS events (epcClass) names that lot: escaped as the batch link
    (a bare "?" started a query, so lots "A" and "A?B" had one link; '"' made it no URI)."""
    uri = lot_digital_link(normalize_gtin(gtin), lot)
    assert uri == build_link(gtin, lot)
    assert parse_link(uri).lot == lot


@settings(max_examples=60, deadline=None)
@given(lots=st.lists(lots, min_size=2, max_size=2, unique=True))
def test_events_of_two_lots_never_share_an_event_hash(lots: list[str]) -> None:
    """Every lot builds a valid EPCIS event, and two lots' events hash apart."""
    hashes = {
        hash_events_in_document(
            serialize_document(
                [
                    inspection_event(
                        gtin14="09506000134352",
                        lot=lot,
                        event_time=datetime(2026, 1, 1, tzinfo=UTC),
                        location="9506000134352",
                        passed=True,
                    )
                ]
            )
        )[0]
        for lot in lots
    }
    assert len(hashes) == 2
