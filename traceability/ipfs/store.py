"""The ``DocumentStore`` interface shared by the embedded store and the Kubo backend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from traceability.ipfs.importer import ImportProfile


@runtime_checkable
class DocumentStore(Protocol):
    """Content-addressed documents (UnixFS files) with kubo-identical CIDs.

    CIDs are strings at this interface (``Qm...`` for CIDv0, ``bafy...``/``bafk...`` for
    CIDv1). Every read is verified against the CID, so no backend has to be trusted.
    """

    profile: ImportProfile

    def put(self, data: bytes, *, pin: bool = True) -> str:
        """Store a document and return its CID; ``DocumentTooLarge`` over the size limit."""
        ...

    def get(self, cid: str) -> bytes:
        """The document's bytes; ``DocumentNotFound``, ``BlockCorrupted``, ``NotAUnixFSFile``."""
        ...

    def has(self, cid: str) -> bool:
        """Whether the store holds the document's root block."""
        ...

    def pin(self, cid: str) -> None:
        """Keep the document (and every block under it) through garbage collection."""
        ...

    def unpin(self, cid: str) -> None:
        """Release a pin; ``NotPinned`` if there was none."""
        ...

    def get_block(self, cid: str) -> bytes:
        """One verified block (trustless gateway ``application/vnd.ipld.raw``)."""
        ...

    def iter_dag_blocks(self, cid: str) -> Iterator[tuple[str, bytes]]:
        """Every verified block of the DAG under ``cid``, depth-first (for CAR responses)."""
        ...

    def put_blocks(self, blocks: Iterable[tuple[str, bytes]]) -> None:
        """Store already-verified blocks as they are (CAR import)."""
        ...
