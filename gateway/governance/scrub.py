"""Scrubbing: PII that pages leak into free text, removed before any destination sees it.

Pages put visitor data where no field rule looks: ``?email=`` in a landing-page URL, an
OAuth ``#access_token=`` in a referrer, an address typed into a search box that lands in
``properties.search_term``. ``governance.scrub`` names the query parameters and text
patterns to remove; ``Scrubber`` compiles them once and ``scrub`` runs per event section.

This is on the request path for every event, so unchanged input costs little: a URL
without ``?`` or ``#`` is not parsed, each detector has a substring prefilter, nothing is
copied unless something changed, and the caller gets its own object back when nothing
did. Changes are reported by field path and rule, never with the value or the match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus

import orjson

from gateway.config.governance import Pattern as PatternConfig
from gateway.config.governance import ScrubConfig, TextAction
from gateway.governance.patterns import BUILTINS, EMAIL, Pattern, compile_pattern
from gateway.pii import normalize_email, sha256_hex

QUERY_RULE: Final = "governance.scrub.query_params"
PATTERN_RULE: Final = "governance.scrub.patterns"
REDACTED: Final = "redacted"
#: sections holding free text; the rest are typed fields governed elsewhere
SCRUBBED_SECTIONS: Final = frozenset({"page", "properties"})
#: page keys that hold a URL whatever they start with
_PAGE_URLS: Final = frozenset({"url", "referrer"})
_URL_PREFIXES: Final = ("http://", "https://")
_DIGITS: Final = "0123456789"


@dataclass(frozen=True, slots=True)
class TextChange:
    """One rule changing one field: where and how, never what was there."""

    #: dotted field path: ``page.url``, ``properties.items.0.item_name``
    path: str
    #: ``drop``, ``redact`` or ``hash``
    action: str
    #: ``governance.scrub.query_params`` or ``governance.scrub.patterns.<id>``
    rule: str


class _Drop:
    """Marks a field a ``drop`` pattern removed (None is a legitimate value)."""


_DROP: Final = _Drop()


@dataclass(frozen=True, slots=True)
class _Rule:
    rule: str
    action: TextAction
    pattern: Pattern
    #: False when the text cannot hold a match; skips RE2 (and its UTF-8 copy) for most text
    prefilter: Callable[[str], bool] | None
    #: the text a ``hash`` action hashes, from the matched text
    canonical: Callable[[str], str]


def _may_hold_email(text: str) -> bool:
    return "@" in text or "%40" in text


def _may_hold_phone(text: str) -> bool:
    # both shapes have at least seven digits; titles, SKUs and search terms rarely do,
    # and counting them costs less than one pass of RE2 (which first copies to UTF-8)
    return len(text) >= 7 and sum(map(text.count, _DIGITS)) >= 7


def _email_canonical(match: str) -> str:
    # the same form user.email is hashed in, so a hash here joins up with it
    address = match.replace("%40", "@")
    return normalize_email(address) or address.strip().lower()


def _phone_canonical(match: str) -> str:
    plus = match.startswith(("+", "%2B", "%2b"))
    body = match[3:] if match.startswith("%2") else match
    digits = "".join(char for char in body if char in _DIGITS)
    return f"+{digits}" if plus else digits


def _as_is(match: str) -> str:
    return match


_BUILTIN_HELPERS: Final[dict[str, tuple[Callable[[str], bool], Callable[[str], str]]]] = {
    "email": (_may_hold_email, _email_canonical),
    "phone": (_may_hold_phone, _phone_canonical),
}


def _compile_rule(config: PatternConfig) -> _Rule:
    rule = f"{PATTERN_RULE}.{config.id}"
    if config.builtin is not None:
        prefilter, canonical = _BUILTIN_HELPERS[config.builtin]
        return _Rule(rule, config.action, BUILTINS[config.builtin], prefilter, canonical)
    assert config.regex is not None  # the config model requires one of the two
    return _Rule(rule, config.action, compile_pattern(config.regex), None, _as_is)


def _hash_value(value: str) -> str:
    """SHA-256 of a query value, decoded; an address in the form ``user.email`` uses."""
    decoded = unquote_plus(value)
    return sha256_hex(normalize_email(decoded) or decoded)


class Scrubber:
    """The compiled ``governance.scrub`` rules; ``scrub`` runs once per event section."""

    __slots__ = ("_names", "_param_action", "_rules")

    def __init__(
        self, names: frozenset[str], param_action: TextAction, rules: tuple[_Rule, ...]
    ) -> None:
        self._names = names
        self._param_action = param_action
        self._rules = rules

    @classmethod
    def compile(cls, config: ScrubConfig) -> Scrubber:
        """Compile every pattern of ``config`` (invalid RE2 raises ``ValueError``)."""
        params = config.query_params
        names = frozenset(n.strip().lower() for n in params.names) if params else frozenset()
        action: TextAction = params.action if params else "drop"
        return cls(names, action, tuple(_compile_rule(p) for p in config.patterns))

    def scrub(
        self, section: str, values: dict[str, Any]
    ) -> tuple[dict[str, Any], list[TextChange]]:
        """``values`` of ``section`` scrubbed, and a change per field and rule that acted.

        ``page``: ``url`` and ``referrer`` lose the configured query parameters (query
        string and a ``k=v`` fragment), then every string goes through the patterns.
        ``properties``: the same, recursively; strings starting ``http://`` or
        ``https://`` are treated as URLs. Other sections come back as they are. When
        nothing changes, ``values`` itself is returned with an empty list.
        """
        if section not in SCRUBBED_SECTIONS or not (self._names or self._rules) or not values:
            return values, []
        changes: list[TextChange] = []
        out: dict[str, Any] | None = None
        for key, value in values.items():
            path = f"{section}.{key}"
            if section == "page" and isinstance(value, str):
                # page.url and page.referrer are URLs whatever they start with; the
                # title and the rest are text even when they look like one
                url = key in _PAGE_URLS and bool(self._names) and ("?" in value or "#" in value)
                new, found = self._string(path, value, url)
                changes += found
            else:
                new = self._walk(path, value, changes)
            if new is value:
                continue
            if out is None:
                out = dict(values)
            if new is _DROP:
                del out[key]
            else:
                out[key] = new
        return (values, changes) if out is None else (out, changes)

    def _walk(self, path: str, value: Any, changes: list[TextChange]) -> Any:
        """``value`` scrubbed (the same object when unchanged), or ``_DROP``."""
        if isinstance(value, str):
            url = bool(self._names) and ("?" in value or "#" in value)
            url = url and value[:8].lower().startswith(_URL_PREFIXES)
            new, found = self._string(path, value, url)
            changes += found
            return new
        if isinstance(value, dict):
            out: Any = None
            for key, item in value.items():
                new = self._walk(f"{path}.{key}", item, changes)
                if new is item:
                    continue
                if out is None:
                    out = dict(value)
                if new is _DROP:
                    del out[key]
                else:
                    out[key] = new
            return value if out is None else out
        if isinstance(value, list):
            items: list[Any] | None = None
            for index, item in enumerate(value):
                new = self._walk(f"{path}.{index}", item, changes)
                if items is None:
                    if new is item:
                        continue
                    items = value[:index]
                if new is not _DROP:
                    items.append(new)
            return value if items is None else items
        return value

    def _string(self, path: str, text: str, url: bool) -> tuple[Any, list[TextChange]]:
        """One string through the URL treatment (when ``url``) and the patterns."""
        found: list[TextChange] = []
        if url:
            cleaned = self._url(text)
            if cleaned is not text:
                found.append(TextChange(path, self._param_action, QUERY_RULE))
                text = cleaned
        for rule in self._rules:
            if rule.prefilter is not None and not rule.prefilter(text):
                continue
            if rule.action == "drop":
                if _matches(rule.pattern, text):
                    # the field is gone: what earlier rules did to it no longer matters
                    return _DROP, [TextChange(path, "drop", rule.rule)]
                continue
            new = rule.pattern.sub(_replacer(rule), text)
            if new != text:
                found.append(TextChange(path, rule.action, rule.rule))
                text = new
        return text, found

    def _url(self, url: str) -> str:
        """``url`` without the configured query parameters; ``url`` itself if none."""
        head, hashmark, fragment = url.partition("#")
        base, question, query = head.partition("?")
        changed = False
        if question:
            kept = self._params(query)
            if kept is not None:
                changed = True
                head = f"{base}?{kept}" if kept else base
        if hashmark:
            # an SPA route (#/login?token=...) or an OAuth implicit-flow answer
            # (#access_token=...&state=...); any other fragment is an anchor
            route, question, query = fragment.partition("?")
            kept = None
            if question:
                kept = self._params(query)
                if kept is not None:
                    fragment = f"{route}?{kept}" if kept else route
            elif "=" in fragment:
                kept = self._params(fragment)
                if kept is not None:
                    fragment = kept
            changed = changed or kept is not None
        if not changed:
            return url
        return f"{head}#{fragment}" if fragment else head

    def _params(self, query: str) -> str | None:
        """``query`` (``k=v&...``) after the action on listed names; None if unchanged.

        Split by hand: every other segment stays byte for byte as the page wrote it.
        """
        kept: list[str] = []
        changed = False
        for segment in query.split("&"):
            raw, _, value = segment.partition("=")
            name = unquote_plus(raw) if "%" in raw or "+" in raw else raw
            if name.strip().lower() not in self._names:
                kept.append(segment)
                continue
            if self._param_action == "drop":
                changed = True
                continue
            if not value:  # a bare flag: nothing to hide
                kept.append(segment)
                continue
            changed = True
            digest = REDACTED if self._param_action == "redact" else _hash_value(value)
            kept.append(f"{raw}={digest}")
        if not changed:
            return None
        joined = "&".join(kept)
        return joined if joined.strip("&") else ""


def _matches(pattern: Pattern, text: str) -> bool:
    """Whether ``pattern`` matches a non-empty part of ``text``."""
    match = pattern.search(text)
    if match is None:
        return False
    if match.end() > match.start():
        return True
    return any(m.end() > m.start() for m in pattern.finditer(text))


def _replacer(rule: _Rule) -> Callable[[Any], str]:
    if rule.action == "redact":
        return _redact
    canonical = rule.canonical

    def digest(match: Any) -> str:
        text = match.group()
        return sha256_hex(canonical(text)) if text else text

    return digest


def _redact(match: Any) -> str:
    # an empty match (an operator's ``x*``) hides nothing: leave the text as it is
    return REDACTED if match.end() > match.start() else ""


def scrub_floor(value: Any) -> tuple[Any, bool]:
    """``value`` with every email address in its strings replaced by ``redacted``; whether
    any was. The fixed floor under the configurable rules: nested dicts and lists are
    walked, keys and non-strings kept, and ``value`` itself comes back when unchanged."""
    if isinstance(value, str):
        if not _may_hold_email(value):
            return value, False
        scrubbed = EMAIL.sub(REDACTED, value)
        return (scrubbed, True) if scrubbed != value else (value, False)
    if not isinstance(value, dict | list):
        return value, False
    # one serialization tells whether anything below could hold an address
    try:
        flat = orjson.dumps(value)
    except TypeError:
        flat = b"@"  # not JSON: walk it
    if b"@" not in flat and b"%40" not in flat:
        return value, False
    if isinstance(value, dict):
        pairs = {k: scrub_floor(v) for k, v in value.items()}
        if not any(changed for _, changed in pairs.values()):
            return value, False
        return {k: v for k, (v, _) in pairs.items()}, True
    items = [scrub_floor(v) for v in value]
    if not any(changed for _, changed in items):
        return value, False
    return [v for v, _ in items], True
