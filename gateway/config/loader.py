"""Load a config file: read, include, validate, check cross-references; report every problem.

``load_config`` either returns a valid ``Config`` or raises ``ConfigError`` listing every
problem found as ``FILE:LINE: field.path: message``, sorted, without echoing any value.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, SecretStr, ValidationError

from destinations import REGISTRY
from gateway.config.models import Config
from gateway.config.yaml_source import Interpolated, Path, Source, read_yaml, resolve_plain
from gateway.errors import ConfigError

_MESSAGES = {
    "missing": "required",
    "union_tag_not_found": "'type' is required",
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
            for error in err.errors(include_input=False, include_url=False):
                path, message = _explain(error, source.data)
                source.problem(path, message)
    if config is not None:
        for path, message in semantic_problems(config):
            source.problem(path, message)
    if source.problems or config is None:
        raise ConfigError(source.problems)
    return config


def read_with_includes(file: str, env: Mapping[str, str] | None = None) -> Source:
    """Read ``file``; merge the files its top-level ``include:`` list names (relative paths)."""
    root = _read(file, env)
    _expand(root, root, file, env, {os.path.realpath(file)})
    return root


def _expand(
    root: Source, current: Source, file: str, env: Mapping[str, str] | None, seen: set[str]
) -> None:
    if not isinstance(current.data, dict) or "include" not in current.data:
        return
    includes = current.data.pop("include")
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        root.problems.append(current.make_problem(("include",), "must be a list of file paths"))
        return
    for index, name in enumerate(includes):
        path = os.path.normpath(os.path.join(os.path.dirname(file), name))
        if os.path.realpath(path) in seen:
            root.problems.append(
                current.make_problem(("include", index), "file is included more than once")
            )
            continue
        seen.add(os.path.realpath(path))
        included = _read(path, env)
        _expand(root, included, path, env, seen)
        _merge(root, included)


def _read(file: str, env: Mapping[str, str] | None) -> Source:
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        source = Source(lines={(): (file, 1)})
        source.problem((), f"cannot read file ({type(err).__name__})")
        return source
    return read_yaml(text, file, env)


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
        elif isinstance(left[key], dict) and isinstance(value, dict):
            _merge_mapping(root, other, left[key], value, sub)
        else:
            file, line = root.locate(sub)
            root.problems.append(other.make_problem(sub, f"already defined at {file}:{line}"))


def _explain(error: Mapping[str, Any], data: Any) -> tuple[Path, str]:
    """Turn one pydantic error into (path in the file, operator-facing message)."""
    loc = tuple(error["loc"])
    path, model_path = _data_path(loc, data)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = allowed_keys(Config, model_path[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), sorted(allowed), n=1, cutoff=0.6)
        return path, "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else "")
    if kind == "union_tag_invalid":
        tag = str(error.get("ctx", {}).get("tag", ""))
        hint = difflib.get_close_matches(tag, sorted(REGISTRY), n=1, cutoff=0.6)
        known = ", ".join(sorted(REGISTRY))
        return (*path, "type"), (
            f"unknown destination type; expected one of: {known}"
            + (f"; did you mean '{hint[0]}'?" if hint else "")
        )
    message = _MESSAGES.get(kind, error["msg"])
    return path, message.removeprefix("Value error, ")


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


def semantic_problems(config: Config) -> list[tuple[Path, str]]:
    """Cross-references pydantic cannot check: purpose names, region codes."""
    problems: list[tuple[Path, str]] = []
    purposes = set(config.consent.purposes)
    defined = ", ".join(sorted(purposes)) or "none"

    def check_purposes(path: Path, names: list[str]) -> None:
        for i, name in enumerate(names):
            if name not in purposes:
                problems.append(((*path, i), f"unknown purpose; defined purposes: {defined}"))

    for name, dest in config.destinations.items():
        check_purposes(("destinations", name, "requires"), dest.requires)
    check_purposes(("identity", "cookie", "requires"), config.identity.cookie.requires)

    seen: dict[str, str] = {}
    regions = config.consent.regions
    for regime in ("opt_in", "opt_out", "none"):
        for i, code in enumerate(getattr(regions, regime)):
            path = ("consent", "regions", regime, i)
            if not is_region_code(code):
                problems.append(
                    (path, "not an ISO 3166-1 alpha-2 country or ISO 3166-2 subdivision code")
                )
            elif code in seen:
                problems.append((path, f"region already listed under {seen[code]}"))
            else:
                seen[code] = regime
    default_country = config.pii.default_country
    if default_country and not is_region_code(default_country.upper()):
        problems.append((("pii", "default_country"), "not an ISO 3166-1 alpha-2 country code"))
    return problems


def is_region_code(code: str) -> bool:
    """Whether ``code`` is an uppercase ISO 3166-1 alpha-2 or ISO 3166-2 code."""
    if "-" in code:
        return pycountry.subdivisions.get(code=code) is not None
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None
