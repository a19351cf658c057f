"""JSON-RPC over HTTP for the hot paths: one kept-alive ``http.client`` connection per thread.

Why (issue 15, ``scripts/profile_relay.py --breakdown``): one JSON-RPC batch through web3's
``HTTPProvider`` — requests' session, adapter and urllib3 pool, web3's logging and caching
wrappers — cost about 3 ms of CPU per call on this machine, most of an accept's chain work,
for one round trip to a node on localhost. The same bytes through ``http.client`` cost a tenth.

Only :class:`chain.tx.TxSender`'s raw ``rpc`` / ``rpc_batch`` use it (reads, calls, receipts,
nonces); everything else still goes through web3. Transport failures are raised as
:class:`~chain.errors.NodeUnavailable`, as :func:`chain.tx.translate_errors` does for web3's.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

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
            return responses
        return [by_id[i] for i in ids]

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", self._path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except _STALE as exc:
                self.close()
                if attempt == 1:
                    continue  # the server closed an idle kept-alive connection: a fresh one
                raise NodeUnavailable(f"{self.url}: {exc}") from exc
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                raise NodeUnavailable(f"{self.url}: {exc}") from exc
            if response.will_close:
                self.close()
            if not 200 <= response.status < 300:
                raise NodeUnavailable(f"{self.url}: HTTP {response.status} {response.reason}")
            try:
                return json.loads(data)
            except ValueError as exc:
                raise NodeUnavailable(f"{self.url}: not JSON: {data[:200]!r}") from exc
        raise AssertionError("unreachable")
