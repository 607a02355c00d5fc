"""Load a config file: read, include, validate, check cross-references; report every problem.

``load_config`` either returns a valid ``Config`` or raises ``ConfigError`` listing every
problem found as ``FILE:LINE: field.path: message``, sorted, without echoing any value.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from gateway.config.checks import semantic_problems
from gateway.config.includes import read_with_includes
from gateway.config.interpolation import type_interpolated
from gateway.config.models import Config
from gateway.config.problems import data_path, explain, key_hint
from gateway.errors import ConfigError


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
                (*data_path(tuple(e["loc"][:-1]), source.data)[0], hint)
                for e in errors
                if e["type"] == "extra_forbidden" and (hint := key_hint(tuple(e["loc"])))
            }
            found: dict[tuple[str | int, ...], list[str]] = {}
            for error in errors:
                path, message = explain(error, source.data)
                if error["type"] == "missing" and path in meant:
                    continue
                # a value that could not be read is already a problem; don't add its fallout
                if not any(path[: len(p)] == p for p in source.unreadable):
                    found.setdefault(path, []).append(message)
            for path, messages in found.items():
                for message in _one_of_forms(messages):
                    source.problem(path, message)
        # checked on the data as written, so they show even when validation failed elsewhere
        for path, message in semantic_problems(source.data):
            source.problem(path, message)
    if source.problems or config is None:
        raise ConfigError(source.problems)
    return config


def _one_of_forms(messages: list[str]) -> list[str]:
    """A value that fits none of a union's forms fails each: "must be a list" and "must
    be one of: all" read better as one problem, "must be a list or one of: all"."""
    if len(messages) < 2 or not all(m.startswith("must be ") for m in messages):
        return messages
    forms = sorted((m.removeprefix("must be ") for m in messages), key=lambda m: "one of" in m)
    return ["must be " + " or ".join(forms)]
