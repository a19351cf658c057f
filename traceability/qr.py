"""QR codes of batch Digital Links, as SVG and PNG for labels and as text for a terminal.

Error correction is level Q (about 25 % of the codewords recoverable) by default: the code
is printed on food packaging that gets scuffed, wet, folded over a crate edge or partly
covered by a price sticker, and a batch Digital Link is short (about 60 characters), so Q
still fits a small symbol (version 4-5, 33-37 modules). Level M (15 %) is offered for very
small labels where module size matters more than damage tolerance; L and H are refused
(L is too fragile for print, H makes the symbol needlessly large).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Final, Literal

import segno

from traceability.digital_link import DEFAULT_RESOLVER, build_link
from traceability.errors import TraceabilityError

ErrorLevel = Literal["M", "Q"]
DEFAULT_ERROR_LEVEL: Final[ErrorLevel] = "Q"
QUIET_ZONE: Final = 4  # modules; ISO/IEC 18004 requires 4


class QrError(TraceabilityError):
    """A QR code cannot be produced as asked (unknown format or error level)."""


def make_qr(data: str, *, error: ErrorLevel = DEFAULT_ERROR_LEVEL) -> segno.QRCode:
    """A (non-micro) QR code of ``data`` at exactly the asked error-correction level."""
    if error not in ("M", "Q"):
        raise QrError(f"error correction must be M or Q for printed labels, not {error!r}")
    # boost_error=False: keep the declared level, so a label's robustness is what we say.
    return segno.make_qr(data, error=error, boost_error=False)


def batch_qr(
    gtin: str, lot: str, *, resolver: str = DEFAULT_RESOLVER, error: ErrorLevel = "Q"
) -> segno.QRCode:
    """QR code of the batch's Digital Link (``InvalidGtin``/``InvalidLot`` on bad keys)."""
    return make_qr(build_link(gtin, lot, resolver=resolver), error=error)


def to_svg(qr: segno.QRCode, *, scale: int = 4, title: str | None = None) -> bytes:
    """Standalone SVG document (XML declaration included) with a 4-module quiet zone."""
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=scale, border=QUIET_ZONE, title=title)
    return out.getvalue()


def to_png(qr: segno.QRCode, *, scale: int = 8) -> bytes:
    """PNG image (segno writes PNG itself; no imaging library needed)."""
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()


def save(qr: segno.QRCode, path: Path | str) -> Path:
    """Write ``qr`` to ``path`` as SVG or PNG according to its suffix."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".svg":
        target.write_bytes(to_svg(qr))
    elif suffix == ".png":
        target.write_bytes(to_png(qr))
    else:
        raise QrError(f"output must end with .svg or .png, not {target.name!r}")
    return target


def to_terminal(qr: segno.QRCode) -> str:
    """Text rendering for a terminal (two modules per character row), e.g. for ``make run``."""
    out = io.StringIO()
    qr.terminal(out=out, compact=True, border=QUIET_ZONE)
    return out.getvalue()
