"""Named errors of the IPFS document store; all derive from ``TraceabilityError``."""

from __future__ import annotations

from traceability.errors import TraceabilityError


class IpfsError(TraceabilityError):
    """Root of every error raised by ``traceability.ipfs``."""


class InvalidCid(IpfsError):
    """A string or byte sequence is not a CID this store understands."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(f"invalid CID {value!r}: {reason}")
        self.value = value
        self.reason = reason


class DocumentTooLarge(IpfsError):
    """A document exceeds the store's configured size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"document of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class DocumentNotFound(IpfsError):
    """No block for this CID (the document root or one of its blocks) is held by the store."""

    def __init__(self, cid: str) -> None:
        super().__init__(f"block not found: {cid}")
        self.cid = cid


class BlockCorrupted(IpfsError):
    """A block's bytes do not hash to its CID, or do not decode as the CID's codec says."""

    def __init__(self, cid: str, reason: str) -> None:
        super().__init__(f"block {cid} is corrupted: {reason}")
        self.cid = cid
        self.reason = reason


class NotAUnixFSFile(IpfsError):
    """The CID names a valid block that is not a UnixFS file (a directory, symlink, ...)."""

    def __init__(self, cid: str, kind: str) -> None:
        super().__init__(f"{cid} is not a UnixFS file but {kind}")
        self.cid = cid
        self.kind = kind


class CarFormatError(IpfsError):
    """A CAR v1 stream is malformed (header, framing or a section)."""


class StoreUnavailable(IpfsError):
    """The backing store (a Kubo node) cannot be reached or answered with a server error."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"document store at {address} is unavailable: {reason}")
        self.address = address
        self.reason = reason


class UnexpectedCid(IpfsError):
    """The node stored a document under another CID than the store's import profile gives (it
    ignored an option, e.g. an old Kubo without ``max-file-links``): the node's fault, not the
    document's."""

    def __init__(self, address: str, answered: str, expected: str, profile: str) -> None:
        super().__init__(
            f"Kubo at {address} returned {answered} but profile {profile} gives {expected}: "
            "the node does not support this import profile"
        )
        self.answered = answered
        self.expected = expected


class NotPinned(IpfsError):
    """``unpin`` of a CID that is not pinned."""

    def __init__(self, cid: str) -> None:
        super().__init__(f"not pinned: {cid}")
        self.cid = cid
