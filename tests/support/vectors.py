"""The consent-string vectors of consent.md §6, from ``tests/vectors/consent_vectors.json``.

The file is tracked in the repository and is the only source of the vectors: there is no
fallback and no skip. A missing or unreadable file, or a kind with no vector, raises, so a
test module that loads vectors fails at collection instead of passing with nothing to check.

Each vector is a dict with ``kind``, ``string``, ``expected`` and ``source`` (a dict naming a
repository and test, or a list of dicts naming web pages), and sometimes ``note``.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["VECTOR_FILE", "consent_vectors", "source_label", "vector_id", "vector_ids"]

VECTOR_FILE = Path(__file__).resolve().parents[1] / "vectors" / "consent_vectors.json"
"""The tracked vector file."""

_REQUIRED_KEYS = frozenset({"kind", "string", "expected", "source"})


@cache
def _all_vectors() -> tuple[dict[str, Any], ...]:
    vectors = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
    if not isinstance(vectors, list):
        raise ValueError(f"{VECTOR_FILE} does not hold a list of vectors")
    for index, vector in enumerate(vectors):
        missing = _REQUIRED_KEYS - set(vector)
        if missing:
            raise ValueError(f"{VECTOR_FILE} entry {index} lacks {sorted(missing)}")
    return tuple(vectors)


def consent_vectors(*kinds: str) -> list[dict[str, Any]]:
    """The vectors whose ``kind`` is one of ``kinds``, in file order (fresh copies).

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` when no kind is
    given or a requested kind has no vector (a typo must not silently select nothing).
    """
    if not kinds:
        raise ValueError("name at least one vector kind")
    chosen = [vector for vector in _all_vectors() if vector["kind"] in kinds]
    empty = sorted(set(kinds) - {vector["kind"] for vector in chosen})
    if empty:
        raise ValueError(f"{VECTOR_FILE.name} has no vector of kind {empty}")
    return copy.deepcopy(chosen)


def _slug(text: str, limit: int) -> str:
    return re.sub(r"\W+", "_", text).strip("_")[:limit].rstrip("_")


def source_label(source: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """A short, readable name for a vector's ``source``.

    A repository test reads ``<repo name>:<test name>`` (``iabgpp-es:should_decode_usnat_v1``);
    a web page its host (``simoahava.com``); several sources are joined with ``+``.
    """
    if not isinstance(source, Mapping):
        return "+".join(source_label(one) for one in source)
    if "repo" in source:
        return f"{source['repo'].split('/')[-1]}:{_slug(str(source.get('test', '')), 60)}"
    url = str(source.get("url", ""))
    host = urlsplit(url).netloc.removeprefix("www.")
    return host or _slug(url, 32)


def vector_id(vector: Mapping[str, Any]) -> str:
    """A pytest id naming the vector's kind, its source and the start of its string."""
    return f"{vector['kind']}:{source_label(vector['source'])}@{vector['string'][:24]}"


def vector_ids(vectors: Iterable[Mapping[str, Any]]) -> list[str]:
    """``vector_id`` for each vector, with ``#2``, ``#3``... appended to repeated ids."""
    seen: Counter[str] = Counter()
    ids = []
    for vector in vectors:
        name = vector_id(vector)
        seen[name] += 1
        ids.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return ids
