"""The embedded document store: UnixFS DAGs in a flatfs block store on local disk."""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from traceability.ipfs.blockstore import FlatFsBlockstore
from traceability.ipfs.cid import format_cid, parse_cid
from traceability.ipfs.errors import DocumentNotFound, DocumentTooLarge, IpfsError, NotPinned
from traceability.ipfs.importer import DEFAULT_PROFILE, Block, ImportProfile, build_dag
from traceability.ipfs.reader import iter_dag, read_file, verify_block

logger = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENT_SIZE: Final = 64 * 1024 * 1024


class EmbeddedDocumentStore:
    """Documents on disk with kubo-identical CIDs; no daemon needed.

    Layout under ``root``: ``blocks/`` (kubo flatfs), ``pins/`` (one empty file per
    pinned root CID) and ``recent/`` (one empty file per root stored unpinned, its mtime the
    last time it was stored: what ``gc(older_than=...)`` keeps). Blocks of a document are
    written children first and the pin (or recent mark) last, so after a crash a pinned or
    present root always has its whole DAG.

    gc never holds up a write for a whole pass. ``gc.lock`` is held shared by every write (put,
    pin, put_blocks) and exclusively by ``gc`` only for short sections, in this process and any
    other on the same directory (flock): one to open ``gc-protect/`` before it reads the live
    roots, one per chunk of deletions, one to close it. While ``gc-protect/`` is open, each
    write records the blocks it wrote, touched or pinned there (one file per write) before it
    releases its shared lock, and each chunk re-reads those records under the exclusive lock
    before it deletes anything: a block that a write returned for is never deleted, nor one of
    a root gc did not see. ``gc.run`` keeps two passes from overlapping.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        profile: ImportProfile = DEFAULT_PROFILE,
        max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE,
        durable: bool = True,
    ) -> None:
        self.root = Path(root)
        self.profile = profile
        self.max_document_size = max_document_size
        self.blocks = FlatFsBlockstore(self.root / "blocks", durable=durable)
        self._pins = self.root / "pins"
        self._pins.mkdir(parents=True, exist_ok=True)
        self._recent = self.root / "recent"

    # -- documents ---------------------------------------------------------------------
    def put(self, data: bytes, *, pin: bool = True) -> str:
        if len(data) > self.max_document_size:
            raise DocumentTooLarge(len(data), self.max_document_size)
        built: list[Block] = []
        root = build_dag(data, profile=self.profile, sink=built.append)
        cid = format_cid(root)
        with self._gc_lock(exclusive=False):
            self._protect([b.cid for b in built])
            self.blocks.put_many((b.cid, b.parts) for b in built)
            if pin:
                self._write_pin(root)
            else:
                self._mark_recent(cid)
        logger.info("stored document %s (%d bytes, %d blocks)", cid, len(data), len(built))
        return cid

    def get(self, cid: str) -> bytes:
        return read_file(self.blocks.get, parse_cid(cid))

    def has(self, cid: str) -> bool:
        return self.blocks.has(parse_cid(cid))

    # -- pins --------------------------------------------------------------------------
    def pin(self, cid: str) -> None:
        root = parse_cid(cid)
        with self._gc_lock(exclusive=False):
            # Refuse to pin an incomplete DAG; a gc sweeping now keeps what it reaches.
            self._protect([cid for cid, _ in iter_dag(self.blocks.get, root)])
            self._write_pin(root)

    def unpin(self, cid: str) -> None:
        path = self._pin_path(parse_cid(cid))
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotPinned(cid) from None

    def pins(self) -> list[str]:
        return sorted(p.name for p in self._pins.iterdir() if not p.name.startswith("."))

    def is_pinned(self, cid: str) -> bool:
        return self._pin_path(parse_cid(cid)).exists()

    def gc(self, older_than: float | None = None) -> int:
        """Delete every block not reachable from a pin; returns the number deleted.

        With ``older_than`` (seconds), documents stored unpinned within that time are kept too:
        blocks reachable from a root ``put`` unpinned since then, and any block file written
        since then (one a ``put`` is writing right now). Without it, everything unpinned goes,
        except what a write made while this gc runs (see the class doc).
        """
        with self._run_lock():
            cutoff = None if older_than is None else time.time() - older_than
            with self._gc_lock(exclusive=True):  # short: no block is read or deleted here
                self._open_protection()
                roots = self._live_roots(cutoff)
            try:
                live = self._mark(roots)
                return self._sweep(live, cutoff)
            finally:
                with self._gc_lock(exclusive=True):
                    self._close_protection()

    # Deletions between two looks at the writes' records: a write waits for at most this many.
    SWEEP_CHUNK: int = 64

    def _live_roots(self, cutoff: float | None) -> list[bytes]:
        """The pinned roots (and, with a cutoff, the recent unpinned ones) as of now."""
        roots = [parse_cid(pinned) for pinned in self.pins()]
        if cutoff is not None:
            roots += self._recent_roots(cutoff)
        return roots

    def _mark(self, roots: list[bytes]) -> set[str]:
        """Block file names reachable from ``roots``.

        Runs without gc.lock: only gc deletes blocks, so a pinned root's DAG stays whole while
        it is read, and a root pinned or stored since the snapshot is in the writes' records.
        """
        live: set[str] = set()
        for root in roots:
            try:
                for cid, _ in iter_dag(self.blocks.get, root):
                    live.add(self.blocks.path_for(cid).name)
            except DocumentNotFound:  # an unpinned document can be incomplete; pins never are
                logger.warning("gc: %s is incomplete; keeping what it reaches", format_cid(root))
        return live

    def _sweep(self, live: set[str], cutoff: float | None) -> int:
        candidates = [path for path in self.blocks.iter_paths() if path.name not in live]
        removed = 0
        protected: set[str] = set()
        seen: set[str] = set()
        for start in range(0, len(candidates), self.SWEEP_CHUNK):
            with self._gc_lock(exclusive=True):
                self._read_protection(protected, seen)
                for path in candidates[start : start + self.SWEEP_CHUNK]:
                    if path.name in protected:
                        continue
                    if cutoff is not None and _mtime(path) >= cutoff:
                        continue
                    path.unlink(missing_ok=True)
                    removed += 1
        logger.info("gc removed %d blocks", removed)
        return removed

    # -- what writes record while gc runs --------------------------------------------------
    @property
    def _protection(self) -> Path:
        return self.root / "gc-protect"

    def _open_protection(self) -> None:
        """Under the exclusive lock: writes from now on record their blocks."""
        self._close_protection()  # a gc that crashed may have left one
        self._protection.mkdir()

    def _close_protection(self) -> None:
        if self._protection.is_dir():
            for record in self._protection.iterdir():
                record.unlink(missing_ok=True)
            self._protection.rmdir()

    def _protect(self, cids: list[bytes]) -> None:
        """Under the shared lock, before the write's blocks are relied on: if a gc runs, note
        their file names for its sweep."""
        if not self._protection.is_dir():
            return
        names = "".join(self.blocks.path_for(cid).name + "\n" for cid in cids)
        (self._protection / f"{uuid.uuid4().hex}.txt").write_text(names, encoding="ascii")

    def _read_protection(self, protected: set[str], seen: set[str]) -> None:
        """Under the exclusive lock: add the records not read yet (no write is mid-way)."""
        for record in self._protection.iterdir():
            if record.name not in seen:
                seen.add(record.name)
                protected.update(record.read_text(encoding="ascii").split())

    # -- blocks ------------------------------------------------------------------------
    def get_block(self, cid: str) -> bytes:
        raw = parse_cid(cid)
        data = self.blocks.get(raw)
        verify_block(raw, data)
        return data

    def iter_dag_blocks(self, cid: str) -> Iterator[tuple[str, bytes]]:
        for raw, data in iter_dag(self.blocks.get, parse_cid(cid)):
            yield format_cid(raw), data

    def put_blocks(self, blocks: Iterable[tuple[str, bytes]]) -> None:
        checked = []
        for cid, data in blocks:
            raw = parse_cid(cid)
            verify_block(raw, data)
            checked.append((raw, (data,)))
        with self._gc_lock(exclusive=False):
            self._protect([raw for raw, _ in checked])
            self.blocks.put_many(checked)

    # -- internals ---------------------------------------------------------------------
    @contextmanager
    def _gc_lock(self, *, exclusive: bool) -> Iterator[None]:
        """``gc.lock`` held (flock: per open file, so threads and processes alike wait)."""
        fd = os.open(self.root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def _run_lock(self) -> Iterator[None]:
        """``gc.run`` held: one gc pass at a time on this directory (writes never take it)."""
        fd = os.open(self.root / "gc.run", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _pin_path(self, root: bytes) -> Path:
        return self._pins / format_cid(root)

    def _mark_recent(self, cid: str) -> None:
        """Note (or refresh) when a root was last stored unpinned: ``gc(older_than)`` keeps it."""
        self._recent.mkdir(exist_ok=True)
        (self._recent / cid).touch()

    def _recent_roots(self, cutoff: float) -> list[bytes]:
        """Roots stored unpinned since ``cutoff``; older marks are removed."""
        if not self._recent.is_dir():
            return []
        roots = []
        for mark in self._recent.iterdir():
            if _mtime(mark) >= cutoff:
                try:
                    roots.append(parse_cid(mark.name))
                except IpfsError:  # not a mark this store wrote: leave it alone
                    logger.warning("gc: ignoring %s", mark)
            else:
                mark.unlink(missing_ok=True)
        return roots

    def _write_pin(self, root: bytes) -> None:
        if not self.blocks.has(root):
            raise DocumentNotFound(format_cid(root))
        path = self._pin_path(root)
        if path.exists():
            return
        # A name of its own: another write may be pinning the same root this instant.
        tmp = self._pins / f".{path.name}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(b"")
        os.replace(tmp, path)
        if self.blocks.durable:
            fd = os.open(self._pins, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _mtime(path: Path) -> float:
    """A file's modification time; +inf when it vanished meanwhile (nothing to delete then)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")
