"""Walking the config models' type annotations: what a path may hold, which union member
a ``type`` tag picks. Used to phrase problems and to type interpolated values."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from gateway.config.yaml_source import Path


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
            tp = next((m for m in typing.get_args(tp) if union_tag(m) == part), None)
        else:
            return set()
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return set(tp.model_fields)
    return set()


def strip_annotated(tp: Any) -> Any:
    """``tp`` without its ``Annotated[...]`` wrappers."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _unwrap(tp: Any) -> Any:
    tp = strip_annotated(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def union_tag(member: Any) -> Any:
    """The ``type`` literal a discriminated-union member answers to, or None."""
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        args = typing.get_args(member.model_fields["type"].annotation)
        return args[0] if args else None
    return None
