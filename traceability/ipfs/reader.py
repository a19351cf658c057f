"""Verified reading of UnixFS DAGs from any source of blocks.

Nothing read is trusted: each block's sha2-256 digest is checked against its CID before it
is decoded, so the same reader serves the embedded store, a Kubo node we do not control
and CAR files from anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from traceability.ipfs.cid import CODEC_DAG_PB, format_cid, split_cid
from traceability.ipfs.dagpb import (
    UNIXFS_FILE,
    UNIXFS_RAW,
    UNIXFS_TYPE_NAMES,
    decode_pbnode,
    decode_unixfs,
)
from traceability.ipfs.errors import BlockCorrupted, NotAUnixFSFile

BlockGetter = Callable[[bytes], bytes]
"""Returns the stored bytes of a block by binary CID; raises ``DocumentNotFound``."""


def verify_block(cid: bytes, data: bytes | memoryview) -> None:
    """Raise ``BlockCorrupted`` unless ``data`` hashes to ``cid``'s sha2-256 digest."""
    digest = split_cid(cid)[2]
    if hashlib.sha256(data).digest() != digest:
        raise BlockCorrupted(format_cid(cid), "sha2-256 digest does not match the CID")


def block_links(cid: bytes, data: bytes) -> list[bytes]:
    """CIDs a block links to (none for raw blocks); ``BlockCorrupted`` if undecodable."""
    if split_cid(cid)[1] != CODEC_DAG_PB:
        return []
    try:
        return [link.cid for link in decode_pbnode(data).links]
    except ValueError as exc:
        raise BlockCorrupted(format_cid(cid), f"not valid dag-pb: {exc}") from exc


def iter_dag(get_block: BlockGetter, root: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(cid, block)`` for every block under ``root``, depth-first, in link order.

    This is the order of a trustless gateway's CAR response (``dfs``) and of file bytes.
    Each block is verified before it is yielded; a block linked twice is yielded once.
    """
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        data = get_block(cid)
        verify_block(cid, data)
        yield cid, data
        stack.extend(reversed(block_links(cid, data)))


def read_file(get_block: BlockGetter, root: bytes) -> bytes:
    """Reassemble a UnixFS file, verifying every block and the declared sizes."""
    out = bytearray()
    declared: int | None = None
    for cid, data in _iter_file_blocks(get_block, root):
        if split_cid(cid)[1] != CODEC_DAG_PB:
            out += data
            continue
        node = decode_pbnode(data)
        if node.data is None:
            raise BlockCorrupted(format_cid(cid), "dag-pb node without UnixFS Data")
        try:
            unixfs = decode_unixfs(node.data)
        except ValueError as exc:
            raise BlockCorrupted(format_cid(cid), f"bad UnixFS Data: {exc}") from exc
        if unixfs.type not in (UNIXFS_FILE, UNIXFS_RAW):
            raise NotAUnixFSFile(
                format_cid(cid), UNIXFS_TYPE_NAMES.get(unixfs.type, str(unixfs.type))
            )
        if declared is None:
            declared = unixfs.filesize
        out += unixfs.data
    if declared is not None and declared != len(out):
        raise BlockCorrupted(format_cid(root), f"filesize {declared} but {len(out)} bytes read")
    return bytes(out)


def _iter_file_blocks(get_block: BlockGetter, root: bytes) -> Iterator[tuple[bytes, bytes]]:
    # Unlike iter_dag, a file may legitimately repeat a leaf (same chunk twice): keep repeats.
    stack = [root]
    while stack:
        cid = stack.pop()
        data = get_block(cid)
        verify_block(cid, data)
        yield cid, data
        stack.extend(reversed(block_links(cid, data)))
