"""Sensitive pages: an address or category that says something about the visitor
(a health condition, an appointment, a prescription) is cut to the site's origin, and the
event can be withheld from whole kinds of destinations.

The referrer is checked like the page: a purchase made right after a page about a
condition would otherwise carry that page's path in its referrer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from destinations.policy import Kind
from gateway.config.governance import SensitivePage
from gateway.decisions import Decision
from gateway.governance.patterns import Pattern, compile_pattern, glob_to_regex


@dataclass(frozen=True, slots=True)
class PageVerdict:
    """What the sensitive-page rules did to one event's page."""

    page: dict[str, Any]
    #: destination kinds the event is withheld from, with the rule that says so
    withhold: tuple[tuple[Kind, str], ...]
    remarks: tuple[Decision, ...]


@dataclass(frozen=True, slots=True)
class _Rule:
    id: str
    paths: Pattern | None
    categories: frozenset[str]
    strip: bool
    withhold_from: tuple[Kind, ...]


class SensitivePages:
    """The compiled rules; ``check`` runs per event."""

    def __init__(self, rules: list[SensitivePage]) -> None:
        self._rules = [
            _Rule(
                r.id,
                _paths(r.paths),
                frozenset(c.casefold() for c in r.categories),
                r.strip,
                tuple(r.withhold_from),
            )
            for r in rules
        ]

    def check(self, page: dict[str, Any]) -> PageVerdict:
        """The page after the first matching rule (``page`` itself when none matches)."""
        if not self._rules or not page:
            return PageVerdict(page, (), ())
        paths = [p for key in ("url", "referrer") if (p := _path(page.get(key))) is not None]
        category = page.get("category")
        folded = category.casefold() if isinstance(category, str) else None
        for rule in self._rules:
            by_path = rule.paths is not None and any(rule.paths.fullmatch(p) for p in paths)
            if not by_path and (folded is None or folded not in rule.categories):
                continue
            return self._apply(rule, page)
        return PageVerdict(page, (), ())

    @staticmethod
    def _apply(rule: _Rule, page: dict[str, Any]) -> PageVerdict:
        name = f"governance.sensitive_pages.{rule.id}"
        remarks: list[Decision] = []
        out = page
        if rule.strip:
            out = dict(page)
            for key in ("url", "referrer"):
                if key in out and (origin := _origin(out[key])) != out[key]:
                    remarks.append(
                        Decision(
                            "govern", f"page.{key}", "strip", name, "sensitive page: origin only"
                        )
                    )
                    if origin is None:
                        del out[key]
                    else:
                        out[key] = origin
            if out.pop("title", None) is not None:
                remarks.append(Decision("govern", "page.title", "drop", name, "sensitive page"))
        withhold = tuple((kind, f"{name}.withhold_from") for kind in rule.withhold_from)
        return PageVerdict(out, withhold, tuple(remarks))


def _paths(globs: list[str]) -> Pattern | None:
    """One pattern for all of a rule's globs (RE2: linear in the path whatever they say)."""
    if not globs:
        return None
    return compile_pattern("|".join(f"(?:{glob_to_regex(g)})" for g in globs), ignore_case=True)


def _path(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    # matched decoded, so that /conditions/%68iv cannot slip past /conditions/*
    return unquote(path) or "/"


def _origin(url: Any) -> str | None:
    """``scheme://host[:port]/`` of ``url``; None when it has none (a relative URL)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc.rpartition("@")[2]  # credentials in a URL are not part of the origin
    return f"{parts.scheme}://{host}/"
