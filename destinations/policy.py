"""Per-destination governance settings: what an operator may narrow beside consent.

Every key here can only take away from what the adapter's ``FIELDS`` declares: a field
list names declared paths (``gateway validate`` refuses any other), an event list
filters, network rules truncate or drop. ``fields`` is an allow-list: an empty list sends
no optional field at all, and "everything the adapter declares" is written ``all``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from destinations.strict import StrictModel

#: what a destination is, for rules that withhold events by kind (bots, sensitive pages)
Kind = Literal["advertising", "analytics"]
RegimeName = Literal["opt_in", "opt_out", "none"]
EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_ .:-]{0,99}$")]
#: a governed-event path as adapters declare them (``user.email``, ``properties.*``)
FieldPath = Annotated[
    str, StringConstraints(pattern=r"^(page|user|ids|context|properties)\.([A-Za-z0-9_]+|\*)$")
]
PropertyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
FieldList = Literal["all"] | list[FieldPath]


class FieldPolicy(StrictModel):
    """Which of the adapter's declared fields leave: ``default`` for every event, or a
    list per event name. The event's name, id, time and consent always go (they carry
    deduplication and the consent decision)."""

    default: FieldList
    events: dict[EventName, FieldList] = {}


class EventFilter(StrictModel):
    """Which events a destination gets: only ``allow`` (when given), never ``deny``."""

    allow: list[EventName] | None = None
    deny: list[EventName] = []


class PropertyEdits(StrictModel):
    """Property renames and constants, applied before the field allow-list."""

    rename: dict[PropertyName, PropertyName] = {}
    add: dict[PropertyName, Annotated[str, StringConstraints(max_length=256)] | int | bool] = {}


IpMode = Literal["raw", "truncate", "none"]
UserAgentMode = Literal["raw", "family", "none"]
LocationMode = Literal["precise", "coarse", "none"]


class NetworkOverride(StrictModel):
    """Network rules for some regions or regimes; the first override that matches wins,
    key by key (an override without ``ip`` keeps the destination's ``ip``)."""

    regions: list[str] = []
    regimes: list[RegimeName] = []
    ip: IpMode | None = None
    user_agent: UserAgentMode | None = None
    location: LocationMode | None = None

    @model_validator(mode="after")
    def _matches_something(self) -> NetworkOverride:
        if not self.regions and not self.regimes:
            raise ValueError("an override needs regions or regimes to match")
        return self


class NetworkPolicy(StrictModel):
    """What a destination learns about the visitor's network and place.

    ``ip``: ``raw``, ``truncate`` (IPv4 to /24, IPv6 to /48) or ``none``.
    ``user_agent``: ``raw``, ``family`` (browser and OS family only) or ``none``.
    ``location``: ``precise`` (city and postal code too), ``coarse`` (region and
    country only: the default, precise location is dropped unless allowed) or ``none``.
    """

    ip: IpMode = "raw"
    user_agent: UserAgentMode = "raw"
    location: LocationMode = "coarse"
    overrides: list[NetworkOverride] = Field(default=[], max_length=64)
