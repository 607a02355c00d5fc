"""Who sent the event: bot and junk detection, user-agent reduction, IP truncation.

Bots, headless browsers, link previews and impossible purchase values inflate every
destination's numbers and can train ad platforms on fake conversions, so such events are
kept away from destinations (``governance.bots``). Where a destination or a log only
needs a coarse view of the visitor, ``user_agent_family`` and ``truncate_ip`` give one
that no longer singles a visitor out: no browser versions, no host part of the address.

Everything here runs per event on the request path. User agents and addresses repeat a
lot, so each string's answer is cached (bounded LRU).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import re2
import ua_parser
from crawlerdetect import CrawlerDetect
from ua_parser import Domain

from gateway.config.governance import BotsConfig
from gateway.event import Properties
from gateway.governance.patterns import Pattern, compile_pattern

JunkReason = Literal["known_bot", "headless", "custom_user_agent", "prefetch", "impossible_value"]

_CACHE_SIZE = 4096

#: The project's documented list of headless and automation browsers. Crawler-Detect
#: already flags some of them, but this list is checked first so that the reason names
#: automation precisely. Electron is left out on purpose: Electron apps are real users.
HEADLESS_MARKERS = (
    "HeadlessChrome",
    "PhantomJS",
    "Lighthouse",
    "Chrome-Lighthouse",
    "Puppeteer",
    "Playwright",
    "Selenium",
    "webdriver",
    "SlimerJS",
    "HtmlUnit",
    "Splash",
    "Cypress",
)
# RE2 like every pattern over visitor text (gateway.governance.patterns)
_HEADLESS = compile_pattern("|".join(map(re2.escape, HEADLESS_MARKERS)), ignore_case=True)

# One shared instance: CrawlerDetect keeps per-call state (its last matches) and so is not
# thread-safe, but the gateway runs every request on a single event-loop thread.
_CRAWLERS = CrawlerDetect()


@lru_cache(maxsize=_CACHE_SIZE)
def truncate_ip(ip: str) -> str | None:
    """IPv4 to its /24 network address ("203.0.113.77" -> "203.0.113.0"), IPv6 to its /48
    ("2001:db8:abcd:12::1" -> "2001:db8:abcd::"); IPv4-mapped IPv6 treated as IPv4; None
    when not an IP."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # dual-stack sockets report IPv4 clients this way: the client is the IPv4 address
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(address) & ~0xFF))
    # building from the integer also drops any zone id ("%eth0"), which names a local interface
    return str(ipaddress.IPv6Address(int(address) & ~((1 << 80) - 1)))


@lru_cache(maxsize=_CACHE_SIZE)
def user_agent_family(user_agent: str) -> str:
    """Browser and OS family only, no versions: e.g. "Chrome (Windows)", "Mobile Safari
    (iOS)"; ua-parser's families; unknown parts are "Other"."""
    # asking for two domains skips the device rules, the largest part of ua-parser's list
    result = ua_parser.parser(user_agent, Domain.USER_AGENT | Domain.OS)
    browser = result.user_agent.family if result.user_agent else "Other"
    system = result.os.family if result.os else "Other"
    return f"{browser} ({system})"


def _is_known_bot(user_agent: str) -> bool:
    # Crawler-Detect's list is long and runs on Python's ``re``; the per-filter cache means
    # each distinct user agent pays for it once
    return _CRAWLERS.is_crawler(user_agent)


class JunkFilter:
    """The compiled ``governance.bots`` rules: why an event is junk, if it is."""

    __slots__ = ("_config", "_custom", "_user_agent_reason")

    def __init__(self, config: BotsConfig, custom: tuple[Pattern, ...]) -> None:
        self._config = config
        self._custom = custom
        # per filter, not per module: a reloaded config compiles a new filter and its answers
        self._user_agent_reason: Callable[[str], JunkReason | None] = lru_cache(
            maxsize=_CACHE_SIZE
        )(self._check_user_agent)

    @classmethod
    def compile(cls, config: BotsConfig) -> JunkFilter:
        """Compile ``config``: its custom user-agent patterns as case-insensitive RE2."""
        custom = tuple(compile_pattern(p, ignore_case=True) for p in config.user_agents)
        return cls(config, custom)

    def check(
        self, user_agent: str | None, prefetch: bool, properties: Properties
    ) -> JunkReason | None:
        """The first reason the event is junk, in this order: prefetch, headless,
        custom_user_agent, known_bot, impossible_value; None when it looks like a real
        visitor. Disabled checks (config flags) are skipped; enabled=False means always None.

        ``prefetch`` says the request is a prefetch or link preview (the caller reads the
        headers).
        """
        config = self._config
        if not config.enabled:
            return None
        if prefetch and config.prefetch:
            return "prefetch"
        # A missing or empty user agent is not junk: server-side callers (``gateway
        # explain``) legitimately send none, and the other checks still apply to them.
        if user_agent:
            reason = self._user_agent_reason(user_agent)
            if reason is not None:
                return reason
        if config.impossible_values and _impossible(properties, config.max_value):
            return "impossible_value"
        return None

    def _check_user_agent(self, user_agent: str) -> JunkReason | None:
        config = self._config
        if config.headless and _HEADLESS.search(user_agent):
            return "headless"
        if any(p.search(user_agent) for p in self._custom):
            return "custom_user_agent"
        if config.known_bots and _is_known_bot(user_agent):
            return "known_bot"
        return None


def _impossible(properties: Properties, max_value: float | None) -> bool:
    # non-finite numbers never get here: the event model refuses them
    value = properties.value
    if value is not None and (value < 0 or (max_value is not None and value > max_value)):
        return True
    return any(item.price is not None and item.price < 0 for item in properties.items or ())
