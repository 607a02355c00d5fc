"""Google Analytics 4 Measurement Protocol, for web streams.

Facts from ../shared/reference/destinations.md §2, and Google's "[GA4] Event collection
limits" (support.google.com/analytics/answer/9267744) for the three page parameters:

* ``POST {base}/mp/collect?measurement_id=G-…&api_secret=…``, a JSON body for one
  ``client_id`` with at most 25 ``events``, under 130 kB. The validation server is the
  same body at ``/debug/mp/collect``; it records nothing and answers
  ``{"validationMessages": [...]}``.
* GA4 answers 2xx to anything it receives, even data it drops, so this adapter keeps to
  the limits itself: event and parameter names (40 characters of ``[A-Za-z0-9_]``, a
  letter first, no reserved names or prefixes), 25 parameters per event, 10 custom
  parameters per item, values of 100 characters (``page_location`` 1,000,
  ``page_referrer`` 420, ``page_title`` 300). What it must change to fit is a remark;
  only an event it cannot send at all (a reserved name, older than the 72-hour
  back-dating limit) is refused, and so dead-lettered with the reason.
* ``consent`` is always explicit (an omitted one inherits the visitor's online consent):
  ``ad_user_data`` / ``ad_personalization`` are ``DENIED`` when the verdict restricts
  them. ``user_data`` carries the ``ga4`` recipe's hashes (and the unhashed address
  parts Google documents), and the govern stage drops it under an ``ad_user_data``
  restriction.
* ``session_id`` is the page's (``ids.session_id``, GA4's ``ga_session_id``); without
  one, the start of the event's 30-minute window stands in, so events still land in a
  session. ``engagement_time_msec`` is the page's, else 1: GA4 counts an event towards
  active users only with one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import Field, SecretStr, field_validator

from destinations.base import (
    NEVER,
    RAW,
    UNMAPPED,
    Encoded,
    EncodedEvent,
    EndpointSettings,
    FieldRule,
    HttpDestination,
    OutboundRequest,
    QueuedEvent,
    Rejection,
    Remark,
    RetrySettings,
    SendResult,
    classify_http_status,
    encode_events,
    hashed,
    normalized,
)
from destinations.commerce import is_number
from destinations.policy import Kind
from gateway.pii import GA4

MAX_EVENTS = 25
#: "less than 130 kB": a request is cut before its body reaches this many bytes
MAX_BODY_BYTES = 130_000
#: GA4 takes timestamps up to 72 hours back; an hour of margin for time in the queue
MAX_EVENT_AGE_MS = (72 - 1) * 3600 * 1000
MAX_PARAMS = 25
MAX_ITEMS = 200
MAX_ITEM_CUSTOM_PARAMS = 10
MAX_VALUE_CHARS = 100
VALUE_LIMITS: Mapping[str, int] = {"page_location": 1000, "page_referrer": 420, "page_title": 300}
SESSION_WINDOW_SECS = 1800
ENGAGEMENT_TIME_MSEC = 1

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]+")
CLIENT_ID = re.compile(r"[0-9]+\.[0-9]+")
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_EVENT_NAMES = frozenset(
    [
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_impression",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_clear_data",
        "app_exception",
        "app_install",
        "app_remove",
        "app_store_refund",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "screen_view",
        "session_start",
        "user_engagement",
    ]
)
RESERVED_PARAMS = frozenset({"firebase_conversion"})

#: GA4's recommended events keep their names (reference §2.8, §5)
EVENT_NAMES: Mapping[str, str] = {
    name: name
    for name in (
        "page_view",
        "view_item",
        "view_item_list",
        "select_item",
        "search",
        "add_to_cart",
        "remove_from_cart",
        "add_to_wishlist",
        "view_cart",
        "begin_checkout",
        "add_shipping_info",
        "add_payment_info",
        "purchase",
        "refund",
        "sign_up",
        "login",
        "generate_lead",
    )
}

#: GA4's documented item parameters; any other item key is one of its 10 custom ones
ITEM_PARAMS = frozenset(
    {
        "item_id",
        "item_name",
        "affiliation",
        "coupon",
        "discount",
        "index",
        "item_brand",
        "item_category",
        "item_category2",
        "item_category3",
        "item_category4",
        "item_category5",
        "item_list_id",
        "item_list_name",
        "item_variant",
        "location_id",
        "price",
        "quantity",
        "promotion_id",
        "promotion_name",
        "creative_name",
        "creative_slot",
    }
)

#: properties that become parameters of their own, ahead of custom ones
_MAPPED_PROPERTIES = ("value", "currency", "transaction_id", "items", "engagement_time_msec")
_PAGE_PARAMS = (("url", "page_location"), ("referrer", "page_referrer"), ("title", "page_title"))


def problem_with_name(name: str, *, event: bool = True) -> str | None:
    """Why ``name`` cannot be a GA4 event name (or, with ``event=False``, a parameter
    name), or None when it can. The reserved prefixes apply to both; the reserved names
    differ (reference §2.3)."""
    if not NAME.fullmatch(name):
        return "GA4 names are 1-40 letters, digits or _, starting with a letter"
    reserved = RESERVED_EVENT_NAMES if event else RESERVED_PARAMS
    if name.startswith(RESERVED_PREFIXES) or name in reserved:
        return "a name GA4 reserves"
    return None


class Ga4RetrySettings(RetrySettings):
    """GA4 takes events back-dated at most 72 hours: keep trying no longer than that,
    whatever else an operator sets under ``retry``."""

    max_age_secs: float = Field(72 * 3600.0, ge=60, le=72 * 3600.0)


class Settings(EndpointSettings):
    """``ga4_mp`` settings; empty ``measurement_id`` or ``api_secret`` keep events queued."""

    type: Literal["ga4_mp"]
    kind: Kind = "analytics"
    measurement_id: str = Field("", pattern=r"^(G-[A-Z0-9]{4,20})?$")
    api_secret: SecretStr = SecretStr("")
    #: https://region1.google-analytics.com collects in the EU
    endpoint: str = "https://www.google-analytics.com"
    #: send to the validation server instead: nothing is recorded, and an event it has a
    #: validation message for is dead-lettered with that message
    validation: bool = False
    retry: Ga4RetrySettings = Ga4RetrySettings()

    MAX_BATCH: ClassVar[int] = MAX_EVENTS
    RESTRICTED_MODES: ClassVar[frozenset[str]] = frozenset({"ad_personalization"})

    @field_validator("event_names")
    @classmethod
    def _ga4_names(cls, names: dict[str, str]) -> dict[str, str]:
        for source, target in names.items():
            if (problem := problem_with_name(target)) is not None:
                raise ValueError(f"{source}: {target!r} is not a GA4 event name ({problem})")
        return names


class Ga4Mp(HttpDestination):
    """Adapter for the GA4 Measurement Protocol."""

    type = "ga4_mp"
    Settings = Settings
    max_batch_size = MAX_EVENTS
    CREDENTIALS = ("measurement_id", "api_secret")
    EVENT_NAMES = EVENT_NAMES
    FIELDS: ClassVar[Mapping[str, FieldRule]] = {
        "event": RAW,
        # GA4 deduplicates nothing by event id (only purchases, by transaction_id)
        "event_id": NEVER,
        "timestamp_ms": RAW,
        "page.url": RAW,
        "page.referrer": RAW,
        "page.title": RAW,
        "user.email": hashed(GA4),
        "user.phone": hashed(GA4),
        "user.first_name": hashed(GA4),
        "user.last_name": hashed(GA4),
        "user.city": normalized(GA4),
        "user.region": normalized(GA4),
        "user.postal_code": normalized(GA4),
        "user.country": normalized(GA4),
        # becomes user_id, as its SHA-256
        "user.external_id": hashed(GA4),
        "ids.client_id": RAW,
        "ids.session_id": RAW,
        "context.ip": RAW,
        "context.user_agent": RAW,
        "context.region": RAW,
        "consent.restrictions": RAW,
        "properties.*": RAW,
    }

    settings: Settings

    def test_settings(self, test_event_code: str | None) -> dict[str, Any]:
        """GA4's test path is its validation server."""
        return {"validation": True}

    def url(self) -> str:
        s = self.settings
        path = "/debug/mp/collect" if s.validation else "/mp/collect"
        query = httpx.QueryParams(
            {"measurement_id": s.measurement_id, "api_secret": s.api_secret.get_secret_value()}
        )
        return f"{s.endpoint}{path}?{query}"

    def encode(self, batch: Sequence[QueuedEvent], *, now_ms: int | None = None) -> Encoded:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        remarks: list[Remark] = []
        accepted, rejected = encode_events(batch, lambda item: self._event(item, now, remarks))
        # one request carries one visitor's events: group by everything request-level
        groups: dict[bytes, tuple[dict[str, Any], list[EncodedEvent]]] = {}
        for encoded in accepted:
            common = encoded.payload["request"]
            key = orjson.dumps(common, option=orjson.OPT_SORT_KEYS)
            groups.setdefault(key, (common, []))[1].append(encoded)
        requests: list[OutboundRequest] = []
        for common, events in groups.values():
            requests += self._requests(common, events, rejected)
        return Encoded(requests, rejected, remarks)

    def _requests(
        self, common: dict[str, Any], events: list[EncodedEvent], rejected: list[Rejection]
    ) -> list[OutboundRequest]:
        """Requests of at most ``batch_size`` events and ``MAX_BODY_BYTES`` each."""
        base = len(orjson.dumps(self._body(common, [])))
        requests: list[OutboundRequest] = []
        chunk: list[EncodedEvent] = []
        size = base
        for encoded in events:
            # an event adds its JSON, and a comma when it is not the first
            alone = len(orjson.dumps(encoded.payload["event"]))
            if base + alone >= MAX_BODY_BYTES:
                rejected.append(Rejection(encoded.item_id, "over GA4's 130 kB request limit"))
                continue
            if chunk and (len(chunk) >= self.batch_size() or size + alone + 1 >= MAX_BODY_BYTES):
                requests.append(self._request(common, chunk))
                chunk, size = [], base
            size += alone + (1 if chunk else 0)
            chunk.append(encoded)
        if chunk:
            requests.append(self._request(common, chunk))
        return requests

    def _body(self, common: dict[str, Any], events: list[EncodedEvent]) -> dict[str, Any]:
        body = {**common, "events": [e.payload["event"] for e in events]}
        if self.settings.validation:
            # Google's advice for validating: hold events to its recommendations
            body["validation_behavior"] = "ENFORCE_RECOMMENDATIONS"
        return body

    def _request(self, common: dict[str, Any], events: list[EncodedEvent]) -> OutboundRequest:
        return OutboundRequest(
            "POST",
            self.url(),
            tuple(e.item_id for e in events),
            {"content-type": "application/json"},
            orjson.dumps(self._body(common, events)),
        )

    def _event(
        self, item: QueuedEvent, now_ms: int, remarks: list[Remark]
    ) -> EncodedEvent | Rejection:
        ev = item.event
        fit = _Fitter(item.id, remarks)
        name = self.event_name(ev["event"])
        if name is None:
            return Rejection(item.id, UNMAPPED)
        name = fit.name("event", name, event=True)
        if name is None:
            return Rejection(item.id, "event name GA4 reserves or cannot take")
        ts = min(ev["timestamp_ms"], now_ms)
        if now_ms - ts > MAX_EVENT_AGE_MS:
            return Rejection(item.id, "older than GA4's 72-hour back-dating limit")
        ids = ev.get("ids", {})
        client_id = ids.get("client_id", "")
        if not CLIENT_ID.fullmatch(client_id):
            return Rejection(item.id, "no GA4 client_id (two numbers joined by a period)")
        params = fit.params(_params(ev, ts))
        event: dict[str, Any] = {"name": name, "timestamp_micros": ts * 1000, "params": params}
        return EncodedEvent(item.id, {"request": _request_fields(ev, client_id), "event": event})

    def classify(self, response: httpx.Response) -> SendResult:
        if not self.settings.validation:
            return classify_http_status(response)
        return classify_validation(response)


def classify_validation(response: httpx.Response) -> SendResult:
    """The validation server's answer: a 2xx with no ``validationMessages`` is ok; any
    message is a permanent failure naming it (the same events would fail again)."""
    result = classify_http_status(response)
    if result.outcome != "ok":
        return result
    try:
        messages = orjson.loads(response.content).get("validationMessages")
    except (orjson.JSONDecodeError, AttributeError):
        return SendResult("permanent", "validation server answered no JSON", result.status)
    if not isinstance(messages, list):
        return SendResult(
            "permanent", "validation server answered no validationMessages", result.status
        )
    if not messages:
        return SendResult("ok", "valid (validation server: nothing recorded)", result.status)
    described = "; ".join(_message(m) for m in messages[:5])
    # messages are per event ("Event at index: [0]"): split, so that only the events they
    # name are dead-lettered (the validation server records nothing, resending is free)
    return SendResult("permanent", f"GA4 validation: {described}", result.status, splittable=True)


def _message(message: Any) -> str:
    if not isinstance(message, dict):
        return "unreadable message"
    code = message.get("validationCode", "?")
    return f"{code} at {message.get('fieldPath', '?')}: {message.get('description', '')}"[:300]


def _request_fields(ev: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    """The request-level part: the visitor, their consent, data and location."""
    out: dict[str, Any] = {"client_id": client_id}
    user = ev.get("user", {})
    if user_id := user.get("external_id"):
        out["user_id"] = user_id
    restrictions = ev.get("consent", {}).get("restrictions", ())
    out["consent"] = {
        key: "DENIED" if key in restrictions else "GRANTED"
        for key in ("ad_user_data", "ad_personalization")
    }
    if data := user_data(user):
        out["user_data"] = data
    context = ev.get("context", {})
    if location := user_location(context.get("region")):
        out["user_location"] = location
    if ip := context.get("ip"):
        out["ip_override"] = ip
    if ua := context.get("user_agent"):
        out["user_agent"] = ua
    return out


def user_data(user: Mapping[str, str]) -> dict[str, Any]:
    """GA4 ``user_data`` from the governed (hashed, or normalized) user fields."""
    out: dict[str, Any] = {}
    if email := user.get("email"):
        out["sha256_email_address"] = [email]
    if phone := user.get("phone"):
        out["sha256_phone_number"] = [phone]
    address = {
        target: user[source]
        for source, target in (
            ("first_name", "sha256_first_name"),
            ("last_name", "sha256_last_name"),
            ("city", "city"),
            ("region", "region"),
            ("postal_code", "postal_code"),
            ("country", "country"),
        )
        if user.get(source)
    }
    if address:
        out["address"] = [address]
    return out


def user_location(region: str | None) -> dict[str, str] | None:
    """``user_location`` from the visitor's region (``US-CA`` or ``DE``), which GA4 uses
    instead of geolocating the IP address."""
    if not region:
        return None
    country, _, subdivision = region.partition("-")
    out = {"country_id": country}
    if subdivision:
        out["region_id"] = region
    return out


def _params(ev: Mapping[str, Any], ts_ms: int) -> list[tuple[str, Any, str]]:
    """The event's parameters before the limits, in priority order (the first 25 stay),
    each with the governed path it comes from (for remarks)."""
    props = ev.get("properties", {})
    ids = ev.get("ids", {})
    session = ids.get("session_id") or str(
        ts_ms // 1000 // SESSION_WINDOW_SECS * SESSION_WINDOW_SECS
    )
    engagement = props.get("engagement_time_msec")
    if not isinstance(engagement, int) or isinstance(engagement, bool) or engagement < 0:
        engagement = ENGAGEMENT_TIME_MSEC
    out: list[tuple[str, Any, str]] = [
        ("session_id", session, "ids.session_id"),
        ("engagement_time_msec", engagement, "properties.engagement_time_msec"),
    ]
    page = ev.get("page", {})
    out += [(param, page[key], f"page.{key}") for key, param in _PAGE_PARAMS if page.get(key)]
    if is_number(value := props.get("value")):
        out.append(("value", value, "properties.value"))
    if isinstance(currency := props.get("currency"), str):
        out.append(("currency", currency.upper(), "properties.currency"))
    # an empty transaction_id would make GA4 deduplicate every such purchase together
    if isinstance(transaction := props.get("transaction_id"), str) and transaction:
        out.append(("transaction_id", transaction, "properties.transaction_id"))
    if isinstance(items := props.get("items"), list):
        out.append(("items", items, "properties.items"))
    out += [(k, v, f"properties.{k}") for k, v in props.items() if k not in _MAPPED_PROPERTIES]
    return out


class _Fitter:
    """Fits names, values and counts to GA4's limits, noting each change as a remark."""

    def __init__(self, item_id: int, remarks: list[Remark]) -> None:
        self.item_id = item_id
        self.remarks = remarks

    def note(self, path: str, action: str, rule: str, reason: str) -> None:
        self.remarks.append(Remark(self.item_id, path, action, f"ga4.{rule}", reason))

    def name(self, path: str, name: str, *, event: bool = False) -> str | None:
        """``name`` as GA4 takes it: invalid characters become ``_``, cut to 40; None when
        it cannot be made valid or is reserved."""
        if problem_with_name(name, event=event) is None:
            return name
        fixed = _NOT_NAME_CHARS.sub("_", name).strip("_")[:40]
        if problem_with_name(fixed, event=event) is not None:
            self.note(path, "drop", "name", "not a GA4 name, and cannot be made one")
            return None
        self.note(path, "rename", "name", "renamed to fit GA4's name rules")
        return fixed

    def value(self, path: str, value: Any, limit: int) -> Any:
        """A string, number or bool as GA4 takes it; None for anything else."""
        if isinstance(value, bool):
            # GA4 parameters are strings or numbers
            return int(value)
        if is_number(value):
            return value
        if isinstance(value, str):
            if len(value) > limit:
                self.note(path, "truncate", "value_length", f"cut to GA4's {limit} characters")
                return value[:limit]
            return value
        self.note(path, "drop", "value_type", "GA4 parameters are strings or numbers")
        return None

    def params(self, pairs: list[tuple[str, Any, str]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value, path in pairs:
            if key == "items":
                out["items"] = self.items(value)
                continue
            name = self.name(path, key)
            if name is None:
                continue
            if name in out:
                # a custom property named like one the gateway sets (session_id, page_title)
                self.note(path, "drop", "param_name", "a parameter the gateway already sets")
                continue
            if len(out) - ("items" in out) >= MAX_PARAMS:
                self.note(path, "drop", "param_count", f"over GA4's {MAX_PARAMS} parameters")
                continue
            fitted = self.value(path, value, VALUE_LIMITS.get(name, MAX_VALUE_CHARS))
            if fitted is not None:
                out[name] = fitted
        return out

    def items(self, items: list[Any]) -> list[dict[str, Any]]:
        if len(items) > MAX_ITEMS:
            self.note("properties.items", "truncate", "item_count", f"over {MAX_ITEMS} items")
        out = []
        for index, item in enumerate(items[:MAX_ITEMS]):
            if not isinstance(item, Mapping):
                continue
            fitted: dict[str, Any] = {}
            custom = 0
            for key, value in item.items():
                path = f"properties.items.{index}.{key}"
                if key not in ITEM_PARAMS:
                    name = self.name(path, key)
                    if name is None:
                        continue
                    if custom >= MAX_ITEM_CUSTOM_PARAMS:
                        self.note(
                            path, "drop", "item_param_count", "over 10 custom item parameters"
                        )
                        continue
                    custom += 1
                    key = name
                if (v := self.value(path, value, MAX_VALUE_CHARS)) is not None:
                    fitted[key] = v
            if fitted:
                out.append(fitted)
        return out
