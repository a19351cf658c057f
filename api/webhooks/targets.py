"""Where a webhook may be sent: the guard against server-side request forgery (SSRF).

An operator names a gateway's URL and this service POSTs to it, from inside its own network. A
URL that reaches the service's neighbours — the loopback host, the private network (RFC 1918,
IPv6 unique-local, the carrier-grade NAT range), link-local addresses (169.254/16 and fe80::/10,
where clouds serve instance metadata and credentials), multicast, the unspecified address, or any
other range not routed on the Internet — would turn the webhook into a probe of that network.

The guard runs twice:
- at registration (:func:`check_url`), so the operator gets the reason at once (a 400);
- at every delivery, inside the connection itself (:class:`GuardedBackend`): the host is resolved
  once, *every* address it resolves to is checked, and the socket is opened to the checked
  address literally (then its peer is compared with it). A name cannot pass the check with one
  answer and be connected with another (DNS rebinding), however short its TTL.

IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``, ``::a.b.c.d``, NAT64 ``64:ff9b::/96``,
6to4 ``2002::/16``, Teredo) are judged by the IPv4 address inside. Numeric host spellings such as
``2130706433`` or ``0x7f.1`` are resolved by the system's resolver like any name, so they are
judged by the address they become.

Loopback and private targets are allowed only when :class:`TargetPolicy` says so: by default on a
local chain (``Settings.is_local``, the same notion that admits anvil's development keys), where
the development gateway and the tests' receiver listen on 127.0.0.1. Off a local chain, a gateway
is also reached over https only. Both can be set explicitly (``TUANCHAIN_WEBHOOK_PRIVATE_TARGETS``,
``TUANCHAIN_WEBHOOK_PLAIN_HTTP``) for a gateway on the operator's own private network.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from chain.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], list[str]]

SCHEMES = ("http", "https")

# Ranges allowed only with ``allow_private`` (a development box, an operator's own network).
_PRIVATE_V4 = {
    ipaddress.ip_network("10.0.0.0/8"): "rfc1918",
    ipaddress.ip_network("172.16.0.0/12"): "rfc1918",
    ipaddress.ip_network("192.168.0.0/16"): "rfc1918",
    ipaddress.ip_network("100.64.0.0/10"): "cgnat",
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


# Why a target is refused, by key: the English the API says (its ``message``; the code stays
# ``webhook_url_refused``) and the pages' words (i18n ``js_refused_<key>``, zh and en, the same
# placeholders). ``why``: a nested reason (an address inside another, a name's address).
REASONS = {
    "scoped_v6": "{ip} is a scoped (link-local) IPv6 address",
    "carries": "{ip} carries {inner}: {why}",
    "unspecified": "{ip} is the unspecified address",
    "multicast": "{ip} is a multicast address",
    "link_local": "{ip} is link-local (169.254.0.0/16, fe80::/10: where clouds serve metadata)",
    "loopback": "{ip} is the loopback address",
    "rfc1918": "{ip} is private (RFC 1918)",
    "cgnat": "{ip} is shared address space (carrier-grade NAT, RFC 6598)",
    "unique_local": "{ip} is unique-local IPv6 (fc00::/7)",
    "site_local": "{ip} is site-local IPv6 (fec0::/10)",
    "not_global": "{ip} is not a public Internet address (a reserved or special-purpose range)",
    "resolves_to": "{host} resolves to {ip}; {why}",
    "not_url": "not a URL: {error}",
    "scheme": "{scheme} scheme: only http(s) URLs are sent to",
    "no_host": "the URL names no host",
    "plain_http": "plain http is refused off a local chain: use an https URL",
    "peer_mismatch": "connected to {peer}, not {ip}",
    "unix_socket": "webhooks are not sent to unix sockets",
}


@dataclass(frozen=True)
class Reason:
    """A refusal's key and its values (``why``: the nested reason, if any)."""

    key: str
    params: dict[str, str]
    why: Reason | None = None

    def __str__(self) -> str:
        values = dict(self.params)
        if self.why is not None:
            values["why"] = str(self.why)
        return REASONS[self.key].format(**values)

    def as_dict(self) -> dict[str, typing.Any]:
        """For the API's error details (``details.reason``) and the pages."""
        out: dict[str, typing.Any] = {"key": self.key, "params": dict(self.params)}
        if self.why is not None:
            out["why"] = self.why.as_dict()
        return out


def _reason_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    text = "".join(
        re.escape(part)
        if i % 2 == 0
        else f"(?P<{part}>{'.+?' if part in ('why', 'error') else '[^ ;]+?'})"
        for i, part in enumerate(parts)
    )
    return re.compile(f"^{text}$", re.DOTALL)


_PATTERNS = {key: _reason_pattern(template) for key, template in REASONS.items()}


def parse_reason(text: str) -> Reason | None:
    """The reason an English refusal message was made from (:data:`REASONS`; the inverse of
    ``str(Reason)``), for words on a page from a stored message; None for other text."""
    for key, pattern in _PATTERNS.items():
        found = pattern.match(text)
        if found is None:
            continue
        values = found.groupdict()
        why = None
        if "why" in values:
            why = parse_reason(values.pop("why"))
            if why is None:
                continue
        return Reason(key, values, why)
    return None


class TargetRefused(ValueError):
    """A webhook URL or address this service will not send to; the message says why, and
    ``reason`` the same as a key and values (:data:`REASONS`)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass(frozen=True)
class TargetPolicy:
    """What a webhook may reach besides public https addresses."""

    allow_private: bool = False  # loopback, RFC 1918, unique-local IPv6, CGNAT
    allow_http: bool = False  # plain http (else https only)

    @classmethod
    def of(cls, settings: Settings) -> TargetPolicy:
        """From the settings; each unset flag follows whether the chain is a local one."""
        local = settings.is_local
        private = settings.webhook_private_targets
        plain = settings.webhook_plain_http
        return cls(
            allow_private=local if private is None else private,
            allow_http=local if plain is None else plain,
        )


STRICT = TargetPolicy()


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, when it carries one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # (server, client): the client is where packets end up
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V4_COMPATIBLE and int(ip) > 1:  # ::a.b.c.d (deprecated; not :: or ::1)
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal(ip: IPAddress, policy: TargetPolicy = STRICT) -> str | None:
    """Why ``ip`` may not be a webhook's target under ``policy`` (None: it may)."""
    why = refusal_reason(ip, policy)
    return None if why is None else str(why)


def refusal_reason(ip: IPAddress, policy: TargetPolicy = STRICT) -> Reason | None:
    """:func:`refusal` as a :class:`Reason`."""
    at = {"ip": str(ip)}
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return Reason("scoped_v6", at)
        inner = _embedded_v4(ip)
        if inner is not None:
            why = refusal_reason(inner, policy)
            return None if why is None else Reason("carries", {**at, "inner": str(inner)}, why)
    if ip.is_unspecified:
        return Reason("unspecified", at)
    if ip.is_multicast:
        return Reason("multicast", at)
    if ip.is_link_local:
        return Reason("link_local", at)
    private = _private_kind(ip)
    if private is not None:
        return None if policy.allow_private else Reason(private, at)
    if not ip.is_global:
        return Reason("not_global", at)
    return None


def _private_kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv4Address):
        return next((why for net, why in _PRIVATE_V4.items() if ip in net), None)
    if ip in ipaddress.ip_network("fc00::/7"):
        return "unique_local"
    if ip.is_site_local:
        return "site_local"
    return None


def literal(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is written as one (brackets and a zone id allowed)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for ``host`` (raises OSError if none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def addresses(host: str, port: int, resolver: Resolve = resolve) -> list[IPAddress]:
    """The addresses a connection to ``host`` may go to: itself if literal, else resolved."""
    ip = literal(host)
    if ip is not None:
        return [ip]
    return [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]


def check_addresses(host: str, ips: Iterable[IPAddress], policy: TargetPolicy) -> None:
    """Refuse if any of ``host``'s addresses is refused: a name whose answers mix public and
    private addresses is not trusted with either."""
    for ip in ips:
        why = refusal_reason(ip, policy)
        if why is not None:
            raise TargetRefused(
                why
                if literal(host) is not None
                else Reason("resolves_to", {"host": host, "ip": str(ip)}, why)
            )


def _parse(url: str) -> httpx.URL:
    """The URL as httpx, which sends it, reads it (one parser: no reading differences)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise TargetRefused(Reason("not_url", {"error": str(exc)})) from None
    if parsed.scheme not in SCHEMES:
        raise TargetRefused(Reason("scheme", {"scheme": parsed.scheme or "no"}))
    if not parsed.host:
        raise TargetRefused(Reason("no_host", {}))
    return parsed


def check_scheme(url: str, policy: TargetPolicy) -> None:
    """Refuse a URL that is not http(s), or plain http where ``policy`` wants https."""
    if _parse(url).scheme == "http" and not policy.allow_http:
        raise TargetRefused(Reason("plain_http", {}))


def check_url(url: str, policy: TargetPolicy, *, resolver: Resolve = resolve) -> str:
    """The URL, normalised, if a webhook may be sent there; else :class:`TargetRefused`.

    A name that does not resolve now is accepted (a gateway may be registered before its DNS
    record exists): every delivery resolves and checks it again anyway."""
    parsed = _parse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = addresses(parsed.host, port, resolver)
    except (OSError, ValueError, UnicodeError):
        found = []
    check_addresses(parsed.host, found, policy)  # first: the address says more than the scheme
    check_scheme(url, policy)
    return str(parsed)


# ---------------------------------------------------------------------- at delivery


class RefusedConnection(httpcore.ConnectError):
    """The guard refused the connection (httpx reports it as a ConnectError with this text)."""


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes end at the backend's current deadline, so a
    gateway that answers a byte at a time cannot hold a delivery longer than its budget."""

    def __init__(self, inner: httpcore.NetworkStream, backend: GuardedBackend) -> None:
        self.inner, self.backend = inner, backend

    def _timeout(self, timeout: float | None) -> float | None:
        left = self.backend.time_left()
        if left is None:
            return timeout
        if left <= 0:
            raise httpcore.ReadTimeout("the delivery's time budget is spent")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self._timeout(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._timeout(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # The certificate is checked for the URL's host name (httpcore passes it), not the IP.
        tls = self.inner.start_tls(ssl_context, server_hostname, self._timeout(timeout))
        return _DeadlineStream(tls, self.backend)

    def get_extra_info(self, info: str) -> typing.Any:
        return self.inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the SSRF guard at the point of connection."""

    def __init__(self, policy: TargetPolicy, resolver: Resolve = resolve) -> None:
        self.policy, self.resolver = policy, resolver
        self.plain = httpcore.SyncBackend()
        self._local = threading.local()  # the deadline of the delivery this thread is making

    def set_deadline(self, deadline: float | None) -> None:
        self._local.deadline = deadline

    def time_left(self) -> float | None:
        deadline = getattr(self._local, "deadline", None)
        return None if deadline is None else deadline - time.monotonic()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            ips = addresses(host, port, self.resolver)
        except (OSError, ValueError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        try:
            check_addresses(host, ips, self.policy)
        except TargetRefused as exc:
            raise RefusedConnection(f"refused: {exc}") from None
        last: Exception | None = None
        for ip in ips:
            try:
                # An IP literal: the OS resolves nothing more, it connects where we checked.
                stream = self.plain.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            peer = stream.get_extra_info("socket").getpeername()[0]
            if ipaddress.ip_address(peer.split("%")[0]) != ip:
                stream.close()
                why = Reason("peer_mismatch", {"peer": peer, "ip": str(ip)})
                raise RefusedConnection(f"refused: {why}")
            return _DeadlineStream(stream, self)
        raise last or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise RefusedConnection(f"refused: {Reason('unix_socket', {})}")

    def sleep(self, seconds: float) -> None:
        self.plain.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """certifi's CA bundle, loaded once (each load takes a few hundred ms)."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`GuardedBackend` (its pool is httpx's, rebuilt with that
    backend: httpx 0.28 takes no backend argument; a test sends through it, so a change of
    httpx's internals fails there first)."""

    def __init__(self, backend: GuardedBackend) -> None:
        ssl_context = _ssl_context()
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=30.0,
            network_backend=backend,
        )
