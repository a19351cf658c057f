"""A block store on disk: one file per block, sharded directories, atomic durable writes.

The layout is kubo's flatfs (``/repo/flatfs/shard/v1/next-to-last/2``): a block is keyed by
its multihash in upper-case unpadded base32, stored as ``<root>/<key[-3:-1]>/<key>.data``.
Keying by multihash (as kubo does) lets a CIDv0 and a CIDv1 dag-pb node share one file.

Writes go to a temporary file in the target directory, are fsynced, then renamed over the
final name, and the directory is fsynced, so a block is either wholly there or absent
after a crash, and a ``put`` that returned is on disk.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from traceability.ipfs.cid import format_cid, multihash_of
from traceability.ipfs.errors import DocumentNotFound

logger = logging.getLogger(__name__)

Buffer = bytes | bytearray | memoryview


def flatfs_key(cid: bytes) -> str:
    """kubo's datastore key for a block (base32 of its multihash, no padding)."""
    return base64.b32encode(multihash_of(cid)).decode("ascii").rstrip("=")


class FlatFsBlockstore:
    """Blocks on disk, one file each, as kubo's flatfs lays them out."""

    def __init__(self, root: Path | str, *, durable: bool = True) -> None:
        self.root = Path(root)
        self.durable = durable
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, cid: bytes) -> Path:
        key = flatfs_key(cid)
        return self.root / key[-3:-1] / f"{key}.data"

    def has(self, cid: bytes) -> bool:
        return self.path_for(cid).is_file()

    def get(self, cid: bytes) -> bytes:
        """Stored bytes (not verified here: callers verify against the CID)."""
        try:
            return self.path_for(cid).read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(format_cid(cid)) from None

    def put_many(self, blocks: Iterable[tuple[bytes, Iterable[Buffer]]]) -> int:
        """Write blocks given as ``(cid, parts)`` in order; ones present are only touched (their
        time refreshed). Returns the count written."""
        touched: set[Path] = set()
        written = 0
        for cid, parts in blocks:
            final = self.path_for(cid)
            try:
                # Stored again: as new as a write for gc's time cutoff (EmbeddedDocumentStore.gc
                # spares files younger than it), or a gc running now takes it for garbage.
                os.utime(final)
                continue
            except FileNotFoundError:
                pass  # absent (or collected this instant): written below
            final.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as fh:
                    for part in parts:
                        fh.write(part)
                    if self.durable:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(tmp, final)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            touched.add(final.parent)
            written += 1
        if self.durable:
            for directory in touched | ({self.root} if touched else set()):
                _fsync_dir(directory)
        logger.debug("wrote %d blocks under %s", written, self.root)
        return written

    def delete(self, cid: bytes) -> None:
        self.path_for(cid).unlink(missing_ok=True)

    def iter_paths(self) -> Iterator[Path]:
        """Every stored block file (for garbage collection)."""
        yield from self.root.glob("*/*.data")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
