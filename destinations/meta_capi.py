"""Meta Conversions API (server events for a Pixel).

Facts from ../shared/reference/destinations.md §1: ``POST {base}/{version}/{pixel}/events``
with the token as ``access_token`` query parameter, ``{"data": [...]}`` of at most 1,000
events; one invalid event rejects the whole request, and so does one ``event_time`` older
than 7 days, so both are refused per event here (dead-lettered with the reason) instead of
being sent. ``user_data`` hash keys carry SHA-256 of values normalized by the ``meta``
recipe; IP, user agent, ``fbp`` and ``fbc`` are sent unhashed, as Meta documents.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import Field, SecretStr

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
    SendResult,
    classify_http_status,
    code_only_test_path,
    encode_batches,
    hashed,
    parse_retry_after,
)
from destinations.commerce import commerce_fields, is_number

#: Meta refuses a whole request holding an event over 7 days old; an hour of margin keeps
#: an event that is just inside the limit when encoded from crossing it in flight
MAX_EVENT_AGE_MS = (7 * 24 - 1) * 3600 * 1000

#: gateway (GA4-style) names -> Meta standard events (reference §5); others go as custom events
EVENT_NAMES: Mapping[str, str] = {
    "page_view": "PageView",
    "view_item": "ViewContent",
    "search": "Search",
    "add_to_cart": "AddToCart",
    "add_to_wishlist": "AddToWishlist",
    "begin_checkout": "InitiateCheckout",
    "add_payment_info": "AddPaymentInfo",
    "purchase": "Purchase",
    "sign_up": "CompleteRegistration",
    "generate_lead": "Lead",
}

#: governed ``user`` fields -> Meta ``user_data`` keys (all hashed)
USER_KEYS: Mapping[str, str] = {
    "email": "em",
    "phone": "ph",
    "first_name": "fn",
    "last_name": "ln",
    "city": "ct",
    "region": "st",
    "postal_code": "zp",
    "country": "country",
    "external_id": "external_id",
}

#: Graph API error codes that mean "wait and retry" (reference §1.8)
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 341, 368, 613, 80003, 80004})


class Settings(EndpointSettings):
    """``meta_capi`` settings; empty ``pixel_id`` or ``access_token`` keep events queued."""

    type: Literal["meta_capi"]
    pixel_id: str = Field("", pattern=r"^[0-9]*$")
    access_token: SecretStr = SecretStr("")
    endpoint: str = "https://graph.facebook.com"
    api_version: str = Field("v26.0", pattern=r"^v[0-9]+\.[0-9]+$")
    test_event_code: str = ""

    MAX_BATCH: ClassVar[int] = 1000
    RESTRICTED_MODES: ClassVar[frozenset[str]] = frozenset({"limited_data_use"})


class MetaCapi(HttpDestination):
    """Adapter for the Meta Conversions API."""

    type = "meta_capi"
    Settings = Settings
    max_batch_size = 1000
    CREDENTIALS = ("pixel_id", "access_token")
    EVENT_NAMES = EVENT_NAMES
    #: Meta refuses website events without a user agent or an event_source_url
    REQUIRED_FIELDS: ClassVar[frozenset[str]] = frozenset({"context.user_agent", "page.url"})
    FIELDS: ClassVar[Mapping[str, FieldRule]] = {
        "event": RAW,
        "event_id": RAW,
        "timestamp_ms": RAW,
        "page.url": RAW,
        "page.referrer": RAW,
        "page.title": NEVER,
        **{f"user.{name}": hashed() for name in USER_KEYS},
        "ids.fbp": RAW,
        "ids.fbc": RAW,
        "context.ip": RAW,
        "context.user_agent": RAW,
        # only to pick data_processing_options_state when no IP lets Meta geolocate
        "context.region": RAW,
        "consent.restrictions": RAW,
        "properties.*": RAW,
    }

    settings: Settings

    def test_settings(self, test_event_code: str | None) -> dict[str, Any]:
        """Meta's test path is a ``test_event_code``; there is no dry run (reference §1.7)."""
        return code_only_test_path("Meta", test_event_code, self.settings.test_event_code)

    def url(self) -> str:
        s = self.settings
        query = httpx.QueryParams({"access_token": s.access_token.get_secret_value()})
        return f"{s.endpoint}/{s.api_version}/{s.pixel_id}/events?{query}"

    def encode(self, batch: Sequence[QueuedEvent], *, now_ms: int | None = None) -> Encoded:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return encode_batches(
            batch, lambda item: self._event(item, now), self.batch_size(), self._request
        )

    def _request(self, events: list[EncodedEvent]) -> OutboundRequest:
        body: dict[str, Any] = {"data": [e.payload for e in events]}
        if self.settings.test_event_code:
            body["test_event_code"] = self.settings.test_event_code
        return OutboundRequest(
            "POST",
            self.url(),
            tuple(e.item_id for e in events),
            {"content-type": "application/json"},
            orjson.dumps(body),
        )

    def _event(self, item: QueuedEvent, now_ms: int) -> EncodedEvent | Rejection:
        ev = item.event
        ts = min(ev["timestamp_ms"], now_ms)
        if now_ms - ts > MAX_EVENT_AGE_MS:
            return Rejection(item.id, "event_time older than 7 days (Meta refuses the request)")
        context = ev.get("context", {})
        page = ev.get("page", {})
        if not context.get("user_agent"):
            return Rejection(item.id, "no user agent (required for website events)")
        if not page.get("url"):
            return Rejection(
                item.id, "no page url (event_source_url is required for website events)"
            )
        name = self.event_name(ev["event"])
        if name is None:
            return Rejection(item.id, UNMAPPED)
        custom = custom_data(ev.get("properties", {}))
        if name == "Purchase" and ("value" not in custom or "currency" not in custom):
            return Rejection(item.id, "Purchase without value and currency")
        payload: dict[str, Any] = {
            "event_name": name,
            "event_time": ts // 1000,
            "event_id": ev["event_id"],
            "action_source": "website",
            "event_source_url": page["url"],
            "user_data": user_data(ev),
        }
        if referrer := page.get("referrer"):
            payload["referrer_url"] = referrer
        if custom:
            payload["custom_data"] = custom
        if "limited_data_use" in ev.get("consent", {}).get("restrictions", ()):
            payload.update(limited_data_use(context))
        return EncodedEvent(item.id, payload)

    def classify(self, response: httpx.Response) -> SendResult:
        return classify_response(response)


def limited_data_use(context: Mapping[str, Any]) -> dict[str, Any]:
    """Meta's Limited Data Use fields (reference §1.6).

    Country and state 0 let Meta geolocate the event from its IP address; without one,
    California is named explicitly (1, 1000), the one state code the reference gives, and
    any other region is left to Meta's geolocation.
    """
    country, state = 0, 0
    if not context.get("ip") and context.get("region") == "US-CA":
        country, state = 1, 1000
    return {
        "data_processing_options": ["LDU"],
        "data_processing_options_country": country,
        "data_processing_options_state": state,
    }


def user_data(ev: Mapping[str, Any]) -> dict[str, Any]:
    """Meta ``user_data``: hashed keys as one-element lists, the rest as plain strings."""
    out: dict[str, Any] = {
        USER_KEYS[field]: [digest] for field, digest in ev.get("user", {}).items()
    }
    context = ev.get("context", {})
    if ip := context.get("ip"):
        out["client_ip_address"] = ip
    if ua := context.get("user_agent"):
        out["client_user_agent"] = ua
    ids = ev.get("ids", {})
    for key in ("fbp", "fbc"):
        if value := ids.get(key):
            out[key] = value
    return out


def custom_data(props: Mapping[str, Any]) -> dict[str, Any]:
    """Meta ``custom_data`` from the event's properties (GA4-style names)."""
    out, items = commerce_fields(props, search_key="search_string")
    contents = [content(i) for i in items]
    if contents:
        out["contents"] = contents
        out["content_ids"] = [c["id"] for c in contents]
        out["content_type"] = "product"
        out["num_items"] = sum(c.get("quantity", 1) for c in contents)
    return out


def content(item: Mapping[str, Any]) -> dict[str, Any]:
    """One ``contents`` entry from a GA4-style item."""
    out: dict[str, Any] = {"id": str(item["item_id"])}
    if isinstance(q := item.get("quantity"), int) and not isinstance(q, bool):
        out["quantity"] = q
    if is_number(p := item.get("price")):
        out["item_price"] = p
    for source, target in (
        ("item_name", "title"),
        ("item_brand", "brand"),
        ("item_category", "category"),
    ):
        if isinstance(v := item.get(source), str):
            out[target] = v
    return out


def classify_response(response: httpx.Response) -> SendResult:
    """Classify by Graph API error code, ``is_transient`` and HTTP status (reference §1.8)."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult("ok", "accepted", status)
    try:
        error = orjson.loads(response.content).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    # JSON true/false are not Graph codes (and Python would read true as 1)
    if isinstance(code, bool) or not isinstance(code, int):
        return classify_http_status(response)
    subcode = error.get("error_subcode")
    reason = f"HTTP {status}, Graph error {code}" + (f"/{subcode}" if subcode else "")
    # what HTTP calls retryable (408, 429, 5xx: the shared definition) stays retryable
    # whatever Graph code the body carries
    http = classify_http_status(response)
    if code in RETRYABLE_CODES or error.get("is_transient") is True or http.outcome == "retry":
        return SendResult(
            "retry", reason, status, parse_retry_after(response.headers.get("retry-after"))
        )
    # code 100 is an invalid parameter in some event; the rest of the batch may be fine
    return SendResult("permanent", reason, status, splittable=code == 100)
