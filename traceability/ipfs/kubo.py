"""Kubo RPC API backend (``/api/v0``) for a Kubo node or IPFS Cluster proxy.

Uses ``ipfshttpclient.Client(addr)`` directly: ``ipfshttpclient.connect()`` refuses every
Kubo newer than 0.8 by its version check. Documents are added with the store's import
profile passed explicitly (``cid-version``, ``raw-leaves``, ``chunker=size-N``,
``trickle=false``, ``hash=sha2-256`` and, for the 1024-wide CIDv1 layout,
``max-file-links``), so a Kubo node and the embedded store give the same CIDs whatever the
node's ``Import.*`` configuration. The CID Kubo answers is checked against the one computed
locally, and reads go block by block through ``block/get`` with every hash verified: the
node is not trusted.
"""

from __future__ import annotations

import io
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_exc

from traceability.ipfs.cid import CODEC_RAW, format_cid, multihash_of, parse_cid, split_cid
from traceability.ipfs.embedded import DEFAULT_MAX_DOCUMENT_SIZE
from traceability.ipfs.errors import (
    BlockCorrupted,
    DocumentNotFound,
    DocumentTooLarge,
    NotPinned,
    StoreUnavailable,
    UnexpectedCid,
)
from traceability.ipfs.importer import DEFAULT_PROFILE, ImportProfile, compute_cid
from traceability.ipfs.reader import iter_dag, read_file, verify_block

logger = logging.getLogger(__name__)

DEFAULT_KUBO_ADDR = "/ip4/127.0.0.1/tcp/5001/http"
T = TypeVar("T")


def add_options(profile: ImportProfile) -> dict[str, Any]:
    """Kubo ``/api/v0/add`` query options that reproduce ``profile``."""
    options: dict[str, Any] = {
        "cid-version": profile.cid_version,
        "raw-leaves": profile.raw_leaves,
        "chunker": profile.chunker,
        "hash": "sha2-256",
        "trickle": False,
    }
    if profile.max_links != 174:
        # 174 is every Kubo's built-in default; only newer Kubo (0.35+) knows the option.
        options["max-file-links"] = profile.max_links
    return options


def add_arguments(profile: ImportProfile) -> dict[str, Any]:
    """``ipfshttpclient`` ``add()`` keyword arguments that send exactly ``add_options``.

    ``add()`` writes its own ``trickle``/``raw-leaves``/``pin`` values *over* a caller's
    ``opts`` (``raw-leaves`` becomes ``False`` unless given as the keyword), so the options
    it owns go as keywords and only the rest through ``opts``.
    """
    options = add_options(profile)
    return {
        "cid_version": options.pop("cid-version"),
        "raw_leaves": options.pop("raw-leaves"),
        "chunker": options.pop("chunker"),
        "trickle": options.pop("trickle"),
        "opts": options,
    }


def to_multiaddr(addr: str) -> str:
    """Accept ``http(s)://host:port`` (as in ``TUANCHAIN_IPFS_API_URL``) or a multiaddr."""
    if addr.startswith("/"):
        return addr
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise StoreUnavailable(addr, "expected http(s)://host:port or a multiaddr")
    host = parts.hostname
    try:
        proto = "ip6" if ipaddress.ip_address(host).version == 6 else "ip4"
    except ValueError:
        proto = "dns"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"/{proto}/{host}/tcp/{port}/{parts.scheme}"


class KuboDocumentStore:
    """A ``DocumentStore`` over the Kubo RPC API."""

    def __init__(
        self,
        addr: str = DEFAULT_KUBO_ADDR,
        *,
        profile: ImportProfile = DEFAULT_PROFILE,
        max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE,
        timeout: float = 60.0,
    ) -> None:
        self.addr = addr
        self.profile = profile
        self.max_document_size = max_document_size
        try:
            self._client = ipfshttpclient.Client(to_multiaddr(addr), timeout=timeout)
        except ipfs_exc.AddressError as exc:
            raise StoreUnavailable(addr, f"bad multiaddr: {exc}") from exc

    def close(self) -> None:
        self._client.close()

    # -- error translation (once, at the boundary) -------------------------------------
    def _call(self, what: str, cid: str | None, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ipfs_exc.ConnectionError, ipfs_exc.TimeoutError, ipfs_exc.ProtocolError) as exc:
            raise StoreUnavailable(self.addr, f"{what}: {exc}") from exc
        except ipfs_exc.ErrorResponse as exc:
            message = str(exc).lower()
            if cid is not None and "not pinned" in message:
                raise NotPinned(cid) from exc
            if cid is not None and ("not found" in message or "no link" in message):
                raise DocumentNotFound(cid) from exc
            raise StoreUnavailable(self.addr, f"{what}: {exc}") from exc
        except ipfs_exc.StatusError as exc:
            raise StoreUnavailable(self.addr, f"{what}: {exc}") from exc

    # -- documents ---------------------------------------------------------------------
    def put(self, data: bytes, *, pin: bool = True) -> str:
        if len(data) > self.max_document_size:
            raise DocumentTooLarge(len(data), self.max_document_size)
        expected = compute_cid(data, profile=self.profile)
        result = self._call(
            "add",
            None,
            lambda: self._client.add(io.BytesIO(data), pin=pin, **add_arguments(self.profile)),
        )
        answered = result["Hash"]
        if answered != expected:
            # The node ignored an option (e.g. an old Kubo without max-file-links).
            raise UnexpectedCid(self.addr, answered, expected, self.profile.name)
        logger.info("added %s to Kubo at %s", answered, self.addr)
        return answered

    def get(self, cid: str) -> bytes:
        return read_file(self._raw_block, parse_cid(cid))

    def has(self, cid: str) -> bool:
        raw = parse_cid(cid)
        try:
            self._call(
                "block/stat",
                cid,
                lambda: self._client.block.stat(format_cid(raw), opts={"offline": True}),
            )
        except DocumentNotFound:
            return False
        return True

    def pin(self, cid: str) -> None:
        self._call("pin/add", cid, lambda: self._client.pin.add(cid))

    def unpin(self, cid: str) -> None:
        self._call("pin/rm", cid, lambda: self._client.pin.rm(cid))

    # -- blocks ------------------------------------------------------------------------
    def _raw_block(self, raw: bytes) -> bytes:
        cid = format_cid(raw)
        data = self._call("block/get", cid, lambda: self._client.block.get(cid))
        return bytes(data)

    def get_block(self, cid: str) -> bytes:
        raw = parse_cid(cid)
        data = self._raw_block(raw)
        verify_block(raw, data)
        return data

    def iter_dag_blocks(self, cid: str) -> Iterator[tuple[str, bytes]]:
        for raw, data in iter_dag(self._raw_block, parse_cid(cid)):
            yield format_cid(raw), data

    def put_blocks(self, blocks: Iterable[tuple[str, bytes]]) -> None:
        for cid, data in blocks:
            raw = parse_cid(cid)
            verify_block(raw, data)
            codec = "raw" if split_cid(raw)[1] == CODEC_RAW else "dag-pb"
            result = self._call(
                "block/put",
                cid,
                lambda data=data, codec=codec: self._client.block.put(
                    io.BytesIO(data), opts={"cid-codec": codec, "mhtype": "sha2-256"}
                ),
            )
            if multihash_of(parse_cid(result["Key"])) != multihash_of(raw):
                raise BlockCorrupted(cid, f"Kubo stored it as {result['Key']}")
