"""GA4 Measurement Protocol adapter: the wire format against golden files, the limits it
keeps to itself, classification, and delivery through the real worker and queue.

Facts are from /work/shared/reference/destinations.md: §2.1 endpoint and ``api_secret``,
§2.2 body (``client_id``, ``user_id``, ``user_location``, ``timestamp_micros``,
``validation_behavior``), §2.3 limits (25 events, 25 parameters, 10 custom item
parameters, 40-character names, 100-character values, < 130 kB, 72 hours of back-dating,
reserved names), §2.4 ``user_data``, §2.5 validation server, §2.6 consent, §2.7
``transaction_id``, §2.8 recommended events, §5 event names, §7 pitfalls. The golden files
in ``golden/ga4_*.json`` were written from the encoder once and then checked by hand, field
by field, against those sections (``UPDATE_GOLDEN=1`` rewrites them: review the diff).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx
import orjson
import pytest
import respx
from pydantic import ValidationError

from destinations.base import GovernedEvent, OutboundRequest, Rejection, Remark
from destinations.ga4_mp import MAX_BODY_BYTES, Ga4Mp, Settings
from gateway.pipeline.consent import Verdict
from gateway.pipeline.govern import govern, source_fields
from gateway.pipeline.identify import Identity
from gateway.pipeline.ingest import validate
from gateway.request_context import RequestContext
from tests.destinations.helpers import (
    NOW_MS,
    RAW_EVENT,
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

MEASUREMENT_ID = "G-TEST12345"
API_SECRET = "ga4-api-secret-not-real"
CLIENT_ID = "1197465313.1789999000"
OTHER_CLIENT_ID = "2208576424.1789999100"
IP = "203.0.113.7"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
COLLECT = "https://www.google-analytics.com/mp/collect"
DEBUG_COLLECT = "https://www.google-analytics.com/debug/mp/collect"
HOUR_MS = 3_600_000
SESSION_SECS = 1800


def ga4(**overrides: Any) -> Ga4Mp:
    """A GA4 adapter with a measurement id and API secret, plus ``overrides``."""
    raw = {
        "type": "ga4_mp",
        "requires": ["analytics"],
        "measurement_id": MEASUREMENT_ID,
        "api_secret": API_SECRET,
        **overrides,
    }
    return Ga4Mp("ga4", Settings.model_validate(raw))


#: what the govern stage hands GA4 (reference §2.4): email, phone, names and the external
#: id as SHA-256 of the GA4-normalized value; city, region, postal code and country
#: normalized but unhashed, as Google documents them
USER = {
    "email": sha256("janedoe@gmail.com"),  # Jane.Doe@Gmail.com: gmail dots removed
    "phone": sha256("+16505551212"),  # E.164 with its +
    "first_name": sha256("jane"),
    "last_name": sha256("doe"),
    "city": "menlo park",
    "region": "california",
    "postal_code": "94025",
    "country": "US",
    "external_id": sha256("crm-42"),
}

SHOE = {
    "item_id": "SKU-1",
    "item_name": "Trail Runner",
    "item_brand": "Acme",
    "item_category": "Shoes",
    "price": 49.95,
    "quantity": 2,
}
SOCKS = {"item_id": "SKU-2", "item_name": "Socks", "price": 30.0, "quantity": 1}


def event(name: str, properties: dict[str, Any] | None = None, **extra: Any) -> GovernedEvent:
    """A governed event of visitor ``CLIENT_ID`` 90.5 s before ``NOW_MS``; ``extra``
    replaces whole sections (``user=``, ``ids=``, ``context=``, ``page=``...)."""
    out: dict[str, Any] = {
        "event": name,
        "timestamp_ms": NOW_MS - 90_500,
        "page": {"url": "https://shop.example/checkout", "referrer": "https://shop.example/"},
        "ids": {"client_id": CLIENT_ID},
        "context": {"ip": IP, "user_agent": UA, "region": "US-CA"},
    }
    if properties is not None:
        out["properties"] = properties
    out.update(extra)
    return out  # type: ignore[return-value]


def page_view() -> GovernedEvent:
    """A page view with the page's own session id and engagement time, and an email."""
    return event(
        "page_view",
        {"engagement_time_msec": 2500},
        page={
            "url": "https://shop.example/shoes?color=red",
            "referrer": "https://search.example/",
            "title": "Shoes | Shop",
        },
        ids={"client_id": CLIENT_ID, "session_id": "1789998800"},
        user={"email": USER["email"]},
    )


def view_item() -> GovernedEvent:
    """A product view; the currency arrives lowercase."""
    return event("view_item", {"currency": "usd", "value": 49.95, "items": [SHOE]})


def search() -> GovernedEvent:
    """A site search (§2.8: ``search_term``) by a visitor who gave no user data."""
    return event("search", {"search_term": "trail shoes"})


def add_to_cart() -> GovernedEvent:
    """Two pairs of shoes into the cart (§2.8: ``currency``, ``value``, ``items``)."""
    return event("add_to_cart", {"currency": "EUR", "value": 99.9, "items": [SHOE]})


def begin_checkout() -> GovernedEvent:
    """Checkout of both items with a coupon, by a logged-in visitor (email, CRM id)."""
    return event(
        "begin_checkout",
        {"currency": "EUR", "value": 129.9, "coupon": "SPRING", "items": [SHOE, SOCKS]},
        user={"email": USER["email"], "external_id": USER["external_id"]},
    )


def add_payment_info() -> GovernedEvent:
    """Payment details entered (§2.8), with GA4's ``payment_type`` parameter."""
    return event(
        "add_payment_info",
        {"currency": "EUR", "value": 129.9, "payment_type": "Credit Card", "items": [SHOE, SOCKS]},
        user={"email": USER["email"], "external_id": USER["external_id"]},
    )


def purchase() -> GovernedEvent:
    """A purchase with two items (one with a custom item parameter) and every user field."""
    return event(
        "purchase",
        {
            "value": 129.9,
            "currency": "EUR",
            "transaction_id": "T-1001",
            "tax": 20.74,
            "shipping": 0,
            "coupon": "SPRING",
            "items": [{**SHOE, "size": "42"}, SOCKS],
        },
        page={"url": "https://shop.example/checkout/done", "referrer": "https://shop.example/cart"},
        user=dict(USER),
    )


def sign_up() -> GovernedEvent:
    """A registration (§2.8: ``method``) with the new account's email and CRM id."""
    return event(
        "sign_up",
        {"method": "Google"},
        user={"email": USER["email"], "external_id": USER["external_id"]},
    )


def generate_lead() -> GovernedEvent:
    """A contact form (§2.8: ``currency``, ``value``) with email and phone."""
    return event(
        "generate_lead",
        {"currency": "USD", "value": 25, "form_id": "contact-footer"},
        user={"email": USER["email"], "phone": USER["phone"]},
    )


def custom_event() -> GovernedEvent:
    """A custom event from Germany (country-only region) over IPv6, no user data."""
    return event(
        "newsletter_signup",
        {"list": "weekly", "position": 3},
        page={"url": "https://shop.example/blog"},
        context={"ip": "2001:db8::7", "user_agent": UA, "region": "DE"},
    )


def ad_user_data_restricted_purchase() -> GovernedEvent:
    """A purchase under an ``ad_user_data`` restriction: the govern stage removed the user
    section, and the restriction travels in ``consent``."""
    out = purchase()
    del out["user"]
    out["consent"] = {"restrictions": ["ad_user_data"]}
    return out


def ad_personalization_restricted_purchase() -> GovernedEvent:
    """A purchase under an ``ad_personalization`` restriction only: user data still goes."""
    out = purchase()
    out["consent"] = {"restrictions": ["ad_personalization"]}
    return out


def encode_one(ev: GovernedEvent, destination: Ga4Mp | None = None) -> OutboundRequest:
    """Encode one event and return its only request (asserting nothing was rejected)."""
    return single_request(destination or ga4(), ev)


def only_event(ev: GovernedEvent, destination: Ga4Mp | None = None) -> dict[str, Any]:
    """The one entry of ``events`` in the body for ``ev``."""
    [entry] = body_json(encode_one(ev, destination))["events"]
    return entry


def params_and_remarks(
    ev: GovernedEvent, destination: Ga4Mp | None = None
) -> tuple[dict[str, Any], list[Remark]]:
    """The one event's ``params`` and the remarks its encoding made."""
    encoded = (destination or ga4()).encode([queued(7, ev)], now_ms=NOW_MS)
    assert encoded.rejected == []
    [request] = encoded.requests
    [entry] = body_json(request)["events"]
    return entry["params"], encoded.remarks


def rejection_of(ev: GovernedEvent, destination: Ga4Mp | None = None) -> Rejection:
    """Encode one event that must be refused; return the refusal."""
    encoded = (destination or ga4()).encode([queued(7, ev)], now_ms=NOW_MS)
    assert encoded.requests == []
    [rejection] = encoded.rejected
    assert rejection.item_id == 7
    return rejection


def session_window(ts_ms: int) -> str:
    """The start of the 30-minute window holding ``ts_ms``, Unix seconds, as a string."""
    secs = ts_ms // 1000
    return str(secs - secs % SESSION_SECS)


def governed_with_verdict(destination: Ga4Mp, restrictions: tuple[str, ...]) -> GovernedEvent:
    """The helpers' purchase through the real ingest and govern stages, with a consent
    verdict of ``send_restricted`` carrying ``restrictions``."""
    [ingested] = validate([copy.deepcopy(RAW_EVENT)], batch=False, now_ms=NOW_MS)
    identity = Identity(ingested.event.ids.client_id or "", "page")
    ctx = RequestContext(client_ip=IP, user_agent=UA, region="US-CA", gpc=False, peer_trusted=True)
    consent = opt_out_consent({"marketing": True, "analytics": True})
    verdict = Verdict(
        destination="ga4",
        action="send_restricted",
        restrictions=restrictions,
        purposes={"marketing": False, "analytics": True},
        decisions=(),
    )
    source = source_fields(ingested, identity, ctx, consent)
    return govern(source, destination, "US", None, verdict)


# --- golden payloads -----------------------------------------------------------------------

GOLDEN_CASES = [
    ("ga4_page_view", page_view, {}),
    ("ga4_view_item", view_item, {}),
    ("ga4_search", search, {}),
    ("ga4_add_to_cart", add_to_cart, {}),
    ("ga4_begin_checkout", begin_checkout, {}),
    ("ga4_add_payment_info", add_payment_info, {}),
    ("ga4_purchase", purchase, {}),
    ("ga4_sign_up", sign_up, {}),
    ("ga4_generate_lead", generate_lead, {}),
    ("ga4_custom_event", custom_event, {}),
    ("ga4_purchase_ad_user_data_restricted", ad_user_data_restricted_purchase, {}),
    ("ga4_purchase_ad_personalization_restricted", ad_personalization_restricted_purchase, {}),
    ("ga4_page_view_validation", page_view, {"validation": True}),
]


@pytest.mark.parametrize(
    ("name", "build", "overrides"), GOLDEN_CASES, ids=[case[0] for case in GOLDEN_CASES]
)
def test_request_matches_golden(name: str, build: Any, overrides: dict[str, Any]) -> None:
    """The whole request (method, URL with ``api_secret`` masked, headers, JSON body) is
    what the reviewed golden file says GA4 expects (§2.1, §2.2, §2.4, §2.6, §2.8)."""
    request = encode_one(build(), ga4(**overrides))
    assert_golden(name, snapshot(request, mask_params=("api_secret",)))


def test_governed_purchase_matches_golden() -> None:
    """The helpers' raw purchase through the real ingest and govern stages: the request
    carries the GA4 recipe's hashes and unhashed address parts (§2.4), the page's
    GA4-form client id, and nothing the adapter does not declare (golden reviewed)."""
    destination = ga4()
    request = encode_one(govern_raw(destination), destination)
    assert_golden("ga4_purchase_governed", snapshot(request, mask_params=("api_secret",)))


def test_governed_ad_user_data_restriction_matches_golden() -> None:
    """Through the real govern stage with an ``ad_user_data`` verdict: no ``user_data`` and
    no ``user_id`` leave, and the consent object says ``DENIED`` (§2.4, §2.6; golden
    reviewed)."""
    destination = ga4()
    governed = governed_with_verdict(destination, ("ad_user_data",))
    assert "user" not in governed
    request = encode_one(governed, destination)
    assert_golden(
        "ga4_purchase_governed_ad_user_data", snapshot(request, mask_params=("api_secret",))
    )


# --- endpoint, secret, settings ------------------------------------------------------------


def test_secret_and_measurement_id_travel_as_query_parameters_only() -> None:
    """``measurement_id`` and ``api_secret`` are query parameters of ``/mp/collect``
    (§2.1); the secret is nowhere in the body or headers."""
    request = encode_one(page_view())
    url = httpx.URL(request.url)
    assert (url.scheme, url.host, url.path) == ("https", "www.google-analytics.com", "/mp/collect")
    assert url.params["measurement_id"] == MEASUREMENT_ID
    assert url.params["api_secret"] == API_SECRET
    assert API_SECRET not in request.content.decode()
    assert all(API_SECRET not in value for value in request.headers.values())
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"


def test_eu_endpoint_keeps_the_collect_path() -> None:
    """``endpoint: https://region1.google-analytics.com`` collects in the EU (§2.1)."""
    request = encode_one(page_view(), ga4(endpoint="https://region1.google-analytics.com"))
    assert request.url.startswith("https://region1.google-analytics.com/mp/collect?")


def test_missing_credentials_are_named() -> None:
    """Without ``measurement_id`` and ``api_secret`` nothing can be sent: both are named."""
    destination = Ga4Mp("ga4", Settings.model_validate({"type": "ga4_mp", "requires": []}))
    assert destination.missing_credentials() == ["measurement_id", "api_secret"]
    assert ga4().missing_credentials() == []


@pytest.mark.parametrize("value", ["UA-12345-1", "G-ab12", "12345", "G-"])
def test_measurement_id_must_look_like_one(value: str) -> None:
    """A web stream's measurement id is ``G-`` and upper-case letters or digits (§2.1)."""
    with pytest.raises(ValidationError):
        ga4(measurement_id=value)


def test_validation_mode_uses_the_debug_endpoint_and_enforces_recommendations() -> None:
    """``validation: true`` posts the same body to ``/debug/mp/collect`` with
    ``validation_behavior: ENFORCE_RECOMMENDATIONS`` (§2.5, Google's advice in §2.2);
    production bodies never carry ``validation_behavior``."""
    request = encode_one(page_view(), ga4(validation=True))
    assert httpx.URL(request.url).path == "/debug/mp/collect"
    body = body_json(request)
    assert body["validation_behavior"] == "ENFORCE_RECOMMENDATIONS"
    production = body_json(encode_one(page_view()))
    assert "validation_behavior" not in production
    del body["validation_behavior"]
    assert body == production


def test_for_testing_switches_to_the_validation_server() -> None:
    """``test_settings`` asks for the validation server (the only true dry run, §7.1),
    whatever test code is given; ``for_testing()`` is a copy in that mode, and the
    original adapter still sends to ``/mp/collect``."""
    destination = ga4()
    assert destination.test_settings(None) == {"validation": True}
    assert destination.test_settings("TEST123") == {"validation": True}
    tester = destination.for_testing()
    assert tester.settings.validation is True
    assert httpx.URL(encode_one(page_view(), tester).url).path == "/debug/mp/collect"
    assert httpx.URL(encode_one(page_view(), destination).url).path == "/mp/collect"


# --- event names ---------------------------------------------------------------------------

#: reference §5 (the gateway contract uses GA4's names) and §2.8
CONTRACT_NAMES = [
    "page_view",
    "view_item",
    "search",
    "add_to_cart",
    "add_to_wishlist",
    "begin_checkout",
    "add_payment_info",
    "purchase",
    "sign_up",
    "generate_lead",
]


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_event_names_are_sent_unchanged(name: str) -> None:
    """The gateway's names are GA4's own recommended events (§5): sent as they are."""
    assert only_event(event(name))["name"] == name


@pytest.mark.parametrize("name", ["newsletter_signup", "QuizCompleted", "tutorial_begin"])
def test_valid_custom_event_names_pass_through_without_remark(name: str) -> None:
    """A name that already fits GA4's rules is sent as a custom event, untouched."""
    encoded = ga4().encode([queued(7, event(name))], now_ms=NOW_MS)
    assert body_json(encoded.requests[0])["events"][0]["name"] == name
    assert encoded.remarks == []


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("Quiz Completed", "Quiz_Completed"),
        ("checkout.step-2", "checkout_step_2"),
        ("video:play!", "video_play"),
        ("a" * 45, "a" * 40),
    ],
)
def test_invalid_event_names_are_sanitized_with_a_remark(name: str, sent: str) -> None:
    """Names may only hold ``[A-Za-z0-9_]``, 40 at most (§2.3): other characters become
    ``_`` and long names are cut, each change a ``ga4.name`` remark on ``event``."""
    encoded = ga4().encode([queued(7, event(name))], now_ms=NOW_MS)
    assert body_json(encoded.requests[0])["events"][0]["name"] == sent
    assert [(r.item_id, r.path, r.action, r.rule) for r in encoded.remarks] == [
        (7, "event", "rename", "ga4.name")
    ]


@pytest.mark.parametrize(
    "name", ["session_start", "first_visit", "user_engagement", "error", "first visit"]
)
def test_reserved_event_names_are_rejected_with_a_reason(name: str) -> None:
    """GA4 reserves these names (§2.3; ``first visit`` becomes ``first_visit``): the event
    is refused with a reason, never sent under a name GA4 would drop."""
    assert "reserves" in rejection_of(event(name)).reason


def test_event_name_override_is_used() -> None:
    """``event_names`` maps a gateway name to a GA4 name chosen by the operator."""
    destination = ga4(event_names={"newsletter_signup": "join_group", "sign_up": "register"})
    assert only_event(event("newsletter_signup"), destination)["name"] == "join_group"
    assert only_event(event("sign_up"), destination)["name"] == "register"
    assert only_event(event("purchase"), destination)["name"] == "purchase"


@pytest.mark.parametrize(
    "target",
    ["join group", "1st_purchase", "session_start", "ga_purchase", "google_lead", "_x", "a" * 41],
)
def test_event_name_override_must_be_a_ga4_name(target: str) -> None:
    """An override that breaks GA4's name rules or is reserved (§2.3) is a settings error
    naming the source event, not something found at send time."""
    with pytest.raises(ValidationError, match="sign_up"):
        ga4(event_names={"sign_up": target})


def test_unknown_events_drop_rejects_an_unmapped_event() -> None:
    """With ``unknown_events: drop`` a name without a mapping is refused (with a reason);
    mapped names still go."""
    destination = ga4(unknown_events="drop")
    assert "unknown_events: drop" in rejection_of(event("newsletter_signup"), destination).reason
    assert only_event(event("purchase"), destination)["name"] == "purchase"


# --- request-level fields ------------------------------------------------------------------


def test_consent_is_always_explicit() -> None:
    """Omitting ``consent`` inherits the visitor's online consent (§2.6, §7.5), so every
    body carries both keys: GRANTED without a restriction, DENIED for the restricted one."""
    assert body_json(encode_one(purchase()))["consent"] == {
        "ad_user_data": "GRANTED",
        "ad_personalization": "GRANTED",
    }
    assert body_json(encode_one(ad_user_data_restricted_purchase()))["consent"] == {
        "ad_user_data": "DENIED",
        "ad_personalization": "GRANTED",
    }
    assert body_json(encode_one(ad_personalization_restricted_purchase()))["consent"] == {
        "ad_user_data": "GRANTED",
        "ad_personalization": "DENIED",
    }
    both = purchase()
    del both["user"]
    both["consent"] = {"restrictions": ["ad_user_data", "ad_personalization"]}
    assert body_json(encode_one(both))["consent"] == {
        "ad_user_data": "DENIED",
        "ad_personalization": "DENIED",
    }


def test_no_non_personalized_ads_flag() -> None:
    """``non_personalized_ads`` is deprecated in favour of ``consent.ad_personalization``
    (§2.2, §2.6): it is never sent."""
    body = body_json(encode_one(ad_personalization_restricted_purchase()))
    assert "non_personalized_ads" not in body


def test_user_data_carries_hashes_and_the_documented_plain_address_parts() -> None:
    """``sha256_email_address`` and ``sha256_phone_number`` are lists of hashes; the one
    address holds the two name hashes and city, region, postal code and country as Google
    documents them, unhashed (§2.4)."""
    body = body_json(encode_one(purchase()))
    assert body["user_data"] == {
        "sha256_email_address": [USER["email"]],
        "sha256_phone_number": [USER["phone"]],
        "address": [
            {
                "sha256_first_name": USER["first_name"],
                "sha256_last_name": USER["last_name"],
                "city": "menlo park",
                "region": "california",
                "postal_code": "94025",
                "country": "US",
            }
        ],
    }


def test_no_user_fields_no_user_data_key() -> None:
    """An event without user fields has no ``user_data`` and no ``user_id`` key at all."""
    body = body_json(encode_one(search()))
    assert "user_data" not in body
    assert "user_id" not in body


def test_user_id_is_the_sha256_of_the_external_id() -> None:
    """Through the real govern stage, ``user_id`` is the SHA-256 of the trimmed,
    lowercased external id (``CRM-Customer-88421``), so a CRM id never leaves raw."""
    destination = ga4()
    body = body_json(encode_one(govern_raw(destination), destination))
    assert body["user_id"] == sha256("crm-customer-88421")
    assert "CRM-Customer-88421" not in str(body)


def test_governed_body_holds_no_raw_pii() -> None:
    """Through the real govern stage, no raw PII value and no hashable normalized form
    (the email, the phone digits, the names) appears in the body; only the address parts
    §2.4 documents as unhashed appear in their normalized form."""
    destination = ga4()
    request = encode_one(govern_raw(destination), destination)
    text = request.content.decode().lower()
    for raw in (
        "zebulon.quartermaine@example.com",
        "+1 (650) 555-1212",
        "6505551212",
        "zebulon",
        "quartermaine",
        "crm-customer-88421",
    ):
        assert raw not in text
    user_data = body_json(request)["user_data"]
    assert user_data["sha256_email_address"] == [sha256("zebulon.quartermaine@example.com")]
    assert user_data["sha256_phone_number"] == [sha256("+16505551212")]
    [address] = user_data["address"]
    assert address["sha256_first_name"] == sha256("zebulon")
    assert address["sha256_last_name"] == sha256("quartermaine")
    assert (address["city"], address["region"]) == ("menlo park", "california")
    assert (address["postal_code"], address["country"]) == ("94025-1234", "US")


def test_ids_ga4_does_not_own_and_the_event_id_do_not_leave() -> None:
    """GA4 deduplicates nothing by event id (§2.7) and reads no Meta cookie: through the
    real govern stage, ``event_id``, ``fbp`` and ``fbc`` are absent from the body."""
    destination = ga4()
    text = encode_one(govern_raw(destination), destination).content.decode()
    assert "evt-0001" not in text
    assert "fb.1." not in text
    assert "event_id" not in text


@pytest.mark.parametrize(
    ("region", "location"),
    [
        ("US-CA", {"country_id": "US", "region_id": "US-CA"}),
        ("DE", {"country_id": "DE"}),
        ("GB-LND", {"country_id": "GB", "region_id": "GB-LND"}),
    ],
)
def test_user_location_comes_from_context_region(region: str, location: dict[str, str]) -> None:
    """``user_location`` takes ``country_id`` (alpha-2) and ``region_id`` (ISO 3166-2)
    from the visitor's region (§2.2); GA4 then does not geolocate the IP."""
    ev = event("page_view", context={"ip": IP, "user_agent": UA, "region": region})
    assert body_json(encode_one(ev))["user_location"] == location


def test_without_region_there_is_no_user_location_but_ip_and_agent_go() -> None:
    """Without a region GA4 derives the location from ``ip_override`` (§2.2)."""
    body = body_json(encode_one(event("page_view", context={"ip": IP, "user_agent": UA})))
    assert "user_location" not in body
    assert (body["ip_override"], body["user_agent"]) == (IP, UA)


def test_client_id_is_required_in_its_ga4_form() -> None:
    """A web stream needs ``client_id``, two numbers joined by a period (§2.2, §7.6): an
    event without one is refused with a reason, not sent to be dropped silently."""
    missing = event("page_view", ids={})
    assert "client_id" in rejection_of(missing).reason
    malformed = event("page_view", ids={"client_id": "GW1.1790000000.abcdef"})
    assert "client_id" in rejection_of(malformed).reason


# --- timestamps, sessions, engagement ------------------------------------------------------


def test_timestamp_micros_is_the_event_time_in_microseconds() -> None:
    """``timestamp_micros`` is Unix microseconds (§2.2), on each event."""
    assert only_event(purchase())["timestamp_micros"] == (NOW_MS - 90_500) * 1000


def test_future_timestamp_is_clamped_to_now() -> None:
    """An event stamped in the future (a skewed browser clock) is sent as of now."""
    ev = {**page_view(), "timestamp_ms": NOW_MS + 3 * HOUR_MS}
    assert only_event(ev)["timestamp_micros"] == NOW_MS * 1000


def test_event_older_than_71_hours_is_rejected_with_a_reason() -> None:
    """GA4 takes up to 72 hours of back-dating (§2.3; ENFORCE_RECOMMENDATIONS rejects
    older, RELAXED moves it, §7.3); the adapter refuses from 71 hours so that time in the
    queue cannot push an event over the limit."""
    rejection = rejection_of({**page_view(), "timestamp_ms": NOW_MS - 71 * HOUR_MS - 1_000})
    assert "72-hour" in rejection.reason
    late = rejection_of({**page_view(), "timestamp_ms": NOW_MS - 72 * HOUR_MS + 60_000})
    assert "72-hour" in late.reason


def test_event_just_inside_71_hours_is_sent() -> None:
    """An event a second short of 71 hours old is sent with its own timestamp."""
    ts = NOW_MS - 71 * HOUR_MS + 1_000
    assert only_event({**page_view(), "timestamp_ms": ts})["timestamp_micros"] == ts * 1000


def test_one_stale_event_does_not_hold_back_the_others() -> None:
    """Refusals are per event: the valid events of the batch still go, in one request."""
    items = [
        queued(1, page_view()),
        queued(2, {**page_view(), "timestamp_ms": NOW_MS - 80 * HOUR_MS}),
        queued(3, {**page_view(), "event": "scroll"}),
    ]
    encoded = ga4().encode(items, now_ms=NOW_MS)
    assert [r.item_id for r in encoded.rejected] == [2]
    [request] = encoded.requests
    assert request.item_ids == (1, 3)


def test_session_id_is_the_pages_when_given() -> None:
    """``ids.session_id`` (the page's ``ga_session_id``) is GA4's ``session_id`` (§2.2)."""
    assert only_event(page_view())["params"]["session_id"] == "1789998800"


def test_without_a_session_id_the_30_minute_window_stands_in() -> None:
    """Without the page's session, the start of the event's 30-minute window is the
    ``session_id`` (events need one to land in a session, §2.2): two events 10 minutes
    apart in one window share it, an event in the next window gets the next one."""
    earlier = NOW_MS - 2 * HOUR_MS
    first = earlier - earlier % (SESSION_SECS * 1000) + 60_000  # a minute into a window
    ev = event("page_view")
    a = only_event({**ev, "timestamp_ms": first}, ga4())["params"]["session_id"]
    b = only_event({**ev, "timestamp_ms": first + 600_000}, ga4())["params"]["session_id"]
    c = only_event({**ev, "timestamp_ms": first + SESSION_SECS * 1000}, ga4())["params"]
    assert a == b == session_window(first) == str(first // 1000 - 60)
    assert int(c["session_id"]) == int(a) + SESSION_SECS


def test_engagement_time_is_the_pages_else_1() -> None:
    """``engagement_time_msec`` is needed for sessions and active users (§2.2): the
    page's value when it is a non-negative integer, else 1."""
    assert only_event(page_view())["params"]["engagement_time_msec"] == 2500
    assert only_event(search())["params"]["engagement_time_msec"] == 1
    for odd in (-5, "2500", True, None):
        ev = event("scroll", {"engagement_time_msec": odd})
        assert only_event(ev)["params"]["engagement_time_msec"] == 1


# --- ecommerce parameters ------------------------------------------------------------------


def test_purchase_parameters_and_items() -> None:
    """A purchase carries ``transaction_id``, ``value``, ``currency`` and ``items`` with
    ``item_id``/``item_name``/``price``/``quantity`` (§2.8)."""
    params = only_event(purchase())["params"]
    assert (params["transaction_id"], params["value"], params["currency"]) == (
        "T-1001",
        129.9,
        "EUR",
    )
    assert params["items"][1] == SOCKS
    assert params["items"][0] == {**SHOE, "size": "42"}


def test_currency_is_upper_cased() -> None:
    """ISO 4217 codes are upper case; a page's ``usd`` is sent as ``USD``."""
    assert only_event(view_item())["params"]["currency"] == "USD"


@pytest.mark.parametrize("transaction_id", ["", None])
def test_empty_transaction_id_is_not_sent(transaction_id: str | None) -> None:
    """GA4 deduplicates every purchase with ``transaction_id: ""`` together (§2.7, §7.10):
    an empty one is left out, the purchase still goes."""
    ev = purchase()
    ev["properties"]["transaction_id"] = transaction_id
    params = only_event(ev)["params"]
    assert "transaction_id" not in params
    assert params["value"] == 129.9


# --- parameter limits ----------------------------------------------------------------------


def test_at_most_25_parameters_extra_dropped_with_remarks() -> None:
    """An event takes 25 parameters (§2.3): the first 25 stay (session_id and
    engagement_time_msec first, then the page, then custom properties in order); each
    one over is a ``ga4.param_count`` drop remark."""
    ev = event("scroll", {f"p{n:02d}": n for n in range(30)}, page={"url": "https://x.example/"})
    params, remarks = params_and_remarks(ev)
    assert len(params) == 25
    assert list(params)[:3] == ["session_id", "engagement_time_msec", "page_location"]
    assert [k for k in params if k.startswith("p") and k[1:].isdigit()] == [
        f"p{n:02d}" for n in range(22)
    ]
    dropped = [(r.path, r.action, r.rule) for r in remarks]
    assert dropped == [(f"properties.p{n}", "drop", "ga4.param_count") for n in range(22, 30)]


@pytest.mark.parametrize(
    ("key", "sent"),
    [
        ("Quiz Score", "Quiz_Score"),
        ("utm-source", "utm_source"),
        ("_internal", "internal"),
        ("x" * 45, "x" * 40),
    ],
)
def test_invalid_parameter_names_are_sanitized_with_a_remark(key: str, sent: str) -> None:
    """Parameter names follow the event-name rules (§2.3): fixed where possible, with a
    ``ga4.name`` rename remark naming the property."""
    params, remarks = params_and_remarks(event("scroll", {key: "v"}))
    assert params[sent] == "v"
    assert key not in params
    assert [(r.path, r.action, r.rule) for r in remarks] == [
        (f"properties.{key}", "rename", "ga4.name")
    ]


@pytest.mark.parametrize(
    "key", ["firebase_conversion", "firebase_x", "ga_session_number", "google_id", "1st"]
)
def test_reserved_or_hopeless_parameter_names_are_dropped_with_a_remark(key: str) -> None:
    """``firebase_conversion`` and the prefixes ``firebase_``, ``ga_``, ``google_`` are
    reserved (§2.3) and a name cannot start with a digit: the parameter is dropped, with a
    remark, and the event still goes."""
    params, remarks = params_and_remarks(event("scroll", {key: "v", "kept": "k"}))
    assert key not in params
    assert params["kept"] == "k"
    assert [(r.path, r.action, r.rule) for r in remarks] == [
        (f"properties.{key}", "drop", "ga4.name")
    ]


@pytest.mark.parametrize("key", ["error", "first_visit", "session_start", "screen_view"])
def test_reserved_event_names_are_valid_parameter_names(key: str) -> None:
    """Reserved *event* names are not reserved *parameter* names (§2.3): a property called
    ``error`` is sent as is, without a remark."""
    params, remarks = params_and_remarks(event("scroll", {key: "timeout"}))
    assert params[key] == "timeout"
    assert remarks == []


@pytest.mark.parametrize(
    ("section", "key", "param", "limit"),
    [
        ("properties", "search_term", "search_term", 100),
        ("page", "url", "page_location", 1000),
        ("page", "referrer", "page_referrer", 420),
        ("page", "title", "page_title", 300),
    ],
)
def test_long_values_are_cut_with_a_remark(section: str, key: str, param: str, limit: int) -> None:
    """Values hold 100 characters (§2.3); ``page_location`` 1,000, ``page_referrer`` 420
    and ``page_title`` 300 (Google's collection limits). A longer value is cut to its limit
    with a ``ga4.value_length`` truncate remark; one exactly at the limit is untouched."""
    ev = event("page_view")
    ev[section] = {key: "v" * (limit + 50)}  # type: ignore[literal-required]
    params, remarks = params_and_remarks(ev)
    assert params[param] == "v" * limit
    [remark] = remarks
    assert (remark.item_id, remark.action, remark.rule) == (7, "truncate", "ga4.value_length")
    assert remark.path == f"{section}.{key}"
    assert str(limit) in remark.reason
    ev[section] = {key: "v" * limit}  # type: ignore[literal-required]
    params, remarks = params_and_remarks(ev)
    assert (params[param], remarks) == ("v" * limit, [])


def test_page_value_remark_names_the_governed_field() -> None:
    """A remark's ``path`` names the governed field (destinations/base.py ``Remark``): a
    cut page URL is ``page.url``."""
    ev = event("page_view", page={"url": "https://x.example/" + "a" * 1200})
    _, remarks = params_and_remarks(ev)
    assert [r.path for r in remarks] == ["page.url"]


def test_nested_property_values_are_dropped_with_a_remark() -> None:
    """Parameters are strings or numbers: a dict, a list (other than ``items``) or a null
    is dropped with a ``ga4.value_type`` remark; a bool is sent as 0/1."""
    props = {"nested": {"a": 1}, "tags": ["x", "y"], "nothing": None, "flag": True, "n": 2.5}
    params, remarks = params_and_remarks(event("scroll", props))
    assert "nested" not in params and "tags" not in params and "nothing" not in params
    assert (params["flag"], params["n"]) == (1, 2.5)
    assert sorted((r.path, r.action, r.rule) for r in remarks) == [
        ("properties.nested", "drop", "ga4.value_type"),
        ("properties.nothing", "drop", "ga4.value_type"),
        ("properties.tags", "drop", "ga4.value_type"),
    ]


def test_more_than_10_custom_item_parameters_are_dropped_with_remarks() -> None:
    """An item takes at most 10 custom parameters beside the documented ones (§2.3): the
    first 10 stay, each extra is a ``ga4.item_param_count`` remark; documented item
    parameters never count."""
    item = {**SHOE, **{f"c{n}": n for n in range(12)}}
    params, remarks = params_and_remarks(event("add_to_cart", {"items": [item]}))
    [sent] = params["items"]
    assert sent == {**SHOE, **{f"c{n}": n for n in range(10)}}
    assert [(r.path, r.action, r.rule) for r in remarks] == [
        ("properties.items.0.c10", "drop", "ga4.item_param_count"),
        ("properties.items.0.c11", "drop", "ga4.item_param_count"),
    ]


def test_long_item_values_are_cut_and_nested_item_values_dropped() -> None:
    """Item values hold 100 characters; a nested value in an item is dropped; both with
    remarks naming the item."""
    item = {"item_id": "SKU-9", "item_name": "n" * 150, "dims": {"w": 1}}
    params, remarks = params_and_remarks(event("view_item", {"items": [item]}))
    assert params["items"] == [{"item_id": "SKU-9", "item_name": "n" * 100}]
    assert sorted((r.path, r.action, r.rule) for r in remarks) == [
        ("properties.items.0.dims", "drop", "ga4.value_type"),
        ("properties.items.0.item_name", "truncate", "ga4.value_length"),
    ]


def test_more_than_200_items_are_cut_with_a_remark() -> None:
    """Items beyond 200 are left out, with one ``ga4.item_count`` remark."""
    items = [{"item_id": f"S{n}"} for n in range(205)]
    params, remarks = params_and_remarks(event("view_item_list", {"items": items}))
    assert [i["item_id"] for i in params["items"]] == [f"S{n}" for n in range(200)]
    assert [(r.path, r.action, r.rule) for r in remarks] == [
        ("properties.items", "truncate", "ga4.item_count")
    ]


# --- batching, grouping, size --------------------------------------------------------------


def test_at_most_25_events_per_request() -> None:
    """GA4 takes 25 events per request (§2.3): 60 events of one visitor are requests of
    25, 25 and 10, in order, each body's events matching its item ids."""
    items = [queued(n, {**page_view(), "timestamp_ms": NOW_MS - 100_000 + n}) for n in range(60)]
    encoded = ga4().encode(items, now_ms=NOW_MS)
    assert encoded.rejected == []
    assert [len(r.item_ids) for r in encoded.requests] == [25, 25, 10]
    assert [i for r in encoded.requests for i in r.item_ids] == list(range(60))
    for request in encoded.requests:
        stamps = [e["timestamp_micros"] for e in body_json(request)["events"]]
        assert stamps == [(NOW_MS - 100_000 + n) * 1000 for n in request.item_ids]


def test_configured_batch_size_splits_further_and_cannot_exceed_25() -> None:
    """``batch.max_events`` lowers the events per request; above 25 it is refused."""
    items = [queued(n, page_view()) for n in range(5)]
    encoded = ga4(batch={"max_events": 2}).encode(items, now_ms=NOW_MS)
    assert [len(r.item_ids) for r in encoded.requests] == [2, 2, 1]
    with pytest.raises(ValidationError, match="25"):
        ga4(batch={"max_events": 26})


def test_two_visitors_in_one_batch_are_two_requests() -> None:
    """A request is for one ``client_id`` (§2.2): interleaved visitors are split, each
    request carrying its own visitor's events in order."""
    other = {**search(), "ids": {"client_id": OTHER_CLIENT_ID}}
    results = {**search(), "event": "view_search_results"}
    items = [queued(1, search()), queued(2, other), queued(3, results), queued(4, other)]
    encoded = ga4().encode(items, now_ms=NOW_MS)
    by_client = {body_json(r)["client_id"]: r.item_ids for r in encoded.requests}
    assert by_client == {CLIENT_ID: (1, 3), OTHER_CLIENT_ID: (2, 4)}


def test_differing_consent_is_a_separate_request() -> None:
    """``consent`` is request-level: one visitor's events under different restrictions
    are sent in separate requests, each with its own consent object."""
    restricted = {**search(), "consent": {"restrictions": ["ad_personalization"]}}
    items = [queued(1, search()), queued(2, restricted), queued(3, search())]
    encoded = ga4().encode(items, now_ms=NOW_MS)
    consents = {r.item_ids: body_json(r)["consent"] for r in encoded.requests}
    assert consents == {
        (1, 3): {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"},
        (2,): {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
    }


def test_differing_user_data_is_a_separate_request() -> None:
    """``user_data`` and ``user_id`` are request-level too: a visitor who logs in midway
    is two requests, the events before without ``user_id``."""
    items = [queued(1, search()), queued(2, sign_up())]
    encoded = ga4().encode(items, now_ms=NOW_MS)
    assert [r.item_ids for r in encoded.requests] == [(1,), (2,)]
    assert "user_id" not in body_json(encoded.requests[0])
    assert body_json(encoded.requests[1])["user_id"] == USER["external_id"]


def big_item(n: int) -> dict[str, Any]:
    """An item of documented parameters, each value at GA4's 100-character limit."""
    return {
        key: f"{n:03d}{key[0]}".ljust(100, "x")
        for key in (
            "item_id",
            "item_name",
            "item_brand",
            "item_category",
            "item_variant",
            "affiliation",
            "coupon",
        )
    }


def test_a_batch_of_big_events_splits_under_130_kb() -> None:
    """Bodies stay under 130 kB (§2.3): 12 events of ~16 kB are split into requests each
    under 130,000 bytes, though 25 would fit by count; nothing is lost or reordered."""
    big = event("view_item_list", {"items": [big_item(n) for n in range(20)]})
    encoded = ga4().encode([queued(n, big) for n in range(12)], now_ms=NOW_MS)
    assert encoded.rejected == []
    assert len(encoded.requests) > 1
    assert all(len(r.content) < MAX_BODY_BYTES for r in encoded.requests)
    assert [i for r in encoded.requests for i in r.item_ids] == list(range(12))
    # each request is as full as it may be: its next event would not have fitted
    first, second = encoded.requests[:2]
    following = orjson.dumps(body_json(second)["events"][0])
    assert len(first.content) + 1 + len(following) >= MAX_BODY_BYTES


def test_a_single_event_over_the_limit_is_rejected_others_go() -> None:
    """An event that alone would make a body of 130 kB cannot be sent: it is refused
    with a reason; the small event beside it goes."""
    huge = event("view_item_list", {"items": [big_item(n) for n in range(200)]})
    encoded = ga4().encode([queued(1, huge), queued(2, search())], now_ms=NOW_MS)
    assert [(r.item_id, "130 kB" in r.reason) for r in encoded.rejected] == [(1, True)]
    assert [r.item_ids for r in encoded.requests] == [(2,)]


def sized_event(total: int) -> GovernedEvent:
    """A page-view-like event whose one-event request body is exactly ``total`` bytes
    (125 to 135 kB): 200 equal items, then two padding parameters for the last bytes."""

    def build(name_len: int, pad: int) -> GovernedEvent:
        item = {**big_item(0), "item_name": "n" * name_len}
        del item["coupon"]
        properties = {"items": [item] * 200, "pad_a": "y" * min(pad, 100)}
        properties["pad_b"] = "y" * (pad - len(properties["pad_a"]))
        return event("view_item_list", properties)

    # every byte of item_name appears 200 times, every byte of padding once
    base = len(encode_one(build(0, 0)).content)
    name_len, pad = divmod(total - base, 200)
    assert 0 <= name_len <= 100 and 0 <= pad < 200, (base, name_len, pad)
    # the arithmetic holds where the adapter still sends (a little lower)
    assert len(encode_one(build(name_len - 5, pad)).content) == total - 1000
    return build(name_len, pad)


def test_body_of_exactly_130000_bytes_is_refused() -> None:
    """ "Less than 130 kB" (§2.3): a body that would be 130,000 bytes is not sent."""
    ev = sized_event(130_000)
    assert "130 kB" in rejection_of(ev).reason


def test_body_of_129999_bytes_is_sent() -> None:
    """A body one byte under 130,000 is within the limit and is sent whole."""
    request = encode_one(sized_event(129_999))
    assert len(request.content) == 129_999


# --- send and classify ---------------------------------------------------------------------


async def send(
    response: httpx.Response | Exception, destination: Ga4Mp | None = None
) -> tuple[Any, respx.Route]:
    """Send the page view to the respx-mocked GA4 URL; the mock answers ``response``."""
    destination = destination or ga4()
    request = encode_one(page_view(), destination)
    url = DEBUG_COLLECT if destination.settings.validation else COLLECT
    params = {"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET}
    async with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url, params=params)
        if isinstance(response, Exception):
            route.mock(side_effect=response)
        else:
            route.mock(return_value=response)
        async with httpx.AsyncClient() as client:
            result = await destination.send(client, request)
    return result, route


async def test_send_posts_the_json_body_to_collect() -> None:
    """``send`` POSTs the JSON body with the credentials in the query; a 2xx is ok."""
    result, route = await send(httpx.Response(204))
    assert (result.outcome, result.status) == ("ok", 204)
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert orjson.loads(sent.content)["client_id"] == CLIENT_ID


@pytest.mark.parametrize("status", [200, 204])
async def test_2xx_is_ok(status: int) -> None:
    """GA4 answers 2xx to whatever it receives (§2.1): that is all ok can mean."""
    result, _ = await send(httpx.Response(status))
    assert result.outcome == "ok"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
async def test_server_errors_and_rate_limits_are_retried(status: int) -> None:
    """5xx, 429 and 408 are retried (the shared definition of retryable)."""
    result, _ = await send(httpx.Response(status))
    assert (result.outcome, result.status) == ("retry", status)


async def test_retry_after_is_passed_on() -> None:
    """A 429's or 503's ``Retry-After`` reaches the backoff."""
    result, _ = await send(httpx.Response(429, headers={"Retry-After": "30"}))
    assert (result.outcome, result.retry_after_secs) == ("retry", 30)
    result, _ = await send(httpx.Response(503, headers={"Retry-After": "120"}))
    assert (result.outcome, result.retry_after_secs) == ("retry", 120)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_client_errors_are_permanent(status: int) -> None:
    """Google: "If you don't get a 2xx status code, correct any errors in your HTTP
    request. Don't retry the same request." (§2.1): 4xx other than 408/429 are permanent,
    and not split (they are about the request, not one event)."""
    result, _ = await send(httpx.Response(status))
    assert (result.outcome, result.status, result.splittable) == ("permanent", status, False)


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.ConnectError("refused")],
)
async def test_timeouts_and_transport_errors_are_retried(error: Exception) -> None:
    """A timeout or refused connection is retryable, with its type in the reason."""
    result, _ = await send(error)
    assert result.outcome == "retry"
    assert type(error).__name__ in result.reason


async def test_validation_server_empty_messages_is_ok() -> None:
    """The validation server's ``{"validationMessages": []}`` means valid (§2.5)."""
    result, route = await send(
        httpx.Response(200, json={"validationMessages": []}), ga4(validation=True)
    )
    assert result.outcome == "ok"
    assert orjson.loads(route.calls.last.request.content)["validation_behavior"] == (
        "ENFORCE_RECOMMENDATIONS"
    )


VALIDATION_MESSAGE = {
    "fieldPath": "events",
    "description": "Event at index: [0] has invalid name [_badEventName]. Names must start "
    "with an alphabetic character.",
    "validationCode": "NAME_INVALID",
}


async def test_validation_messages_are_permanent_and_named() -> None:
    """A validation message (§2.5) is a permanent failure whose reason names the
    ``validationCode`` and ``fieldPath``."""
    body = {"validationMessages": [VALIDATION_MESSAGE]}
    result, _ = await send(httpx.Response(200, json=body), ga4(validation=True))
    assert result.outcome == "permanent"
    assert "NAME_INVALID" in result.reason
    assert "events" in result.reason


async def test_several_validation_messages_are_all_named() -> None:
    """Every message (up to five) is in the reason, each with its code and field path."""
    second = {"fieldPath": "events.params.value", "validationCode": "VALUE_INVALID"}
    body = {"validationMessages": [VALIDATION_MESSAGE, second]}
    result, _ = await send(httpx.Response(200, json=body), ga4(validation=True))
    assert result.outcome == "permanent"
    assert "NAME_INVALID" in result.reason and "VALUE_INVALID" in result.reason
    assert "events.params.value" in result.reason


@pytest.mark.parametrize("content", [b"<html>ok</html>", b"", b"[]", b'{"other": 1}', b"\xff"])
async def test_validation_answer_without_messages_json_is_permanent(content: bytes) -> None:
    """A validation answer that is not ``{"validationMessages": [...]}`` proves nothing:
    permanent, never ok."""
    result, _ = await send(httpx.Response(200, content=content), ga4(validation=True))
    assert result.outcome == "permanent"
    assert "validation server" in result.reason


async def test_validation_mode_still_retries_server_errors() -> None:
    """A 5xx from the validation server is retried like any server error."""
    result, _ = await send(httpx.Response(503), ga4(validation=True))
    assert result.outcome == "retry"


def test_production_classify_ignores_the_body() -> None:
    """Outside validation mode the body of a 2xx means nothing (§2.1): ok whatever it is."""
    response = httpx.Response(200, json={"validationMessages": [VALIDATION_MESSAGE]})
    assert ga4().classify(response).outcome == "ok"


def test_validation_message_failure_is_splittable() -> None:
    """A validation message is about one event (``Event at index: [0]``, §2.5): the
    failure is splittable, so the worker can isolate the event (§7.2)."""
    response = httpx.Response(200, json={"validationMessages": [VALIDATION_MESSAGE]})
    result = ga4(validation=True).classify(response)
    assert (result.outcome, result.splittable) == ("permanent", True)


# --- delivery through the worker and the real SQLite store ---------------------------------

WORKER_URL = "http://ga4.test"


def worker_ga4(**overrides: Any) -> Ga4Mp:
    """A GA4 adapter sending to the mocked ``WORKER_URL`` with a short backoff."""
    retry = {"max_attempts": 3, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}
    return ga4(endpoint=WORKER_URL, retry={**retry, **overrides.pop("retry", {})}, **overrides)


def live(n: int, **overrides: Any) -> dict[str, Any]:
    """A governed page view stamped now (the worker encodes with the real clock)."""
    ev: dict[str, Any] = {
        **page_view(),
        "timestamp_ms": int(time.time() * 1000) - 1_000,
        "properties": {"n": n},
    }
    ev.update(overrides)
    return ev


@respx.mock
async def test_worker_acks_a_delivered_batch(store: RecordingStore) -> None:
    """A 2xx acks every item of the request, and the queue is empty afterwards."""
    route = respx.post(url__startswith=f"{WORKER_URL}/mp/collect").mock(
        return_value=httpx.Response(204)
    )
    leased = await run_once(store, worker_ga4(), [live(n) for n in range(3)])
    assert store.settled == [("ack", i) for i in leased]
    assert route.call_count == 1
    assert [e["params"]["n"] for e in orjson.loads(route.calls.last.request.content)["events"]] == [
        0,
        1,
        2,
    ]
    assert store.depth() == {}
    assert await store.dead_letters() == []


@respx.mock
async def test_worker_retries_a_rate_limit_no_sooner_than_retry_after(
    store: RecordingStore,
) -> None:
    """A 429 is retried, its ``Retry-After`` a floor for the delay; nothing dead-lettered."""
    respx.post(url__startswith=WORKER_URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"})
    )
    leased = await run_once(store, worker_ga4(), [live(1), live(2)])
    assert_each_settled_once(store, leased)
    assert {kind for kind, _ in store.settled} == {"retry"}
    assert len(store.delays) == 1 and store.delays[0] >= 30
    assert store.retry_reasons == ["HTTP 429"]
    assert await store.dead_letters() == []


@pytest.mark.parametrize("status", [500, 503])
@respx.mock
async def test_worker_retries_server_errors(store: RecordingStore, status: int) -> None:
    """A 5xx leaves the item in the queue for a later attempt, with the status as reason."""
    respx.post(url__startswith=WORKER_URL).mock(return_value=httpx.Response(status))
    leased = await run_once(store, worker_ga4(), [live(1)])
    assert store.settled == [("retry", leased[0])]
    assert store.retry_reasons == [f"HTTP {status}"]


@respx.mock
async def test_worker_retries_a_timeout(store: RecordingStore) -> None:
    """A request that times out is retried, never lost nor dead-lettered."""
    respx.post(url__startswith=WORKER_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    leased = await run_once(store, worker_ga4(), [live(1), live(2)])
    assert sorted(store.settled) == [("retry", i) for i in leased]
    assert store.retry_reasons == ["timeout (ReadTimeout)"]


@pytest.mark.parametrize("status", [400, 401, 403])
@respx.mock
async def test_worker_dead_letters_auth_and_bad_request_errors(
    store: RecordingStore, status: int
) -> None:
    """A wrong secret (401/403) or a malformed request (400) will not get better by
    retrying (§2.1): every item of the request is dead-lettered with the status."""
    respx.post(url__startswith=WORKER_URL).mock(return_value=httpx.Response(status))
    leased = await run_once(store, worker_ga4(), [live(1), live(2)])
    assert sorted(store.settled) == [("dead", i) for i in leased]
    assert set(store.reasons.values()) == {f"permanent: HTTP {status}"}
    dead = await store.dead_letters("ga4")
    assert sorted(d.event_id for d in dead) == ["e0", "e1"]
    assert {d.reason for d in dead} == {f"permanent: HTTP {status}"}


@respx.mock
async def test_worker_dead_letters_refused_events_and_sends_the_rest(
    store: RecordingStore,
) -> None:
    """Events the adapter refuses (too old, reserved name) are dead-lettered with the
    reason before sending; the rest of the batch is delivered and acked."""
    route = respx.post(url__startswith=WORKER_URL).mock(return_value=httpx.Response(204))
    stale = live(1, timestamp_ms=int(time.time() * 1000) - 80 * HOUR_MS)
    reserved = live(2, event="session_start")
    leased = await run_once(store, worker_ga4(), [live(0), stale, reserved])
    assert_each_settled_once(store, leased)
    assert store.settled[-1] == ("ack", leased[0])
    assert store.reasons[leased[1]] == "rejected: older than GA4's 72-hour back-dating limit"
    assert store.reasons[leased[2]].startswith("rejected: event name GA4 reserves")
    assert route.call_count == 1


@respx.mock
async def test_worker_exhausted_retries_are_dead_lettered(store: RecordingStore) -> None:
    """A retryable failure on the last allowed attempt dead-letters the item, saying
    why."""
    respx.post(url__startswith=WORKER_URL).mock(return_value=httpx.Response(503))
    destination = worker_ga4(retry={"max_attempts": 1})
    leased = await run_once(store, destination, [live(1)])
    assert store.settled == [("dead", leased[0])]
    [dead] = await store.dead_letters()
    assert dead.reason == "retries exhausted: HTTP 503"


@respx.mock
async def test_worker_in_validation_mode_dead_letters_with_the_validation_message(
    store: RecordingStore,
) -> None:
    """In validation mode a 200 with a validation message dead-letters the event with
    the message's code and field path; an empty list acks."""
    respx.post(url__startswith=f"{WORKER_URL}/debug/mp/collect").mock(
        side_effect=[
            httpx.Response(200, json={"validationMessages": [VALIDATION_MESSAGE]}),
            httpx.Response(200, json={"validationMessages": []}),
        ]
    )
    destination = worker_ga4(validation=True)
    [bad] = await run_once(store, destination, [live(1)])
    assert store.reasons[bad].startswith("permanent: GA4 validation: NAME_INVALID at events")
    [good] = await run_once(store, destination, [live(2)])
    assert store.settled[-1] == ("ack", good)


@respx.mock
async def test_worker_in_validation_mode_isolates_the_invalid_event(
    store: RecordingStore,
) -> None:
    """One event of three draws a validation message: only that one is dead-lettered,
    the two valid ones are acked."""

    def answer(request: httpx.Request) -> httpx.Response:
        ns = [e["params"].get("n") for e in orjson.loads(request.content)["events"]]
        messages = [VALIDATION_MESSAGE] if 1 in ns else []
        return httpx.Response(200, json={"validationMessages": messages})

    respx.post(url__startswith=f"{WORKER_URL}/debug/mp/collect").mock(side_effect=answer)
    leased = await run_once(store, worker_ga4(validation=True), [live(n) for n in range(3)])
    assert_each_settled_once(store, leased)
    assert sorted(store.settled) == sorted(
        [("ack", leased[0]), ("dead", leased[1]), ("ack", leased[2])]
    )
