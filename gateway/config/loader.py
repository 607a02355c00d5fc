"""Load a config file: read, include, validate, check cross-references; report every problem.

``load_config`` either returns a valid ``Config`` or raises ``ConfigError`` listing every
problem found as ``FILE:LINE: field.path: message``, sorted, without echoing any value.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, SecretStr, ValidationError

from destinations import REGISTRY
from gateway.config.models import Config, CookieConfig
from gateway.config.yaml_source import Interpolated, Path, Source, read_yaml, resolve_plain
from gateway.errors import ConfigError, Problem

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
}


def load_config(file: str, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``file`` (and what it includes); raise ``ConfigError`` on any problem."""
    source = read_with_includes(file, env)
    if source.data is None and not source.problems:
        source.problem((), "the config is empty")
    config: Config | None = None
    if source.data is not None:
        source.data = type_interpolated(source.data, Config)
        try:
            config = Config.model_validate(source.data)
        except ValidationError as err:
            errors = err.errors(include_input=False, include_url=False)
            # a misspelt key also leaves the key it meant missing: report the misspelling only
            meant = {
                (*_data_path(tuple(e["loc"][:-1]), source.data)[0], hint)
                for e in errors
                if e["type"] == "extra_forbidden" and (hint := _key_hint(tuple(e["loc"])))
            }
            for error in errors:
                path, message = _explain(error, source.data)
                if error["type"] == "missing" and path in meant:
                    continue
                # a value that could not be read is already a problem; don't add its fallout
                if not any(path[: len(p)] == p for p in source.unreadable):
                    source.problem(path, message)
        # checked on the data as written, so they show even when validation failed elsewhere
        for path, message in semantic_problems(source.data):
            source.problem(path, message)
    if source.problems or config is None:
        raise ConfigError(source.problems)
    return config


def read_with_includes(file: str, env: Mapping[str, str] | None = None) -> Source:
    """Read ``file``; merge the files its top-level ``include:`` list names (relative paths)."""
    root = _read(file, env)
    _expand(root, root, file, env, {os.path.realpath(file): None}, (os.path.realpath(file),))
    return root


def _expand(
    root: Source,
    current: Source,
    file: str,
    env: Mapping[str, str] | None,
    seen: dict[str, tuple[str, int] | None],
    chain: tuple[str, ...],
) -> None:
    """Merge what ``current`` (read from ``file``) includes; ``chain`` is the including files."""
    if not isinstance(current.data, dict) or "include" not in current.data:
        return
    includes = current.data.pop("include")
    if ("include",) in current.unreadable:
        return
    if not isinstance(includes, list) or not all(
        isinstance(name, str) or ("include", i) in current.unreadable
        for i, name in enumerate(includes)
    ):
        root.problems.append(current.make_problem(("include",), "must be a list of file paths"))
        return
    for index, name in enumerate(includes):
        if name is None:
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(file), name))
        real = os.path.realpath(path)
        if real in chain:
            message = "include cycle: the named file already includes this one"
            if real == chain[-1]:
                message = "include cycle: a file cannot include itself"
            root.problems.append(current.make_problem(("include", index), message))
            continue
        if real in seen:
            where = seen[real]
            message = "file is already included" + (f" at {where[0]}:{where[1]}" if where else "")
            root.problems.append(current.make_problem(("include", index), message))
            continue
        seen[real] = current.locate(("include", index))
        text, reason = _read_text(path)
        if text is None:
            # say so where the file is named, not in a file that does not exist
            root.problems.append(
                current.make_problem(("include", index), f"cannot read included file ({reason})")
            )
            continue
        included = read_yaml(text, path, env)
        _expand(root, included, path, env, seen, (*chain, real))
        _merge(root, included)


def _read(file: str, env: Mapping[str, str] | None) -> Source:
    text, reason = _read_text(file)
    if text is None:
        source = Source()
        source.problems.append(Problem(file, 1, "", f"cannot read file ({reason})"))
        return source
    return read_yaml(text, file, env)


def _read_text(file: str) -> tuple[str | None, str]:
    """The file's text, or None and why it cannot be read (never its content)."""
    try:
        return FsPath(file).read_text(encoding="utf-8"), ""
    except FileNotFoundError:
        return None, "no such file"
    except IsADirectoryError:
        return None, "it is a directory"
    except PermissionError:
        return None, "permission denied"
    except OSError as err:
        return None, err.strerror or type(err).__name__
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


def _merge(root: Source, other: Source) -> None:
    root.problems.extend(other.problems)
    if other.data is None:
        return
    if not isinstance(other.data, dict):
        root.problems.append(other.make_problem((), "an included file must hold a mapping"))
        return
    if root.data is None:
        root.data = {}
    if isinstance(root.data, dict):
        _merge_mapping(root, other, root.data, other.data, ())


def _merge_mapping(root: Source, other: Source, left: dict, right: dict, path: Path) -> None:
    for key, value in right.items():
        sub = (*path, key)
        if key not in left:
            left[key] = value
            root.lines.update({p: w for p, w in other.lines.items() if p[: len(sub)] == sub})
            root.unreadable.update(p for p in other.unreadable if p[: len(sub)] == sub)
        elif isinstance(left[key], dict) and isinstance(value, dict):
            _merge_mapping(root, other, left[key], value, sub)
        else:
            file, line = root.locate(sub)
            root.problems.append(other.make_problem(sub, f"already defined at {file}:{line}"))


def _explain(error: Mapping[str, Any], data: Any) -> tuple[Path, str]:
    """Turn one pydantic error into (path in the file, operator-facing message)."""
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":
        # a mapping key (a purpose or destination name) failed its pattern
        path, _ = _data_path(loc[:-1], data)
        return path, "invalid name: " + _message(error, None)
    path, model_path = _data_path(loc, data)
    value = _value_at(path, data)
    kind = error["type"]
    if kind == "extra_forbidden":
        if hint := _key_hint(model_path):
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


def _key_hint(loc: Path) -> str | None:
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


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path, Path]:
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
        else:
            node = None
        path.append(part)
    return tuple(path), tuple(loc)


def allowed_keys(model: Any, loc: Path) -> set[str]:
    """The keys a mapping at ``loc`` (a pydantic loc, union tags included) may hold."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return set()
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, Mapping):
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next((m for m in typing.get_args(tp) if _tag(m) == part), None)
        else:
            return set()
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return set(tp.model_fields)
    return set()


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _tag(member: Any) -> Any:
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        args = typing.get_args(member.model_fields["type"].annotation)
        return args[0] if args else None
    return None


def type_interpolated(value: Any, tp: Any) -> Any:
    """Give every ``Interpolated`` string the type of the field it lands in.

    ``${PORT}`` for an int field becomes an int by the YAML 1.2 rules, for a string field
    it stays a string (a pixel id of digits is still an id), and an empty value for an
    optional field is null. A value that fits no type is left for validation to report.
    """
    tp = _unwrap_annotated(tp)
    if isinstance(value, Interpolated):
        return _typed(str(value), tp)
    origin = typing.get_origin(tp)
    if isinstance(value, dict):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return {
                k: type_interpolated(v, tp.model_fields[k].annotation)
                if k in tp.model_fields
                else v
                for k, v in value.items()
            }
        if origin in (dict, Mapping):
            return {k: type_interpolated(v, typing.get_args(tp)[1]) for k, v in value.items()}
        if origin in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(tp) if _tag(m) == value.get("type")]
            members = members or [m for m in typing.get_args(tp) if m is not type(None)]
            return type_interpolated(value, members[0]) if len(members) == 1 else value
    if isinstance(value, list) and origin is list:
        return [type_interpolated(v, typing.get_args(tp)[0]) for v in value]
    if isinstance(value, list) and origin in (typing.Union, types.UnionType):
        lists = [m for m in typing.get_args(tp) if typing.get_origin(_unwrap_annotated(m)) is list]
        return type_interpolated(value, lists[0]) if len(lists) == 1 else value
    return value


def _typed(text: str, tp: Any) -> Any:
    options = [tp]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [_unwrap_annotated(m) for m in typing.get_args(tp)]
        if text == "" and type(None) in options:
            return None
    if any(o is str or o is SecretStr for o in options):
        return text
    resolved = resolve_plain(text)
    for option in options:
        if typing.get_origin(option) is Literal and resolved in typing.get_args(option):
            return resolved
        if option is bool and isinstance(resolved, bool):
            return resolved
        if option is int and isinstance(resolved, int) and not isinstance(resolved, bool):
            return resolved
        if option is float and isinstance(resolved, int | float) and not isinstance(resolved, bool):
            return resolved
    return text


def _unwrap_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def semantic_problems(data: Any) -> list[tuple[Path, str]]:
    """Cross-references pydantic cannot check: purpose names, region codes.

    Works on the data as written (not the validated model) so that these problems are
    reported together with any others; values of the wrong type are skipped here because
    validation reports them.
    """
    problems: list[tuple[Path, str]] = []
    if not isinstance(data, dict):
        return problems
    consent = _mapping(data.get("consent"))
    purposes = consent.get("purposes")

    def check_purposes(path: Path, names: Any, note: str = "") -> None:
        if not isinstance(purposes, dict) or not isinstance(names, list):
            return
        defined = ", ".join(sorted(purposes)) or "none"
        for i, name in enumerate(names):
            if isinstance(name, str) and name not in purposes:
                problems.append(((*path, i), f"unknown purpose{note}; defined purposes: {defined}"))

    for name, dest in _mapping(data.get("destinations")).items():
        check_purposes(("destinations", name, "requires"), _mapping(dest).get("requires"))
    cookie = _mapping(data.get("identity")).get("cookie", {})
    if isinstance(cookie, dict) and "requires" in cookie:
        check_purposes(("identity", "cookie", "requires"), cookie["requires"])
    elif isinstance(cookie, dict):
        default = CookieConfig.model_fields["requires"].default
        note = f" (the default of identity.cookie.requires is [{', '.join(default)}])"
        check_purposes(("identity", "cookie", "requires"), default, note)

    seen: dict[str, str] = {}
    regions = _mapping(consent.get("regions"))
    for regime in ("opt_in", "opt_out", "none"):
        codes = regions.get(regime)
        for i, code in enumerate(codes if isinstance(codes, list) else ()):
            path = ("consent", "regions", regime, i)
            if not isinstance(code, str):
                continue
            if not is_region_code(code):
                upper = code.isascii() and is_region_code(code.upper())
                hint = " (codes are upper case)" if upper else ""
                problems.append(
                    (
                        path,
                        f"not an ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision code{hint}",
                    )
                )
            elif code in seen:
                problems.append((path, f"region already listed under {seen[code]}"))
            else:
                seen[code] = regime
    country = _mapping(data.get("pii")).get("default_country")
    if (
        isinstance(country, str)
        and re.fullmatch(r"[A-Za-z]{2}", country)
        and not is_region_code(country.upper())
    ):
        problems.append((("pii", "default_country"), "not an ISO 3166-1 alpha-2 country code"))
    return problems


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_region_code(code: str) -> bool:
    """Whether ``code`` is an uppercase ISO 3166-1 alpha-2 or ISO 3166-2 code."""
    if code != code.upper():
        # compiled lookups match the upper-case codes CDNs send; "us-ca" would never match
        return False
    if "-" in code:
        return pycountry.subdivisions.get(code=code) is not None
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None
