"""Who may read ``/metrics``: a bearer token, or a client on an allowed network.

The metrics say how much money sits where and how busy the queues are, so
anyone else gets the ordinary 404 page: the endpoint's existence is not
revealed.  A request that names a wrong token is refused even from an
allowed network.  A request that came through a proxy (it carries a
``Forwarded``/``X-Forwarded-For``/``X-Real-IP`` header) must use the token:
behind a reverse proxy on the same host every visitor's address is the
proxy's loopback address, which must not count as "allowed network".

Settings (README): ``METRICS_TOKEN`` and ``METRICS_ALLOW_NETWORKS`` (CIDR list,
default loopback only).  They are read from the app config, falling back to
the environment.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from functools import lru_cache

from flask import Request, current_app

log = logging.getLogger(__name__)

DEFAULT_ALLOW_NETWORKS = "127.0.0.1/32,::1/128"
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def setting(name: str, default: str = "") -> str | list:
    if name in current_app.config:
        return current_app.config[name]
    return os.environ.get(name, default)


def metrics_token() -> str:
    return str(setting("METRICS_TOKEN") or "")


def allowed_networks() -> tuple[IPNetwork, ...]:
    raw = setting("METRICS_ALLOW_NETWORKS", DEFAULT_ALLOW_NETWORKS)
    if isinstance(raw, list | tuple):
        raw = ",".join(raw)
    networks, invalid = parse_networks(raw or "")
    for entry in invalid:
        log.warning("METRICS_ALLOW_NETWORKS: ignoring invalid entry %r", entry)
    return networks


@lru_cache(maxsize=16)
def parse_networks(raw: str) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """(valid networks, invalid entries) of a comma-separated CIDR list."""
    networks, invalid = [], []
    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            invalid.append(entry)
    return tuple(networks), tuple(invalid)


def _bearer(header: str | None) -> str | None:
    scheme, _, value = (header or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _address_allowed(remote_addr: str | None) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in allowed_networks())


def metrics_allowed(request: Request) -> bool:
    supplied = _bearer(request.headers.get("Authorization"))
    token = metrics_token()
    if supplied is not None:
        return bool(token) and hmac.compare_digest(supplied.encode(), token.encode())
    if any(request.headers.get(name) for name in _PROXY_HEADERS):
        return False
    return _address_allowed(request.remote_addr)
