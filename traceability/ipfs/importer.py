"""UnixFS file importer: fixed-size chunks, balanced layout, exactly as kubo's ``ipfs add``.

The tree shape follows boxo's ``balanced`` layout: the leaves in file order, grouped under
nodes of at most ``max_links`` children; a node of depth ``d`` covers ``max_links**(d-1)``
leaves per child, every child full except the last, and the depth is the least one that
holds all chunks. A one-chunk file is its own root (a raw block under raw leaves).

Speed matters (a 64 MiB file must hash at >= 0.5x plain sha256): leaves are hashed from
``memoryview`` slices of the input with ``hashlib`` directly, and a dag-pb leaf is hashed
as ``prefix + chunk + tail`` without building the concatenation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from traceability.ipfs.cid import CODEC_DAG_PB, CODEC_RAW, cid_v0, cid_v1, format_cid
from traceability.ipfs.dagpb import pbnode_prefix, unixfs_file_prefix

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class ImportProfile:
    """The import settings that decide a file's CID (kubo's ``ipfs add`` options)."""

    name: str
    cid_version: int
    raw_leaves: bool
    chunk_size: int
    max_links: int

    @property
    def chunker(self) -> str:
        """The value of kubo's ``--chunker`` option for this profile."""
        return f"size-{self.chunk_size}"


# kubo's default `ipfs add` (Import defaults before the 2025 profile): CIDv0, dag-pb leaves.
KUBO_DEFAULT_V0: Final = ImportProfile(
    name="kubo-default-v0", cid_version=0, raw_leaves=False, chunk_size=262_144, max_links=174
)
# kubo's `unixfs-v1-2025` profile (IPIP-499): CIDv1, raw leaves, 1 MiB chunks, 1024 links.
UNIXFS_V1_2025: Final = ImportProfile(
    name="unixfs-v1-2025", cid_version=1, raw_leaves=True, chunk_size=1_048_576, max_links=1024
)
DEFAULT_PROFILE: Final = UNIXFS_V1_2025
PROFILES: Final = {p.name: p for p in (KUBO_DEFAULT_V0, UNIXFS_V1_2025)}


@dataclass(frozen=True)
class Block:
    """One block of a DAG: its binary CID and its bytes, kept as parts to avoid copies."""

    cid: bytes
    parts: tuple[Buffer, ...]

    @property
    def data(self) -> bytes:
        """The block's bytes (joins the parts; costs one copy)."""
        if len(self.parts) == 1:
            return bytes(self.parts[0])
        return b"".join(self.parts)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)


@dataclass(frozen=True)
class _Built:
    cid: bytes
    tsize: int  # cumulative size: this block plus every block below it (PBLink.Tsize)
    filesize: int  # file bytes under this node (UnixFS blocksizes entry)


BlockSink = Callable[[Block], None]


class _Importer:
    def __init__(self, data: Buffer, profile: ImportProfile, sink: BlockSink | None) -> None:
        self.view = memoryview(data).cast("B")
        self.profile = profile
        self.sink = sink
        size = len(self.view)
        self.nchunks = max(1, -(-size // profile.chunk_size))

    def _dag_pb_cid(self, digest: bytes) -> bytes:
        return cid_v0(digest) if self.profile.cid_version == 0 else cid_v1(CODEC_DAG_PB, digest)

    def leaf(self, index: int) -> _Built:
        size = self.profile.chunk_size
        chunk = self.view[index * size : (index + 1) * size]
        length = len(chunk)
        if self.profile.raw_leaves:
            cid = cid_v1(CODEC_RAW, hashlib.sha256(chunk).digest())
            if self.sink is not None:
                self.sink(Block(cid, (chunk,)))
            return _Built(cid, length, length)
        head, tail = unixfs_file_prefix(data_len=length, filesize=length, blocksizes=[])
        prefix = pbnode_prefix([], len(head) + length + len(tail)) + head
        hasher = hashlib.sha256(prefix)
        hasher.update(chunk)
        hasher.update(tail)
        cid = self._dag_pb_cid(hasher.digest())
        if self.sink is not None:
            self.sink(Block(cid, (prefix, chunk, tail)))
        return _Built(cid, len(prefix) + length + len(tail), length)

    def node(self, start: int, depth: int) -> _Built:
        if depth == 0:
            return self.leaf(start)
        span = self.profile.max_links ** (depth - 1)
        stop = min(start + span * self.profile.max_links, self.nchunks)
        children = [self.node(first, depth - 1) for first in range(start, stop, span)]
        filesize = sum(c.filesize for c in children)
        head, tail = unixfs_file_prefix(
            data_len=0, filesize=filesize, blocksizes=[c.filesize for c in children]
        )
        message = head + tail
        block = pbnode_prefix([(c.cid, c.tsize) for c in children], len(message)) + message
        cid = self._dag_pb_cid(hashlib.sha256(block).digest())
        if self.sink is not None:
            self.sink(Block(cid, (block,)))
        return _Built(cid, len(block) + sum(c.tsize for c in children), filesize)

    def run(self) -> _Built:
        if self.nchunks == 1:
            return self.leaf(0)
        depth, capacity = 1, self.profile.max_links
        while capacity < self.nchunks:
            depth += 1
            capacity *= self.profile.max_links
        return self.node(0, depth)


def build_dag(
    data: Buffer, *, profile: ImportProfile = DEFAULT_PROFILE, sink: BlockSink | None = None
) -> bytes:
    """Chunk ``data`` into a UnixFS file DAG; return the root's binary CID.

    Every block is passed to ``sink`` children first, root last, so a store that writes
    them in this order never holds a root whose children are missing.
    """
    return _Importer(data, profile, sink).run().cid


def build_blocks(
    data: Buffer, *, profile: ImportProfile = DEFAULT_PROFILE
) -> tuple[bytes, list[Block]]:
    """``build_dag`` collecting the blocks: ``(root_cid, blocks children-first)``."""
    blocks: list[Block] = []
    root = build_dag(data, profile=profile, sink=blocks.append)
    return root, blocks


def compute_cid(data: Buffer, *, profile: ImportProfile = DEFAULT_PROFILE) -> str:
    """The CID kubo would give ``data`` under ``profile`` (like ``ipfs add --only-hash``)."""
    return format_cid(build_dag(data, profile=profile))
