"""Meta Conversions API adapter: the wire format against golden files, and classification.

Facts are from /work/shared/reference/destinations.md: §1.1 endpoint and token, §1.2 body,
§1.3 ``user_data`` keys and hashing, §1.4 limits, §1.8 error codes, §5 event names. The
golden files in ``golden/meta_*.json`` were written from the encoder once and then checked
by hand against those sections (``UPDATE_GOLDEN=1`` rewrites them: review the diff).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import respx

from destinations.base import GovernedEvent, Rejection
from destinations.meta_capi import MetaCapi, Settings
from tests.destinations.helpers import (
    CLIENT_IP,
    NOW_MS,
    USER_AGENT,
    assert_golden,
    body_json,
    queued,
    sha256,
    snapshot,
)

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
    encoded = (destination or meta()).encode([queued(7, event)], now_ms=NOW_MS)
    assert encoded.rejected == []
    [request] = encoded.requests
    return request


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
