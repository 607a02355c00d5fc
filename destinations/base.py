"""What every destination adapter provides, and the types it exchanges with the gateway.

An adapter is one module named like its YAML ``type``. It declares:

- ``Settings``: a pydantic model (secrets as ``SecretStr``) extending ``DestinationSettings``;
- ``FIELDS``: the allow-list of governed-event paths that may leave, and how (``raw``,
  ``hashed`` with a PII recipe, ``normalized`` by a recipe but unhashed where the
  platform documents that, or ``never``). A path it does not declare never leaves;
  policy can only narrow it;
- ``max_batch_size``: the platform's documented limit of events per request;
- ``EVENT_NAMES``: the platform's names for the gateway's (GA4-style) event names;
  operators override them with ``event_names`` and choose with ``unknown_events``
  whether an event without a mapping goes as a custom event or is dropped;
- ``encode(batch) -> Encoded``: pure; builds requests, and rejects events the platform
  would refuse (each with a reason) so that one bad event never fails a whole batch;
  what it had to change to fit the platform's limits is a remark, never silent;
- ``classify(response) -> SendResult``: pure; ok, retry (with ``Retry-After``) or permanent;
- ``test_settings(code)``: the settings that send through the platform's test path
  (``gateway test-destination``).

``HttpDestination.send`` is the thin part that does I/O: one request over the shared
client, transport errors and timeouts classified as retryable.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Protocol, Self, TypedDict

import httpx
from pydantic import (
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from destinations.policy import (
    EventFilter,
    EventName,
    FieldPolicy,
    Kind,
    NetworkPolicy,
    PropertyEdits,
)
from destinations.strict import StrictModel
from gateway.pii import META, Recipe

Outcome = Literal["ok", "retry", "permanent"]
Treatment = Literal["raw", "hashed", "normalized", "never"]


class BatchSettings(StrictModel):
    """How the worker groups events into requests."""

    max_events: int | None = Field(None, ge=1)
    max_wait_ms: int = Field(1000, ge=0, le=60_000)


class RetrySettings(StrictModel):
    """Backoff for retryable failures. Past ``max_attempts`` tries, or once an event has
    waited ``max_age_secs`` since it was accepted, it is dead-lettered with the reason."""

    max_attempts: int = Field(12, ge=1, le=1000)
    initial_backoff_secs: float = Field(1.0, gt=0, le=3600)
    max_backoff_secs: float = Field(600.0, gt=0, le=86_400)
    #: Meta and TikTok refuse events older than 7 days: trying longer is pointless
    max_age_secs: float = Field(7 * 86_400.0, ge=60, le=30 * 86_400)


class CircuitSettings(StrictModel):
    """When to stop sending to a platform that keeps failing, and when to try again.

    ``failures`` retryable failures in a row (5xx, 429, timeouts, refused connections)
    open the circuit: nothing is sent and the events stay queued, their attempts
    untouched. After ``cooldown_secs`` one small probe request goes; if it fails the
    circuit stays open for twice as long, up to ``max_cooldown_secs``; if it succeeds
    delivery resumes.
    """

    failures: int = Field(5, ge=1, le=1000)
    cooldown_secs: float = Field(10.0, gt=0, le=3600)
    max_cooldown_secs: float = Field(300.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _cooldowns_ordered(self) -> Self:
        if self.max_cooldown_secs < self.cooldown_secs:
            raise ValueError("max_cooldown_secs must not be below cooldown_secs")
        return self


class TimeoutSettings(StrictModel):
    """Per-request timeouts; a platform that hangs is a retryable failure, not a stuck worker."""

    connect_secs: float = Field(5.0, gt=0, le=120)
    read_secs: float = Field(10.0, gt=0, le=300)


Restriction = Literal["ad_user_data", "ad_personalization", "limited_data_use"]
PlatformEventName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Restrictions(StrictModel):
    """When to send in a platform's restricted form (``send_restricted``) instead of in full.

    ``ad_user_data`` and ``ad_personalization`` name purposes: unless all are granted, the
    restriction is in force (no user data is sent; the platform is told where it has a
    field for it). ``limited_data_use`` names regions (``US-CA``, or ``US`` for every
    state) where a visitor whose required purpose was denied is sent in the platform's
    limited-data-use mode instead of being withheld.
    """

    ad_user_data: list[str] = []
    ad_personalization: list[str] = []
    limited_data_use: list[str] = []


class DestinationSettings(StrictModel):
    """Keys every destination accepts, beside its adapter's own."""

    type: str
    requires: list[str]
    #: the destination's IAB TCF vendor id (Google is 755): a TC string must consent for it
    tcf_vendor_id: int | None = Field(None, ge=1, le=65_535)
    restrictions: Restrictions = Restrictions()
    #: gateway event name -> the platform's, over the adapter's shipped defaults
    event_names: dict[EventName, PlatformEventName] = {}
    #: an event with no mapping: ``send`` it under its own name (a custom event), or
    #: ``drop`` it for this destination (recorded as a decision, never silent)
    unknown_events: Literal["send", "drop"] = "send"
    enabled: bool = True
    #: what the destination is, for governance rules that withhold by kind
    kind: Kind = "advertising"
    #: which declared fields leave (absent: all the adapter declares)
    fields: FieldPolicy | None = None
    events: EventFilter = EventFilter()
    properties: PropertyEdits = PropertyEdits()
    network: NetworkPolicy = NetworkPolicy()
    batch: BatchSettings = BatchSettings()
    retry: RetrySettings = RetrySettings()
    circuit: CircuitSettings = CircuitSettings()
    timeout: TimeoutSettings = TimeoutSettings()

    #: the adapter's platform limit; ``batch.max_events`` may only lower it
    MAX_BATCH: ClassVar[int] = 1
    #: restrictions the platform has a mode for; ``ad_user_data`` needs none (without it
    #: the gateway sends no user data), the others do (checked in ``gateway.config.checks``)
    RESTRICTED_MODES: ClassVar[frozenset[str]] = frozenset()

    @field_validator("batch")
    @classmethod
    def _batch_within_platform_limit(cls, batch: BatchSettings) -> BatchSettings:
        if batch.max_events is not None and batch.max_events > cls.MAX_BATCH:
            raise ValueError(f"max_events is above this platform's limit of {cls.MAX_BATCH}")
        return batch

    def secret_values(self) -> list[str]:
        """Every non-empty secret in these settings (to mask them wherever they could show)."""
        return [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr) and value.get_secret_value()
        ]


#: the reason an event with no name for the platform is refused (``unknown_events: drop``)
UNMAPPED = "no event name mapping (unknown_events: drop)"


def code_only_test_path(platform: str, given: str | None, configured: str) -> dict[str, Any]:
    """The test path of a platform that only has a ``test_event_code`` (Meta, TikTok):
    ``given`` (the command line) or ``configured``; none is an error saying where to get
    one, since such platforms record test events (there is no dry run)."""
    code = given or configured
    if not code:
        raise ValueError(
            f"{platform} has no dry run: pass --test-event-code with the code from Events "
            "Manager > your pixel > Test events (such events are recorded, not dropped)"
        )
    return {"test_event_code": code}


def base_url(value: str) -> str:
    """Validate a base URL override: http(s), a host, an optional path prefix, no query."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as err:
        raise ValueError("not a valid URL") from err
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http:// or https:// URL with a host")
    if url.query or url.fragment:
        raise ValueError("must not carry a query or fragment")
    if url.userinfo:
        raise ValueError("must not carry credentials (user:password@); they would reach logs")
    return value.rstrip("/")


class EndpointSettings(DestinationSettings):
    """Settings of an adapter whose platform URL can be overridden (for tests and proxies)."""

    endpoint: str

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_base_url(cls, value: str) -> str:
        return base_url(value)


class GovernedEvent(TypedDict, total=False):
    """An event after consent and governance, as queued for one destination.

    Only fields the destination declared are present. Every value under ``user`` is a
    SHA-256 hex digest of the normalized value: raw PII is never queued for a destination.
    """

    event: str
    event_id: str
    timestamp_ms: int
    received_ms: int
    page: dict[str, str]
    user: dict[str, str]
    ids: dict[str, str]
    context: dict[str, str]
    properties: dict[str, Any]
    consent: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """A leased queue item: the governed event plus its delivery bookkeeping."""

    id: int
    destination: str
    attempts: int
    created_ms: int
    event: GovernedEvent


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one governed-event path may leave for a destination."""

    treatment: Treatment
    recipe: Recipe | None = None


RAW = FieldRule("raw")
NEVER = FieldRule("never")


def hashed(recipe: Recipe = META) -> FieldRule:
    """A field that leaves only as a SHA-256 of its value normalized by ``recipe``."""
    return FieldRule("hashed", recipe)


def normalized(recipe: Recipe) -> FieldRule:
    """A field that leaves normalized by ``recipe`` but unhashed: only for the coarse
    address parts a platform documents as unhashed (GA4's city, region, postal code and
    country); the conformance suite holds every adapter to that."""
    return FieldRule("normalized", recipe)


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One HTTP request an adapter wants sent, and the queue items it carries."""

    method: str
    url: str
    item_ids: tuple[int, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event the adapter refuses to send (the platform would reject it); dead-lettered."""

    item_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Remark:
    """A change ``encode`` made to fit the platform (a name sanitized, a value cut).

    ``rule`` is a stable id (``ga4.param_value_length``) for logs and metrics; ``path``
    names the field, never its value.
    """

    item_id: int
    path: str
    action: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Encoded:
    """What ``encode`` produced: requests to send, events refused up front, and remarks."""

    requests: list[OutboundRequest]
    rejected: list[Rejection] = field(default_factory=list)
    remarks: list[Remark] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One event in the platform's format, before it is grouped into requests."""

    item_id: int
    payload: dict[str, Any]


def encode_events(
    batch: Sequence[QueuedEvent], encode_one: Callable[[QueuedEvent], EncodedEvent | Rejection]
) -> tuple[list[EncodedEvent], list[Rejection]]:
    """Encode each event; the accepted ones in order, and the rejections."""
    accepted: list[EncodedEvent] = []
    rejected: list[Rejection] = []
    for item in batch:
        result = encode_one(item)
        if isinstance(result, Rejection):
            rejected.append(result)
        else:
            accepted.append(result)
    return accepted, rejected


def encode_batches(
    batch: Sequence[QueuedEvent],
    encode_one: Callable[[QueuedEvent], EncodedEvent | Rejection],
    size: int,
    make_request: Callable[[list[EncodedEvent]], OutboundRequest],
) -> Encoded:
    """Encode each event, set rejections aside, and group the rest into requests of ``size``."""
    accepted, rejected = encode_events(batch, encode_one)
    requests = [make_request(accepted[i : i + size]) for i in range(0, len(accepted), size)]
    return Encoded(requests, rejected)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The classified answer to one request."""

    outcome: Outcome
    reason: str
    status: int | None = None
    retry_after_secs: float | None = None
    #: a permanent failure caused by one event's data: resending the others may succeed
    splittable: bool = False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    # delta-seconds is ASCII digits only (RFC 9110); str.isdigit() also takes "²", which
    # float() refuses
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_http_status(response: httpx.Response) -> SendResult:
    """The shared definition of retryable: 408, 429 and 5xx; other 4xx are permanent."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if 200 <= status < 300:
        return SendResult("ok", "accepted", status)
    if status in (408, 429) or status >= 500:
        return SendResult("retry", f"HTTP {status}", status, retry_after)
    return SendResult("permanent", f"HTTP {status}", status)


class Destination(Protocol):
    """The interface the pipeline and the delivery worker use."""

    type: ClassVar[str]
    Settings: ClassVar[type[DestinationSettings]]
    FIELDS: ClassVar[Mapping[str, FieldRule]]
    max_batch_size: ClassVar[int]
    name: str
    settings: DestinationSettings

    def missing_credentials(self) -> list[str]:
        """Names of required settings that are empty; the destination is not sent to."""

    def event_name(self, name: str) -> str | None:
        """The platform's name for gateway event ``name``; None when it is not sent."""

    def batch_size(self) -> int:
        """Events per request: the configured size, bounded by the platform's limit."""

    def encode(self, batch: Sequence[QueuedEvent], *, now_ms: int | None = None) -> Encoded:
        """Build the platform's requests for ``batch``; pure given ``now_ms``."""

    async def send(self, client: httpx.AsyncClient, request: OutboundRequest) -> SendResult:
        """Send one request and classify the answer."""


class HttpDestination:
    """Shared implementation of the thin parts; adapters supply encode and classify."""

    type: ClassVar[str]
    Settings: ClassVar[type[DestinationSettings]]
    FIELDS: ClassVar[Mapping[str, FieldRule]]
    max_batch_size: ClassVar[int]
    #: settings that must be non-empty for the destination to be sent to
    CREDENTIALS: ClassVar[tuple[str, ...]] = ()
    #: the platform's names for the gateway's event names (shipped defaults)
    EVENT_NAMES: ClassVar[Mapping[str, str]] = {}
    #: fields without which the platform refuses an event: a field list or network
    #: rule that would always remove one is refused at load (``governance_checks``)
    REQUIRED_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, settings: DestinationSettings) -> None:
        self.name = name
        self.settings = settings
        self._event_names = {**self.EVENT_NAMES, **settings.event_names}

    def event_name(self, name: str) -> str | None:
        """The platform's name for ``name``: the operator's mapping, else the shipped one,
        else ``name`` itself as a custom event unless ``unknown_events`` is ``drop``."""
        mapped = self._event_names.get(name)
        if mapped is not None:
            return mapped
        return name if self.settings.unknown_events == "send" else None

    def test_settings(self, test_event_code: str | None) -> dict[str, Any]:
        """Settings overrides that send through the platform's test path.

        Raises ValueError, with what the operator must do, when the platform has none
        that this adapter can use. The default: no test path, the event is sent as is.
        """
        return {}

    def for_testing(self, test_event_code: str | None = None) -> Self:
        """A copy of this adapter that sends through the platform's test path."""
        overrides = self.test_settings(test_event_code)
        # validated like the config, so a malformed test code is refused here too
        raw = {**self.settings.model_dump(), **overrides}
        return type(self)(self.name, type(self.settings).model_validate(raw))

    def missing_credentials(self) -> list[str]:
        missing = []
        for key in self.CREDENTIALS:
            value = getattr(self.settings, key)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if not value:
                missing.append(key)
        return missing

    def batch_size(self) -> int:
        return min(self.settings.batch.max_events or self.max_batch_size, self.max_batch_size)

    def timeout(self) -> httpx.Timeout:
        t = self.settings.timeout
        return httpx.Timeout(t.read_secs, connect=t.connect_secs)

    def classify(self, response: httpx.Response) -> SendResult:
        return classify_http_status(response)

    async def send(self, client: httpx.AsyncClient, request: OutboundRequest) -> SendResult:
        try:
            response = await client.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.content,
                timeout=self.timeout(),
            )
        except httpx.TimeoutException as err:
            return SendResult("retry", f"timeout ({type(err).__name__})")
        except httpx.RequestError as err:
            return SendResult("retry", f"request error ({type(err).__name__})")
        result = self.classify(response)
        # httpx leaves a response and its stream referring to each other (encode/httpx
        # PR 3733): a cycle holding the request body until the cyclic GC, which the
        # server tunes to run rarely. Breaking it frees a batch's body when sent.
        response.stream = httpx.ByteStream(b"")
        return result
