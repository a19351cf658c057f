"""A node that takes connections and never answers (hung, or stopped with SIGSTOP) costs one
timeout per read, not five: web3's provider would send a read that timed out again, up to five
times, and a consumer's orders page waited 153 s (``chain.context.make_web3``).

Counted, not timed: the fake node below counts the requests it was sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from chain.context import make_web3
from chain.settings import Settings


@contextmanager
def hung_node() -> Iterator[tuple[str, list[bytes]]]:
    """A listening socket nobody answers on: the kernel completes each connection and keeps what
    the client sends. Yields its URL and, once the block ends, the requests sent to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    requests_seen: list[bytes] = []
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", requests_seen
    finally:
        # Every connection the client made is queued; each holds the request it sent.
        server.setblocking(False)
        while True:
            try:
                connection, _ = server.accept()
            except BlockingIOError:
                break
            connection.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data and (chunk := connection.recv(65536)):
                    data += chunk
            except TimeoutError:
                pass
            connection.close()
            if data:
                requests_seen.append(data)
        server.close()


def test_a_read_that_times_out_is_sent_once() -> None:
    with hung_node() as (url, seen):
        w3 = make_web3(url, timeout=0.5)
        with pytest.raises(requests.Timeout):
            w3.eth.get_block_number()
    assert len(seen) == 1, [r.split(b"\r\n", 1)[0] for r in seen]


def test_a_refused_connection_is_tried_again() -> None:
    """A node restarting refuses connections for a moment: those reads are retried (quickly)."""
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused
    provider = make_web3(f"http://127.0.0.1:{port}").provider
    retry = provider.exception_retry_configuration  # type: ignore[attr-defined]
    assert retry.retries > 1 and issubclass(requests.ConnectionError, tuple(retry.errors))
    assert not issubclass(requests.ReadTimeout, tuple(retry.errors))


def test_the_timeout_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUANCHAIN_RPC_TIMEOUT_SECONDS", "7.5")
    settings = Settings()
    assert settings.rpc_timeout_seconds == 7.5
    w3 = make_web3(settings.rpc_url, settings.rpc_timeout_seconds)
    assert w3.provider._request_kwargs["timeout"] == 7.5  # type: ignore[attr-defined]
