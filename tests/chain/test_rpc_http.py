"""The hot paths' JSON-RPC transport (``chain.rpc_http``): same answers as web3's provider, batch
answers put back in request order, a node that is gone is ``NodeUnavailable``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from web3 import Web3

from chain.anvil import Anvil
from chain.errors import NodeUnavailable
from chain.rpc_http import MAX_HEAD_BYTES, JsonRpcHttp
from chain.tx import TxSender


def test_reads_and_batches_agree_with_web3_on_anvil() -> None:
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        sender = TxSender(w3)
        assert sender._http is not None  # the fast transport is in use
        assert int(sender.rpc("eth_chainId", []), 16) == w3.eth.chain_id
        block, balance, bad = sender.rpc_batch(
            [
                ("eth_getBlockByNumber", ["latest", False]),
                ("eth_getBalance", [w3.eth.accounts[0], "latest"]),
                ("eth_noSuchMethod", []),
            ]
        )
        assert int(block["number"], 16) == w3.eth.block_number
        assert int(balance, 16) == w3.eth.get_balance(w3.eth.accounts[0])
        assert isinstance(bad, Exception)  # one request's error is that request's answer
        url = node.rpc_url
    with pytest.raises(NodeUnavailable):  # the node is gone
        sender.rpc("eth_chainId", [])
    with pytest.raises(NodeUnavailable):
        JsonRpcHttp(url).batch([("eth_chainId", [])])


class _Reversed(BaseHTTPRequestHandler):
    """Answers a batch in reverse order (the spec allows any order), and closes every
    connection after one answer (a server that does not keep connections alive)."""

    def do_POST(self) -> None:
        request: Any = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if isinstance(request, list):
            answer: Any = [{"jsonrpc": "2.0", "id": r["id"], "result": r["id"]} for r in request]
            answer.reverse()
        else:
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": request["method"]}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_batch_answers_are_put_back_in_request_order() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Reversed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rpc = JsonRpcHttp(f"http://127.0.0.1:{server.server_address[1]}/")
        answers = rpc.batch([("a", []), ("b", []), ("c", [])])
        assert [a["result"] for a in answers] == [0, 1, 2]
        for _ in range(3):  # each on a new connection: the server closed the last one
            assert rpc.request("m", [])["result"] == "m"
    finally:
        server.shutdown()
        server.server_close()


class _Framed(BaseHTTPRequestHandler):
    """HTTP/1.1 answers framed each way a server may frame them, chosen by the method's name:
    ``chunked`` (Transfer-Encoding, in pieces, with a trailer), ``close`` (no length: the body
    ends with the connection), ``length`` (Content-Length, kept alive); ``fail``: HTTP 500;
    ``big``/``big-chunked``: 8 MB; ``padded``: a head too long to be a node's."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request: Any = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        method = request["method"]
        size = 8_000_000 if method.startswith("big") else 5000  # an eth_getLogs-sized answer
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "x" * size}).encode()
        self.send_response(500 if method == "fail" else 200)
        if method == "padded":  # a head past MAX_HEAD_BYTES: no JSON-RPC server sends one
            self.send_header("X-Pad", "p" * (MAX_HEAD_BYTES + 1))
        if method in ("chunked", "big-chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                piece = body[i : i + 1000]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        elif method == "close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_bodies_framed_every_way_http_allows_are_read_whole() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Framed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rpc = JsonRpcHttp(f"http://127.0.0.1:{server.server_address[1]}/")
        for method in ("length", "chunked", "close", "length", "chunked", "length"):
            assert rpc.request(method, [])["result"] == "x" * 5000, method
        with pytest.raises(NodeUnavailable, match="HTTP 500"):
            rpc.request("fail", [])
        assert rpc.request("length", [])["result"] == "x" * 5000  # and on after an error
        for method in ("big", "big-chunked"):
            assert rpc.request(method, [])["result"] == "x" * 8_000_000, method
        with pytest.raises(NodeUnavailable, match="bytes"):
            rpc.request("padded", [])
        assert rpc.request("length", [])["result"] == "x" * 5000
    finally:
        server.shutdown()
        server.server_close()


class _Renumbered(BaseHTTPRequestHandler):
    """Answers a batch with as many answers as requests but ids of its own (a broken proxy)."""

    def do_POST(self) -> None:
        request: Any = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = [{"jsonrpc": "2.0", "id": 100 + r["id"], "result": r["method"]} for r in request]
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_batch_answers_that_match_no_request_id_are_refused_not_taken_in_order() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Renumbered)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rpc = JsonRpcHttp(f"http://127.0.0.1:{server.server_address[1]}/")
        with pytest.raises(NodeUnavailable, match="do not match"):
            rpc.batch([("eth_blockNumber", []), ("eth_call", [])])
    finally:
        server.shutdown()
        server.server_close()
