"""JSON-RPC over HTTP for the hot paths: one kept-alive ``http.client`` connection per thread.

Why (issue 15, ``scripts/profile_relay.py --breakdown``): one JSON-RPC batch through web3's
``HTTPProvider`` — requests' session, adapter and urllib3 pool, web3's logging and caching
wrappers — cost about 3 ms of CPU per call on this machine, most of an accept's chain work,
for one round trip to a node on localhost. The same bytes through ``http.client`` cost a tenth.

On a plain ``http://`` URL (a node beside the service) even ``http.client`` was most of the
cost under the 2,000-join rush (issue 15: its request building, and its response's headers parsed
by the ``email`` package): :class:`_PlainConnection` speaks the little HTTP/1.1 a JSON-RPC POST
needs over a socket of its own — a fixed request head, the status line and the headers that
frame the body (``Content-Length``, ``Transfer-Encoding: chunked``, else up to the close) and
``Connection``. ``https://`` keeps ``http.client``.

Only :class:`chain.tx.TxSender`'s raw ``rpc`` / ``rpc_batch`` use it (reads, calls, receipts,
nonces); everything else still goes through web3. Transport failures are raised as
:class:`~chain.errors.NodeUnavailable`, as :func:`chain.tx.translate_errors` does for web3's.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from chain import fastjson
from chain.errors import NodeUnavailable

# A kept-alive connection the server closed meanwhile fails on first use; one fresh attempt.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class JsonRpcHttp:
    """POSTs JSON-RPC requests (single or batched) to one ``http(s)://`` URL. Thread-safe: each
    thread keeps its own connection."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL: use web3's provider")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._local = threading.local()

    @classmethod
    def for_provider(cls, provider: Any) -> JsonRpcHttp | None:
        """One for web3's ``HTTPProvider`` on a plain http(s) URL; None for anything else (the
        caller keeps using the provider)."""
        from web3 import HTTPProvider

        if type(provider) is not HTTPProvider:
            return None
        timeout = (getattr(provider, "_request_kwargs", None) or {}).get("timeout", 30.0)
        try:
            return cls(str(provider.endpoint_uri), timeout=float(timeout))
        except (ValueError, TypeError):
            return None

    def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        """One request; the node's response object (``result`` or ``error``)."""
        response = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if not isinstance(response, dict):
            raise NodeUnavailable(f"unexpected JSON-RPC answer: {str(response)[:200]}")
        return response

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]] | Any:
        """A JSON-RPC batch; the responses in the order of ``calls`` (by id, as the spec lets a
        server answer in any order), or the node's answer as it is when it is no list of them
        (a node that refuses batches: the caller asks one at a time)."""
        ids = list(range(len(calls)))  # unique within the batch: all the spec asks
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        responses = self._post(payload)
        if not isinstance(responses, list) or len(responses) != len(calls):
            return responses
        by_id = {r.get("id"): r for r in responses if isinstance(r, dict)}
        if len(by_id) != len(calls) or any(i not in by_id for i in ids):
            # As many answers as requests, but not one per id: taken in order they could be
            # the wrong request's answers (a read's result given to a simulation).
            raise NodeUnavailable(f"{self.url}: the batch's answers do not match its requests' ids")
        return [by_id[i] for i in ids]

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> http.client.HTTPSConnection | _PlainConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout
                )
            else:
                connection = _PlainConnection(self._host, self._port or 80, self._timeout)
            self._local.connection = connection
        return connection

    def _post(self, payload: Any) -> Any:
        body = fastjson.dumps(payload)  # (as json.dumps, faster)
        for attempt in (1, 2):
            connection = self._connection()
            try:
                if isinstance(connection, _PlainConnection):
                    status, reason, data, keep = connection.post(self._path, body)
                else:
                    connection.request("POST", self._path, body=body, headers=_HEADERS)
                    response = connection.getresponse()
                    data = response.read()
                    status, reason, keep = response.status, response.reason, not response.will_close
            except _STALE as exc:
                self.close()
                if attempt == 1:
                    continue  # the server closed an idle kept-alive connection: a fresh one
                raise NodeUnavailable(f"{self.url}: {exc}") from exc
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                raise NodeUnavailable(f"{self.url}: {exc}") from exc
            if not keep:
                self.close()
            if not 200 <= status < 300:
                raise NodeUnavailable(f"{self.url}: HTTP {status} {reason}")
            try:
                return fastjson.loads(data)  # (as json.loads, faster)
            except ValueError as exc:
                raise NodeUnavailable(f"{self.url}: not JSON: {data[:200]!r}") from exc
        raise AssertionError("unreachable")


# The longest response head (status line and headers) or chunk-size line taken from a node.
MAX_HEAD_BYTES = 64 * 1024

_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class _PlainConnection:
    """One kept-alive HTTP/1.1 connection to ``host:port`` for JSON-RPC POSTs (see the module's
    docstring). Failures are ``OSError`` / ``http.client.HTTPException``; a connection the server
    closed before answering is ``http.client.RemoteDisconnected`` (stale: the caller retries)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._address = (host, port)
        name = f"[{host}]" if ":" in host else host  # an IPv6 address, bracketed
        self._host_header = f"{name}:{port}".encode("idna")
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer = bytearray()

    def post(self, path: str, body: bytes) -> tuple[int, str, bytes, bool]:
        """POST ``body``; (status, reason, response body, connection kept alive)."""
        if self._sock is None:
            self._sock = socket.create_connection(self._address, self._timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Accept: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode("ascii"), self._host_header, len(body), body)
        )
        status, reason, headers, version = self._head()
        while 100 <= status < 200:  # an interim answer (none is asked for): the real one follows
            status, reason, headers, version = self._head()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            data = self._chunked()
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise http.client.HTTPException("bad Content-Length") from None
            data = self._exactly(length)
        else:  # the body ends with the connection
            data, keep = self._until_closed(), False
        return status, reason, data, keep

    def _recv(self) -> bytes:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise http.client.RemoteDisconnected("the node closed the connection")
        return chunk

    # The buffer is a bytearray: appending and dropping a prefix are amortised O(1), so a
    # response of many megabytes (eth_getLogs) is not copied once per packet.

    def _until(self, separator: bytes) -> bytes:
        """The bytes before ``separator`` (consumed with it); a head or line longer than
        ``MAX_HEAD_BYTES`` is no JSON-RPC answer (a bound on what a wrong server makes us keep)."""
        start = 0
        while (end := self._buffer.find(separator, start)) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise http.client.HTTPException(f"no {separator!r} in {MAX_HEAD_BYTES} bytes")
            start = max(0, len(self._buffer) - len(separator) + 1)
            self._buffer += self._recv()
        if end > MAX_HEAD_BYTES:
            raise http.client.HTTPException(f"no {separator!r} in {MAX_HEAD_BYTES} bytes")
        found = bytes(self._buffer[:end])
        del self._buffer[: end + len(separator)]
        return found

    def _line(self) -> bytes:
        return self._until(b"\r\n")

    def _exactly(self, length: int) -> bytes:
        while len(self._buffer) < length:
            self._buffer += self._recv()
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data

    def _until_closed(self) -> bytes:
        assert self._sock is not None
        parts = [bytes(self._buffer)]
        while chunk := self._sock.recv(65536):
            parts.append(chunk)
        self._buffer = bytearray()
        return b"".join(parts)

    def _head(self) -> tuple[int, str, dict[str, str], str]:
        head = self._until(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            raise http.client.BadStatusLine(status_line)
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(code), reason, headers, version

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise http.client.HTTPException(f"bad chunk size {size_line[:20]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size))
            if self._line():
                raise http.client.HTTPException("a chunk not followed by CRLF")
