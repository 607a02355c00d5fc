"""Meta Conversions API adapter: the wire format against golden files, and classification.

Facts are from /work/shared/reference/destinations.md: §1.1 endpoint and token, §1.2 body,
§1.3 ``user_data`` keys and hashing, §1.4 limits, §1.8 error codes, §5 event names. The
golden files in ``golden/meta_*.json`` were written from the encoder once and then checked
by hand against those sections (``UPDATE_GOLDEN=1`` rewrites them: review the diff).
Every event of §5 has a golden file, and one purchase goes through the real ingest and
govern stages (``govern_raw``). The worker tests at the end run the real
``DestinationWorker`` over the real SQLite store against respx, one per error class of
§1.8, asserting how each item is settled (acked, retried with its delay, or dead-lettered
with its reason), and the ``event_time`` rules of §1.2 and §1.4 end to end.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import respx

from destinations.base import GovernedEvent, Rejection
from destinations.meta_capi import MAX_EVENT_AGE_MS, MetaCapi, Settings
from tests.destinations.helpers import (
    CLIENT_IP,
    FORBIDDEN_STRINGS,
    GOLDEN_DIR,
    NOW_MS,
    RAW_EVENT,
    USER_AGENT,
    assert_golden,
    body_json,
    govern_raw,
    queued,
    sha256,
    single_request,
    snapshot,
)
from tests.support.worker import RecordingStore, assert_each_settled_once, run_once

PIXEL_ID = "1234567890123456"
TOKEN = "EAAB-test-token-not-real"
DAY_MS = 86_400_000


def meta(**overrides: Any) -> MetaCapi:
    """A Meta adapter with a pixel and token, plus ``overrides``."""
    raw = {
        "type": "meta_capi",
        "requires": ["marketing"],
        "pixel_id": PIXEL_ID,
        "access_token": TOKEN,
        **overrides,
    }
    return MetaCapi("meta", Settings.model_validate(raw))


#: what the govern stage hands Meta: user values already SHA-256 of the normalized value
USER = {
    "email": sha256("jane.doe@example.com"),
    "phone": sha256("16505551212"),
    "first_name": sha256("jane"),
    "last_name": sha256("doe"),
    "city": sha256("menlopark"),
    "region": sha256("ca"),
    "postal_code": sha256("94025"),
    "country": sha256("us"),
    "external_id": sha256("crm-42"),
}


def purchase() -> GovernedEvent:
    """A governed purchase with two items and every field Meta may receive."""
    return {
        "event": "purchase",
        "event_id": "evt-purchase-1",
        "timestamp_ms": NOW_MS - 90_500,
        "page": {
            "url": "https://shop.example/checkout/done",
            "referrer": "https://shop.example/cart",
        },
        "user": dict(USER),
        "ids": {"fbp": "fb.1.1789999000000.1234567890", "fbc": "fb.1.1789999000000.IwAR2xYzAbC"},
        "context": {"ip": CLIENT_IP, "user_agent": USER_AGENT},
        "properties": {
            "value": 129.9,
            "currency": "eur",
            "transaction_id": "T-1001",
            "coupon": "SPRING",
            "items": [
                {
                    "item_id": "SKU-1",
                    "item_name": "Runner",
                    "item_brand": "Acme",
                    "item_category": "Shoes",
                    "price": 49.95,
                    "quantity": 2,
                },
                {"item_id": "SKU-2", "item_name": "Socks", "price": 30.0, "quantity": 1},
            ],
        },
    }


def page_view() -> GovernedEvent:
    """A governed page view with only an email hash, IP and user agent."""
    return {
        "event": "page_view",
        "event_id": "evt-pv-1",
        "timestamp_ms": NOW_MS - 1_000,
        "page": {"url": "https://shop.example/"},
        "user": {"email": USER["email"]},
        "context": {"ip": CLIENT_IP, "user_agent": USER_AGENT},
    }


def custom_event() -> GovernedEvent:
    """A governed event whose name has no Meta standard equivalent."""
    return {
        "event": "newsletter_signup",
        "event_id": "evt-custom-1",
        "timestamp_ms": NOW_MS - 5_000,
        "page": {"url": "https://shop.example/blog", "referrer": "https://news.example/"},
        "user": {"external_id": USER["external_id"]},
        "ids": {"fbp": "fb.1.1789999000000.1234567890"},
        "context": {"ip": "2001:db8::7", "user_agent": USER_AGENT},
        "properties": {"list": "weekly"},
    }


def limited_data_use_purchase() -> GovernedEvent:
    """A purchase from an opted-out Californian: the consent stage asked for limited data
    use and, under ad_user_data, removed the user section."""
    event = purchase()
    del event["user"]
    event["context"] = {**event["context"], "region": "US-CA"}
    event["consent"] = {"restrictions": ["ad_user_data", "limited_data_use"]}
    return event


def encode_one(event: GovernedEvent, destination: MetaCapi | None = None) -> Any:
    """Encode one event and return its only request (asserting nothing was rejected)."""
    return single_request(destination or meta(), event)


def rejection_of(event: GovernedEvent) -> Rejection:
    """Encode one event that must be refused; return the refusal."""
    encoded = meta().encode([queued(7, event)], now_ms=NOW_MS)
    assert encoded.requests == []
    [rejection] = encoded.rejected
    assert rejection.item_id == 7
    return rejection


# --- golden payloads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event", "overrides"),
    [
        ("meta_purchase", purchase, {}),
        ("meta_page_view_test_event_code", page_view, {"test_event_code": "TEST12345"}),
        ("meta_custom_event", custom_event, {}),
        ("meta_purchase_limited_data_use", limited_data_use_purchase, {}),
    ],
    ids=["purchase", "page_view_test_event_code", "custom_event", "limited_data_use"],
)
def test_request_matches_golden(name: str, event: Any, overrides: dict[str, Any]) -> None:
    """The whole request (method, URL with the token masked, headers, JSON body) is what the
    reviewed golden file says Meta expects."""
    request = encode_one(event(), meta(**overrides))
    assert_golden(name, snapshot(request, mask_params=("access_token",)))


def test_token_travels_as_access_token_query_parameter() -> None:
    """The token is the ``access_token`` query parameter (§1.1), and only there."""
    request = encode_one(page_view())
    url = httpx.URL(request.url)
    assert url.params["access_token"] == TOKEN
    assert url.path == f"/v26.0/{PIXEL_ID}/events"
    assert TOKEN not in request.content.decode()
    assert all(TOKEN not in value for value in request.headers.values())


def test_endpoint_override_keeps_version_pixel_and_events_path() -> None:
    """``endpoint: http://127.0.0.1:9/prefix`` sends to ``/prefix/v26.0/<pixel>/events``."""
    request = encode_one(page_view(), meta(endpoint="http://127.0.0.1:9/prefix"))
    assert request.url.startswith(f"http://127.0.0.1:9/prefix/v26.0/{PIXEL_ID}/events?")


def test_api_version_is_configurable() -> None:
    """``api_version`` picks the Graph API version segment (v25.0 is supported to 2028)."""
    request = encode_one(page_view(), meta(api_version="v25.0"))
    assert httpx.URL(request.url).path == f"/v25.0/{PIXEL_ID}/events"


def test_test_event_code_is_top_level_only_when_configured() -> None:
    """``test_event_code`` sits beside ``data`` when configured and is absent otherwise
    (§1.7: events sent with it are not dropped, so it must never appear by default)."""
    plain = body_json(encode_one(page_view()))
    assert set(plain) == {"data"}
    tested = body_json(encode_one(page_view(), meta(test_event_code="TEST12345")))
    assert tested["test_event_code"] == "TEST12345"
    assert "test_event_code" not in tested["data"][0]


# reference §5: gateway (GA4) name -> Meta name
EVENT_NAME_TABLE = [
    ("page_view", "PageView"),
    ("view_item", "ViewContent"),
    ("search", "Search"),
    ("add_to_cart", "AddToCart"),
    ("add_to_wishlist", "AddToWishlist"),
    ("begin_checkout", "InitiateCheckout"),
    ("add_payment_info", "AddPaymentInfo"),
    ("purchase", "Purchase"),
    ("sign_up", "CompleteRegistration"),
    ("generate_lead", "Lead"),
]


@pytest.mark.parametrize(("ours", "theirs"), EVENT_NAME_TABLE)
def test_event_names_follow_the_mapping_table(ours: str, theirs: str) -> None:
    """Gateway event names map to Meta standard events as in reference §5."""
    event = {**purchase(), "event": ours}
    assert body_json(encode_one(event))["data"][0]["event_name"] == theirs


@pytest.mark.parametrize("name", ["newsletter_signup", "Quiz Completed", "PageView"])
def test_other_event_names_pass_through_unchanged(name: str) -> None:
    """A name outside the table is sent as a custom event, case and spaces kept."""
    event = {**page_view(), "event": name}
    assert body_json(encode_one(event))["data"][0]["event_name"] == name


def test_user_data_hashes_are_lists_and_the_rest_plain() -> None:
    """Hashed keys (em ph fn ln ct st zp country external_id) carry lists of the governed
    hashes; client_ip_address, client_user_agent, fbp and fbc are unhashed strings (§1.3)."""
    user_data = body_json(encode_one(purchase()))["data"][0]["user_data"]
    expected_keys = {
        "em": "email",
        "ph": "phone",
        "fn": "first_name",
        "ln": "last_name",
        "ct": "city",
        "st": "region",
        "zp": "postal_code",
        "country": "country",
        "external_id": "external_id",
    }
    for key, field in expected_keys.items():
        assert user_data[key] == [USER[field]]
    assert user_data["client_ip_address"] == CLIENT_IP
    assert user_data["client_user_agent"] == USER_AGENT
    assert user_data["fbp"] == "fb.1.1789999000000.1234567890"
    assert user_data["fbc"] == "fb.1.1789999000000.IwAR2xYzAbC"


def test_event_time_is_unix_seconds_and_source_is_website() -> None:
    """``event_time`` is whole Unix seconds (§1.2), ``action_source`` is ``website``."""
    data = body_json(encode_one(purchase()))["data"][0]
    assert data["event_time"] == (NOW_MS - 90_500) // 1000
    assert data["action_source"] == "website"
    assert data["event_source_url"] == "https://shop.example/checkout/done"
    assert data["referrer_url"] == "https://shop.example/cart"


def test_future_timestamp_is_clamped_to_now() -> None:
    """An event stamped in the future is sent with ``event_time`` = now (§1.4)."""
    event = {**page_view(), "timestamp_ms": NOW_MS + 3 * 3_600_000}
    assert body_json(encode_one(event))["data"][0]["event_time"] == NOW_MS // 1000


def test_fields_meta_does_not_take_are_not_sent() -> None:
    """Governed fields without a Meta key (page title, other ids, region) are not sent."""
    event = copy.deepcopy(purchase())
    event["page"]["title"] = "Thank you"
    event["ids"]["client_id"] = "GW1.1790000000.abcdef"
    event["context"]["region"] = "US-CA"
    text = encode_one(event).content.decode()
    assert "Thank you" not in text
    assert "GW1.1790000000" not in text
    assert "US-CA" not in text


# --- batching and refusals -----------------------------------------------------------------


def test_2500_events_become_requests_of_1000_1000_500() -> None:
    """Meta takes at most 1,000 events per request (§1.4): 2,500 are three requests, in
    order, each body's ``data`` matching the item ids it carries."""
    base = page_view()
    items = [queued(n, {**base, "event_id": f"evt-{n}"}) for n in range(1, 2501)]
    encoded = meta().encode(items, now_ms=NOW_MS)
    assert encoded.rejected == []
    assert [len(r.item_ids) for r in encoded.requests] == [1000, 1000, 500]
    assert [i for r in encoded.requests for i in r.item_ids] == list(range(1, 2501))
    for request in encoded.requests:
        ids = [d["event_id"] for d in body_json(request)["data"]]
        assert ids == [f"evt-{n}" for n in request.item_ids]


def test_configured_batch_size_splits_further() -> None:
    """``batch.max_events`` lowers the events per request below Meta's limit."""
    items = [queued(n, page_view()) for n in range(5)]
    encoded = meta(batch={"max_events": 2}).encode(items, now_ms=NOW_MS)
    assert [len(r.item_ids) for r in encoded.requests] == [2, 2, 1]


def test_batch_size_above_meta_limit_is_refused() -> None:
    """``batch.max_events`` above 1,000 is a settings error."""
    with pytest.raises(ValueError, match="1000"):
        meta(batch={"max_events": 1001})


def test_event_older_than_7_days_is_rejected_not_sent() -> None:
    """One event older than 7 days makes Meta refuse the whole request (§1.2), so it is
    refused alone, with a reason."""
    rejection = rejection_of({**page_view(), "timestamp_ms": NOW_MS - 7 * DAY_MS - 1_000})
    assert "7 days" in rejection.reason


def test_event_within_the_margin_of_7_days_is_sent_older_is_not() -> None:
    """An event up to 7 days minus an hour old is sent; within the last hour it is
    refused, so that it cannot cross Meta's limit while in flight."""
    request = encode_one({**page_view(), "timestamp_ms": NOW_MS - 7 * DAY_MS + 3_600_000})
    assert len(body_json(request)["data"]) == 1
    late = rejection_of({**page_view(), "timestamp_ms": NOW_MS - 7 * DAY_MS + 60_000})
    assert "7 days" in late.reason


def test_one_stale_event_does_not_hold_back_the_others() -> None:
    """Refusals are per event: the valid events of the batch still go, in one request."""
    items = [
        queued(1, page_view()),
        queued(2, {**page_view(), "timestamp_ms": NOW_MS - 8 * DAY_MS}),
        queued(3, purchase()),
    ]
    encoded = meta().encode(items, now_ms=NOW_MS)
    assert [r.item_id for r in encoded.rejected] == [2]
    [request] = encoded.requests
    assert request.item_ids == (1, 3)


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [("context", "user_agent", "user agent"), ("page", "url", "page url")],
)
def test_website_event_without_user_agent_or_page_url_is_rejected(
    section: str, key: str, reason: str
) -> None:
    """Website events require ``client_user_agent`` and ``event_source_url`` (§1.2)."""
    event = copy.deepcopy(page_view())
    del event[section][key]  # type: ignore[literal-required]
    assert reason in rejection_of(event).reason


def test_event_without_context_or_page_at_all_is_rejected() -> None:
    """A governed event missing the whole context or page section is refused, not a crash."""
    event = page_view()
    del event["context"]
    assert "user agent" in rejection_of(event).reason
    event = page_view()
    del event["page"]
    assert "page url" in rejection_of(event).reason


@pytest.mark.parametrize("missing", ["value", "currency"])
def test_purchase_without_value_or_currency_is_rejected(missing: str) -> None:
    """``Purchase`` requires ``currency`` and ``value`` (§1.2)."""
    event = copy.deepcopy(purchase())
    del event["properties"][missing]
    assert "Purchase" in rejection_of(event).reason


def test_purchase_with_zero_value_is_sent() -> None:
    """A value of 0 is a value: a free order is still a Purchase."""
    event = copy.deepcopy(purchase())
    event["properties"]["value"] = 0
    assert body_json(encode_one(event))["data"][0]["custom_data"]["value"] == 0


# --- send and classify ---------------------------------------------------------------------


async def send(response: httpx.Response) -> tuple[Any, respx.Route]:
    """Send the page view to the respx-mocked Meta URL; the mock answers ``response``."""
    destination = meta()
    request = encode_one(page_view(), destination)
    url = f"https://graph.facebook.com/v26.0/{PIXEL_ID}/events"
    async with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url, params={"access_token": TOKEN}).mock(return_value=response)
        async with httpx.AsyncClient() as client:
            result = await destination.send(client, request)
    return result, route


async def test_send_posts_json_data_to_graph_api() -> None:
    """``send`` POSTs the JSON body to graph.facebook.com with the token; 200 is ok."""
    answer = {"events_received": 1, "messages": [], "fbtrace_id": "AbC"}
    result, route = await send(httpx.Response(200, json=answer))
    assert result.outcome == "ok"
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert [d["event_id"] for d in httpx.Response(200, content=sent.content).json()["data"]] == [
        "evt-pv-1"
    ]


def graph_error(code: int, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    """A Graph API error envelope (§1.8)."""
    error: dict[str, Any] = {
        "message": "An error",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbC",
        **extra,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@pytest.mark.parametrize(
    ("code", "subcode"),
    [
        (1, None),
        (2, None),
        (4, None),
        (17, 2446079),
        (341, None),
        (368, None),
        (613, 1487742),
        (80003, None),
        (80004, None),
    ],
)
async def test_throttling_and_downtime_codes_are_retried(code: int, subcode: int | None) -> None:
    """Graph codes that mean "wait and retry" (§1.8) are retryable although Meta answers
    them with HTTP 400; the reason names the code and subcode, not the message."""
    result, _ = await send(httpx.Response(400, json=graph_error(code, subcode)))
    assert result.outcome == "retry"
    assert result.status == 400
    assert str(code) in result.reason
    if subcode is not None:
        assert str(subcode) in result.reason
    assert "An error" not in result.reason


async def test_retryable_code_honours_retry_after() -> None:
    """A throttling answer's ``Retry-After`` is passed on to the backoff."""
    response = httpx.Response(400, json=graph_error(17, 2446079), headers={"Retry-After": "30"})
    result, _ = await send(response)
    assert (result.outcome, result.retry_after_secs) == ("retry", 30)


@pytest.mark.parametrize("transient", [True, False])
async def test_is_transient_decides_for_unlisted_codes(transient: bool) -> None:
    """``is_transient: true`` makes any error retryable; without it an unlisted code is
    permanent."""
    body = graph_error(99999, is_transient=transient)
    result, _ = await send(httpx.Response(400, json=body))
    assert result.outcome == ("retry" if transient else "permanent")


@pytest.mark.parametrize(("code", "subcode"), [(190, 460), (102, None), (10, None), (200, None)])
async def test_token_and_permission_errors_are_permanent_and_not_split(
    code: int, subcode: int | None
) -> None:
    """An expired token or missing permission fails every event alike: permanent, and not
    worth bisecting the batch."""
    result, _ = await send(httpx.Response(400, json=graph_error(code, subcode)))
    assert result.outcome == "permanent"
    assert result.splittable is False


async def test_invalid_parameter_is_permanent_and_splittable() -> None:
    """Code 100 (invalid parameter) is caused by some event's data and Meta rejects the whole
    batch for it (§1.4): permanent, but splittable so the good events can still go."""
    result, _ = await send(httpx.Response(400, json=graph_error(100, 2804019)))
    assert result.outcome == "permanent"
    assert result.splittable is True


async def test_http_500_without_json_is_retried() -> None:
    """A 5xx with an HTML or empty body is retried on the HTTP status alone."""
    result, _ = await send(httpx.Response(500, text="<html>Internal Server Error</html>"))
    assert (result.outcome, result.status) == ("retry", 500)


async def test_http_500_with_a_permanent_graph_code_is_still_retried() -> None:
    """A server error is retried whatever code its body carries."""
    result, _ = await send(httpx.Response(500, json=graph_error(100)))
    assert result.outcome == "retry"


async def test_http_429_with_an_unlisted_graph_code_is_retried() -> None:
    """429 is retryable by the shared definition, whatever Graph code the body carries
    (e.g. another business-use-case rate limit such as 80001)."""
    response = httpx.Response(429, json=graph_error(80001), headers={"Retry-After": "12"})
    result, _ = await send(response)
    assert (result.outcome, result.retry_after_secs) == ("retry", 12)


@pytest.mark.parametrize(
    "content", [b"[]", b'"error"', b'{"error": "bad"}', b'{"error": {"code": "17"}}', b"\xff"]
)
async def test_odd_error_bodies_fall_back_to_the_http_status(content: bytes) -> None:
    """Bodies that are not a Graph error envelope are classified on the HTTP status."""
    result, _ = await send(httpx.Response(400, content=content))
    assert result.outcome == "permanent"
    assert result.splittable is False
    result, _ = await send(httpx.Response(503, content=content))
    assert result.outcome == "retry"


# --- consent restrictions ------------------------------------------------------------------


def test_limited_data_use_lets_meta_geolocate_when_it_has_the_ip() -> None:
    """Reference §1.6: LDU with country 0 and state 0 means Meta geolocates the event."""
    [entry] = body_json(encode_one(limited_data_use_purchase()))["data"]
    assert entry["data_processing_options"] == ["LDU"]
    assert (entry["data_processing_options_country"], entry["data_processing_options_state"]) == (
        0,
        0,
    )


def test_limited_data_use_names_california_when_there_is_no_ip() -> None:
    """Without an IP Meta cannot geolocate: California is given as 1 / 1000."""
    event = limited_data_use_purchase()
    event["context"] = {"user_agent": USER_AGENT, "region": "US-CA"}
    [entry] = body_json(encode_one(event))["data"]
    assert (entry["data_processing_options_country"], entry["data_processing_options_state"]) == (
        1,
        1000,
    )


def test_no_restriction_means_no_processing_options() -> None:
    [entry] = body_json(encode_one(purchase()))["data"]
    assert "data_processing_options" not in entry
    region_only = purchase()
    region_only["context"] = {**region_only["context"], "region": "US-CA"}
    assert "region" not in str(body_json(encode_one(region_only)))


# --- golden payloads: every event of §5 ----------------------------------------------------

RUNNER = {
    "item_id": "SKU-1",
    "item_name": "Runner",
    "item_brand": "Acme",
    "item_category": "Shoes",
    "price": 49.95,
    "quantity": 2,
}
SOCKS = {"item_id": "SKU-2", "item_name": "Socks", "price": 30.0, "quantity": 1}
FBP = "fb.1.1789999000000.1234567890"
FBC = "fb.1.1789999000000.IwAR2xYzAbC"
TTP = "2bBq3tT1xXnTzQ3q5FZpA1bC9dE"
TTCLID = "E.C.P.CvQBq9hJkLmNoPqRsTuVwXyZ"
GCLID = "Cj0KCQjw-gclid-value"


def meta_event(name: str, event_id: str, **sections: Any) -> GovernedEvent:
    """A governed event stamped 90.5 s before ``NOW_MS``, with IP, user agent and ``fbp``."""
    base: dict[str, Any] = {
        "event": name,
        "event_id": event_id,
        "timestamp_ms": NOW_MS - 90_500,
        "page": {"url": "https://shop.example/p/runner"},
        "ids": {"fbp": FBP},
        "context": {"ip": CLIENT_IP, "user_agent": USER_AGENT},
    }
    base.update(copy.deepcopy(sections))
    return base  # type: ignore[return-value]


def plain_page_view() -> GovernedEvent:
    """A page view with a referrer and no properties: no ``custom_data`` at all."""
    return meta_event(
        "page_view",
        "evt-pv-2",
        page={"url": "https://shop.example/", "referrer": "https://search.example/"},
        user={"email": USER["email"]},
    )


def view_item() -> GovernedEvent:
    """A product view: one item (``contents``/``content_ids``), lowercase currency."""
    return meta_event(
        "view_item",
        "evt-vi-1",
        properties={"value": 49.95, "currency": "usd", "items": [RUNNER]},
    )


def search() -> GovernedEvent:
    """A site search: GA4's ``search_term`` is Meta's ``search_string`` (§1.2)."""
    return meta_event(
        "search",
        "evt-search-1",
        page={"url": "https://shop.example/search?q=trail+runners"},
        properties={"search_term": "trail runners"},
    )


def add_to_cart() -> GovernedEvent:
    """An item added to the cart, with the ad click's ``fbc``."""
    return meta_event(
        "add_to_cart",
        "evt-atc-1",
        ids={"fbp": FBP, "fbc": FBC},
        properties={"value": 99.9, "currency": "EUR", "items": [RUNNER]},
    )


def add_to_wishlist() -> GovernedEvent:
    """An item saved for later: a numeric item id becomes a string content id."""
    return meta_event(
        "add_to_wishlist",
        "evt-atw-1",
        properties={"items": [{"item_id": 4711, "item_name": "Cap", "price": 15}]},
    )


def begin_checkout() -> GovernedEvent:
    """A checkout start: two items (``num_items`` 3) and a custom ``coupon`` property."""
    return meta_event(
        "begin_checkout",
        "evt-bc-1",
        page={"url": "https://shop.example/checkout", "referrer": "https://shop.example/cart"},
        user={"email": USER["email"]},
        properties={
            "value": 129.9,
            "currency": "EUR",
            "coupon": "SPRING",
            "items": [RUNNER, SOCKS],
        },
    )


def add_payment_info() -> GovernedEvent:
    """Payment details entered: value, currency and a custom ``payment_type``."""
    return meta_event(
        "add_payment_info",
        "evt-api-1",
        page={"url": "https://shop.example/checkout/payment"},
        user={"email": USER["email"], "phone": USER["phone"]},
        properties={"value": 129.9, "currency": "EUR", "payment_type": "card"},
    )


def sign_up() -> GovernedEvent:
    """A registration: email and external id hashes, custom ``method``."""
    return meta_event(
        "sign_up",
        "evt-su-1",
        page={"url": "https://shop.example/account/new"},
        user={"email": USER["email"], "external_id": USER["external_id"]},
        properties={"method": "email"},
    )


def generate_lead() -> GovernedEvent:
    """A lead form: a value of 0 is still a value."""
    return meta_event(
        "generate_lead",
        "evt-lead-1",
        page={"url": "https://shop.example/contact"},
        user={"email": USER["email"], "phone": USER["phone"]},
        ids={"fbp": FBP, "fbc": FBC},
        properties={"value": 0, "currency": "USD", "form_id": "contact-2"},
    )


def raw_with_all_ids() -> dict[str, Any]:
    """The helpers' raw purchase, carrying every browser and click id the page knows."""
    raw = copy.deepcopy(RAW_EVENT)
    raw["ids"].update(ttp=TTP, ttclid=TTCLID, gclid=GCLID)
    return raw


def governed_purchase() -> GovernedEvent:
    """The helpers' raw purchase, with Meta, TikTok and Google ids, through the real ingest
    validation and govern stage."""
    return govern_raw(meta(), raw_with_all_ids())


GOLDEN_EVENTS: list[tuple[str, Callable[[], GovernedEvent]]] = [
    ("meta_page_view", plain_page_view),
    ("meta_view_item", view_item),
    ("meta_search", search),
    ("meta_add_to_cart", add_to_cart),
    ("meta_add_to_wishlist", add_to_wishlist),
    ("meta_begin_checkout", begin_checkout),
    ("meta_add_payment_info", add_payment_info),
    ("meta_sign_up", sign_up),
    ("meta_generate_lead", generate_lead),
    ("meta_purchase_governed", governed_purchase),
]


@pytest.mark.parametrize(
    ("name", "make"), GOLDEN_EVENTS, ids=[g[0].removeprefix("meta_") for g in GOLDEN_EVENTS]
)
def test_every_event_type_matches_golden(name: str, make: Callable[[], GovernedEvent]) -> None:
    """The whole request for each §5 event (method, URL with the token masked, headers,
    JSON body) is what the reviewed golden file says Meta expects (§1.2, §1.3, §1.9)."""
    request = encode_one(make())
    assert_golden(name, snapshot(request, mask_params=("access_token",)))


#: reference §1.9, Meta's standard events (PageView is in every base code)
STANDARD_EVENTS = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "CompleteRegistration",
        "Contact",
        "CustomizeProduct",
        "Donate",
        "FindLocation",
        "InitiateCheckout",
        "Lead",
        "Purchase",
        "Schedule",
        "Search",
        "StartTrial",
        "SubmitApplication",
        "Subscribe",
        "ViewContent",
    }
)


def test_every_event_of_the_mapping_table_has_a_golden_file() -> None:
    """Each gateway name of §5 has a golden file whose body carries Meta's standard name."""
    for ours, theirs in EVENT_NAME_TABLE:
        path = GOLDEN_DIR / f"meta_{ours}.json"
        assert path.exists(), path.name
        [entry] = orjson.loads(path.read_bytes())["body"]["data"]
        assert entry["event_name"] == theirs
        assert theirs in {"PageView"} | STANDARD_EVENTS


def data_of(governed: GovernedEvent, destination: MetaCapi | None = None) -> dict[str, Any]:
    """The one ``data`` entry Meta gets for ``governed``."""
    [entry] = body_json(encode_one(governed, destination))["data"]
    return entry


def test_every_event_carries_the_required_website_fields() -> None:
    """§1.2: each event has ``event_name``, integer ``event_time`` (seconds),
    ``user_data`` with ``client_user_agent``, ``action_source: website`` and
    ``event_source_url``; ``event_id`` is the gateway's, unchanged, for dedup (§1.5)."""
    makers = [purchase, page_view, custom_event, *(make for _, make in GOLDEN_EVENTS)]
    for make in makers:
        governed = make()
        entry = data_of(governed)
        assert isinstance(entry["event_time"], int)
        assert entry["event_time"] == governed["timestamp_ms"] // 1000
        assert entry["action_source"] == "website"
        assert entry["event_source_url"] == governed["page"]["url"]
        assert entry["user_data"]["client_user_agent"] == USER_AGENT
        assert entry["event_id"] == governed["event_id"]


def test_view_item_sends_contents_and_content_ids() -> None:
    """§1.2 ``custom_data``: ``contents`` (id, quantity, item_price, title, brand,
    category), ``content_ids`` as strings, ``content_type: product``, ISO currency."""
    custom = data_of(view_item())["custom_data"]
    assert custom == {
        "value": 49.95,
        "currency": "USD",
        "contents": [
            {
                "id": "SKU-1",
                "quantity": 2,
                "item_price": 49.95,
                "title": "Runner",
                "brand": "Acme",
                "category": "Shoes",
            }
        ],
        "content_ids": ["SKU-1"],
        "content_type": "product",
        "num_items": 2,
    }
    wish = data_of(add_to_wishlist())["custom_data"]
    assert wish["content_ids"] == ["4711"]
    assert wish["contents"] == [{"id": "4711", "item_price": 15, "title": "Cap"}]


def test_search_term_is_sent_as_search_string_only() -> None:
    """§1.2: Meta's field is ``search_string``; GA4's ``search_term`` is not sent too."""
    assert data_of(search())["custom_data"] == {"search_string": "trail runners"}


def test_lead_with_zero_value_keeps_it() -> None:
    """A value of 0 is sent as 0, with the currency, and the custom form id passes."""
    assert data_of(generate_lead())["custom_data"] == {
        "value": 0,
        "currency": "USD",
        "form_id": "contact-2",
    }


# --- through the real govern stage ---------------------------------------------------------


def test_governed_purchase_sends_meta_ids_raw_and_no_other_platform_ids() -> None:
    """Through ``govern_raw`` (real ingest + govern): ``fbp`` and ``fbc`` reach Meta raw
    in ``user_data`` (§1.3: never hashed, case kept), and TikTok's ``ttp``/``ttclid``,
    Google's ``gclid`` and the gateway's ``client_id`` never do, neither as key nor value."""
    request = encode_one(governed_purchase())
    [entry] = body_json(request)["data"]
    ids = RAW_EVENT["ids"]
    assert (entry["user_data"]["fbp"], entry["user_data"]["fbc"]) == (ids["fbp"], ids["fbc"])
    text = request.content.decode()
    for value in (TTP, TTCLID, GCLID, ids["client_id"]):
        assert value not in text
    for key in ("ttp", "ttclid", "gclid", "client_id"):
        assert f'"{key}"' not in text


def test_governed_purchase_sends_meta_recipe_hashes_and_no_raw_pii() -> None:
    """Through the real govern stage the user values are the Meta recipe's hashes (§1.3,
    §6.3), computed here independently; IP and user agent are plain; no raw PII anywhere."""
    request = encode_one(governed_purchase())
    [entry] = body_json(request)["data"]
    user_data = entry["user_data"]
    assert user_data == {
        "em": [sha256("zebulon.quartermaine@example.com")],
        # §1.3 / §6.3: (650)555-1212 with country code 1 -> 16505551212 -> e323ec62…3176
        "ph": ["e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"],
        "fn": [sha256("zebulon")],
        "ln": [sha256("quartermaine")],
        "ct": [sha256("menlopark")],
        # SDK parity: a state name is not mapped to its code (§6.3 "California")
        "st": ["7e8eea5cc60980270c9ceb75ce8c087d48d726110fd3d17921f774eefd8e18d8"],
        # ZIP+4 trimmed (§6.3 94025-1234)
        "zp": ["b9a9cf3cd3723a2e91b7c23ecf68456e872b6e5d86e5cab7f3d45a7302da32c7"],
        "country": ["79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"],
        "external_id": [sha256("crm-customer-88421")],
        "client_ip_address": CLIENT_IP,
        "client_user_agent": USER_AGENT,
        "fbp": RAW_EVENT["ids"]["fbp"],
        "fbc": RAW_EVENT["ids"]["fbc"],
    }
    assert user_data["st"] == [sha256("california")]
    assert user_data["zp"] == [sha256("94025")]
    assert user_data["country"] == [sha256("us")]
    text = request.content.decode().lower()
    for forbidden in FORBIDDEN_STRINGS:
        assert forbidden.lower() not in text
    assert "thank you" not in text  # page.title is never sent
    assert "us-ca" not in text  # context.region only picks LDU's state


def test_governed_purchase_is_a_valid_purchase() -> None:
    """§1.2: Purchase with value and currency, ``order_id`` from ``transaction_id``, and the
    raw event's id and time (seconds) for dedup with the pixel (§1.5)."""
    entry = data_of(governed_purchase())
    assert entry["event_name"] == "Purchase"
    assert entry["event_id"] == RAW_EVENT["event_id"]
    assert entry["event_time"] == RAW_EVENT["timestamp"] // 1000
    custom = entry["custom_data"]
    assert (custom["value"], custom["currency"], custom["order_id"]) == (129.9, "EUR", "T-1001")
    assert custom["content_ids"] == ["SKU-1", "SKU-2"]
    assert custom["num_items"] == 3


# --- classification edge -------------------------------------------------------------------


def test_boolean_graph_code_is_not_a_code() -> None:
    """§1.8: ``code`` is an integer. A body whose code is a boolean is not a Graph error
    envelope, so, like the other odd bodies, it falls back to the HTTP status (400:
    permanent), as the TikTok adapter does for its own ``code``."""
    result = meta().classify(httpx.Response(400, content=b'{"error": {"code": true}}'))
    assert (result.outcome, result.reason) == ("permanent", "HTTP 400")


# --- through the delivery worker -----------------------------------------------------------

WORKER_ENDPOINT = "http://meta.test"
WORKER_URL = f"{WORKER_ENDPOINT}/v26.0/{PIXEL_ID}/events"
INITIAL_BACKOFF = 0.01
STALE_REASON = "rejected: event_time older than 7 days (Meta refuses the request)"


def worker_meta(max_attempts: int = 3, **overrides: Any) -> MetaCapi:
    """A Meta adapter pointed at the respx host, with fast retries."""
    retry = {
        "max_attempts": max_attempts,
        "initial_backoff_secs": INITIAL_BACKOFF,
        "max_backoff_secs": 0.05,
    }
    return meta(endpoint=WORKER_ENDPOINT, retry=retry, **overrides)


def wall_ms() -> int:
    """The real clock: the worker encodes with it, so worker events are stamped with it."""
    return int(time.time() * 1000)


def worker_event(n: int, **overrides: Any) -> dict[str, Any]:
    """A governed page view ``e<n>`` stamped now by the real clock."""
    governed: dict[str, Any] = {**page_view(), "event_id": f"e{n}", "timestamp_ms": wall_ms()}
    governed.update(overrides)
    return governed


def event_ids(request: httpx.Request) -> list[str]:
    return [e["event_id"] for e in orjson.loads(request.content)["data"]]


def sent_ids(route: respx.Route) -> list[list[str]]:
    """The event ids of each request the route received, in order."""
    return [event_ids(call.request) for call in route.calls]


def meta_route(**kwargs: Any) -> respx.Route:
    """The Graph events URL with the token as ``access_token`` (§1.1)."""
    return respx.post(WORKER_URL, params={"access_token": TOKEN}).mock(**kwargs)


def accepted(n: int) -> httpx.Response:
    """Meta's success answer (§1.8)."""
    return httpx.Response(
        200, json={"events_received": n, "messages": [], "fbtrace_id": "AbCdEfGh123"}
    )


async def assert_retried(
    store: RecordingStore, leased: list[int], reason: str, floor: float | None = None
) -> None:
    """Every item retried once with ``reason``, none dead-lettered; the delay is the first
    attempt's backoff (at most the initial backoff) or, with ``floor``, at least it."""
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"retry": len(leased)}
    assert store.retry_reasons == [reason]
    [delay] = store.delays
    if floor is None:
        assert 0 <= delay <= INITIAL_BACKOFF
    else:
        assert delay >= floor
    assert await store.dead_letters() == []
    assert store.depth() == {"meta": len(leased)}  # still queued, none lost


@respx.mock
async def test_worker_acks_a_batch_meta_accepts(store: RecordingStore) -> None:
    """HTTP 200 ``{"events_received": 5, "messages": [], "fbtrace_id": …}``: every event
    is acked, after one request carrying them all in order, with the token."""
    route = meta_route(return_value=accepted(5))
    leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(5)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 5}
    assert sent_ids(route) == [[f"e{i}" for i in range(5)]]
    assert httpx.URL(str(route.calls.last.request.url)).params["access_token"] == TOKEN
    assert store.depth() == {}
    assert await store.dead_letters() == []


@respx.mock
async def test_worker_bisects_out_the_one_bad_event(store: RecordingStore) -> None:
    """§1.4 and §7.2: one invalid event makes Meta reject the whole batch (HTTP 400, Graph
    code 100); the worker halves the batch until the bad event is alone: the seven good
    ones are acked once each, the bad one is dead-lettered with the code in the reason."""

    def reply(request: httpx.Request) -> httpx.Response:
        ids = event_ids(request)
        if "e5" in ids:
            error = {
                "message": "Invalid parameter",
                "type": "OAuthException",
                "code": 100,
                "error_subcode": 2804019,
                "fbtrace_id": "AbC",
            }
            return httpx.Response(400, json={"error": error})
        return accepted(len(ids))

    route = meta_route(side_effect=reply)
    leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(8)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 7, "dead": 1}
    [dead] = await store.dead_letters()
    assert dead.event_id == "e5"
    assert dead.reason == "permanent: HTTP 400, Graph error 100/2804019"
    # 8 -> 4 ok + 4 -> 2 (4,5) -> 1 ok + 1 bad, then 2 (6,7) ok: log2 steps, not one each
    assert [len(ids) for ids in sent_ids(route)] == [8, 4, 4, 2, 1, 1, 2]
    acked_ids = [event_ids(c.request) for c in route.calls if c.response.is_success]
    assert sorted(i for ids in acked_ids for i in ids) == sorted(
        f"e{i}" for i in range(8) if i != 5
    )
    assert store.depth() == {}


@pytest.mark.parametrize(
    ("response", "reason", "floor"),
    [
        (httpx.Response(400, json=graph_error(4)), "HTTP 400, Graph error 4", None),
        (
            httpx.Response(400, json=graph_error(17, 2446079), headers={"Retry-After": "30"}),
            "HTTP 400, Graph error 17/2446079",
            30,
        ),
        (
            httpx.Response(400, json=graph_error(613, 1487742)),
            "HTTP 400, Graph error 613/1487742",
            None,
        ),
        (httpx.Response(429, headers={"Retry-After": "45"}), "HTTP 429", 45),
        (
            httpx.Response(429, json=graph_error(80004), headers={"Retry-After": "120"}),
            "HTTP 429, Graph error 80004",
            120,
        ),
    ],
    ids=["code-4", "code-17-2446079", "code-613-1487742", "http-429", "http-429-code-80004"],
)
async def test_worker_retries_a_rate_limit_no_sooner_than_asked(
    store: RecordingStore, response: httpx.Response, reason: str, floor: float | None
) -> None:
    """§1.4/§1.8 throttling (Graph codes 4, 17/2446079, 613/1487742 in an HTTP 400, or HTTP
    429): every event is retried, none dead-lettered, none split; ``Retry-After`` is the
    floor of the delay, and the items are not due again before it."""
    with respx.mock:
        route = meta_route(return_value=response)
        before = wall_ms()
        leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(3)])
    assert route.call_count == 1
    await assert_retried(store, leased, reason, floor)
    if floor is not None:
        due = await store.next_due_ms("meta")
        assert due is not None and due >= before + floor * 1000
        assert await store.lease("meta", 10, 30) == []


@respx.mock
async def test_worker_retries_an_is_transient_error(store: RecordingStore) -> None:
    """§1.8: ``is_transient: true`` makes an error with an unlisted code retryable."""
    route = meta_route(return_value=httpx.Response(400, json=graph_error(99, is_transient=True)))
    leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(3)])
    assert route.call_count == 1
    await assert_retried(store, leased, "HTTP 400, Graph error 99")


@respx.mock
async def test_worker_dead_letters_an_unlisted_code_that_is_not_transient(
    store: RecordingStore,
) -> None:
    """The same unlisted code with ``is_transient: false`` is permanent, and not split."""
    route = meta_route(return_value=httpx.Response(400, json=graph_error(99, is_transient=False)))
    leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(3)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"dead": 3}
    assert route.call_count == 1
    assert set(store.reasons.values()) == {"permanent: HTTP 400, Graph error 99"}


@pytest.mark.parametrize(
    ("status", "code", "subcode", "reason"),
    [
        (400, 190, 460, "permanent: HTTP 400, Graph error 190/460"),
        (401, 190, None, "permanent: HTTP 401, Graph error 190"),
        (400, 102, None, "permanent: HTTP 400, Graph error 102"),
        (403, 10, None, "permanent: HTTP 403, Graph error 10"),
        (400, 200, None, "permanent: HTTP 400, Graph error 200"),
        (400, 3, None, "permanent: HTTP 400, Graph error 3"),
    ],
    ids=["token-190-460", "token-190-http-401", "session-102", "perm-10", "perm-200", "cap-3"],
)
async def test_worker_dead_letters_auth_and_permission_errors_without_splitting(
    store: RecordingStore, status: int, code: int, subcode: int | None, reason: str
) -> None:
    """§1.8: an invalid token (190, 102) or a missing permission (10, 200, 3) fails every
    event alike: the whole batch is dead-lettered after one request, never bisected."""
    with respx.mock:
        route = meta_route(return_value=httpx.Response(status, json=graph_error(code, subcode)))
        leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(4)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"dead": 4}
    assert route.call_count == 1
    assert set(store.reasons.values()) == {reason}
    assert {d.reason for d in await store.dead_letters()} == {reason}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400),
        httpx.Response(400, text="Bad Request"),
        httpx.Response(400, html="<html><body>Bad Request</body></html>"),
    ],
    ids=["empty", "text", "html"],
)
async def test_worker_dead_letters_a_bad_request_without_json(
    store: RecordingStore, response: httpx.Response
) -> None:
    """An HTTP 400 without a Graph error body is permanent on the status alone: the batch is
    dead-lettered after one request, not split and not retried."""
    with respx.mock:
        route = meta_route(return_value=response)
        leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(4)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"dead": 4}
    assert route.call_count == 1
    assert set(store.reasons.values()) == {"permanent: HTTP 400"}


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(500, text="<html>Internal Server Error</html>"), "HTTP 500"),
        (httpx.Response(502), "HTTP 502"),
        (httpx.Response(503, json=graph_error(2)), "HTTP 503, Graph error 2"),
        (httpx.Response(504), "HTTP 504"),
        (httpx.Response(500, json=graph_error(100, 2804019)), "HTTP 500, Graph error 100/2804019"),
        (httpx.Response(400, json=graph_error(1)), "HTTP 400, Graph error 1"),
    ],
    ids=["500-html", "502", "503-code-2", "504", "500-code-100", "400-code-1"],
)
async def test_worker_retries_server_errors(
    store: RecordingStore, response: httpx.Response, reason: str
) -> None:
    """§1.8: HTTP 5xx (whatever code its body carries, even 100) and Meta's downtime codes
    retry every event after one request: never dead-lettered, never split."""
    with respx.mock:
        route = meta_route(return_value=response)
        leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(3)])
    assert route.call_count == 1
    await assert_retried(store, leased, reason)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ReadTimeout("slow"), "timeout (ReadTimeout)"),
        (httpx.ConnectTimeout("slow"), "timeout (ConnectTimeout)"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "request error (ConnectError)"),
    ],
    ids=["read-timeout", "connect-timeout", "connection-refused"],
)
async def test_worker_retries_timeouts_and_refused_connections(
    store: RecordingStore, error: Exception, reason: str
) -> None:
    """§1.8: a timeout or a refused connection is retried, never dead-lettered."""
    with respx.mock:
        route = meta_route(side_effect=error)
        leased = await run_once(store, worker_meta(), [worker_event(i) for i in range(2)])
    assert route.call_count == 1
    await assert_retried(store, leased, reason)


@respx.mock
async def test_worker_dead_letters_only_when_retries_are_exhausted(
    store: RecordingStore,
) -> None:
    """A retryable answer dead-letters only once the last attempt is spent, with its
    reason: the only way a timeout ends in the dead-letter store."""
    meta_route(side_effect=httpx.ReadTimeout("slow"))
    leased = await run_once(store, worker_meta(max_attempts=1), [worker_event(1)])
    assert store.settled == [("dead", leased[0])]
    [dead] = await store.dead_letters()
    assert dead.reason == "retries exhausted: timeout (ReadTimeout)"


# --- event_time through the worker ---------------------------------------------------------


@respx.mock
async def test_worker_dead_letters_stale_events_without_sending_them(
    store: RecordingStore,
) -> None:
    """§1.2: one ``event_time`` over 7 days old makes Meta refuse the whole request, so the
    adapter refuses such events at encode (with a margin of an hour: 7 days minus 30
    minutes is refused too): they are dead-lettered with the reason and never reach Meta,
    while the fresh events of the same batch (one 7 days minus 61 minutes old) are sent
    in one request and acked."""
    route = meta_route(side_effect=lambda request: accepted(len(event_ids(request))))
    now = wall_ms()
    events = [
        worker_event(0),
        worker_event(1, timestamp_ms=now - 8 * DAY_MS),
        worker_event(2),
        worker_event(3, timestamp_ms=now - 7 * DAY_MS + 30 * 60_000),
        worker_event(4, timestamp_ms=now - 7 * DAY_MS + 61 * 60_000),
    ]
    leased = await run_once(store, worker_meta(), events)
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 3, "dead": 2}
    assert sent_ids(route) == [["e0", "e2", "e4"]]
    dead = await store.dead_letters()
    assert sorted(d.event_id for d in dead) == ["e1", "e3"]
    assert {d.reason for d in dead} == {STALE_REASON}
    sent = route.calls.last.request
    entry = orjson.loads(sent.content)["data"][2]
    assert entry["event_time"] == (now - 7 * DAY_MS + 61 * 60_000) // 1000


@respx.mock
async def test_worker_sends_nothing_when_every_event_is_stale(store: RecordingStore) -> None:
    """A batch of only stale events makes no request at all."""
    route = meta_route(return_value=accepted(0))
    old = wall_ms() - MAX_EVENT_AGE_MS - 60_000
    leased = await run_once(
        store, worker_meta(), [worker_event(i, timestamp_ms=old) for i in (1, 2)]
    )
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"dead": 2}
    assert route.call_count == 0
    assert set(store.reasons.values()) == {STALE_REASON}


@respx.mock
async def test_worker_clamps_a_future_event_time_to_now(store: RecordingStore) -> None:
    """§1.4: an event stamped in the future (a skewed client clock) is sent with
    ``event_time`` = the time of sending, in seconds; it is not refused."""
    route = meta_route(return_value=accepted(1))
    before = wall_ms()
    leased = await run_once(
        store, worker_meta(), [worker_event(1, timestamp_ms=before + 3_600_000)]
    )
    after = wall_ms()
    assert store.settled == [("ack", leased[0])]
    [entry] = orjson.loads(route.calls.last.request.content)["data"]
    assert before // 1000 <= entry["event_time"] <= after // 1000


@respx.mock
async def test_worker_sends_at_most_1000_events_per_request(store: RecordingStore) -> None:
    """§1.4: up to 1,000 events in ``data``: 2,500 leased events go as requests of 1,000,
    1,000 and 500, in order, each acked once."""
    route = meta_route(side_effect=lambda request: accepted(len(event_ids(request))))
    events = [worker_event(i) for i in range(2500)]
    leased = await run_once(store, worker_meta(), events)
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 2500}
    batches = sent_ids(route)
    assert [len(ids) for ids in batches] == [1000, 1000, 500]
    assert [i for ids in batches for i in ids] == [f"e{i}" for i in range(2500)]
