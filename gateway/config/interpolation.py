"""Type the values that came from ``${...}`` by the field they land in.

YAML cannot know that ``pixel_id: ${ID}`` is a string of digits and ``port: ${PORT}`` a
number; the models can.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from gateway.config.model_types import strip_annotated, union_tag
from gateway.config.yaml_source import Interpolated, resolve_plain


def type_interpolated(value: Any, tp: Any) -> Any:
    """Give every ``Interpolated`` string the type of the field it lands in.

    ``${PORT}`` for an int field becomes an int by the YAML 1.2 rules, for a string field
    it stays a string (a pixel id of digits is still an id), and an empty value for an
    optional field is null. A value that fits no type is left for validation to report.
    """
    tp = strip_annotated(tp)
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
            members = [m for m in typing.get_args(tp) if union_tag(m) == value.get("type")]
            members = members or [m for m in typing.get_args(tp) if m is not type(None)]
            return type_interpolated(value, members[0]) if len(members) == 1 else value
    if isinstance(value, list) and origin is list:
        return [type_interpolated(v, typing.get_args(tp)[0]) for v in value]
    if isinstance(value, list) and origin in (typing.Union, types.UnionType):
        lists = [m for m in typing.get_args(tp) if typing.get_origin(strip_annotated(m)) is list]
        return type_interpolated(value, lists[0]) if len(lists) == 1 else value
    return value


def _typed(text: str, tp: Any) -> Any:
    options = [tp]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [strip_annotated(m) for m in typing.get_args(tp)]
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
