"""CAR v1 export and import of a set of documents (``ipfs dag import`` compatible).

A CAR v1 is a varint-framed dag-cbor header ``{"roots": [CID...], "version": 1}`` followed
by sections ``varint(len(cid) + len(block)) | cid | block``. The header is encoded by hand
in canonical dag-cbor (map keys by length: ``roots`` before ``version``; CIDs as tag 42
over bytes with a leading 0x00). Import verifies every block's hash before storing any.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from traceability.ipfs.cid import format_cid, parse_cid
from traceability.ipfs.dagpb import decode_varint, encode_varint
from traceability.ipfs.errors import CarFormatError, DocumentNotFound
from traceability.ipfs.reader import verify_block
from traceability.ipfs.store import DocumentStore

logger = logging.getLogger(__name__)

MAX_SECTION: int = 8 * 1024 * 1024  # a block is at most ~2 MiB in practice; refuse absurd frames


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes((major << 5 | value,))
    for extra, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes((major << 5 | extra,)) + value.to_bytes(width, "big")
    raise ValueError("CBOR value too large")


def encode_car_header(roots: Sequence[bytes]) -> bytes:
    """dag-cbor of ``{"roots": roots, "version": 1}``."""
    out = bytearray(b"\xa2\x65roots")
    out += _cbor_head(4, len(roots))
    for cid in roots:
        out += b"\xd8\x2a" + _cbor_head(2, len(cid) + 1) + b"\x00" + cid
    out += b"\x67version\x01"
    return bytes(out)


MAX_HEADER_DEPTH: int = 16  # a CAR header nests 3 deep; refuse recursion bombs


def _cbor_item(buf: bytes, pos: int, depth: int = 0) -> tuple[object, int]:
    """Decode the small dag-cbor subset a CAR header uses."""
    if depth > MAX_HEADER_DEPTH:
        raise CarFormatError("CAR header nests too deeply")
    if pos >= len(buf):
        raise CarFormatError("truncated CAR header")
    initial = buf[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        value = info
    elif info in (24, 25, 26, 27):
        width = 1 << (info - 24)
        if pos + width > len(buf):
            raise CarFormatError("truncated CAR header")
        value = int.from_bytes(buf[pos : pos + width], "big")
        pos += width
    else:
        raise CarFormatError("indefinite-length or reserved CBOR item in CAR header")
    if major == 0:
        return value, pos
    if major in (2, 3):
        raw = buf[pos : pos + value]
        if len(raw) != value:
            raise CarFormatError("truncated CAR header")
        if major == 2:
            return raw, pos + value
        try:
            return raw.decode("utf-8"), pos + value
        except UnicodeDecodeError:
            raise CarFormatError("CAR header text is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _cbor_item(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        mapping = {}
        for _ in range(value):
            key, pos = _cbor_item(buf, pos, depth + 1)
            if not isinstance(key, str):
                raise CarFormatError("dag-cbor map keys must be strings")
            mapping[key], pos = _cbor_item(buf, pos, depth + 1)
        return mapping, pos
    if major == 6 and value == 42:
        raw, pos = _cbor_item(buf, pos, depth + 1)
        if not isinstance(raw, bytes) or raw[:1] != b"\x00":
            raise CarFormatError("tag 42 must wrap bytes starting with 0x00")
        return ("cid", raw[1:]), pos
    raise CarFormatError(f"unsupported CBOR item (major type {major}) in CAR header")


def decode_car_header(header: bytes) -> list[bytes]:
    """Roots of a CAR v1 header; ``CarFormatError`` for anything else."""
    value, end = _cbor_item(header, 0)
    if end != len(header) or not isinstance(value, dict):
        raise CarFormatError("CAR header is not a single CBOR map")
    if value.get("version") != 1:
        raise CarFormatError(f"unsupported CAR version {value.get('version')!r}")
    roots = value.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, tuple) for r in roots):
        raise CarFormatError("CAR header roots must be a list of CIDs")
    return [r[1] for r in roots]


def _frame(payload_parts: Sequence[bytes]) -> bytes:
    return encode_varint(sum(len(p) for p in payload_parts)) + b"".join(payload_parts)


def export_car(store: DocumentStore, roots: Sequence[str], out: BinaryIO) -> int:
    """Write the DAGs of ``roots`` as one CAR v1 to ``out``; returns the number of blocks.

    Blocks shared between documents are written once, in depth-first order per root.
    """
    binary_roots = [parse_cid(r) for r in roots]
    out.write(_frame([encode_car_header(binary_roots)]))
    seen: set[str] = set()
    for root in roots:
        for cid, data in store.iter_dag_blocks(root):
            if cid in seen:
                continue
            seen.add(cid)
            out.write(_frame([parse_cid(cid), data]))
    logger.info("exported %d blocks for %d roots", len(seen), len(roots))
    return len(seen)


def _read_varint(src: BinaryIO) -> int | None:
    raw = bytearray()
    while True:
        byte = src.read(1)
        if not byte:
            if raw:
                raise CarFormatError("truncated varint")
            return None
        raw += byte
        if not byte[0] & 0x80:
            return decode_varint(raw, 0)[0]
        if len(raw) > 9:
            raise CarFormatError("varint too long")


def _split_section(section: bytes) -> tuple[bytes, bytes]:
    if section[:2] == b"\x12\x20":
        cid_len = 34
    else:
        try:
            pos = 0
            for _ in range(3):  # version, codec, hash code
                _, pos = decode_varint(section, pos)
            digest_len, pos = decode_varint(section, pos)
        except ValueError as exc:
            raise CarFormatError(f"bad CID in CAR section: {exc}") from exc
        cid_len = pos + digest_len
    if cid_len > len(section):
        raise CarFormatError("CAR section shorter than its CID")
    return section[:cid_len], section[cid_len:]


def iter_car(src: BinaryIO) -> tuple[list[bytes], Iterator[tuple[bytes, bytes]]]:
    """Parse a CAR v1 stream: ``(roots, iterator of verified (cid, block))``."""
    header_len = _read_varint(src)
    if header_len is None or header_len == 0 or header_len > MAX_SECTION:
        raise CarFormatError("missing or invalid CAR header length")
    header = src.read(header_len)
    if len(header) != header_len:
        raise CarFormatError("truncated CAR header")
    roots = decode_car_header(header)

    def sections() -> Iterator[tuple[bytes, bytes]]:
        while (length := _read_varint(src)) is not None:
            if length == 0 or length > MAX_SECTION:
                raise CarFormatError(f"invalid CAR section length {length}")
            section = src.read(length)
            if len(section) != length:
                raise CarFormatError("truncated CAR section")
            cid, block = _split_section(section)
            verify_block(cid, block)  # InvalidCid / BlockCorrupted propagate as they are
            yield cid, block

    return roots, sections()


def import_car(store: DocumentStore, src: BinaryIO) -> list[str]:
    """Verify every block of a CAR v1 and store them; return its roots.

    All blocks are verified before any is stored, and each root must then be present,
    so a bad CAR leaves the store as it was.
    """
    roots, sections = iter_car(src)
    blocks = [(format_cid(cid), block) for cid, block in sections]
    store.put_blocks(blocks)
    texts = [format_cid(r) for r in roots]
    for root in texts:
        if not store.has(root):
            raise DocumentNotFound(root)
    logger.info("imported %d blocks for %d roots", len(blocks), len(roots))
    return texts
