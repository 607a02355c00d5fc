"""Read a config file and the files its top-level ``include:`` list names.

Included paths are relative to the including file. Mappings merge recursively; a key
defined in two files, an include cycle, a file included twice and an unreadable file are
problems located where they are named. Every value keeps its own file and line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path as FsPath

from gateway.config.yaml_source import Path, Source, read_yaml
from gateway.errors import Problem


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
