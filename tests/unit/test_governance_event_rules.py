"""Tests for gateway.governance.event_rules: the event-wide ``governance:`` rules (junk,
tracking plan, sensitive pages, scrubbing) over a source built as the pipeline builds it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.config.governance import GovernanceConfig
from gateway.decisions import Decision
from gateway.governance.event_rules import EventGovernance, Governance
from gateway.governance.plan import Violation
from gateway.pipeline.govern import source_fields
from gateway.pipeline.identify import Identity
from gateway.pipeline.ingest import validate
from gateway.request_context import RequestContext
from tests.destinations.helpers import opt_out_consent

NOW_MS = 1_790_000_000_000
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/126.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PLAN = "governance.tracking_plan"

PURCHASE: dict[str, Any] = {
    "event": "purchase",
    "event_id": "evt-1",
    "timestamp": NOW_MS - 1000,
    "page": {
        "url": "https://shop.example/checkout/done",
        "referrer": "https://shop.example/cart",
        "title": "Thank you",
    },
    "user": {"email": "zeb@example.com", "city": "Menlo Park"},
    "ids": {"client_id": "1197465313.1789999000"},
    "properties": {"value": 129.9, "currency": "EUR", "transaction_id": "T-1001"},
}


def governance(**config: Any) -> Governance:
    return Governance(GovernanceConfig.model_validate(config))


def context(user_agent: str | None = FIREFOX, *, prefetch: bool = False) -> RequestContext:
    return RequestContext(
        client_ip="203.0.113.7",
        user_agent=user_agent,
        region="US-CA",
        gpc=False,
        peer_trusted=True,
        prefetch=prefetch,
    )


CONSENT = opt_out_consent({"advertising": True, "analytics": True})


def apply(
    rules: Governance, raw: dict[str, Any] | None = None, ctx: RequestContext | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], EventGovernance]:
    """(source, a deep copy of it as it was, the result) for ``raw`` through ``rules``."""
    [ingested] = validate([copy.deepcopy(raw or PURCHASE)], batch=False, now_ms=NOW_MS)
    ctx = ctx or context()
    identity = Identity(ingested.event.ids.client_id or "GW1.new", "page")
    source = source_fields(ingested, identity, ctx, CONSENT)
    before = copy.deepcopy(source)
    result = rules.apply(source, ingested.event.properties, ctx)
    return source, before, result


def event(**overrides: Any) -> dict[str, Any]:
    """``PURCHASE`` with some top-level keys replaced (None removes one)."""
    out = copy.deepcopy(PURCHASE)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# -- nothing to do -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"bots": {"enabled": False}},
        {
            "scrub": {
                "query_params": {"names": ["email"]},
                "patterns": [{"id": "emails", "builtin": "email"}],
            },
            "sensitive_pages": [{"id": "health", "paths": ["/conditions/*"]}],
            "tracking_plan": {
                "unknown_events": "dead_letter",
                "events": {"purchase": {"properties": {"currency": {"type": "string"}}}},
            },
        },
    ],
)
def test_an_untouched_event_keeps_its_source_object(config: dict[str, Any]) -> None:
    """No rule acts: the very same source, no remark, no verdict."""
    source, before, result = apply(governance(**config))
    assert result.source is source
    assert source == before
    assert result == EventGovernance(source, None, (), None, (), {}, frozenset())


@pytest.mark.parametrize("page", [None, {}])
def test_an_event_without_a_page_keeps_its_source_object(page: dict[str, Any] | None) -> None:
    """Sensitive-page rules on an event with no page change nothing either."""
    rules = governance(sensitive_pages=[{"id": "health", "paths": ["/conditions/*"]}])
    source, _, result = apply(rules, event(page=page))
    assert source["page"] == {}
    assert result.source is source
    assert result.remarks == ()


# -- junk ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctx", "raw", "config", "reason"),
    [
        (context(HEADLESS), PURCHASE, {}, "headless"),
        (context(GOOGLEBOT), PURCHASE, {}, "known_bot"),
        (context(prefetch=True), PURCHASE, {}, "prefetch"),
        (
            context("Mozilla/5.0 internal-monitor/1.0"),
            PURCHASE,
            {"bots": {"user_agents": ["internal-monitor"]}},
            "custom_user_agent",
        ),
        (
            context(),
            event(properties={"value": -5.0, "currency": "EUR"}),
            {},
            "impossible_value",
        ),
    ],
)
def test_junk_reason_and_remark(
    ctx: RequestContext, raw: dict[str, Any], config: dict[str, Any], reason: str
) -> None:
    """The reason is kept and remarked; the source itself is not changed by it."""
    source, _, result = apply(governance(**config), raw, ctx)
    assert result.junk == reason
    assert result.remarks == (Decision("govern", "event", "filter", "governance.bots", reason),)
    assert result.source is source


def test_disabled_checks_are_skipped() -> None:
    """Without the headless check, Crawler-Detect's list still knows HeadlessChrome."""
    no_headless = governance(bots={"headless": False, "prefetch": False})
    assert apply(no_headless, ctx=context(HEADLESS))[2].junk == "known_bot"
    assert apply(no_headless, ctx=context(prefetch=True))[2].junk is None
    neither = governance(bots={"headless": False, "known_bots": False})
    assert apply(neither, ctx=context(HEADLESS))[2].junk is None
    off = governance(bots={"enabled": False})
    source, _, result = apply(off, ctx=context(GOOGLEBOT, prefetch=True))
    assert result.junk is None and result.source is source and result.remarks == ()


def test_junk_is_withheld_from_every_destination_without_keep_for() -> None:
    _, _, result = apply(governance(), ctx=context(HEADLESS))
    skip = Decision(
        "route",
        "destination:meta",
        "skip",
        "governance.bots.keep_for",
        "headless or automated browser: kept only for []",
        "meta",
    )
    assert result.withheld("meta", "advertising") == skip
    assert result.withheld("ga", "analytics") == skip._replace(
        subject="destination:ga", destination="ga"
    )


def test_junk_goes_to_keep_for_kinds_only() -> None:
    _, _, result = apply(governance(bots={"keep_for": ["analytics"]}), ctx=context(GOOGLEBOT))
    assert result.keep_junk_for == frozenset({"analytics"})
    assert result.withheld("ga", "analytics") is None
    assert result.withheld("meta", "advertising") == Decision(
        "route",
        "destination:meta",
        "skip",
        "governance.bots.keep_for",
        "known bot or crawler user agent: kept only for ['analytics']",
        "meta",
    )


def test_a_real_visit_is_withheld_from_nothing() -> None:
    _, _, result = apply(governance(bots={"keep_for": ["analytics"]}))
    assert result.junk is None
    assert result.withheld("meta", "advertising") is None
    assert result.withheld("ga", "analytics") is None


# -- sensitive pages -----------------------------------------------------------------------

SENSITIVE: dict[str, Any] = {
    "sensitive_pages": [
        {"id": "health", "paths": ["/conditions/*"], "withhold_from": ["advertising"]}
    ]
}


def test_a_sensitive_page_is_stripped_and_withheld() -> None:
    raw = event(
        page={
            "url": "https://shop.example/conditions/diabetes?ref=mail",
            "referrer": "https://search.example/?q=diabetes",
            "title": "Diabetes",
        }
    )
    source, before, result = apply(governance(**SENSITIVE), raw)
    assert result.source["page"] == {
        "url": "https://shop.example/",
        "referrer": "https://search.example/",
    }
    for section in ("", "user", "ids", "context", "properties", "consent"):
        assert result.source[section] is source[section]
    assert source == before
    rule = "governance.sensitive_pages.health"
    assert result.remarks == (
        Decision("govern", "page.url", "strip", rule, "sensitive page: origin only"),
        Decision("govern", "page.referrer", "strip", rule, "sensitive page: origin only"),
        Decision("govern", "page.title", "drop", rule, "sensitive page"),
    )
    assert result.withhold == {"advertising": f"{rule}.withhold_from"}
    assert result.withheld("meta", "advertising") == Decision(
        "route",
        "destination:meta",
        "skip",
        f"{rule}.withhold_from",
        "sensitive page: no advertising",
        "meta",
    )
    assert result.withheld("ga", "analytics") is None


def test_junk_kept_for_a_kind_is_still_withheld_by_a_sensitive_page() -> None:
    rules = governance(bots={"keep_for": ["advertising"]}, **SENSITIVE)
    raw = event(page={"url": "https://shop.example/conditions/x"})
    _, _, result = apply(rules, raw, context(HEADLESS))
    skipped = result.withheld("meta", "advertising")
    assert skipped is not None
    assert skipped.rule == "governance.sensitive_pages.health.withhold_from"


# -- tracking plan -------------------------------------------------------------------------


def test_violations_become_remarks_with_their_rule_ids() -> None:
    rules = governance(
        tracking_plan={
            "events": {
                "purchase": {
                    "additional_properties": False,
                    "properties": {
                        "value": {"type": "number", "min": 0},
                        "currency": {"type": "string", "values": ["USD"]},
                        "transaction_id": {"type": "string", "required": True},
                        "coupon": {"type": "string", "required": True},
                    },
                }
            }
        }
    )
    raw = event(properties={"value": 10.0, "currency": "EUR", "transaction_id": "T", "gift": True})
    source, before, result = apply(rules, raw)
    base = f"{PLAN}.events.purchase"
    assert result.remarks == (
        Decision(
            "govern",
            "properties.currency",
            "flag",
            f"{base}.properties.currency.values",
            "not one of the allowed values",
        ),
        Decision(
            "govern",
            "properties.coupon",
            "flag",
            f"{base}.properties.coupon.required",
            "required property missing",
        ),
        Decision(
            "govern",
            "properties.gift",
            "flag",
            f"{base}.additional_properties",
            "property not in the tracking plan",
        ),
    )
    assert result.violations == (
        Violation(
            "purchase",
            "currency.values",
            "properties.currency",
            "flag",
            "not one of the allowed values",
        ),
        Violation(
            "purchase", "coupon.required", "properties.coupon", "flag", "required property missing"
        ),
        Violation(
            "purchase",
            "additional_properties",
            "properties.gift",
            "flag",
            "property not in the tracking plan",
        ),
    )
    assert result.dead_letter is None
    # flagging changes nothing
    assert result.source is source
    assert source == before


def test_unknown_event_is_remarked() -> None:
    rules = governance(tracking_plan={"unknown_events": "flag", "events": {"signup": {}}})
    source, _, result = apply(rules)
    assert result.remarks == (
        Decision(
            "govern",
            "event",
            "flag",
            f"{PLAN}.unknown_events",
            "event not in the tracking plan",
        ),
    )
    assert result.violations == (
        Violation("unknown", "unknown_event", "event", "flag", "event not in the tracking plan"),
    )
    assert result.dead_letter is None
    assert result.source is source


def test_strip_removes_the_bad_properties_from_a_copy() -> None:
    rules = governance(
        tracking_plan={
            "events": {
                "purchase": {
                    "on_violation": "strip",
                    "additional_properties": False,
                    "properties": {
                        "value": {},
                        "currency": {"type": "string", "max_length": 2},
                        "transaction_id": {},
                    },
                }
            }
        }
    )
    raw = event(properties={"value": 1.0, "currency": "EUR", "transaction_id": "T", "debug": 1})
    source, before, result = apply(rules, raw)
    assert result.source["properties"] == {"value": 1.0, "transaction_id": "T"}
    assert source == before
    assert result.source["page"] is source["page"]
    base = f"{PLAN}.events.purchase"
    assert result.remarks == (
        Decision(
            "govern",
            "properties.currency",
            "strip",
            f"{base}.properties.currency.max_length",
            "longer than 2 characters",
        ),
        Decision(
            "govern",
            "properties.debug",
            "strip",
            f"{base}.additional_properties",
            "property not in the tracking plan",
        ),
    )


def test_dead_letter_reason_keeps_the_properties_as_sent() -> None:
    rules = governance(
        tracking_plan={
            "events": {
                "purchase": {
                    "on_violation": "dead_letter",
                    "properties": {"coupon": {"required": True}},
                }
            }
        }
    )
    source, _, result = apply(rules)
    assert (
        result.dead_letter == "tracking plan: purchase.properties.coupon required property missing"
    )
    assert result.source is source
    assert result.remarks == (
        Decision(
            "govern",
            "properties.coupon",
            "dead_letter",
            f"{PLAN}.events.purchase.properties.coupon.required",
            "required property missing",
        ),
    )


def test_unknown_event_dead_letter() -> None:
    rules = governance(tracking_plan={"unknown_events": "dead_letter"})
    _, _, result = apply(rules, event(event="mystery"))
    assert result.dead_letter == "tracking plan: unknown event"
    assert result.remarks == (
        Decision(
            "govern",
            "event",
            "dead_letter",
            f"{PLAN}.unknown_events",
            "event not in the tracking plan",
        ),
    )


# -- scrubbing -----------------------------------------------------------------------------

SCRUB: dict[str, Any] = {
    "scrub": {
        "query_params": {"names": ["email", "token"]},
        "patterns": [
            {"id": "emails", "builtin": "email"},
            {"id": "orders", "regex": "ORD-[0-9]+", "action": "drop"},
        ],
    }
}


def test_page_and_properties_are_scrubbed_with_remarks() -> None:
    raw = event(
        page={
            "url": "https://shop.example/welcome?email=zeb%40example.com&utm_source=news",
            "referrer": "https://mail.example/#token=abc&state=1",
            "title": "Hello zeb@example.com",
        },
        properties={
            "value": 5.0,
            "search_term": "write to zeb@example.com",
            "note": "re ORD-123",
            "landing": "https://shop.example/?token=abc",
        },
    )
    source, before, result = apply(governance(**SCRUB), raw)
    assert result.source["page"] == {
        "url": "https://shop.example/welcome?utm_source=news",
        "referrer": "https://mail.example/#state=1",
        "title": "Hello redacted",
    }
    assert result.source["properties"] == {
        "value": 5.0,
        "search_term": "write to redacted",
        "landing": "https://shop.example/",
    }
    reason = "personal data in text"
    query = "governance.scrub.query_params"
    assert result.remarks == (
        Decision("govern", "page.url", "drop", query, reason),
        Decision("govern", "page.referrer", "drop", query, reason),
        Decision("govern", "page.title", "redact", "governance.scrub.patterns.emails", reason),
        Decision(
            "govern",
            "properties.search_term",
            "redact",
            "governance.scrub.patterns.emails",
            reason,
        ),
        Decision("govern", "properties.note", "drop", "governance.scrub.patterns.orders", reason),
        Decision("govern", "properties.landing", "drop", query, reason),
    )
    assert "zeb" not in str(result.remarks)
    assert source == before
    for section in ("", "user", "ids", "context", "consent"):
        assert result.source[section] is source[section]


def test_only_the_scrubbed_section_is_replaced() -> None:
    raw = event(properties={"search_term": "zeb@example.com"})
    source, _, result = apply(governance(**SCRUB), raw)
    assert result.source["properties"] == {"search_term": "redacted"}
    assert result.source["page"] is source["page"]


# -- all together --------------------------------------------------------------------------


def test_every_rule_in_order_without_touching_the_input() -> None:
    """Junk, plan, sensitive page, then scrubbing; the remarks in that order."""
    rules = governance(
        **SCRUB,
        **SENSITIVE,
        tracking_plan={
            "events": {"purchase": {"properties": {"coupon": {"type": "string"}}}},
        },
    )
    raw = event(
        page={"url": "https://shop.example/conditions/x?email=a%40b.example", "title": "X"},
        properties={"value": 1.0, "coupon": 5, "search_term": "a@b.example"},
    )
    source, before, result = apply(rules, raw, context(HEADLESS))
    assert [(d.subject, d.action, d.rule) for d in result.remarks] == [
        ("event", "filter", "governance.bots"),
        ("properties.coupon", "flag", f"{PLAN}.events.purchase.properties.coupon.type"),
        ("page.url", "strip", "governance.sensitive_pages.health"),
        ("page.title", "drop", "governance.sensitive_pages.health"),
        ("properties.search_term", "redact", "governance.scrub.patterns.emails"),
    ]
    assert result.source["page"] == {"url": "https://shop.example/"}
    assert result.source["properties"] == {"value": 1.0, "coupon": 5, "search_term": "redacted"}
    assert source == before
