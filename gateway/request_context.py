"""What the request itself says about the visitor: client IP, user agent, region, GPC.

Headers that a client could forge (``X-Forwarded-For``, the CDN's region headers) are
believed only when the connection comes from a configured trusted proxy. Otherwise the
socket's address is the client IP and the region is unknown, which makes the consent
stage apply the strictest regime: forging a header can never loosen consent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import pycountry

from gateway.signals import gpc

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: the headers a context reads, lowercase name to every value sent
Headers = dict[str, list[str]]

#: values CDNs send for "no country" (Cloudflare XX and T1 for Tor, MaxMind-style A1/A2/O1/EU/AP)
_NOT_A_COUNTRY = frozenset({"XX", "T1", "A1", "A2", "O1", "EU", "AP", "ZZ"})
MAX_USER_AGENT = 512


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Facts about one request, independent of its body."""

    client_ip: str | None
    user_agent: str | None
    region: str | None
    gpc: bool
    peer_trusted: bool
    cookies: dict[str, str] = field(default_factory=dict)
    #: a prefetch or link preview, not a visit (bot filtering reads it)
    prefetch: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContextRules:
    """The compiled ``server`` settings this module needs."""

    trusted_proxies: tuple[Network, ...]
    country_headers: tuple[str, ...]
    subdivision_headers: tuple[str, ...]
    #: every header (lowercase) the context reads
    wanted: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = (*self.country_headers, *self.subdivision_headers)
        object.__setattr__(self, "wanted", _BASE_HEADERS | {n.lower() for n in names})


#: headers by which browsers and link unfurlers mark a prefetch or a preview
_PREFETCH_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
_BASE_HEADERS = frozenset(
    {"x-forwarded-for", "user-agent", "sec-gpc", "cookie", *_PREFETCH_HEADERS}
)


def read_headers(raw: Iterable[tuple[bytes, bytes]], wanted: frozenset[str]) -> Headers:
    """The headers among ``wanted``, from ASGI raw headers, in one pass."""
    out: dict[str, list[str]] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name in wanted:
            out.setdefault(name, []).append(value.decode("latin-1"))
    return out


def build_context(
    peer: str | None,
    headers: Headers,
    cookies: dict[str, str],
    rules: ContextRules,
) -> RequestContext:
    """Derive the request context from the socket peer and the headers it reads
    (``read_headers``: lowercase name to values)."""
    notes: list[str] = []
    peer_ip, trusted = _peer(peer, rules.trusted_proxies)
    client = peer_ip
    if trusted:
        client = _forwarded_client(peer_ip, headers.get("x-forwarded-for", []), rules, notes)
    region = None
    if trusted:
        region = _region(headers, rules, notes)
    elif any(_first(headers, h) for h in (*rules.country_headers, *rules.subdivision_headers)):
        notes.append("region header ignored: the peer is not a trusted proxy")
    ua = _first(headers, "user-agent")
    return RequestContext(
        client_ip=str(client) if client is not None else None,
        user_agent=ua[:MAX_USER_AGENT] if ua else None,
        region=region,
        gpc=gpc.decode(headers.get("sec-gpc", [])),
        peer_trusted=trusted,
        cookies=cookies,
        notes=tuple(notes),
        prefetch=any(_is_prefetch(v) for h in _PREFETCH_HEADERS for v in headers.get(h, ())),
    )


def _is_prefetch(value: str) -> bool:
    value = value.lower()
    return "prefetch" in value or "preview" in value


@lru_cache(maxsize=1024)
def _peer(
    peer: str | None, trusted_proxies: tuple[Network, ...]
) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, bool]:
    """The peer's address and whether it is a trusted proxy (few peers: proxies repeat)."""
    ip = _ip(peer)
    return ip, ip is not None and _is_trusted(ip, trusted_proxies)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # an IPv4-mapped IPv6 peer (dual-stack sockets) is the IPv4 client
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Sequence[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in nets)


def _forwarded_client(
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address,
    values: list[str],
    rules: ContextRules,
    notes: list[str],
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Walk ``X-Forwarded-For`` from the right, past trusted hops, to the first untrusted one."""
    hops = [h for value in values for h in value.split(",")]
    client = peer
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            notes.append("malformed X-Forwarded-For entry: using the last valid hop")
            break
        client = ip
        if not _is_trusted(ip, rules.trusted_proxies):
            break
    return client


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name.lower())
    return values[0] if values else None


def _region(headers: Headers, rules: ContextRules, notes: list[str]) -> str | None:
    country = next((v for h in rules.country_headers if (v := _first(headers, h))), None)
    if country is None:
        return None
    country = country.strip().upper()
    if country in _NOT_A_COUNTRY or not _is_country(country):
        notes.append("country header is not an ISO 3166-1 alpha-2 code: region unknown")
        return None
    sub = next((v for h in rules.subdivision_headers if (v := _first(headers, h))), None)
    if sub is None:
        return country
    sub = sub.strip().upper()
    code = sub if sub.startswith(f"{country}-") else f"{country}-{sub}"
    if not _is_subdivision(code):
        notes.append("subdivision header is not an ISO 3166-2 code of that country: ignored")
        return country
    return code


@lru_cache(maxsize=512)
def _is_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


@lru_cache(maxsize=4096)
def _is_subdivision(code: str) -> bool:
    return len(code) <= 8 and pycountry.subdivisions.get(code=code) is not None
