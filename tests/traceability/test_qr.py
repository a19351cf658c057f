"""QR codes of Digital Links: the printed symbol must scan back to the exact URI.

Symbols are decoded with an independent reader, ZXing-C++ (PyPI ``zxing-cpp``), which also
reports the error-correction level it found. PNGs are decoded to pixels by the small PNG
reader below (stdlib zlib; segno writes 1-bit greyscale with filter types 0-4).
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.digital_link import InvalidGtin, InvalidLot, build_link
from traceability.epcis.identifiers import gs1_check_digit
from traceability.qr import QrError, batch_qr, make_qr, save, to_png, to_svg, to_terminal

zxingcpp = pytest.importorskip("zxingcpp")


def png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and 8-bit grey pixels of a non-interlaced greyscale PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            idat += data
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert color == 0 and interlace == 0 and depth in (1, 8)
    raw = zlib.decompress(idat)
    row_bytes = (width * depth + 7) // 8
    bpp = 1
    prev, pixels = bytearray(row_bytes), bytearray()
    for y in range(height):
        line = raw[y * (row_bytes + 1) : (y + 1) * (row_bytes + 1)]
        ftype, row = line[0], bytearray(line[1:])
        for x in range(row_bytes):
            a = row[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                row[x] = (row[x] + a) & 0xFF
            elif ftype == 2:
                row[x] = (row[x] + b) & 0xFF
            elif ftype == 3:
                row[x] = (row[x] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                row[x] = (row[x] + pred) & 0xFF
        prev = row
        if depth == 8:
            pixels += row
        else:
            pixels += bytes(255 if row[x // 8] >> (7 - x % 8) & 1 else 0 for x in range(width))
    return width, height, bytes(pixels)


def scan_png(png: bytes) -> list[tuple[str, str]]:
    width, height, pixels = png_pixels(png)
    image = memoryview(pixels).cast("B", shape=[height, width])
    return [(r.text, r.ec_level) for r in zxingcpp.read_barcodes(image)]


def test_png_scans_back_to_the_digital_link_at_level_q() -> None:
    uri = build_link("9506000134352", "LOT/7?x")
    assert scan_png(to_png(batch_qr("9506000134352", "LOT/7?x"))) == [(uri, "Q")]


def test_level_m_for_tiny_labels() -> None:
    code = make_qr("https://id.gs1.org/01/09506000134352/10/L1", error="M")
    assert code.error == "M"
    assert scan_png(to_png(code))[0][1] == "M"


@pytest.mark.parametrize("level", ["L", "H", "q", "X"])
def test_other_error_levels_are_refused(level: str) -> None:
    with pytest.raises(QrError):
        make_qr("x", error=level)  # type: ignore[arg-type]


def test_svg_is_a_standalone_svg_document_with_the_same_symbol() -> None:
    code = batch_qr("9506000134352", "L1")
    svg = to_svg(code, title="Batch L1")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    size = (code.symbol_size(scale=4))[0]
    assert root.get("width") == str(size) and root.get("height") == str(size)
    assert svg.startswith(b"<?xml")
    assert b"Batch L1" in svg


def test_save_writes_by_suffix(tmp_path: Path) -> None:
    code = batch_qr("9506000134352", "L1")
    assert save(code, tmp_path / "a.svg").read_bytes().startswith(b"<?xml")
    png = save(code, tmp_path / "a.PNG").read_bytes()
    assert scan_png(png)[0][0] == build_link("9506000134352", "L1")
    with pytest.raises(QrError):
        save(code, tmp_path / "a.jpg")


def test_bad_keys_are_refused_before_drawing() -> None:
    with pytest.raises(InvalidGtin):
        batch_qr("9506000134353", "L1")
    with pytest.raises(InvalidLot):
        batch_qr("9506000134352", "L 1")


def test_terminal_rendering_has_the_symbol_and_quiet_zone() -> None:
    code = batch_qr("9506000134352", "L1")
    text = to_terminal(code)
    lines = text.rstrip("\n").split("\n")
    width = code.symbol_size(border=4)[0]
    assert all(len(line) == width for line in lines)
    assert len(lines) == (width + 1) // 2  # two modules per character row
    assert set(lines[0]) == {"█"}  # the quiet zone prints as light modules


@settings(max_examples=25, deadline=None)
@given(
    body=st.text("0123456789", min_size=12, max_size=12).filter(lambda d: d.strip("0")),
    lot=st.text(
        "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz",
        min_size=1,
        max_size=20,
    ),
)
def test_random_batches_scan_back(body: str, lot: str) -> None:
    gtin = body + gs1_check_digit(body)
    code = batch_qr(gtin, lot)
    assert isinstance(code, segno.QRCode) and code.error == "Q"
    assert scan_png(to_png(code, scale=3)) == [(build_link(gtin, lot), "Q")]
