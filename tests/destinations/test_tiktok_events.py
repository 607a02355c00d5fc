"""TikTok Events API 2.0 adapter: the wire format against golden files, classification, and
delivery through the real worker.

Facts are from /work/shared/reference/destinations.md: §0 (at a glance), §3.1 endpoint and
``Access-Token`` header, §3.2 body (``event_source``, ``event_source_id``, ``data[]``,
``user``, ``properties``, ``page``, ``limited_data_use``), §3.3 hashing, §3.4 limits
(1,000 events, one bad row fails the batch), §3.5 dedup on ``event`` + ``event_id``, §3.6
responses (``code`` in an HTTP 200), §3.7 and §5 event names, §6.3 the cross-platform
phone hash and §7 pitfalls. The golden files in ``golden/tiktok_*.json`` were written from
the encoder once and then checked by hand against those sections (``UPDATE_GOLDEN=1``
rewrites them: review the diff).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import respx

from destinations.base import GovernedEvent, OutboundRequest, Rejection, SendResult
from destinations.tiktok_events import Settings as TiktokSettings
from destinations.tiktok_events import TiktokEvents
from gateway.pipeline.consent import Verdict
from gateway.pipeline.govern import govern, source_fields
from gateway.pipeline.identify import Identity
from gateway.pipeline.ingest import validate
from gateway.request_context import RequestContext
from tests.destinations.helpers import (
    CLIENT_IP,
    FORBIDDEN_STRINGS,
    NOW_MS,
    RAW_EVENT,
    USER_AGENT,
    assert_golden,
    body_json,
    govern_raw,
    opt_out_consent,
    queued,
    sha256,
    single_request,
    snapshot,
)
from tests.support.worker import RecordingStore, assert_each_settled_once, run_once

PIXEL_CODE = "C4TESTPIXEL0123456789"
TOKEN = "tt-access-token-not-real-0123456789"
TEST_CODE = "TEST04711"
TRACK_URL = "https://business-api.tiktok.com/open_api/v1.3/event/track/"
#: reference §6.3: TikTok's hash of ``+16505551212``
PHONE_SHA256 = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"
TTP = "2bBq3tT1xXnTzQ3q5FZpA1bC9dE"
TTCLID = "E.C.P.CvQBq9hJkLmNoPqRsTuVwXyZ"


def tiktok(**overrides: Any) -> TiktokEvents:
    """A TikTok adapter with a pixel code and token, plus ``overrides``."""
    raw = {
        "type": "tiktok_events",
        "requires": ["marketing"],
        "pixel_code": PIXEL_CODE,
        "access_token": TOKEN,
        **overrides,
    }
    return TiktokEvents("tiktok", TiktokSettings.model_validate(raw))


def masked(request: OutboundRequest) -> dict[str, Any]:
    """``snapshot`` of ``request`` with the ``Access-Token`` header's value masked; the token
    must be nowhere else in it."""
    view = snapshot(request)
    view["headers"] = {
        k: ("MASKED" if k.lower() == "access-token" else v) for k, v in view["headers"].items()
    }
    assert TOKEN not in json.dumps(view)
    return view


#: what the govern stage hands TikTok: user values already SHA-256 of the normalized value
#: (reference §3.3: email trim + lowercase, phone E.164 with "+", external_id trim only)
USER = {
    "email": sha256("jane.doe@example.com"),
    "phone": sha256("+16505551212"),
    "external_id": sha256("CRM-42"),
}
CONTEXT = {"ip": CLIENT_IP, "user_agent": USER_AGENT}
RUNNER = {
    "item_id": "SKU-1",
    "item_name": "Runner",
    "item_brand": "Acme",
    "item_category": "Shoes",
    "price": 49.95,
    "quantity": 2,
}
SOCKS = {"item_id": "SKU-2", "item_name": "Socks", "price": 30.0, "quantity": 1}


def event(name: str, event_id: str, **sections: Any) -> GovernedEvent:
    """A governed event stamped 90.5 s before ``NOW_MS``, with IP and user agent."""
    base: dict[str, Any] = {
        "event": name,
        "event_id": event_id,
        "timestamp_ms": NOW_MS - 90_500,
        "page": {"url": "https://shop.example/p/runner"},
        "context": dict(CONTEXT),
    }
    base.update(copy.deepcopy(sections))
    return base  # type: ignore[return-value]


def page_view() -> GovernedEvent:
    """A page view with an email hash, the ``_ttp`` cookie, page URL and referrer."""
    return event(
        "page_view",
        "evt-pv-1",
        page={"url": "https://shop.example/", "referrer": "https://search.example/"},
        user={"email": USER["email"]},
        ids={"ttp": TTP},
    )


def view_item() -> GovernedEvent:
    """A product view: one item, lowercase currency."""
    return event(
        "view_item",
        "evt-vi-1",
        ids={"ttp": TTP},
        properties={"value": 49.95, "currency": "usd", "items": [RUNNER]},
    )


def search() -> GovernedEvent:
    """A site search: GA4's ``search_term`` is TikTok's ``query`` (§3.2)."""
    return event(
        "search",
        "evt-search-1",
        page={"url": "https://shop.example/search?q=trail+runners"},
        ids={"ttp": TTP},
        properties={"search_term": "trail runners"},
    )


def add_to_cart() -> GovernedEvent:
    """An item added to the cart, with the click id from the ad."""
    return event(
        "add_to_cart",
        "evt-atc-1",
        ids={"ttp": TTP, "ttclid": TTCLID},
        properties={"value": 99.9, "currency": "EUR", "items": [RUNNER]},
    )


def begin_checkout() -> GovernedEvent:
    """A checkout start: two items and a custom ``coupon`` property."""
    return event(
        "begin_checkout",
        "evt-bc-1",
        page={"url": "https://shop.example/checkout", "referrer": "https://shop.example/cart"},
        user={"email": USER["email"]},
        ids={"ttp": TTP},
        properties={
            "value": 129.9,
            "currency": "EUR",
            "coupon": "SPRING",
            "items": [RUNNER, SOCKS],
        },
    )


def add_payment_info() -> GovernedEvent:
    """Payment details entered: value, currency and a custom ``payment_type``."""
    return event(
        "add_payment_info",
        "evt-api-1",
        page={"url": "https://shop.example/checkout/payment"},
        user={"email": USER["email"], "phone": USER["phone"]},
        ids={"ttp": TTP},
        properties={"value": 129.9, "currency": "EUR", "payment_type": "card"},
    )


def purchase() -> GovernedEvent:
    """A purchase with every field TikTok may receive."""
    return event(
        "purchase",
        "evt-purchase-1",
        page={
            "url": "https://shop.example/checkout/done",
            "referrer": "https://shop.example/checkout/payment",
        },
        user=dict(USER),
        ids={"ttp": TTP, "ttclid": TTCLID},
        properties={
            "value": 129.9,
            "currency": "eur",
            "transaction_id": "T-1001",
            "items": [RUNNER, SOCKS],
        },
    )


def sign_up() -> GovernedEvent:
    """A registration: email and external id hashes, custom ``method``."""
    return event(
        "sign_up",
        "evt-su-1",
        page={"url": "https://shop.example/account/new"},
        user={"email": USER["email"], "external_id": USER["external_id"]},
        ids={"ttp": TTP},
        properties={"method": "email"},
    )


def generate_lead() -> GovernedEvent:
    """A lead form: a value of 0 is still a value."""
    return event(
        "generate_lead",
        "evt-lead-1",
        page={"url": "https://shop.example/contact"},
        user={"email": USER["email"], "phone": USER["phone"]},
        ids={"ttp": TTP, "ttclid": TTCLID},
        properties={"value": 0, "currency": "USD", "form_id": "contact-2"},
    )


def custom_event() -> GovernedEvent:
    """An event with no TikTok standard equivalent: sent under its own name."""
    return event(
        "newsletter_signup",
        "evt-custom-1",
        page={"url": "https://shop.example/blog", "referrer": "https://news.example/"},
        user={"external_id": USER["external_id"]},
        ids={"ttp": TTP},
        context={"ip": "2001:db8::7", "user_agent": USER_AGENT},
        properties={"list": "weekly"},
    )


def limited_data_use_purchase() -> GovernedEvent:
    """A purchase from an opted-out Californian as the govern stage leaves it: under
    ``ad_user_data`` no user section, under ``limited_data_use`` no ``ttp``/``ttclid``."""
    governed = purchase()
    del governed["user"]
    del governed["ids"]
    governed["consent"] = {"restrictions": ["ad_user_data", "limited_data_use"]}
    return governed


def governed_purchase() -> GovernedEvent:
    """The helpers' raw purchase, with TikTok, Google and Meta ids, through the real
    ingest validation and govern stage."""
    return govern_raw(tiktok(), raw_with_all_ids())


def raw_with_all_ids() -> dict[str, Any]:
    """The helpers' raw purchase, carrying every browser and click id the page knows."""
    raw = copy.deepcopy(RAW_EVENT)
    raw["ids"].update(ttp=TTP, ttclid=TTCLID, gclid="Cj0KCQjw-gclid-value")
    return raw


def encode_one(governed: GovernedEvent, destination: TiktokEvents | None = None) -> Any:
    """Encode one event and return its only request (asserting nothing was rejected)."""
    return single_request(destination or tiktok(), governed)


def data_of(governed: GovernedEvent, destination: TiktokEvents | None = None) -> dict[str, Any]:
    """The one ``data[]`` entry TikTok gets for ``governed``."""
    [entry] = body_json(encode_one(governed, destination))["data"]
    return entry


# --- golden payloads -----------------------------------------------------------------------

GOLDEN: list[tuple[str, Callable[[], GovernedEvent], dict[str, Any]]] = [
    ("tiktok_page_view", page_view, {}),
    ("tiktok_view_item", view_item, {}),
    ("tiktok_search", search, {}),
    ("tiktok_add_to_cart", add_to_cart, {}),
    ("tiktok_begin_checkout", begin_checkout, {}),
    ("tiktok_add_payment_info", add_payment_info, {}),
    ("tiktok_purchase", purchase, {}),
    ("tiktok_sign_up", sign_up, {}),
    ("tiktok_generate_lead", generate_lead, {}),
    ("tiktok_custom_event", custom_event, {}),
    ("tiktok_purchase_limited_data_use", limited_data_use_purchase, {}),
    ("tiktok_page_view_test_event_code", page_view, {"test_event_code": TEST_CODE}),
    ("tiktok_purchase_governed", governed_purchase, {}),
]


@pytest.mark.parametrize(
    ("name", "make", "overrides"), GOLDEN, ids=[g[0].removeprefix("tiktok_") for g in GOLDEN]
)
def test_request_matches_golden(
    name: str, make: Callable[[], GovernedEvent], overrides: dict[str, Any]
) -> None:
    """The whole request (method, URL, headers with the token masked, JSON body) is what the
    reviewed golden file says TikTok expects (§3.1, §3.2, §5)."""
    request = encode_one(make(), tiktok(**overrides))
    assert_golden(name, masked(request))


# --- endpoint, auth, envelope --------------------------------------------------------------


def test_token_travels_only_in_the_access_token_header() -> None:
    """§3.1: the token is the ``Access-Token`` header (no ``Bearer``), never in the URL or
    the body; the URL is the documented event/track path."""
    request = encode_one(purchase())
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["access-token"] == TOKEN
    assert "authorization" not in headers
    assert headers["content-type"] == "application/json"
    assert request.method == "POST"
    assert request.url == TRACK_URL
    assert TOKEN not in request.url
    assert TOKEN.encode() not in request.content


def test_envelope_is_web_source_with_the_pixel_code() -> None:
    """§3.2: ``event_source`` is ``web`` and ``event_source_id`` the pixel code; no
    ``test_event_code`` unless configured (test events are still counted, §0)."""
    body = body_json(encode_one(page_view()))
    assert set(body) == {"event_source", "event_source_id", "data"}
    assert body["event_source"] == "web"
    assert body["event_source_id"] == PIXEL_CODE


def test_test_event_code_is_top_level_only_when_configured() -> None:
    """§3.2: ``test_event_code`` sits beside ``data``, never inside an event."""
    body = body_json(encode_one(page_view(), tiktok(test_event_code=TEST_CODE)))
    assert body["test_event_code"] == TEST_CODE
    assert "test_event_code" not in body["data"][0]


def test_endpoint_override_keeps_the_event_track_path() -> None:
    """``endpoint`` replaces scheme, host and prefix only: ``/open_api/v1.3/event/track/``
    (with its trailing slash) follows."""
    request = encode_one(page_view(), tiktok(endpoint="http://127.0.0.1:9/prefix/"))
    assert request.url == "http://127.0.0.1:9/prefix/open_api/v1.3/event/track/"
    request = encode_one(page_view(), tiktok(endpoint="http://tiktok.test"))
    assert request.url == "http://tiktok.test/open_api/v1.3/event/track/"


@pytest.mark.parametrize(
    "endpoint", ["ftp://tiktok.test", "http://tiktok.test/?x=1", "http://u:p@tiktok.test"]
)
def test_endpoint_override_must_be_a_plain_base_url(endpoint: str) -> None:
    """A scheme other than http(s), a query or credentials in the override are refused."""
    with pytest.raises(ValueError):
        tiktok(endpoint=endpoint)


def test_missing_pixel_code_or_token_keeps_events_queued() -> None:
    """Both credentials are required; with either empty the destination is not sent to."""
    assert tiktok().missing_credentials() == []
    assert tiktok(pixel_code="", access_token="").missing_credentials() == [
        "pixel_code",
        "access_token",
    ]


def test_pixel_code_must_be_uppercase_alphanumeric() -> None:
    """A pixel code is uppercase letters and digits; anything else is a settings error."""
    with pytest.raises(ValueError):
        tiktok(pixel_code="c4 pixel/../")


def test_token_is_secret_in_settings() -> None:
    """The token is a secret: not shown by the settings' repr, listed for masking."""
    destination = tiktok()
    assert TOKEN not in repr(destination.settings)
    assert destination.settings.secret_values() == [TOKEN]


# --- test path -----------------------------------------------------------------------------


def test_for_testing_sends_with_the_given_test_event_code() -> None:
    """``gateway test-destination --test-event-code X`` sends with ``test_event_code: X``."""
    destination = tiktok().for_testing("TEST999")
    assert destination.settings.test_event_code == "TEST999"
    assert body_json(encode_one(page_view(), destination))["test_event_code"] == "TEST999"


def test_for_testing_falls_back_to_the_configured_code() -> None:
    """Without a code on the command line the configured one is used."""
    destination = tiktok(test_event_code=TEST_CODE)
    assert destination.test_settings(None) == {"test_event_code": TEST_CODE}
    assert body_json(encode_one(page_view(), destination.for_testing()))["test_event_code"] == (
        TEST_CODE
    )


@pytest.mark.parametrize("code", [None, ""])
def test_test_path_without_a_code_is_a_helpful_error(code: str | None) -> None:
    """TikTok has no dry run (§0: only ``test_event_code``): without a code the test path
    refuses, naming the option and where the code comes from."""
    with pytest.raises(ValueError, match=r"--test-event-code.*Events Manager"):
        tiktok().test_settings(code)
    with pytest.raises(ValueError, match="test-event-code"):
        tiktok().for_testing(code)


# --- event names ---------------------------------------------------------------------------

# reference §5: gateway (GA4) name -> TikTok's current name (after the May 2025 rename, §3.7)
EVENT_NAME_TABLE = [
    ("page_view", "Pageview"),
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
    """Gateway names map to TikTok standard events as in §5 (``Purchase``, not the legacy
    ``CompletePayment``; ``Lead``, not ``SubmitForm``)."""
    assert data_of({**page_view(), "event": ours})["event"] == theirs


@pytest.mark.parametrize("name", ["newsletter_signup", "Quiz Completed", "CompletePayment"])
def test_other_event_names_pass_through_unchanged(name: str) -> None:
    """A name outside the table is sent as a custom event, case and spaces kept."""
    assert data_of({**page_view(), "event": name})["event"] == name


def test_event_names_setting_overrides_the_defaults() -> None:
    """``event_names`` wins over the shipped table and names custom events."""
    destination = tiktok(
        event_names={"purchase": "CompletePayment", "newsletter_signup": "Subscribe"}
    )
    assert data_of(purchase(), destination)["event"] == "CompletePayment"
    assert data_of(custom_event(), destination)["event"] == "Subscribe"
    assert data_of(page_view(), destination)["event"] == "Pageview"


def test_unknown_events_drop_rejects_with_a_reason_and_sends_the_rest() -> None:
    """With ``unknown_events: drop`` an unmapped event is refused (dead-lettered with a
    reason, never silent); mapped ones in the same batch still go."""
    destination = tiktok(unknown_events="drop")
    items = [queued(1, page_view()), queued(2, custom_event()), queued(3, purchase())]
    encoded = destination.encode(items, now_ms=NOW_MS)
    assert encoded.rejected == [Rejection(2, "no event name mapping (unknown_events: drop)")]
    [request] = encoded.requests
    assert request.item_ids == (1, 3)
    assert [d["event"] for d in body_json(request)["data"]] == ["Pageview", "Purchase"]


def test_unknown_events_drop_keeps_events_named_by_the_setting() -> None:
    """An event mapped by ``event_names`` is known, so ``drop`` does not apply to it."""
    destination = tiktok(unknown_events="drop", event_names={"newsletter_signup": "Subscribe"})
    assert data_of(custom_event(), destination)["event"] == "Subscribe"


# --- per-event fields ----------------------------------------------------------------------


def test_event_id_is_sent_unchanged_for_dedup_with_the_pixel() -> None:
    """§3.5: TikTok deduplicates on ``event`` + ``event_id`` against the pixel, so the
    gateway's event id goes as is, also through the real govern stage."""
    assert data_of(purchase())["event_id"] == "evt-purchase-1"
    assert data_of(governed_purchase())["event_id"] == RAW_EVENT["event_id"]


def test_event_time_is_whole_unix_seconds() -> None:
    """§3.2: ``event_time`` is Unix seconds (an int), milliseconds floored."""
    entry = data_of(purchase())
    assert entry["event_time"] == (NOW_MS - 90_500) // 1000 == 1_789_999_909
    assert isinstance(entry["event_time"], int)
    assert data_of({**page_view(), "timestamp_ms": NOW_MS - 1})["event_time"] == (
        NOW_MS // 1000 - 1
    )


def test_future_timestamp_is_clamped_to_now() -> None:
    """An event stamped in the future (a skewed browser clock) is sent as now."""
    entry = data_of({**page_view(), "timestamp_ms": NOW_MS + 3 * 3_600_000})
    assert entry["event_time"] == NOW_MS // 1000


def test_user_carries_hashes_and_raw_ids() -> None:
    """§3.2: ``user`` has the SHA-256 of email, phone and external id as governed, and raw
    ``ttclid``, ``ttp``, ``ip`` and ``user_agent``; nothing else."""
    user = data_of(purchase())["user"]
    assert user == {
        "email": USER["email"],
        "phone": USER["phone"],
        "external_id": USER["external_id"],
        "ttclid": TTCLID,
        "ttp": TTP,
        "ip": CLIENT_IP,
        "user_agent": USER_AGENT,
    }
    assert USER["phone"] == PHONE_SHA256


def test_purchase_properties() -> None:
    """§3.2 ``properties``: ``value``, ISO 4217 ``currency`` (upper case), ``order_id``
    from ``transaction_id``, ``contents[]`` from the items and ``content_type: product``."""
    properties = data_of(purchase())["properties"]
    assert properties == {
        "value": 129.9,
        "currency": "EUR",
        "order_id": "T-1001",
        "content_type": "product",
        "contents": [
            {
                "content_id": "SKU-1",
                "content_name": "Runner",
                "content_category": "Shoes",
                "brand": "Acme",
                "price": 49.95,
                "quantity": 2,
            },
            {"content_id": "SKU-2", "content_name": "Socks", "price": 30.0, "quantity": 1},
        ],
    }


def test_search_term_is_sent_as_query() -> None:
    """§3.2: TikTok's search field is ``query``; GA4's ``search_term`` is not sent twice."""
    assert data_of(search())["properties"] == {"query": "trail runners"}


def test_items_without_an_id_are_not_contents() -> None:
    """A ``contents`` entry needs a ``content_id``; numeric ids become strings."""
    governed = purchase()
    governed["properties"]["items"] = [{"item_name": "Mystery"}, {"item_id": 42}]
    assert data_of(governed)["properties"]["contents"] == [{"content_id": "42"}]
    governed["properties"]["items"] = [{"item_name": "Mystery"}]
    properties = data_of(governed)["properties"]
    assert "contents" not in properties and "content_type" not in properties


def test_page_carries_url_and_referrer_only() -> None:
    """§3.2 ``page``: ``url`` and ``referrer``; the page title is never sent."""
    governed = page_view()
    governed["page"]["title"] = "Zebulon's basket"
    entry = data_of(governed)
    assert entry["page"] == {"url": "https://shop.example/", "referrer": "https://search.example/"}
    assert "Zebulon" not in json.dumps(entry)


def test_event_without_optional_sections_is_still_sent() -> None:
    """An event with no page, properties, ids or context is a bare event with an empty
    ``user``: nothing invented."""
    entry = data_of({"event": "page_view", "event_id": "e", "timestamp_ms": NOW_MS})
    assert entry == {"event": "Pageview", "event_time": NOW_MS // 1000, "event_id": "e", "user": {}}


# --- through the real govern stage ---------------------------------------------------------


def test_governed_event_sends_tiktok_ids_raw_and_no_other_platform_ids() -> None:
    """Through ``govern_raw`` (real ingest + govern): ``ttp`` and ``ttclid`` reach TikTok
    raw (§3.2: never hashed), and Meta's ``fbp``/``fbc``, Google's ``gclid`` and the
    gateway's ``client_id`` never do."""
    request = encode_one(governed_purchase())
    [entry] = body_json(request)["data"]
    assert (entry["user"]["ttp"], entry["user"]["ttclid"]) == (TTP, TTCLID)
    text = request.content.decode()
    ids = RAW_EVENT["ids"]
    for value in (ids["fbp"], ids["fbc"], ids["client_id"], "Cj0KCQjw-gclid-value"):
        assert value not in text
    for key in ("fbp", "fbc", "gclid", "client_id"):
        assert f'"{key}"' not in text


def test_governed_event_sends_tiktok_hashes_and_no_raw_pii() -> None:
    """Through the real govern stage the user values are TikTok's recipe hashes (§3.3),
    computed here independently; fields TikTok does not take (names, city, region, postal
    code, country) are not sent at all, and no raw PII appears anywhere in the body."""
    request = encode_one(governed_purchase())
    user = body_json(request)["data"][0]["user"]
    assert user["email"] == sha256("zebulon.quartermaine@example.com")
    assert user["phone"] == PHONE_SHA256
    assert user["external_id"] == sha256("CRM-Customer-88421")  # case kept
    assert set(user) == {"email", "phone", "external_id", "ttp", "ttclid", "ip", "user_agent"}
    text = request.content.decode().lower()
    for forbidden in FORBIDDEN_STRINGS:
        assert forbidden.lower() not in text


def source(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The real ingest + ``source_fields`` for ``raw``, as ``govern_raw`` builds it."""
    [ingested] = validate([copy.deepcopy(raw)], batch=False, now_ms=NOW_MS)
    ctx = RequestContext(
        client_ip=CLIENT_IP, user_agent=USER_AGENT, region="US-CA", gpc=False, peer_trusted=True
    )
    consent = opt_out_consent({"marketing": False, "analytics": True})
    identity = Identity(ingested.event.ids.client_id or "GW1.new", "page")
    return source_fields(ingested, identity, ctx, consent)


@pytest.mark.parametrize(
    "restrictions",
    [("limited_data_use",), ("ad_user_data", "limited_data_use")],
    ids=["ldu", "ldu+ad_user_data"],
)
def test_limited_data_use_through_govern(restrictions: tuple[str, ...]) -> None:
    """§3.2 / module docstring: under ``limited_data_use`` the event carries
    ``limited_data_use: true`` and no advertising ids (the govern stage removes ``ttp`` and
    ``ttclid``); under ``ad_user_data`` also no user hashes. IP and user agent remain."""
    destination = tiktok()
    verdict = Verdict("tiktok", "send_restricted", restrictions, {"marketing": False}, ())
    governed = govern(source(raw_with_all_ids()), destination, "US", verdict=verdict)
    entry = data_of(governed, destination)
    assert entry["limited_data_use"] is True
    assert "ttp" not in entry["user"] and "ttclid" not in entry["user"]
    assert (entry["user"]["ip"], entry["user"]["user_agent"]) == (CLIENT_IP, USER_AGENT)
    hashes = {"email", "phone", "external_id"} & set(entry["user"])
    if "ad_user_data" in restrictions:
        assert hashes == set()
    else:
        assert hashes == {"email", "phone", "external_id"}
        assert entry["user"]["phone"] == PHONE_SHA256
    assert "consent" not in entry and "restrictions" not in json.dumps(entry)


def test_no_restriction_means_no_limited_data_use_flag() -> None:
    """Without the restriction the flag is absent (not ``false``), and ``ad_user_data``
    alone does not set it."""
    assert "limited_data_use" not in data_of(purchase())
    governed = purchase()
    governed["consent"] = {"restrictions": ["ad_user_data"]}
    assert "limited_data_use" not in data_of(governed)


def test_settings_accept_the_limited_data_use_restriction() -> None:
    """TikTok has a limited-data-use mode, so the restriction may be configured."""
    destination = tiktok(restrictions={"limited_data_use": ["US-CA"]})
    assert "limited_data_use" in TiktokSettings.RESTRICTED_MODES
    assert destination.settings.restrictions.limited_data_use == ["US-CA"]


# --- batching ------------------------------------------------------------------------------


def test_2500_events_become_requests_of_1000_1000_500() -> None:
    """§3.4: at most 1,000 events per request; 2,500 are three requests, in order, each
    body's ``data`` matching the item ids it carries."""
    base = page_view()
    items = [queued(n, {**base, "event_id": f"evt-{n}"}) for n in range(1, 2501)]
    encoded = tiktok().encode(items, now_ms=NOW_MS)
    assert encoded.rejected == []
    assert [len(r.item_ids) for r in encoded.requests] == [1000, 1000, 500]
    assert [i for r in encoded.requests for i in r.item_ids] == list(range(1, 2501))
    for request in encoded.requests:
        ids = [d["event_id"] for d in body_json(request)["data"]]
        assert ids == [f"evt-{n}" for n in request.item_ids]
        assert body_json(request)["event_source_id"] == PIXEL_CODE


def test_configured_batch_size_splits_further() -> None:
    """``batch.max_events`` lowers the events per request below TikTok's limit."""
    destination = tiktok(batch={"max_events": 2})
    assert destination.batch_size() == 2
    encoded = destination.encode([queued(n, page_view()) for n in range(5)], now_ms=NOW_MS)
    assert [len(r.item_ids) for r in encoded.requests] == [2, 2, 1]


def test_batch_size_above_tiktok_limit_is_refused() -> None:
    """``batch.max_events`` above 1,000 is a settings error naming the limit."""
    assert tiktok().batch_size() == 1000
    with pytest.raises(ValueError, match="1000"):
        tiktok(batch={"max_events": 1001})


def test_empty_batch_sends_nothing() -> None:
    """No events, no request (an empty ``data`` would be an invalid request)."""
    encoded = tiktok().encode([], now_ms=NOW_MS)
    assert (encoded.requests, encoded.rejected) == ([], [])


# --- classify ------------------------------------------------------------------------------


def answer(code: int, message: str = "x", **headers: str) -> httpx.Response:
    """TikTok's envelope (§3.6) in an HTTP 200."""
    body = {"code": code, "message": message, "request_id": "202609212213", "data": {}}
    return httpx.Response(200, json=body, headers=headers)


def test_code_0_is_success() -> None:
    """§3.6: HTTP 200 with ``code: 0`` is the only success."""
    result = TiktokEvents.classify(tiktok(), answer(0, "OK"))
    assert (result.outcome, result.status) == ("ok", 200)


@pytest.mark.parametrize(
    "code",
    [40100, 40700, 50000, 50002, 51000],
    ids=["rate-limit", "40700", "internal-50000", "internal-50002", "internal-51000"],
)
def test_throttling_and_internal_codes_are_retried(code: int) -> None:
    """§3.6: ``40100`` is TikTok's rate limit and ``40700`` is treated as a server error
    (RudderStack); 5xxxx codes are internal errors: all retryable despite the HTTP 200."""
    result = tiktok().classify(answer(code, "Too many requests"))
    assert (result.outcome, result.status) == ("retry", 200)
    assert result.reason == f"TikTok code {code}: Too many requests"


def test_retryable_code_honours_retry_after() -> None:
    """A rate-limit code's ``Retry-After`` header is passed on to the backoff."""
    result = tiktok().classify(answer(40100, **{"Retry-After": "7"}))
    assert (result.outcome, result.retry_after_secs) == ("retry", 7)


@pytest.mark.parametrize(("code", "what"), [(40001, "permission"), (40105, "bad token")])
def test_auth_and_permission_codes_are_permanent_and_not_split(code: int, what: str) -> None:
    """§3.6: ``40001`` (permission) and ``40105`` (invalid token) fail every event alike:
    permanent, and not worth bisecting the batch."""
    result = tiktok().classify(answer(code, what))
    assert (result.outcome, result.splittable) == ("permanent", False)
    assert result.reason == f"TikTok code {code}: {what}"


def test_invalid_parameters_is_permanent_and_splittable() -> None:
    """§3.4 and §3.6: ``40002`` (invalid parameters) is caused by some event's data and one
    bad row fails the batch: permanent, but splittable so the good events can still go."""
    result = tiktok().classify(answer(40002, "Invalid value for event_time"))
    assert (result.outcome, result.splittable) == ("permanent", True)
    assert "40002" in result.reason


def test_long_messages_are_cut() -> None:
    """The reason keeps at most 200 characters of TikTok's message."""
    result = tiktok().classify(answer(40002, "m" * 5000))
    assert result.reason == "TikTok code 40002: " + "m" * 200


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>OK</html>", b"\xff", b"[]", b'"ok"', b"{}", b'{"code": "0"}', b'{"code": null}'],
    ids=["empty", "html", "not-utf8", "list", "string", "no-code", "code-string", "code-null"],
)
def test_http_200_without_a_code_is_retried(content: bytes) -> None:
    """§3.6 and §7.8: an HTTP 200 is not success by itself; without TikTok's integer
    ``code`` nobody said the events were taken, so they are retried."""
    result = tiktok().classify(httpx.Response(200, content=content))
    assert (result.outcome, result.status) == ("retry", 200)
    assert "HTTP 200 without" in result.reason


@pytest.mark.parametrize("content", [b'{"code": false}', b'{"code": true}'])
def test_boolean_code_is_not_a_code(content: bytes) -> None:
    """§3.6: ``code`` is an int. ``false`` is not ``0``: a body whose code is a boolean is
    not TikTok's envelope, so, like any 200 without a code, it is retried."""
    result = tiktok().classify(httpx.Response(200, content=content))
    assert result.outcome == "retry"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_http_5xx_429_408_are_retried_honouring_retry_after(status: int) -> None:
    """The shared definition of retryable, whatever body TikTok sends (even ``code: 0``),
    with ``Retry-After`` passed on."""
    response = httpx.Response(status, json={"code": 0}, headers={"Retry-After": "12"})
    result = tiktok().classify(response)
    assert (result.outcome, result.status, result.retry_after_secs) == ("retry", status, 12)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_http_4xx_is_permanent_and_not_split(status: int) -> None:
    """Other 4xx are permanent on the status alone, and not bisected."""
    result = tiktok().classify(httpx.Response(status, text="nope"))
    assert (result.outcome, result.status, result.splittable) == ("permanent", status, False)


# --- send ----------------------------------------------------------------------------------


async def send(response: httpx.Response | Exception) -> tuple[SendResult, respx.Route]:
    """Send the purchase to the respx-mocked TikTok URL; the mock answers ``response``."""
    destination = tiktok()
    request = encode_one(purchase(), destination)
    async with respx.mock(assert_all_called=True) as mock:
        route = mock.post(TRACK_URL)
        if isinstance(response, Exception):
            route.mock(side_effect=response)
        else:
            route.mock(return_value=response)
        async with httpx.AsyncClient() as client:
            result = await destination.send(client, request)
    return result, route


async def test_send_posts_json_with_the_access_token_header() -> None:
    """``send`` POSTs the JSON body to the event/track URL with ``Access-Token``; the token
    is not in the URL or the body TikTok receives; ``code: 0`` is ok."""
    result, route = await send(answer(0, "OK"))
    assert result.outcome == "ok"
    sent = route.calls.last.request
    assert sent.method == "POST"
    assert str(sent.url) == TRACK_URL
    assert sent.headers["Access-Token"] == TOKEN
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert TOKEN not in str(sent.url) and TOKEN.encode() not in sent.content
    assert orjson.loads(sent.content)["data"][0]["event_id"] == "evt-purchase-1"


@pytest.mark.parametrize(
    ("response", "outcome", "splittable"),
    [
        (answer(40100), "retry", False),
        (answer(40700), "retry", False),
        (answer(50000), "retry", False),
        (answer(40001), "permanent", False),
        (answer(40105), "permanent", False),
        (answer(40002), "permanent", True),
        (httpx.Response(200, text="OK"), "retry", False),
        (httpx.Response(200, json={"message": "OK"}), "retry", False),
        (httpx.Response(503), "retry", False),
        (httpx.Response(400, json={"code": 40002}), "permanent", False),
    ],
    ids=[
        "40100",
        "40700",
        "50000",
        "40001",
        "40105",
        "40002",
        "200-no-json",
        "200-no-code",
        "503",
        "http-400",
    ],
)
async def test_send_classifies_the_answer(
    response: httpx.Response, outcome: str, splittable: bool
) -> None:
    """Through a real HTTP exchange (respx) the answer is classified as in §3.6."""
    result, _ = await send(response)
    assert (result.outcome, result.splittable) == (outcome, splittable)


async def test_send_honours_retry_after_on_429() -> None:
    """A 429 with ``Retry-After`` is retried no sooner than asked."""
    result, _ = await send(httpx.Response(429, headers={"Retry-After": "30"}))
    assert (result.outcome, result.status, result.retry_after_secs) == ("retry", 429, 30)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
    ],
    ids=["connect-timeout", "read-timeout", "connect-error"],
)
async def test_timeouts_and_transport_errors_are_retried(error: Exception) -> None:
    """A platform that hangs or refuses the connection is retryable, never a dead letter."""
    result, _ = await send(error)
    assert result.outcome == "retry"
    assert type(error).__name__ in result.reason


# --- through the delivery worker -----------------------------------------------------------

WORKER_ENDPOINT = "http://tiktok.test"
WORKER_URL = f"{WORKER_ENDPOINT}/open_api/v1.3/event/track/"


def worker_tiktok(max_attempts: int = 3, **overrides: Any) -> TiktokEvents:
    """A TikTok adapter pointed at the respx host, with fast retries."""
    retry = {"max_attempts": max_attempts, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}
    return tiktok(endpoint=WORKER_ENDPOINT, retry=retry, **overrides)


def worker_event(n: int, **overrides: Any) -> dict[str, Any]:
    """A governed page view ``e<n>`` stamped now (the worker uses the real clock)."""
    governed = {
        **page_view(),
        "event_id": f"e{n}",
        "timestamp_ms": NOW_MS,
    }
    governed.update(overrides)
    return governed


def event_ids(request: httpx.Request) -> list[str]:
    return [e["event_id"] for e in orjson.loads(request.content)["data"]]


@respx.mock
async def test_worker_acks_a_batch_tiktok_accepts(store: RecordingStore) -> None:
    """``code: 0``: every event of the batch is acked, in one request with the token."""
    route = respx.post(WORKER_URL).mock(return_value=answer(0, "OK"))
    leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(5)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 5}
    assert route.call_count == 1
    assert route.calls.last.request.headers["Access-Token"] == TOKEN
    assert event_ids(route.calls.last.request) == [f"e{i}" for i in range(5)]


@respx.mock
async def test_worker_bisects_out_the_one_bad_event(store: RecordingStore) -> None:
    """§3.4: one erroneous row fails the whole batch with ``40002``; the worker splits the
    batch until the bad event is alone: the seven good ones are acked, the bad one is
    dead-lettered with TikTok's code in the reason."""

    def reply(request: httpx.Request) -> httpx.Response:
        if "e5" in event_ids(request):
            return answer(40002, "Invalid value for event_time")
        return answer(0, "OK")

    route = respx.post(WORKER_URL).mock(side_effect=reply)
    leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(8)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 7, "dead": 1}
    [dead] = await store.dead_letters()
    assert dead.event_id == "e5"
    assert dead.reason == "permanent: TikTok code 40002: Invalid value for event_time"
    assert route.call_count == 7  # 8 -> 4+4 -> 2+2 -> 1+1: log2 steps, not one per event


@pytest.mark.parametrize(
    ("response", "delay"),
    [
        (answer(40100, "Too many requests", **{"Retry-After": "30"}), 30),
        (httpx.Response(429, headers={"Retry-After": "45"}), 45),
    ],
    ids=["code-40100", "http-429"],
)
async def test_worker_retries_a_rate_limit_no_sooner_than_asked(
    store: RecordingStore, response: httpx.Response, delay: float
) -> None:
    """A rate limit (TikTok's ``40100`` or HTTP 429) retries every event, Retry-After as
    the floor of the delay; nothing is dead-lettered."""
    with respx.mock:
        respx.post(WORKER_URL).mock(return_value=response)
        leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(3)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"retry": 3}
    assert len(store.delays) == 1 and store.delays[0] >= delay
    assert await store.dead_letters() == []


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (answer(40105, "Access token is incorrect"), "TikTok code 40105"),
        (answer(40001, "No permission"), "TikTok code 40001"),
    ],
    ids=["bad-token", "no-permission"],
)
async def test_worker_dead_letters_an_auth_error_without_splitting(
    store: RecordingStore, response: httpx.Response, reason: str
) -> None:
    """A bad token or missing permission fails every event alike: the whole batch is
    dead-lettered after one request, with the code in the reason."""
    with respx.mock:
        route = respx.post(WORKER_URL).mock(return_value=response)
        leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(4)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"dead": 4}
    assert route.call_count == 1
    assert set(store.reasons.values()) == {f"permanent: {reason}: {response.json()['message']}"}


@respx.mock
async def test_worker_dead_letters_an_http_400(store: RecordingStore) -> None:
    """An HTTP 4xx is permanent on the status alone: dead-lettered, not split."""
    route = respx.post(WORKER_URL).mock(return_value=httpx.Response(400, text="bad request"))
    leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(4)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"dead": 4}
    assert route.call_count == 1
    assert set(store.reasons.values()) == {"permanent: HTTP 400"}


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(503), "HTTP 503"),
        (answer(50000, "Internal error"), "TikTok code 50000: Internal error"),
        (answer(40700, "System busy"), "TikTok code 40700: System busy"),
        (httpx.Response(200, text="<html>OK</html>"), "HTTP 200 without a JSON answer"),
    ],
    ids=["http-503", "code-50000", "code-40700", "200-no-json"],
)
async def test_worker_retries_server_errors(
    store: RecordingStore, response: httpx.Response, reason: str
) -> None:
    """A server error, in the HTTP status or in TikTok's code, retries every event."""
    with respx.mock:
        respx.post(WORKER_URL).mock(return_value=response)
        leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(3)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"retry": 3}
    assert store.retry_reasons == [reason]


@respx.mock
async def test_worker_retries_a_timeout(store: RecordingStore) -> None:
    """A request that times out is retried, never dead-lettered."""
    respx.post(WORKER_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    leased = await run_once(store, worker_tiktok(), [worker_event(i) for i in range(2)])
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"retry": 2}
    assert store.retry_reasons == ["timeout (ReadTimeout)"]


@respx.mock
async def test_worker_dead_letters_when_retries_are_exhausted(store: RecordingStore) -> None:
    """With the last attempt spent, a retryable answer dead-letters with its reason."""
    respx.post(WORKER_URL).mock(return_value=answer(40100, "Too many requests"))
    destination = worker_tiktok(max_attempts=1)
    leased = await run_once(store, destination, [worker_event(1)])
    assert store.settled == [("dead", leased[0])]
    [dead] = await store.dead_letters()
    assert dead.reason == "retries exhausted: TikTok code 40100: Too many requests"


@respx.mock
async def test_worker_dead_letters_dropped_unknown_events_and_sends_the_rest(
    store: RecordingStore,
) -> None:
    """With ``unknown_events: drop`` the unmapped event is dead-lettered with the reason
    before anything is sent; the others are delivered."""
    route = respx.post(WORKER_URL).mock(return_value=answer(0, "OK"))
    events = [worker_event(1), worker_event(2, event="newsletter_signup"), worker_event(3)]
    leased = await run_once(store, worker_tiktok(unknown_events="drop"), events)
    assert_each_settled_once(store, leased)
    assert store.kinds() == {"ack": 2, "dead": 1}
    assert list(store.reasons.values()) == [
        "rejected: no event name mapping (unknown_events: drop)"
    ]
    assert event_ids(route.calls.last.request) == ["e1", "e3"]


def test_partial_success_code_splits_the_batch() -> None:
    """§3.6: 20001 is read as a partial success (RudderStack's reading; unverified): not
    ok, since some events were refused, but splittable, so the worker resends halves
    (TikTok deduplicates what it took by event id) until the refused event is alone."""
    body = b'{"code": 20001, "message": "Partial success", "request_id": "r", "data": {}}'
    result = tiktok().classify(httpx.Response(200, content=body))
    assert (result.outcome, result.splittable) == ("permanent", True)
    assert "20001" in result.reason


def test_a_malformed_test_event_code_is_refused() -> None:
    """``for_testing`` validates like the config: a code outside the settings' pattern is
    an error, not a request with a broken code."""
    with pytest.raises(ValueError, match="test_event_code"):
        tiktok().for_testing("bad code; x")
