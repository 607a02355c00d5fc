"""Turn pydantic's validation errors into problems an operator reads.

Each error becomes a path in the file (union tags removed) and a plain message: never
the offending value, "did you mean" for a misspelt key or choice, hints for the common
YAML slips (a quoted number, an unquoted id).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from destinations import REGISTRY
from gateway.config.model_types import allowed_keys
from gateway.config.models import Config
from gateway.config.yaml_source import Path, resolve_plain

#: pydantic error types -> what an operator reads (never the offending value)
_MESSAGES = {
    "missing": "is required",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false (YAML 1.2: yes, no, on and off are strings)",
}

#: patterns in the models -> what they mean; other patterns are shown as they are
_PATTERNS = {
    r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$": "must be a header or cookie name: letters, digits and"
    " !#$%&'*+.^_`|~- only",
    r"^[a-z][a-z0-9_]{0,63}$": "must start with a lowercase letter and hold only lowercase"
    " letters, digits and _ (at most 64 characters)",
    r"^\.?[A-Za-z0-9.-]+$": "must be a domain name such as .shop.example",
    r"^[A-Za-z]{2}$": "must be a two-letter ISO 3166-1 country code",
    r"^[0-9]*$": "must hold digits only",
    r"^v[0-9]+\.[0-9]+$": "must be a version such as v26.0",
    r"^[A-Za-z][A-Za-z0-9_ .:-]{0,99}$": "must be an event name: a letter, then letters,"
    " digits, spaces and _ . : - (at most 100 characters)",
    r"^/": "must be a URL path starting with /",
}


def explain(error: Mapping[str, Any], data: Any) -> tuple[Path, str]:
    """Turn one pydantic error into (path in the file, operator-facing message)."""
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":
        # a mapping key (a purpose or destination name) failed its pattern
        path, _ = data_path(loc[:-1], data)
        return path, "invalid name: " + _message(error, None)
    path, model_path = data_path(loc, data)
    value = _value_at(path, data)
    kind = error["type"]
    if kind == "extra_forbidden":
        if hint := key_hint(model_path):
            return path, f"unknown key; did you mean '{hint}'?"
        allowed = sorted(allowed_keys(Config, model_path[:-1]))
        return path, "unknown key" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
    if kind == "union_tag_not_found":
        return path, f"'type' is required; expected one of: {', '.join(sorted(REGISTRY))}"
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", ""))
        # "meta" means "meta_capi"; "facebook" does not mean "webhook"
        hints = [t for t in sorted(REGISTRY) if len(tag) >= 3 and t.startswith(tag)]
        hints = hints or difflib.get_close_matches(tag, sorted(REGISTRY), n=1, cutoff=0.75)
        known = ", ".join(sorted(REGISTRY))
        return (*path, "type"), (
            f"unknown destination type; expected one of: {known}"
            + (f"; did you mean '{hints[0]}'?" if len(hints) == 1 else "")
        )
    if kind == "value_error" and isinstance(value, dict):
        # a model-level check that names the key it is about: report it at that key
        first, _, rest = _message(error, value).partition(" ")
        sub = tuple(first.split("."))
        if rest and _value_at(sub, value) is not None:
            return (*path, *sub), rest
    return path, _message(error, value)


def key_hint(loc: Path) -> str | None:
    """The allowed key closest to the unknown key at ``loc`` (a pydantic loc), if any is close."""
    allowed = sorted(allowed_keys(Config, loc[:-1]))
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    return hint[0] if hint else None


def _message(error: Mapping[str, Any], value: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if (
        isinstance(value, float)
        and not math.isfinite(value)
        and kind.startswith(("less", "greater"))
    ):
        return "must be a finite number"
    if kind == "string_type" and isinstance(value, int | float):
        return "must be a string; put it in quotes"
    number = resolve_plain(value) if isinstance(value, str) else None
    wanted = int if kind == "int_type" else int | float
    quoted_number = isinstance(number, wanted) and not isinstance(number, bool)
    if kind in ("int_type", "float_type") and quoted_number:
        return _MESSAGES[kind] + "; remove the quotes"
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return _PATTERNS.get(pattern, f"must match the pattern {pattern}")
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = "must be " + (
            str(ctx.get("expected")) if not expected else "one of: " + ", ".join(expected)
        )
        hint = (
            difflib.get_close_matches(value, expected, n=1, cutoff=0.6)
            if isinstance(value, str)
            else []
        )
        return message + (f"; did you mean '{hint[0]}'?" if hint else "")
    message = str(error["msg"]).removeprefix("Value error, ")
    for jargon, plain in (
        ("Input should be", "must be"),
        ("String should", "must"),
        ("List should", "must"),
        ("Value should", "must"),
    ):
        message = message.replace(jargon, plain)
    return message


def _value_at(path: Path, data: Any) -> Any:
    """The value at ``path`` in ``data``, or None when the path does not exist."""
    node = data
    for part in path:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        else:
            return None
    return node


def data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, Path]:
    """Follow ``loc`` through the data; union tags in the loc are not in the data, skip them.

    Returns the path in the file and the loc as the model walk needs it (tags kept).
    """
    path: list[str | int] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(node, dict) and part in REGISTRY and node.get("type") == part:
            continue
        elif node is not None and not isinstance(node, dict | list) and isinstance(part, str):
            # below a scalar: the name of a union member the scalar failed (list[...])
            continue
        else:
            node = None
        path.append(part)
    return tuple(path), tuple(loc)
