"""Tests for gateway.governance.pages: sensitive pages cut to their origin and withheld."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from destinations.policy import Kind
from gateway.config.governance import SensitivePage
from gateway.decisions import Decision
from gateway.governance.pages import PageVerdict, SensitivePages

RULE = "governance.sensitive_pages.health"


def pages(*rules: dict[str, Any]) -> SensitivePages:
    """Rules compiled from the dict form the YAML loader hands to the models."""
    return SensitivePages([SensitivePage.model_validate(r) for r in rules])


HEALTH = pages(
    {
        "id": "health",
        "paths": ["/conditions/*", "/clinic/*/booking"],
        "categories": ["Health"],
        "withhold_from": ["advertising"],
    }
)


def strip(key: str, rule: str = RULE) -> Decision:
    return Decision("govern", f"page.{key}", "strip", rule, "sensitive page: origin only")


def title(rule: str = RULE) -> Decision:
    return Decision("govern", "page.title", "drop", rule, "sensitive page")


def withhold(rule: str = RULE) -> tuple[tuple[Kind, str], ...]:
    return (("advertising", f"{rule}.withhold_from"),)


# -- nothing to do -------------------------------------------------------------------------


def test_no_rules_returns_the_page_itself() -> None:
    page = {"url": "https://shop.example/conditions/diabetes", "title": "Diabetes"}
    verdict = SensitivePages([]).check(page)
    assert verdict == PageVerdict(page, (), ())
    assert verdict.page is page


def test_no_match_returns_the_page_itself() -> None:
    page = {
        "url": "https://shop.example/products/socks",
        "referrer": "https://search.example/?q=socks",
        "title": "Socks",
        "category": "apparel",
    }
    verdict = HEALTH.check(page)
    assert verdict == PageVerdict(page, (), ())
    assert verdict.page is page


@pytest.mark.parametrize("checker", [HEALTH, SensitivePages([])])
def test_an_empty_page_comes_back_as_itself(checker: SensitivePages) -> None:
    """No page at all: the very same (empty) object, so the event's source is kept."""
    page: dict[str, Any] = {}
    verdict = checker.check(page)
    assert verdict == PageVerdict({}, (), ())
    assert verdict.page is page


# -- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/conditions/diabetes",
        "https://shop.example/conditions/",
        "https://shop.example/conditions/heart/arrhythmia?x=1#top",  # * crosses /
        "https://shop.example/CONDITIONS/Diabetes",  # case-insensitive
        "https://shop.example/conditions/%64iabetes",  # decoded before matching
        "https://shop.example/%63onditions/x",
        "https://shop.example/clinic/berlin/booking",
        "https://shop.example/clinic/berlin/mitte/booking",
        "/conditions/asthma",  # a relative URL has a path too
    ],
)
def test_paths_that_match(url: str) -> None:
    assert HEALTH.check({"url": url}).withhold == withhold()


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/conditions",  # no trailing slash: /conditions/* needs one
        "https://shop.example/about/conditions/x",  # globs match the whole path
        "https://shop.example/clinic/berlin/booking/confirm",
        "https://shop.example/products?next=/conditions/x",  # the query is not the path
        "https://shop.example/products#/conditions/x",
        "not a url",
    ],
)
def test_paths_that_do_not_match(url: str) -> None:
    page = {"url": url}
    assert HEALTH.check(page).page is page
    assert HEALTH.check(page).withhold == ()


@pytest.mark.parametrize("category", ["health", "Health", "HEALTH"])
def test_category_matches_case_insensitively(category: str) -> None:
    page = {"url": "https://shop.example/", "category": category}
    verdict = HEALTH.check(page)
    assert verdict.withhold == withhold()
    assert verdict.page == page  # already an origin: nothing to strip
    assert verdict.remarks == ()


def test_other_category_does_not_match() -> None:
    page = {"url": "https://shop.example/p", "category": "healthy-snacks"}
    assert HEALTH.check(page) == PageVerdict(page, (), ())


def test_referrer_path_matches_too() -> None:
    """A purchase right after a condition page carries that path in its referrer."""
    page = {
        "url": "https://shop.example/checkout/done?order=7",
        "referrer": "https://shop.example/conditions/diabetes",
        "title": "Thank you",
    }
    verdict = HEALTH.check(page)
    assert verdict == PageVerdict(
        {"url": "https://shop.example/", "referrer": "https://shop.example/"},
        withhold(),
        (strip("url"), strip("referrer"), title()),
    )


# -- what a match does ---------------------------------------------------------------------


def test_strip_cuts_to_origin_and_drops_the_title() -> None:
    page = {
        "url": "https://user:secret@shop.example:8443/conditions/hiv?email=a%40b.example#x",
        "referrer": "http://search.example/search?q=hiv+symptoms",
        "title": "Living with HIV",
        "category": "info",
    }
    before = copy.deepcopy(page)
    verdict = HEALTH.check(page)
    assert verdict.page == {
        "url": "https://shop.example:8443/",
        "referrer": "http://search.example/",
        "category": "info",
    }
    assert verdict.remarks == (strip("url"), strip("referrer"), title())
    assert verdict.withhold == withhold()
    assert page == before  # the input is never mutated
    text = str(verdict.remarks)
    assert "hiv" not in text.lower() and "secret" not in text


def test_relative_urls_are_dropped() -> None:
    """No origin to cut to: the field goes (the remark still says strip)."""
    page = {"url": "/conditions/asthma", "referrer": "/search?q=asthma", "title": "Asthma"}
    verdict = HEALTH.check(page)
    assert verdict.page == {}
    assert verdict.remarks == (strip("url"), strip("referrer"), title())


def test_an_origin_already_is_not_remarked() -> None:
    page = {"url": "https://shop.example/conditions/x", "referrer": "https://shop.example/"}
    verdict = HEALTH.check(page)
    assert verdict.page == {"url": "https://shop.example/", "referrer": "https://shop.example/"}
    assert verdict.remarks == (strip("url"),)


def test_without_strip_the_page_is_kept_and_only_withheld() -> None:
    checker = pages(
        {
            "id": "pharmacy",
            "paths": ["/rx/*"],
            "strip": False,
            "withhold_from": ["advertising", "analytics"],
        }
    )
    page = {"url": "https://shop.example/rx/123", "title": "Prescription"}
    verdict = checker.check(page)
    assert verdict.page is page
    assert verdict.remarks == ()
    assert verdict.withhold == (
        ("advertising", "governance.sensitive_pages.pharmacy.withhold_from"),
        ("analytics", "governance.sensitive_pages.pharmacy.withhold_from"),
    )


def test_strip_without_withhold() -> None:
    checker = pages({"id": "account", "paths": ["/account/*"]})
    verdict = checker.check({"url": "https://shop.example/account/orders", "title": "Orders"})
    rule = "governance.sensitive_pages.account"
    assert verdict == PageVerdict(
        {"url": "https://shop.example/"}, (), (strip("url", rule), title(rule))
    )


def test_the_first_matching_rule_wins() -> None:
    """Both rules match; only the first one's strip and withholding apply."""
    checker = pages(
        {"id": "first", "categories": ["health"], "strip": False, "withhold_from": ["analytics"]},
        {"id": "second", "paths": ["/conditions/*"], "withhold_from": ["advertising"]},
    )
    page = {"url": "https://shop.example/conditions/x", "category": "health"}
    verdict = checker.check(page)
    assert verdict == PageVerdict(
        page, (("analytics", "governance.sensitive_pages.first.withhold_from"),), ()
    )
    # when the first does not match, the second applies
    other = checker.check({"url": "https://shop.example/conditions/x", "title": "T"})
    assert other == PageVerdict(
        {"url": "https://shop.example/"},
        (("advertising", "governance.sensitive_pages.second.withhold_from"),),
        (
            strip("url", "governance.sensitive_pages.second"),
            title("governance.sensitive_pages.second"),
        ),
    )
