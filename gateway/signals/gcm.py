"""Google Consent Mode v2: the explicit consent object a page passes to ``gtag('consent', …)``.

Values are ``granted`` or ``denied`` (case-insensitive). Anything else is read as denied
and reported; unknown consent types are ignored and reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

GcmValue = Literal["granted", "denied"]
GcmType = Literal[
    "ad_storage",
    "analytics_storage",
    "ad_user_data",
    "ad_personalization",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
]
TYPES = frozenset(get_args(GcmType))


@dataclass(frozen=True, slots=True)
class GcmReading:
    """The state of each consent type the page set; types it did not set are absent."""

    values: Mapping[str, GcmValue]
    problems: tuple[str, ...] = ()


def decode(raw: Mapping[str, str] | None) -> GcmReading:
    """Read a consent-mode object such as ``{"ad_storage": "granted", ...}``."""
    values: dict[str, GcmValue] = {}
    problems: list[str] = []
    for name, value in (raw or {}).items():
        if name not in TYPES:
            problems.append("unknown consent-mode type ignored")
            continue
        state = value.strip().lower()
        if state == "granted" or state == "denied":
            values[name] = state
        else:
            values[name] = "denied"
            problems.append(f"{name}: unrecognised value, read as denied")
    return GcmReading(values, tuple(problems))
