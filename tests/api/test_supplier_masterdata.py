"""Product and lot master data (api.supplier.masterdata), and the sensor CSV read from text: what
the supplier page and ``tuanchain supplier`` both build. Pure functions, no chain."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.supplier import inputs
from api.supplier.errors import InputError
from api.supplier.masterdata import lot_master_data, product_document
from traceability.epcis.identifiers import gs1_check_digit

GTIN = "06901234598766"


def test_a_product_document_and_the_lot_naming_it() -> None:
    product = product_document(
        gtin=GTIN, name_zh="两头乌猪排", name_en="", image="ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        specification="500 g", unit="box", origin_country="cn", origin_zh="金华", origin_en="",
    )  # fmt: skip
    assert product["name"] == {
        "zh": "两头乌猪排",
        "en": "两头乌猪排",
    }  # one language fills the other
    assert product["origin"] == {"country": "CN", "zh": "金华", "en": "金华"}
    lot = lot_master_data(
        product=product, product_cid="bafkqaaa", lot="L-1", quantity=300, uom="KGM",
        harvest_date=date(2026, 10, 30), cold_chain=(0, 4), places={"6901234000023": {"zh": "牧场", "en": "farm"}},
    )  # fmt: skip
    assert lot["product_master"] == "ipfs://bafkqaaa" and lot["product"] == product["name"]
    assert lot["image"] == product["image"] and lot["cold_chain"] == {"min_c": 0, "max_c": 4}
    assert lot["harvest_date"] == "2026-10-30" and lot["quantity"] == {"value": 300, "uom": "KGM"}
    # What the provenance page reads is always there, even empty.
    assert lot["producer"] == {} and lot["certifications"] == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"gtin": GTIN[:-1] + "7"}, "check digit"),
        ({"name_zh": "", "name_en": " "}, "needs a name"),
        ({"origin_country": "China"}, "ISO 3166-1"),
        ({"image": "https://example.org/x.png"}, "ipfs://"),
        ({"specification": "x" * 201}, "longer than"),
    ],
)
def test_bad_product_fields_are_named(fields: dict[str, str], says: str) -> None:
    base = {"gtin": GTIN, "name_zh": "米", "name_en": "rice"}
    with pytest.raises(InputError, match=says):
        product_document(**{**base, **fields})  # type: ignore[arg-type]


def test_bad_lot_fields_are_named() -> None:
    product = product_document(gtin=GTIN, name_zh="米", name_en="rice")
    with pytest.raises(InputError, match="positive"):
        lot_master_data(product=product, product_cid=None, lot="L1", quantity=0)
    with pytest.raises(InputError, match="empty"):
        lot_master_data(product=product, product_cid=None, lot="L1", cold_chain=(4, 0))
    with pytest.raises(InputError, match="lot"):
        lot_master_data(product=product, product_cid=None, lot="bad lot\t")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=13, max_size=13), st.integers(0, 9))
def test_any_gtin_with_its_check_digit_is_taken_and_no_other(body: str, digit: int) -> None:
    gtin = body + str(digit)
    if str(digit) != gs1_check_digit(body):
        with pytest.raises(InputError, match="check digit"):
            product_document(gtin=gtin, name_zh="米", name_en="")
    elif not gtin.strip("0"):  # the one GTIN with its check digit that names nothing
        with pytest.raises(InputError, match="all-zeros GTIN"):
            product_document(gtin=gtin, name_zh="米", name_en="")
    else:
        assert product_document(gtin=gtin, name_zh="米", name_en="")["gtin"] == gtin


def test_a_csv_read_from_text_is_the_csv_read_from_a_file(tmp_path: Path) -> None:
    """The page's upload (text, with a byte-order mark and CRLF as spreadsheets save it) and the
    CLI's file give the same events."""
    rows = [
        "time,device_id,type,value,unit",
        "2026-11-01T09:00:00+08:00,T-01,Temperature,3.5,CEL",
        "2026-11-01T10:00:00+08:00,T-01,Temperature,41.0,°F",
    ]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(rows) + "\n")
    target = inputs.batch(GTIN, "L1")
    from_file = inputs.sensor_events(path, target, location="6901234000023", min_c=0, max_c=4)
    from_text = inputs.sensor_events_from_text(
        "\ufeff" + "\r\n".join(rows) + "\r\n", "upload.csv", target,
        location="6901234000023", min_c=0, max_c=4,
    )  # fmt: skip
    # 41 °F is 5 °C: above the range, flagged.
    assert from_text == from_file and sum(inputs.breaches(e) for e in from_text) == 1
    with pytest.raises(InputError, match=r"upload\.csv:1: the header"):
        inputs.sensor_events_from_text(
            "when,device,value\n", "upload.csv", target, location="x", min_c=0, max_c=4
        )
