"""Read YAML into plain values while remembering where every value came from.

PyYAML's loaders lose line numbers, keep the last of two duplicate keys silently and
read YAML 1.1 booleans (the region code ``NO`` becomes ``False``). This module composes
the node graph instead and builds values itself:

- mapping keys must be strings and unique (a duplicate is a problem at its line);
- plain scalars follow the YAML 1.2 core schema: ``true``/``false``, ``null``/``~``,
  decimal, ``0o`` octal and ``0x`` hex integers, floats; everything else is a string;
- ``${NAME}`` and ``${NAME:-default}`` are replaced per scalar (``$$`` is a literal
  ``$``). The result of a plain scalar is an ``Interpolated`` string that the loader
  types by the field it lands in (``port: ${PORT}`` an integer, ``pixel_id: ${ID}`` a
  string even when all digits); a quoted one (or one tagged ``!!str``) stays a string;
- every value's path (a tuple of keys and list indices) maps to its file and line.

Problems never quote the offending value: it may be a secret.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.reader
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from gateway.errors import Problem

Path = tuple[str | int, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^([-+]?)\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_VAR = re.compile(r"\$(?:\$|\{([^}]*)\})")
_VAR_BODY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)

_STR_TAG = BaseResolver.DEFAULT_SCALAR_TAG
#: untagged plain scalars, typed here; an explicit ``!!str`` keeps the string tag
_PLAIN_TAG = "tag:gateway.invalid,2024:plain"
_KNOWN_TAGS = {
    _STR_TAG,
    _PLAIN_TAG,
    BaseResolver.DEFAULT_SEQUENCE_TAG,
    BaseResolver.DEFAULT_MAPPING_TAG,
}


class _ComposeOnly(Reader, Scanner, Parser, Composer, BaseResolver):
    """A PyYAML composer with no implicit resolvers: plain scalars get a tag of their own."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        BaseResolver.__init__(self)

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)


def resolve_plain(text: str) -> Any:
    """Type a plain (unquoted) scalar by the YAML 1.2 core schema."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text, 10)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if m := _INF.match(text):
        return -math.inf if m.group(1) == "-" else math.inf
    if _NAN.match(text):
        return math.nan
    return text


class Interpolated(str):
    """A plain scalar that came from ``${...}``: typed later by its target field."""

    __slots__ = ()


@dataclass
class Source:
    """Values read from one or more YAML files, with the location of every path."""

    data: Any = None
    lines: dict[Path, tuple[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: paths whose value could not be read (already a problem): validation skips them
    unreadable: set[Path] = field(default_factory=set)

    def locate(self, path: Path) -> tuple[str, int]:
        """The file and line of ``path``, or of its nearest ancestor that exists."""
        for end in range(len(path), -1, -1):
            if (where := self.lines.get(path[:end])) is not None:
                return where
        return ("<config>", 1)

    def make_problem(self, path: Path, message: str) -> Problem:
        """A problem located at ``path`` (or its nearest located ancestor)."""
        file, line = self.locate(path)
        return Problem(file, line, format_path(path), message)

    def problem(self, path: Path, message: str) -> None:
        """Record a problem located at ``path``."""
        self.problems.append(self.make_problem(path, message))


def format_path(path: Path) -> str:
    """Render a path as operators write it: ``destinations.meta.requires[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Builder:
    def __init__(self, file: str, env: Mapping[str, str], source: Source) -> None:
        self.file = file
        self.env = env
        self.source = source

    def build(self, node: Node, path: Path) -> Any:
        self.source.lines.setdefault(path, (self.file, node.start_mark.line + 1))
        if node.tag not in _KNOWN_TAGS:
            self._problem(node, path, "YAML tags are not supported (only !!str is); remove the tag")
            self.source.unreadable.add(path)
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, path, "mapping keys must be plain strings")
                continue
            key = key_node.value
            if key in first_seen:
                self.source.problems.append(
                    Problem(
                        self.file,
                        line,
                        format_path((*path, key)),
                        f"duplicate key (first defined on line {first_seen[key]})",
                    )
                )
                continue
            first_seen[key] = line
            self.source.lines[(*path, key)] = (self.file, line)
            out[key] = self.build(value_node, (*path, key))
        return out

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        text = node.value
        plain = node.tag == _PLAIN_TAG
        if "$" not in text:
            return resolve_plain(text) if plain else text
        replaced = self._interpolate(text, node, path)
        if replaced is None:
            self.source.unreadable.add(path)
            return None
        return Interpolated(replaced) if plain else replaced

    def _interpolate(self, text: str, node: ScalarNode, path: Path) -> str | None:
        failed = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal failed
            if match.group(0) == "$$":
                return "$"
            body = _VAR_BODY.match(match.group(1))
            if body is None:
                self._problem(node, path, "malformed ${...}: expected ${NAME} or ${NAME:-default}")
                failed = True
                return ""
            name, default = body.group(1), body.group(2)
            if default is not None and "${" in default:
                self._problem(node, path, "malformed ${...}: a default cannot hold another ${...}")
                failed = True
                return ""
            value = self.env.get(name)
            if value is None:
                if default is None:
                    self._problem(
                        node, path, f"environment variable {name} is not set and has no default"
                    )
                    failed = True
                    return ""
                return default
            return value

        result = _VAR.sub(substitute, text)
        if not failed and re.search(r"\$\{", _VAR.sub("", text)):
            self._problem(node, path, "malformed ${...}: missing closing brace")
            failed = True
        return None if failed else result

    def _problem(self, node: Node, path: Path, message: str) -> None:
        self.source.problems.append(
            Problem(self.file, node.start_mark.line + 1, format_path(path), message)
        )


def read_yaml(text: str, file: str, env: Mapping[str, str] | None = None) -> Source:
    """Compose ``text`` (named ``file`` in problems) into values with their locations."""
    source = Source()
    try:
        loader = _ComposeOnly(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        source.problems.append(_syntax_problem(err, text, file))
        return source
    except yaml.reader.ReaderError as err:
        line = text[: err.position].count("\n") + 1
        message = "invalid YAML: a control character or other character YAML does not allow"
        source.problems.append(Problem(file, line, "", message))
        return source
    except yaml.YAMLError as err:
        source.problems.append(Problem(file, 1, "", f"invalid YAML: {type(err).__name__}"))
        return source
    if node is None:
        source.lines[()] = (file, 1)
        return source
    source.data = _Builder(file, os.environ if env is None else env, source).build(node, ())
    return source


def _syntax_problem(err: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """Where the parser stopped and what it expected (PyYAML's words, never the line's text)."""
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 1
    what = err.problem or "syntax error"
    if err.context:
        started = err.context_mark.line + 1 if err.context_mark is not None else line
        what += f" ({err.context}" + (f" started on line {started})" if started != line else ")")
    lines = text.splitlines()
    if "got '{'" in what and "${" in (lines[line - 1] if line <= len(lines) else ""):
        # a plain scalar cannot hold "{" inside [...] or {...}
        what += "; inside [ ] or { } put ${...} in quotes, or use block style"
    elif "'\\t'" in what:
        what += "; indent with spaces, not tabs"
    return Problem(file, line, "", f"invalid YAML: {what}")
