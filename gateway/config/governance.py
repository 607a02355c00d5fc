"""The ``governance:`` section: rules over every event, beside each destination's own.

Scrubbing (PII in free text), sensitive pages, bot and junk filtering, and the tracking
plan. Each rule has an id that its remarks, metrics and ``gateway explain`` name.
Patterns are RE2 syntax (``gateway.governance.patterns``): matching takes linear time
whatever an operator writes, so no pattern can stall the request path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from destinations.policy import EventName, Kind, PropertyName
from destinations.strict import StrictModel

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
#: drop the query parameter or the field; redact the match; replace the match by its SHA-256
TextAction = Literal["drop", "redact", "hash"]


class QueryParams(StrictModel):
    """Query parameters removed from URLs (page URL, referrer, URL-valued properties),
    by name, case-insensitively."""

    names: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]]
    action: TextAction = "drop"


class Pattern(StrictModel):
    """Text found anywhere in free text: a built-in detector or an RE2 ``regex``."""

    id: RuleId
    builtin: Literal["email", "phone"] | None = None
    regex: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    #: ``drop`` removes the whole field the match was found in
    action: TextAction = "redact"

    @model_validator(mode="after")
    def _one_detector(self) -> Pattern:
        if (self.builtin is None) == (self.regex is None):
            raise ValueError("give exactly one of builtin and regex")
        return self


class ScrubConfig(StrictModel):
    """PII in page URLs, referrers, titles and properties."""

    query_params: QueryParams | None = None
    patterns: list[Pattern] = Field(default=[], max_length=64)


class SensitivePage(StrictModel):
    """Pages whose address or category says something sensitive about the visitor.

    ``paths`` are globs on the URL path (``*`` matches any characters, ``/`` included;
    case-insensitive); ``categories`` match the event's ``page.category``. A match on the
    page or on the referrer applies the rule.
    """

    id: RuleId
    paths: list[Annotated[str, StringConstraints(pattern=r"^/", max_length=256)]] = []
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = []
    #: cut the page URL and referrer to their origin and drop the title
    strip: bool = True
    #: destination kinds that get nothing for such an event
    withhold_from: list[Kind] = []

    @model_validator(mode="after")
    def _matches_something(self) -> SensitivePage:
        if not self.paths and not self.categories:
            raise ValueError("a rule needs paths or categories to match")
        return self


class BotsConfig(StrictModel):
    """Bots and junk: such events go to no destination outside ``keep_for``."""

    enabled: bool = True
    #: the crawler list of the ``crawlerdetect`` package (Crawler-Detect's patterns)
    known_bots: bool = True
    #: headless and automation browsers (HeadlessChrome, PhantomJS, Lighthouse ...)
    headless: bool = True
    #: prefetch and link-preview requests (``Sec-Purpose: prefetch``, ``X-Purpose: preview``)
    prefetch: bool = True
    #: negative values and prices, values above ``max_value``
    impossible_values: bool = True
    max_value: float | None = Field(None, gt=0)
    #: more user-agent patterns (RE2, case-insensitive) to treat as bots
    user_agents: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]] = []
    #: destination kinds that still get filtered events (for example analytics)
    keep_for: list[Kind] = []


PropertyType = Literal["string", "number", "integer", "boolean", "array", "object"]
#: flag: count and pass; strip: remove the bad property; dead_letter: the event
Handling = Literal["flag", "strip", "dead_letter"]


class PropertySpec(StrictModel):
    """What one property of a planned event must look like."""

    type: PropertyType | None = None
    required: bool = False
    values: list[str | int | float | bool] | None = Field(None, min_length=1)
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(None, ge=1)
    #: how a violation of this property is handled (default: the event's)
    on_violation: Handling | None = None


class EventPlan(StrictModel):
    """The expected properties of one event."""

    on_violation: Handling = "flag"
    properties: dict[PropertyName, PropertySpec] = {}
    #: false: a property the plan does not list is a violation
    additional_properties: bool = True


class TrackingPlan(StrictModel):
    """Per event name, the properties the site promises to send."""

    #: an event the plan does not list: ``pass``, ``flag`` (counted) or ``dead_letter``
    unknown_events: Literal["pass", "flag", "dead_letter"] = "pass"
    events: dict[EventName, EventPlan] = {}


class GovernanceConfig(StrictModel):
    """Rules over every event, applied after consent and before queueing."""

    scrub: ScrubConfig = ScrubConfig()
    sensitive_pages: list[SensitivePage] = Field(default=[], max_length=64)
    bots: BotsConfig = BotsConfig()
    tracking_plan: TrackingPlan = TrackingPlan()
