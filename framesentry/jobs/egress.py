"""Outbound HTTP to user-given URLs (webhooks) without server-side request forgery.

The host is resolved at send time and *every* address it resolves to is checked: loopback, link-local,
private, shared (CGNAT), multicast, reserved and unspecified ranges are refused unless an allow-list network
contains them. The request then goes to the checked address itself (Host header and TLS SNI keep the name),
so a DNS answer that changes between the check and the connection (rebinding) cannot redirect it.
Numeric spellings (``127.1``, ``2130706433``, ``0x7f000001``) are resolved by the system resolver like any
name, so they are caught too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import httpx

from framesentry.errors import BlockedDestinationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(specs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(spec.strip(), strict=False) for spec in specs if spec.strip()]


def is_public(address: Address) -> bool:
    """True for a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_loopback or address.is_link_local or address.is_private or address.is_multicast
        or address.is_reserved or address.is_unspecified or not address.is_global
    )


def allowed(address: Address, networks: list[Network]) -> bool:
    plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
    return is_public(plain) or any(plain in net for net in networks if net.version == plain.version)


def literal_address(host: str) -> Address | None:
    """The address of a host written as a canonical IP literal (``[::1]`` included), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int, networks: list[Network]) -> Address:
    """The first address of ``host``, after checking all of them; raises ``BlockedDestinationError``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve host: {exc}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise httpx.ConnectError("host has no address")
    for address in addresses:
        if not allowed(address, networks):
            raise BlockedDestinationError("The callback URL resolves to an address webhooks may not reach.")
    return addresses[0]


def post_pinned(url: str, *, content: bytes, headers: dict[str, str], timeout_s: float,
                networks: list[Network]) -> httpx.Response:
    """POST to ``url`` at an address checked by ``resolve`` (no redirects followed)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port, networks)
    pinned_host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{pinned_host}:{port}" if parts.port else pinned_host
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
        request = client.build_request("POST", target, content=content, headers={**headers, "Host": host_header},
                                       extensions=extensions)
        return client.send(request)
