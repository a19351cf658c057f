"""The webhook SSRF guard (api.webhooks.targets): which addresses and URLs a webhook may reach,
and the delivery's guard at the connection itself.

The classifier is checked with hypothesis against the standard library's notion of a global
address and over the ranges the guard names; URLs are written in the spellings attackers use
(decimal, hex, IPv4 inside IPv6), resolved by the system's resolver (numeric forms: no network).
Deliveries go to a real HTTP server on 127.0.0.1; a name's DNS answers come from a resolver the
test hands in (this machine has no DNS for made-up names: a delivery that reaches the server
under such a name proves the socket went to the checked address, not to a second lookup).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.webhooks.outbox import HttpSend
from api.webhooks.targets import (
    STRICT,
    TargetPolicy,
    TargetRefused,
    check_url,
    refusal,
)
from chain.settings import Settings

DEV = TargetPolicy(allow_private=True, allow_http=True)  # what a local chain gets


def v4_in(network: str) -> st.SearchStrategy[ipaddress.IPv4Address]:
    net = ipaddress.ip_network(network)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(
        ipaddress.IPv4Address
    )


def v6_in(network: str) -> st.SearchStrategy[ipaddress.IPv6Address]:
    net = ipaddress.ip_network(network)
    return st.integers(int(net.network_address), int(net.broadcast_address)).map(
        ipaddress.IPv6Address
    )


any_v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
any_v6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
private_v4 = st.sampled_from(PRIVATE_V4).flatmap(v4_in)
never_v4 = st.one_of(
    v4_in("169.254.0.0/16"), v4_in("224.0.0.0/4"), st.just(ipaddress.IPv4Address("0.0.0.0"))
)
never_v6 = st.one_of(v6_in("fe80::/10"), v6_in("ff00::/8"), st.just(ipaddress.IPv6Address("::")))


def mapped(ip: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(0xFFFF_0000_0000 | int(ip))


def nat64(ip: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))


def sixtofour(ip: ipaddress.IPv4Address, rest: int) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | rest)


# ---------------------------------------------------------------------- addresses


@given(any_v4)
def test_an_ipv4_address_passes_strictly_only_if_it_is_a_public_unicast_one(
    ip: ipaddress.IPv4Address,
) -> None:
    assert (refusal(ip, STRICT) is None) == (ip.is_global and not ip.is_multicast)


@given(st.one_of(any_v6, v6_in("fc00::/7"), v6_in("fe80::/10"), v6_in("2002::/16")))
def test_an_ipv6_address_that_passes_is_public_and_so_is_any_ipv4_inside(
    ip: ipaddress.IPv6Address,
) -> None:
    if refusal(ip, STRICT) is None:
        assert ip.is_global and not ip.is_multicast
        for inner in (ip.ipv4_mapped, ip.sixtofour):
            assert inner is None or refusal(inner, STRICT) is None


@given(private_v4)
def test_loopback_and_private_networks_only_with_the_private_flag(
    ip: ipaddress.IPv4Address,
) -> None:
    why = refusal(ip, STRICT)
    assert why is not None and str(ip) in why
    assert any(word in why for word in ("loopback", "RFC 1918", "RFC 6598"))
    assert refusal(ip, DEV) is None


@given(v6_in("fc00::/7"))
def test_unique_local_ipv6_only_with_the_private_flag(ip: ipaddress.IPv6Address) -> None:
    assert "unique-local" in (refusal(ip, STRICT) or "")
    assert refusal(ip, DEV) is None


@given(st.one_of(never_v4, never_v6))
def test_link_local_multicast_and_unspecified_are_never_targets(ip: Any) -> None:
    for policy in (STRICT, DEV):
        why = refusal(ip, policy)
        assert why is not None
        assert any(word in why for word in ("link-local", "multicast", "unspecified"))


@given(st.one_of(private_v4, never_v4), st.integers(0, 2**80 - 1))
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(
    ip: ipaddress.IPv4Address, rest: int
) -> None:
    for outer in (mapped(ip), nat64(ip), sixtofour(ip, rest)):
        why = refusal(outer, STRICT)
        assert why is not None and str(ip) in why
        assert (refusal(outer, DEV) is None) == (refusal(ip, DEV) is None)


def test_the_cloud_metadata_address_is_refused_even_where_private_targets_are_allowed() -> None:
    for ip in ("169.254.169.254", "::ffff:169.254.169.254", "fe80::a9fe:a9fe"):
        assert "link-local" in (refusal(ipaddress.ip_address(ip), DEV) or "")
    assert refusal(ipaddress.ip_address("93.184.215.14"), STRICT) is None


# ---------------------------------------------------------------------- URLs


def spellings(ip: ipaddress.IPv4Address) -> list[str]:
    """The ways a URL's host can say ``ip`` (the resolver turns each into it)."""
    return [str(ip), str(int(ip)), hex(int(ip)), f"[{mapped(ip)}]", f"[::ffff:{ip}]"]


@given(
    st.one_of(private_v4, never_v4),
    st.sampled_from(["http", "https"]),
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.text("abcxyz/._-", max_size=12),
    st.data(),
)
def test_a_url_to_a_refused_address_is_refused_however_its_host_is_written(
    ip: ipaddress.IPv4Address, scheme: str, port: str, path: str, data: st.DataObject
) -> None:
    host = data.draw(st.sampled_from(spellings(ip)))
    url = f"{scheme}://{host}{port}/{path}"
    with pytest.raises(TargetRefused) as refused:
        check_url(url, STRICT)
    assert str(ip) in str(refused.value)


@given(
    st.sampled_from(["ftp", "file", "gopher", "dict", "ws", "wss", "ldap", "jar", "javascript"]),
    st.sampled_from(["example.org/x", "127.0.0.1/", "93.184.215.14:21/"]),
)
def test_only_http_and_https_are_sent_to(scheme: str, rest: str) -> None:
    for policy in (STRICT, DEV):
        with pytest.raises(TargetRefused, match="only http"):
            check_url(f"{scheme}://{rest}", policy)


names = st.builds(
    "{}.{}".format,
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10).map("g{}".format),
    st.sampled_from(["example", "test", "invalid"]),
)
public_v4 = st.sampled_from(["1.0.0.0/8", "8.0.0.0/8", "93.0.0.0/8"]).flatmap(v4_in)


@given(names, st.lists(public_v4, min_size=1, max_size=3), st.one_of(private_v4, never_v4))
def test_a_name_is_judged_by_every_address_it_resolves_to(
    name: str, public: list[ipaddress.IPv4Address], bad: ipaddress.IPv4Address
) -> None:
    answers = {name: [str(ip) for ip in public]}

    def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    assert check_url(f"https://{name}/hook", STRICT, resolver=resolver) == f"https://{name}/hook"
    with pytest.raises(TargetRefused, match="https"):
        check_url(f"http://{name}/hook", STRICT, resolver=resolver)
    answers[name] = [*answers[name], str(bad)]  # one bad answer among good ones: refused
    with pytest.raises(TargetRefused) as refused:
        check_url(f"https://{name}/hook", STRICT, resolver=resolver)
    assert f"{name} resolves to {bad}" in str(refused.value)


def test_the_policy_follows_the_chain_unless_set() -> None:
    local = Settings()
    assert local.is_local and TargetPolicy.of(local) == DEV
    # A public chain's settings (model_copy skips the validators that need real keys).
    public = local.model_copy(update={"chain_id": 10, "rpc_url": "https://rpc.example.org"})
    assert not public.is_local and TargetPolicy.of(public) == STRICT
    own_network = public.model_copy(update={"webhook_private_targets": True})
    assert TargetPolicy.of(own_network) == TargetPolicy(allow_private=True, allow_http=False)
    strict_dev = local.model_copy(
        update={"webhook_private_targets": False, "webhook_plain_http": False}
    )
    assert TargetPolicy.of(strict_dev) == STRICT


# ---------------------------------------------------------------------- delivering


@dataclass
class Server:
    """A local HTTP server whose answer each test sets (``answer(handler)``)."""

    url: str = ""
    paths: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    answer: Any = None


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            state.paths.append(self.path)
            state.hosts.append(self.headers["Host"])
            try:
                state.answer(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender stopped reading: what some tests want

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    state.answer = lambda h: (
        h.send_response(204),
        h.send_header("Content-Length", "0"),
        h.end_headers(),
    )
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


HEADERS = {"webhook-id": "ntc_test", "content-type": "application/json"}


def test_the_local_receiver_is_reached_where_private_targets_are_allowed(server: Server) -> None:
    send = HttpSend(DEV)
    assert send(server.url + "/hook", HEADERS, b"{}").ok
    assert server.paths == ["/hook"]


def test_a_delivery_to_a_refused_address_never_connects(server: Server) -> None:
    answer = HttpSend(TargetPolicy(allow_private=False, allow_http=True))(
        server.url + "/hook", HEADERS, b"{}"
    )
    assert answer.status is None and "refused" in (answer.error or "")
    assert "loopback" in (answer.error or "")
    assert server.paths == []
    plain = HttpSend(STRICT)(server.url + "/hook", HEADERS, b"{}")
    assert plain.status is None and "https" in (plain.error or "") and server.paths == []


def test_the_delivery_connects_to_the_address_it_checked_not_to_a_second_lookup(
    server: Server,
) -> None:
    port = server.url.rsplit(":", 1)[1]
    answers = iter([["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str, _port: int) -> list[str]:
        """A name whose answer changes between the check and the use (DNS rebinding)."""
        lookups.append(host)
        return next(answers)

    url = f"http://gateway.test:{port}/hook"
    assert check_url(url, TargetPolicy(allow_private=False, allow_http=True), resolver=rebinding)
    strict = HttpSend(TargetPolicy(allow_private=False, allow_http=True), resolver=rebinding)
    refused = strict(url, HEADERS, b"{}")
    assert "gateway.test resolves to 127.0.0.1" in (refused.error or "") and server.paths == []
    # Where loopback is allowed, the same name reaches the server: the socket went to the
    # address the guard got (the system cannot resolve gateway.test), the Host is the name.
    assert HttpSend(DEV, resolver=rebinding)(url, HEADERS, b"{}").ok
    assert server.hosts == [f"gateway.test:{port}"]
    assert lookups == ["gateway.test"] * 3


def test_redirects_are_not_followed(server: Server) -> None:
    def redirect(h: BaseHTTPRequestHandler) -> None:
        h.send_response(307)
        h.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        h.send_header("Content-Length", "0")
        h.end_headers()

    server.answer = redirect
    answer = HttpSend(DEV)(server.url + "/hook", HEADERS, b"{}")
    assert answer.status == 307 and not answer.ok
    assert "redirects are not followed" in (answer.error or "")
    assert server.paths == ["/hook"]  # one request: the Location was not asked for


def test_an_endless_error_answer_is_read_only_so_far(server: Server) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(500)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"x" * 8192
        while True:  # until the sender closes the connection
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    server.answer = endless
    answer = HttpSend(DEV)(server.url + "/hook", HEADERS, b"{}")
    assert answer.status == 500 and answer.error == "HTTP 500: " + "x" * 200


def test_a_gateway_that_drips_its_answer_is_cut_at_the_delivery_budget(server: Server) -> None:
    stop = threading.Event()

    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(500)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        while not stop.is_set():  # one byte at a time, each well within the read timeout
            h.wfile.write(b"1\r\nx\r\n")
            h.wfile.flush()
            time.sleep(0.05)

    server.answer = drip
    try:
        answer = HttpSend(DEV, timeout=0.5)(server.url + "/hook", HEADERS, b"{}")
    finally:
        stop.set()
    assert answer.status is None and (answer.error or "").startswith("ReadTimeout")


def test_refusals_read_back_from_their_english_and_have_words_in_both_languages() -> None:
    """Every reason has zh and en words with the same placeholders; a refusal's message (what
    the API says and a delivery keeps) reads back into the same reason, nested ones too."""
    import json
    import re

    from api.render import TEMPLATES_DIR
    from api.webhooks import targets, words

    table = json.loads((TEMPLATES_DIR / "i18n.json").read_text())
    for key, english in targets.REASONS.items():
        entry = table["js_refused_" + key]
        names = set(re.findall(r"\{(\w+)\}", english))
        assert entry["en"] == english
        assert set(re.findall(r"\{(\w+)\}", entry["zh"])) == names, key
    policy = targets.STRICT
    cases = ["https://[::ffff:127.0.0.1]/", "https://gw.example/", "ftp://x/", "http://8.8.8.8/"]
    seen = set()
    for url in cases:
        with pytest.raises(targets.TargetRefused) as refused:
            targets.check_url(url, policy, resolver=lambda _h, _p: ["169.254.169.254"])
        reason = refused.value.reason
        assert targets.parse_reason(str(refused.value)) == reason
        seen.add(reason.key)
        zh = words.reason_words(reason, lambda k: table[k]["zh"] if k in table else k)
        assert "{" not in zh and not re.search(r"[a-z]{4,} [a-z]{4,}", zh), zh
    assert seen == {"carries", "resolves_to", "scheme", "plain_http"}
    t = lambda k: table[k]["zh"] if k in table else k
    assert words.delivery_error_words("HTTP 503", t) == "HTTP 503"
    assert words.delivery_error_words("ConnectTimeout: timed out", t) == "超时无应答（timed out）"
    assert (
        words.delivery_error_words("refused: the URL names no host", t)
        == "拒绝发送：网址中没有主机名"
    )
