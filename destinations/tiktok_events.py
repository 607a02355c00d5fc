"""TikTok Events API 2.0 (web events for a TikTok Pixel).

Facts from ../shared/reference/destinations.md §3, which rests on TikTok's own GTM server
template (``tiktok/gtm-template-eapi``) where TikTok's portal pages were not available:

* ``POST {base}/open_api/v1.3/event/track/`` with the ``Access-Token`` header (no
  ``Bearer``), ``{"event_source": "web", "event_source_id": <pixel code>, "data": [...]}``
  of at most 1,000 events (the limit Hightouch and RudderStack use).
* ``user`` carries the ``tiktok`` recipe's SHA-256 of email, phone (E.164 with ``+``) and
  external id, and raw ``ttclid``, ``ttp``, ``ip`` and ``user_agent``; ``event_id`` is the
  deduplication key shared with the browser pixel (48 hours).
* TikTok answers HTTP 200 with a non-zero ``code`` when it refuses a request; TikTok's own
  template ignores that, this adapter does not (``classify_response``).
* Under a ``limited_data_use`` restriction the event carries ``limited_data_use: true``
  (the flag TikTok's SDKs set in LDU mode; reference §3.2) and no advertising ids.
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
from gateway.pii import TIKTOK

MAX_EVENTS = 1000
PATH = "/open_api/v1.3/event/track/"

#: gateway (GA4-style) names -> TikTok standard events (reference §3.7, §5): the names in
#: force since the May 2025 rename (``Purchase``, not ``CompletePayment``)
EVENT_NAMES: Mapping[str, str] = {
    "page_view": "Pageview",
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

#: TikTok business codes that mean "try again later" (reference §3.6: 40100 is TikTok's
#: rate limit; RudderStack retries 40700); 5xxxx codes are TikTok's internal errors
RETRYABLE_CODES = frozenset({40100, 40700})
#: invalid parameters: one bad event fails the whole batch, so the rest may still go;
#: 20001 is read as a partial success (RudderStack's reading, unverified): the batch is
#: split and resent, TikTok deduplicates what it took by event id, the bad one is isolated
SPLITTABLE_CODES = frozenset({40002, 20001})


class Settings(EndpointSettings):
    """``tiktok_events`` settings; empty ``pixel_code`` or ``access_token`` keep events queued."""

    type: Literal["tiktok_events"]
    pixel_code: str = Field("", pattern=r"^[A-Z0-9]*$")
    access_token: SecretStr = SecretStr("")
    endpoint: str = "https://business-api.tiktok.com"
    #: from Events Manager -> Test events; such events show there, and are still counted
    test_event_code: str = Field("", pattern=r"^[A-Za-z0-9_-]*$")

    MAX_BATCH: ClassVar[int] = MAX_EVENTS
    RESTRICTED_MODES: ClassVar[frozenset[str]] = frozenset({"limited_data_use"})


class TiktokEvents(HttpDestination):
    """Adapter for the TikTok Events API."""

    type = "tiktok_events"
    Settings = Settings
    max_batch_size = MAX_EVENTS
    CREDENTIALS = ("pixel_code", "access_token")
    EVENT_NAMES = EVENT_NAMES
    FIELDS: ClassVar[Mapping[str, FieldRule]] = {
        "event": RAW,
        "event_id": RAW,
        "timestamp_ms": RAW,
        "page.url": RAW,
        "page.referrer": RAW,
        "page.title": NEVER,
        "user.email": hashed(TIKTOK),
        "user.phone": hashed(TIKTOK),
        "user.external_id": hashed(TIKTOK),
        "ids.ttp": RAW,
        "ids.ttclid": RAW,
        "context.ip": RAW,
        "context.user_agent": RAW,
        "consent.restrictions": RAW,
        "properties.*": RAW,
    }

    settings: Settings

    def test_settings(self, test_event_code: str | None) -> dict[str, Any]:
        """TikTok's test path is a ``test_event_code`` from Events Manager."""
        return code_only_test_path("TikTok", test_event_code, self.settings.test_event_code)

    def url(self) -> str:
        return f"{self.settings.endpoint}{PATH}"

    def encode(self, batch: Sequence[QueuedEvent], *, now_ms: int | None = None) -> Encoded:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return encode_batches(
            batch, lambda item: self._event(item, now), self.batch_size(), self._request
        )

    def _request(self, events: list[EncodedEvent]) -> OutboundRequest:
        s = self.settings
        body: dict[str, Any] = {"event_source": "web", "event_source_id": s.pixel_code}
        if s.test_event_code:
            body["test_event_code"] = s.test_event_code
        body["data"] = [e.payload for e in events]
        return OutboundRequest(
            "POST",
            self.url(),
            tuple(e.item_id for e in events),
            {"content-type": "application/json", "access-token": s.access_token.get_secret_value()},
            orjson.dumps(body),
        )

    def _event(self, item: QueuedEvent, now_ms: int) -> EncodedEvent | Rejection:
        ev = item.event
        name = self.event_name(ev["event"])
        if name is None:
            return Rejection(item.id, UNMAPPED)
        payload: dict[str, Any] = {
            "event": name,
            "event_time": min(ev["timestamp_ms"], now_ms) // 1000,
            "event_id": ev["event_id"],
            "user": user(ev),
        }
        if properties := tiktok_properties(ev.get("properties", {})):
            payload["properties"] = properties
        page = {k: v for k, v in ev.get("page", {}).items() if k in ("url", "referrer") and v}
        if page:
            payload["page"] = page
        if "limited_data_use" in ev.get("consent", {}).get("restrictions", ()):
            payload["limited_data_use"] = True
        return EncodedEvent(item.id, payload)

    def classify(self, response: httpx.Response) -> SendResult:
        return classify_response(response)


def user(ev: Mapping[str, Any]) -> dict[str, str]:
    """TikTok ``user``: hashed email, phone and external id; raw click and cookie ids,
    IP address and user agent."""
    out = dict(ev.get("user", {}))
    ids = ev.get("ids", {})
    for key in ("ttclid", "ttp"):
        if value := ids.get(key):
            out[key] = value
    context = ev.get("context", {})
    if ip := context.get("ip"):
        out["ip"] = ip
    if ua := context.get("user_agent"):
        out["user_agent"] = ua
    return out


def tiktok_properties(props: Mapping[str, Any]) -> dict[str, Any]:
    """TikTok ``properties`` from the event's (GA4-style) properties."""
    out, items = commerce_fields(props, search_key="query")
    contents = [content(i) for i in items]
    if contents:
        out["contents"] = contents
        out["content_type"] = "product"
    return out


def content(item: Mapping[str, Any]) -> dict[str, Any]:
    """One ``contents`` entry from a GA4-style item."""
    out: dict[str, Any] = {"content_id": str(item["item_id"])}
    for source, target in (
        ("item_name", "content_name"),
        ("item_category", "content_category"),
        ("item_brand", "brand"),
    ):
        if isinstance(v := item.get(source), str):
            out[target] = v
    if is_number(p := item.get("price")):
        out["price"] = p
    if isinstance(q := item.get("quantity"), int) and not isinstance(q, bool):
        out["quantity"] = q
    return out


def classify_response(response: httpx.Response) -> SendResult:
    """Classify by HTTP status first, then by TikTok's ``code`` in a 2xx body.

    ``0`` is success. A 2xx body that is not the documented envelope is a failure to
    retry: TikTok did not say it took the events.
    """
    http = classify_http_status(response)
    if http.outcome != "ok":
        return http
    status = response.status_code
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return SendResult("retry", "HTTP 200 without a JSON answer", status)
    code = body.get("code") if isinstance(body, dict) else None
    # JSON true/false are not TikTok codes (and Python would read false as 0)
    if isinstance(code, bool) or not isinstance(code, int):
        return SendResult("retry", "HTTP 200 without a TikTok code", status)
    if code == 0:
        return SendResult("ok", "accepted", status)
    message = str(body.get("message", ""))[:200]
    reason = f"TikTok code {code}: {message}"
    if code in RETRYABLE_CODES or code >= 50000:
        return SendResult(
            "retry", reason, status, parse_retry_after(response.headers.get("retry-after"))
        )
    return SendResult("permanent", reason, status, splittable=code in SPLITTABLE_CODES)
