"""The public event (CONTRACT.md "The event"), as pydantic models.

Validation is strict: a number where a string belongs is an error, unknown keys are
errors (a typo such as ``consnet`` must not silently drop consent), and every string has
a length bound. Only ``properties`` takes custom keys, with bounded depth and size.
Messages never quote the input: it may be personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Short = Annotated[str, StringConstraints(max_length=256)]
Url = Annotated[str, StringConstraints(max_length=2048)]
Id = Annotated[str, StringConstraints(max_length=512)]
Signal = Annotated[str, StringConstraints(max_length=8192)]

#: 2000-01-01 .. 2100-01-01 in epoch milliseconds: anything else is a unit mistake
MIN_TIMESTAMP_MS = 946_684_800_000
MAX_TIMESTAMP_MS = 4_102_444_800_000
MAX_PROPERTY_DEPTH = 4
MAX_PROPERTIES = 100
MAX_PROPERTY_STRING = 4096


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Page(_Model):
    """Where the event happened."""

    url: Url | None = None
    referrer: Url | None = None
    title: Annotated[str, StringConstraints(max_length=1024)] | None = None
    #: the site's own page category (``health``, ``checkout``): read by governance rules;
    #: no ad platform adapter declares it (a webhook gets the page section whole)
    category: Annotated[str, StringConstraints(max_length=64)] | None = None


class User(_Model):
    """Raw personal data as the page knows it; hashed per destination, never sent raw."""

    email: Short | None = None
    phone: Short | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    city: Short | None = None
    region: Short | None = None
    postal_code: Short | None = None
    country: Short | None = None
    external_id: Short | None = None


class Ids(_Model):
    """Identifiers from cookies and click ids."""

    client_id: Id | None = None
    #: the page's analytics session (GA4's ``ga_session_id``: session start, Unix seconds)
    session_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] | None = None
    fbp: Id | None = None
    fbc: Id | None = None
    ttp: Id | None = None
    ttclid: Id | None = None
    gclid: Id | None = None


class Consent(_Model):
    """Whatever the page's consent platform gives; any subset. Decoded by ``gateway.signals``."""

    tcf: Signal | None = None
    gpp: Signal | None = None
    gpp_sid: Annotated[list[int], Field(max_length=64)] | None = None
    usp: Annotated[str, StringConstraints(max_length=16)] | None = None
    #: Google's consent-mode network parameters, as a pixel hit carries them
    gcs: Annotated[str, StringConstraints(max_length=16)] | None = None
    gcd: Annotated[str, StringConstraints(max_length=64)] | None = None
    gcm: (
        Annotated[
            dict[
                Annotated[str, StringConstraints(max_length=64)],
                Annotated[str, StringConstraints(max_length=32)],
            ],
            Field(max_length=16),
        ]
        | None
    ) = None
    categories: (
        Annotated[
            dict[Annotated[str, StringConstraints(max_length=64)], bool], Field(max_length=64)
        ]
        | None
    ) = None


class Item(BaseModel):
    """A GA4-style ecommerce item; custom item keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    item_id: Short | None = None
    item_name: Short | None = None
    price: float | None = None
    quantity: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class Properties(BaseModel):
    """Event properties: known ecommerce keys typed, custom keys bounded."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    value: float | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    transaction_id: Short | None = None
    items: Annotated[list[Item], Field(max_length=200)] | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not (-1e15 < value < 1e15):
            raise ValueError("must be a finite number below 1e15 in magnitude")
        return value

    @model_validator(mode="after")
    def _bounded_custom_properties(self) -> Properties:
        extra = self.__pydantic_extra__ or {}
        if len(extra) > MAX_PROPERTIES:
            raise ValueError(f"at most {MAX_PROPERTIES} custom properties")
        for key, value in extra.items():
            _check_custom(key, value, 1)
        return self


def _check_custom(key: str, value: Any, depth: int) -> None:
    if len(key) > 64:
        raise ValueError("property names are at most 64 characters")
    if depth > MAX_PROPERTY_DEPTH:
        raise ValueError(f"custom properties nest at most {MAX_PROPERTY_DEPTH} levels")
    if isinstance(value, str) and len(value) > MAX_PROPERTY_STRING:
        raise ValueError(f"property strings are at most {MAX_PROPERTY_STRING} characters")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_custom(k, v, depth + 1)
    elif isinstance(value, list):
        if len(value) > 200:
            raise ValueError("property lists hold at most 200 entries")
        for v in value:
            _check_custom(key, v, depth + 1)


class Event(_Model):
    """One browser event as a page sends it."""

    event: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_ .:-]{0,99}$")]
    event_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] | None = None
    timestamp: Annotated[str, StringConstraints(max_length=64)] | int | None = None
    page: Page = Page()
    user: User = User()
    ids: Ids = Ids()
    consent: Consent = Consent()
    properties: Properties = Properties()

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            timestamp_ms(value)
        return value


def timestamp_ms(value: str | int) -> int:
    """Epoch milliseconds from ISO 8601 with a zone, or from epoch milliseconds."""
    if isinstance(value, int):
        ms = value
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as err:
            raise ValueError("must be ISO 8601 (e.g. 2026-11-23T10:15:00Z) or epoch ms") from err
        if parsed.tzinfo is None:
            raise ValueError("ISO 8601 timestamps need a zone (Z or +hh:mm)")
        ms = int(parsed.timestamp() * 1000)
    if not MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        raise ValueError("out of range: expected epoch milliseconds between 2000 and 2100")
    return ms
