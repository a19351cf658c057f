"""Documents in IPFS: UnixFS files with kubo-identical CIDs, stored embedded or in Kubo.

Public API::

    store = EmbeddedDocumentStore(path)            # CIDv1, unixfs-v1-2025 profile
    cid = store.put(pdf_bytes); store.get(cid)     # verified reads
    compute_cid(data, profile=KUBO_DEFAULT_V0)     # 'Qm...' like `ipfs add --only-hash`
    export_car(store, [cid, ...], fh); import_car(other_store, fh)
"""

from traceability.ipfs.car import export_car, import_car, iter_car
from traceability.ipfs.cid import format_cid, parse_cid
from traceability.ipfs.embedded import DEFAULT_MAX_DOCUMENT_SIZE, EmbeddedDocumentStore
from traceability.ipfs.errors import (
    BlockCorrupted,
    CarFormatError,
    DocumentNotFound,
    DocumentTooLarge,
    InvalidCid,
    IpfsError,
    NotAUnixFSFile,
    NotPinned,
    StoreUnavailable,
    UnexpectedCid,
)
from traceability.ipfs.importer import (
    DEFAULT_PROFILE,
    KUBO_DEFAULT_V0,
    PROFILES,
    UNIXFS_V1_2025,
    ImportProfile,
    build_blocks,
    compute_cid,
)
from traceability.ipfs.kubo import KuboDocumentStore, add_options
from traceability.ipfs.store import DocumentStore

__all__ = [
    "DEFAULT_MAX_DOCUMENT_SIZE",
    "DEFAULT_PROFILE",
    "KUBO_DEFAULT_V0",
    "PROFILES",
    "UNIXFS_V1_2025",
    "BlockCorrupted",
    "CarFormatError",
    "DocumentNotFound",
    "DocumentStore",
    "DocumentTooLarge",
    "EmbeddedDocumentStore",
    "ImportProfile",
    "InvalidCid",
    "IpfsError",
    "KuboDocumentStore",
    "NotAUnixFSFile",
    "NotPinned",
    "StoreUnavailable",
    "UnexpectedCid",
    "add_options",
    "build_blocks",
    "compute_cid",
    "export_car",
    "format_cid",
    "import_car",
    "iter_car",
    "parse_cid",
]
