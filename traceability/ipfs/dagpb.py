"""Hand-written dag-pb (PBNode/PBLink) and UnixFS ``Data`` protobuf codecs.

Both messages are tiny, and matching kubo byte for byte needs exact control of the wire
form, which a generic protobuf library does not promise:

* PBNode: Links (field 2) are written *before* Data (field 1), as the dag-pb spec and
  go-codec-dagpb require; Data is always present for UnixFS nodes.
* PBLink: Hash (1), Name (2, written even when empty: ``12 00``), Tsize (3).
* UnixFS Data: Type (1), Data (2, only when non-empty), filesize (3), blocksizes (4,
  repeated, not packed: proto2).

The decoder is strict in the same way as go-codec-dagpb: fields out of order, unknown
fields or truncated varints raise ``ValueError`` (callers turn it into ``BlockCorrupted``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

UNIXFS_RAW: Final = 0
UNIXFS_DIRECTORY: Final = 1
UNIXFS_FILE: Final = 2
UNIXFS_METADATA: Final = 3
UNIXFS_SYMLINK: Final = 4
UNIXFS_HAMT_SHARD: Final = 5
UNIXFS_TYPE_NAMES: Final = {
    0: "raw",
    1: "directory",
    2: "file",
    3: "metadata",
    4: "symlink",
    5: "hamt-sharded directory",
}


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 varint (protobuf, multiformats and CAR all use it)."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a varint at ``pos``; return ``(value, next_pos)``. Rejects > 9-byte varints."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def encode_pblink(cid: bytes, tsize: int, name: bytes = b"") -> bytes:
    """One PBLink message (without the outer field-2 framing)."""
    return b"".join(
        (
            b"\x0a",
            encode_varint(len(cid)),
            cid,
            b"\x12",
            encode_varint(len(name)),
            name,
            b"\x18",
            encode_varint(tsize),
        )
    )


def pbnode_prefix(links: list[tuple[bytes, int]], data_len: int) -> bytes:
    """PBNode bytes up to (and including) the length of the Data field.

    Appending ``data_len`` bytes of Data gives the whole node; callers use this to hash a
    leaf without copying its chunk.
    """
    parts: list[bytes] = []
    for cid, tsize in links:
        link = encode_pblink(cid, tsize)
        parts += (b"\x12", encode_varint(len(link)), link)
    parts += (b"\x0a", encode_varint(data_len))
    return b"".join(parts)


def unixfs_file_prefix(
    *, data_len: int, filesize: int, blocksizes: list[int]
) -> tuple[bytes, bytes]:
    """UnixFS ``Data`` message of a File node around its (optional) inline data.

    Returns ``(head, tail)``: the message is ``head + data + tail`` where ``data`` is the
    chunk (``data_len`` bytes, possibly 0, in which case no Data field is written).
    """
    head = b"\x08\x02"
    if data_len:
        head += b"\x12" + encode_varint(data_len)
    tail = b"\x18" + encode_varint(filesize)
    if blocksizes:
        tail += b"".join(b"\x20" + encode_varint(size) for size in blocksizes)
    return head, tail


@dataclass(frozen=True)
class PBLink:
    """A decoded dag-pb link."""

    cid: bytes
    name: bytes | None
    tsize: int | None


@dataclass(frozen=True)
class PBNode:
    """A decoded dag-pb node."""

    links: list[PBLink]
    data: bytes | None


@dataclass(frozen=True)
class UnixFSData:
    """A decoded UnixFS ``Data`` message (the fields a file reader needs)."""

    type: int
    data: bytes = b""
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)


def _read_bytes(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    length, pos = decode_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise ValueError("length-delimited field runs past the end")
    return buf[pos:end], end


def _decode_pblink(buf: memoryview) -> PBLink:
    cid: bytes | None = None
    name: bytes | None = None
    tsize: int | None = None
    pos = 0
    last = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number <= last:
            raise ValueError("PBLink fields out of order or repeated")
        last = number
        if number == 1 and wire == 2:
            value, pos = _read_bytes(buf, pos)
            cid = bytes(value)
        elif number == 2 and wire == 2:
            value, pos = _read_bytes(buf, pos)
            name = bytes(value)
        elif number == 3 and wire == 0:
            tsize, pos = decode_varint(buf, pos)
        else:
            raise ValueError(f"unexpected PBLink field {number} (wire type {wire})")
    if cid is None:
        raise ValueError("PBLink without Hash")
    return PBLink(cid=cid, name=name, tsize=tsize)


def decode_pbnode(block: bytes | memoryview) -> PBNode:
    """Decode a dag-pb block strictly (Links before Data, nothing else)."""
    buf = memoryview(block)
    links: list[PBLink] = []
    data: bytes | None = None
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 2 and wire == 2:
            if data is not None:
                raise ValueError("PBNode Links after Data")
            value, pos = _read_bytes(buf, pos)
            links.append(_decode_pblink(value))
        elif number == 1 and wire == 2:
            if data is not None:
                raise ValueError("PBNode with two Data fields")
            value, pos = _read_bytes(buf, pos)
            data = bytes(value)
        else:
            raise ValueError(f"unexpected PBNode field {number} (wire type {wire})")
    return PBNode(links=links, data=data)


def decode_unixfs(message: bytes) -> UnixFSData:
    """Decode a UnixFS ``Data`` message; unknown optional fields (mode, mtime, ...) are skipped."""
    buf = memoryview(message)
    kind: int | None = None
    data = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = decode_varint(buf, pos)
            if number == 1:
                kind = value
            elif number == 3:
                filesize = value
            elif number == 4:
                blocksizes.append(value)
        elif wire == 2:
            chunk, pos = _read_bytes(buf, pos)
            if number == 2:
                data = bytes(chunk)
            elif number == 4:  # tolerate packed blocksizes from other encoders
                inner = 0
                while inner < len(chunk):
                    value, inner = decode_varint(chunk, inner)
                    blocksizes.append(value)
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire} in UnixFS Data")
        if pos > len(buf):
            raise ValueError("truncated UnixFS Data")
    if kind is None:
        raise ValueError("UnixFS Data without Type")
    return UnixFSData(type=kind, data=data, filesize=filesize, blocksizes=blocksizes)
