"""Request context: client IP, region and GPC, believing forgeable headers only from
trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.request_context import ContextRules, RequestContext, build_context, read_headers

RULES = ContextRules(
    trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")),
    country_headers=("CF-IPCountry", "CloudFront-Viewer-Country"),
    subdivision_headers=("CF-Region-Code",),
)


def build(peer: str, **headers: str) -> RequestContext:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return build_context(peer, read_headers(raw, RULES.wanted), {}, RULES)


def test_socket_address_without_proxy() -> None:
    """From an untrusted peer, X-Forwarded-For is ignored: the socket address is the client."""
    ctx = build("198.51.100.9", x_forwarded_for="203.0.113.7")
    assert ctx.client_ip == "198.51.100.9" and not ctx.peer_trusted


def test_forwarded_for_from_a_trusted_proxy() -> None:
    """From a trusted proxy, the rightmost untrusted X-Forwarded-For hop is the client."""
    ctx = build("10.0.0.2", x_forwarded_for="198.51.100.66, 203.0.113.7, 10.0.0.5")
    assert ctx.client_ip == "203.0.113.7"


def test_malformed_forwarded_for_uses_the_last_valid_hop() -> None:
    """A garbage hop stops the walk; the last valid address (here a trusted proxy's) is used."""
    ctx = build("10.0.0.2", x_forwarded_for="nonsense, 10.0.0.9")
    assert ctx.client_ip == "10.0.0.9"
    assert any("malformed" in n for n in ctx.notes)


def test_ipv4_mapped_peer() -> None:
    """A dual-stack socket's ::ffff:a.b.c.d peer is the IPv4 client."""
    assert build("::ffff:198.51.100.9").client_ip == "198.51.100.9"


@pytest.mark.parametrize(
    ("headers", "region"),
    [
        ({"CF-IPCountry": "US", "CF-Region-Code": "CA"}, "US-CA"),
        ({"CF-IPCountry": "us", "CF-Region-Code": "US-TX"}, "US-TX"),
        ({"CF-IPCountry": "DE"}, "DE"),
        ({"CloudFront-Viewer-Country": "FR"}, "FR"),
        ({"CF-IPCountry": "XX"}, None),
        ({"CF-IPCountry": "T1"}, None),
        ({"CF-IPCountry": "Germany"}, None),
        ({"CF-IPCountry": "US", "CF-Region-Code": "ZZ"}, "US"),
        ({"CF-Region-Code": "CA"}, None),
    ],
)
def test_region_from_headers(headers: dict[str, str], region: str | None) -> None:
    """Country then subdivision, validated against ISO 3166; unreadable means unknown."""
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    assert build_context("10.1.1.1", read_headers(raw, RULES.wanted), {}, RULES).region == region


def test_region_headers_ignored_from_untrusted_peer() -> None:
    """A forged region header from an untrusted peer leaves the region unknown."""
    ctx = build("198.51.100.9", **{"CF-IPCountry": "US"})
    assert ctx.region is None and any("not a trusted proxy" in n for n in ctx.notes)


@pytest.mark.parametrize(
    ("values", "gpc"),
    [(["1"], True), (["0"], False), (["yes"], False), (["0", "1"], True), ([], False)],
)
def test_gpc(values: list[str], gpc: bool) -> None:
    """Only the exact value 1 is GPC; several headers count when any is 1."""
    raw = [(b"sec-gpc", v.encode()) for v in values]
    assert build_context("10.1.1.1", read_headers(raw, RULES.wanted), {}, RULES).gpc is gpc


def test_user_agent_is_bounded() -> None:
    """An absurdly long user agent is cut to 512 characters."""
    assert len(build("10.0.0.1", user_agent="A" * 5000).user_agent or "") == 512
