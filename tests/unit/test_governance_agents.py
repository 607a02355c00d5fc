"""Bot and junk detection, user-agent reduction and IP truncation (gateway.governance.agents)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.config.governance import BotsConfig
from gateway.event import Properties
from gateway.governance.agents import JunkFilter, truncate_ip, user_agent_family

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_MACOS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15"
)
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67"
)
BROWSERS = [CHROME_WINDOWS, SAFARI_MACOS, SAFARI_IOS, CHROME_ANDROID, FIREFOX_LINUX, EDGE_WINDOWS]

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
FACEBOOK = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
PYTHON_REQUESTS = "python-requests/2.31.0"
CURL = "curl/8.5.0"
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36"
)
LIGHTHOUSE = (
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse"
)

FINE = Properties.model_validate({})


def props(data: dict[str, Any]) -> Properties:
    return Properties.model_validate(data)


def junk(**config: Any) -> JunkFilter:
    return JunkFilter.compile(BotsConfig.model_validate(config))


# --- truncate_ip ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.0.0.0", "10.0.0.0"),
        ("255.255.255.255", "255.255.255.0"),
        (" 198.51.100.9 ", "198.51.100.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("2001:0db8:abcd:0012:0000:0000:0000:0001", "2001:db8:abcd::"),
        ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::"),
        ("2001:db8::", "2001:db8::"),
        ("::1", "::"),
        ("fe80::1%eth0", "fe80::"),
        ("2a00:1450:4001:82a::200e", "2a00:1450:4001::"),
    ],
)
def test_truncate_ip(ip: str, expected: str) -> None:
    assert truncate_ip(ip) == expected


@pytest.mark.parametrize("ip", ["::ffff:203.0.113.77", "::ffff:cb00:714d"])
def test_truncate_ipv4_mapped_ipv6_as_ipv4(ip: str) -> None:
    assert truncate_ip(ip) == "203.0.113.0"


@pytest.mark.parametrize(
    "ip", ["", "not an ip", "203.0.113", "203.0.113.256", "2001:db8::g", "203.0.113.0/24", "::1::"]
)
def test_truncate_ip_invalid(ip: str) -> None:
    assert truncate_ip(ip) is None


# --- user_agent_family ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (CHROME_WINDOWS, "Chrome (Windows)"),
        (SAFARI_MACOS, "Safari (Mac OS X)"),
        (SAFARI_IOS, "Mobile Safari (iOS)"),
        (CHROME_ANDROID, "Chrome Mobile (Android)"),
        (FIREFOX_LINUX, "Firefox (Linux)"),
        (EDGE_WINDOWS, "Edge (Windows)"),
    ],
)
def test_user_agent_family(ua: str, expected: str) -> None:
    family = user_agent_family(ua)
    assert family == expected
    assert not re.search(r"\d", family)


@pytest.mark.parametrize("ua", ["", "something nobody has heard of"])
def test_user_agent_family_unknown(ua: str) -> None:
    assert user_agent_family(ua) == "Other (Other)"


# --- JunkFilter ----------------------------------------------------------------------------


@pytest.mark.parametrize("ua", [GOOGLEBOT, BINGBOT, FACEBOOK, PYTHON_REQUESTS, CURL])
def test_known_bots(ua: str) -> None:
    assert junk().check(ua, False, FINE) == "known_bot"


@pytest.mark.parametrize("ua", [HEADLESS_CHROME, LIGHTHOUSE])
def test_headless_before_known_bot(ua: str) -> None:
    assert junk().check(ua, False, FINE) == "headless"
    # with the headless check off, Crawler-Detect still catches these
    assert junk(headless=False).check(ua, False, FINE) == "known_bot"


@pytest.mark.parametrize(
    "marker",
    ["PhantomJS/2.1.1", "Puppeteer", "playwright/1.43", "Selenium", "WebDriver", "Cypress/13.8"],
)
def test_headless_markers_case_insensitive(marker: str) -> None:
    assert junk().check(f"{CHROME_WINDOWS} {marker}", False, FINE) == "headless"


def test_electron_is_a_real_user() -> None:
    ua = f"{CHROME_WINDOWS} Electron/30.0.1"
    assert junk().check(ua, False, FINE) is None


@pytest.mark.parametrize("ua", BROWSERS)
def test_browsers_are_not_junk(ua: str) -> None:
    assert junk().check(ua, False, FINE) is None


def test_custom_user_agent() -> None:
    # known_bots off: Crawler-Detect would flag "probe" and "monitor" on its own
    bots = junk(known_bots=False, user_agents=[r"internal-monitor/\d+", "^UptimeProbe"])
    assert bots.check("Mozilla/5.0 Internal-Monitor/3", False, FINE) == "custom_user_agent"
    assert bots.check("uptimeprobe 1.0", False, FINE) == "custom_user_agent"
    assert bots.check(f"{CHROME_WINDOWS} UptimeProbe", False, FINE) is None
    assert bots.check(CHROME_WINDOWS, False, FINE) is None


def test_custom_pattern_before_known_bot_and_after_headless() -> None:
    bots = junk(user_agents=["curl", "HeadlessChrome"])
    assert bots.check(CURL, False, FINE) == "custom_user_agent"
    assert bots.check(HEADLESS_CHROME, False, FINE) == "headless"


def test_prefetch() -> None:
    assert junk().check(CHROME_WINDOWS, True, FINE) == "prefetch"
    # prefetch comes first, even for a bot
    assert junk().check(GOOGLEBOT, True, FINE) == "prefetch"
    assert junk().check(None, True, FINE) == "prefetch"


@pytest.mark.parametrize(
    "data",
    [
        {"value": -0.01},
        {"value": 10.0, "items": [{"item_id": "a", "price": 5.0}, {"price": -1.0}]},
        {"value": 1000.01},
    ],
)
def test_impossible_values(data: dict[str, Any]) -> None:
    bots = junk(max_value=1000)
    assert bots.check(CHROME_WINDOWS, False, props(data)) == "impossible_value"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"value": 0.0},
        {"value": 1000.0, "currency": "EUR"},
        {
            "value": 12.5,
            "items": [{"price": 0.0}, {"price": 12.5, "quantity": 1}, {"item_id": "x"}],
        },
        {"items": []},
    ],
)
def test_fine_values(data: dict[str, Any]) -> None:
    assert junk(max_value=1000).check(CHROME_WINDOWS, False, props(data)) is None


def test_no_max_value_means_no_upper_bound() -> None:
    assert junk().check(CHROME_WINDOWS, False, props({"value": 1e14})) is None


def test_impossible_value_comes_last() -> None:
    assert junk().check(GOOGLEBOT, False, props({"value": -1.0})) == "known_bot"


@pytest.mark.parametrize(
    ("flag", "ua", "prefetch", "data"),
    [
        ("known_bots", GOOGLEBOT, False, {}),
        ("headless", f"{CHROME_WINDOWS} Puppeteer", False, {}),
        ("prefetch", CHROME_WINDOWS, True, {}),
        ("impossible_values", CHROME_WINDOWS, False, {"value": -5.0}),
        ("impossible_values", CHROME_WINDOWS, False, {"value": 5000.0}),
    ],
)
def test_each_flag_disables_its_check(
    flag: str, ua: str, prefetch: bool, data: dict[str, Any]
) -> None:
    assert junk(max_value=1000).check(ua, prefetch, props(data)) is not None
    off = junk(max_value=1000, **{flag: False})
    assert off.check(ua, prefetch, props(data)) is None


def test_disabled_filter_finds_nothing() -> None:
    bots = junk(enabled=False, user_agents=["Chrome"], max_value=1)
    for ua in (GOOGLEBOT, HEADLESS_CHROME, CHROME_WINDOWS, None):
        assert bots.check(ua, True, props({"value": -1.0, "items": [{"price": -1.0}]})) is None


@pytest.mark.parametrize("ua", [None, ""])
def test_missing_user_agent_is_not_junk(ua: str | None) -> None:
    bots = junk(user_agents=[".*"])
    assert bots.check(ua, False, FINE) is None
    assert bots.check(ua, False, props({"value": -1.0})) == "impossible_value"


def test_user_agent_answers_are_cached_per_filter() -> None:
    first, second = junk(), junk(known_bots=False)
    assert first.check(GOOGLEBOT, False, FINE) == "known_bot"
    assert first.check(GOOGLEBOT, False, FINE) == "known_bot"
    # a filter compiled from another config does not reuse the first one's answers
    assert second.check(GOOGLEBOT, False, FINE) is None
