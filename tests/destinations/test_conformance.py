"""Every registered destination adapter meets the same contract.

In the spirit of vector's ``run_and_assert_sink_compliance`` (vectordotdev/vector
``src/test_util/components.rs``): the suite is parametrized over ``destinations.REGISTRY``,
so an adapter added there is covered without touching this file, except for one entry in
``SPECS`` (its minimal valid settings and where its body carries events and user values).
A registered adapter without an entry fails here instead of being skipped.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from destinations import REGISTRY
from destinations.base import HttpDestination, OutboundRequest
from destinations.meta_capi import USER_KEYS as META_USER_KEYS
from tests.destinations.helpers import (
    FORBIDDEN_BY_FIELD,
    NOW_MS,
    RAW_EVENT,
    RAW_USER,
    body_json,
    govern_raw,
    queued,
    sha256,
    single_request,
)


@dataclass(frozen=True)
class Spec:
    """What the suite needs to know about one adapter type."""

    #: minimal valid settings (credentials filled in)
    settings: dict[str, Any]
    #: the events one decoded request body carries
    events: Callable[[Any], list[Any]]
    #: every hashed user-data value one decoded request body carries
    user_values: Callable[[Any], list[str]]
    #: the platform's name of each event one decoded request body carries
    event_names: Callable[[Any], list[str]]
    #: a 2xx body the platform means as success (TikTok says so in the body)
    ok_body: bytes = b""
    #: the ids this platform owns (reads its own cookie or click id from): only these
    #: may reach it; None for the operator's own endpoint (the webhook), which gets all
    owned_ids: frozenset[str] | None = frozenset()
    #: whether the platform deduplicates by event id (it must then get it unchanged)
    deduplicates: bool = True


def _meta_user_values(body: Any) -> list[str]:
    hashed_keys = set(META_USER_KEYS.values())
    return [
        digest
        for event in body["data"]
        for key, values in event["user_data"].items()
        if key in hashed_keys
        for digest in values
    ]


_TIKTOK_HASHED = frozenset({"email", "phone", "external_id"})


def _ga4_user_values(body: Any) -> list[str]:
    data = body.get("user_data", {})
    values = [*data.get("sha256_email_address", ()), *data.get("sha256_phone_number", ())]
    for address in data.get("address", ()):
        values += [v for k, v in address.items() if k.startswith("sha256_")]
    if "user_id" in body:
        values.append(body["user_id"])
    return values


SPECS: dict[str, Spec] = {
    "meta_capi": Spec(
        settings={
            "type": "meta_capi",
            "requires": ["marketing"],
            "pixel_id": "1234567890",
            "access_token": "EAAB-conformance-token",
        },
        events=lambda body: body["data"],
        user_values=_meta_user_values,
        event_names=lambda body: [e["event_name"] for e in body["data"]],
        owned_ids=frozenset({"fbp", "fbc"}),
    ),
    "ga4_mp": Spec(
        settings={
            "type": "ga4_mp",
            "requires": ["analytics"],
            "measurement_id": "G-CONFORM42",
            "api_secret": "conformance-api-secret",
        },
        events=lambda body: body["events"],
        user_values=_ga4_user_values,
        event_names=lambda body: [e["name"] for e in body["events"]],
        owned_ids=frozenset({"client_id", "session_id"}),
        deduplicates=False,
    ),
    "tiktok_events": Spec(
        settings={
            "type": "tiktok_events",
            "requires": ["marketing"],
            "pixel_code": "CONFORM0TIKTOK",
            "access_token": "conformance-tiktok-token",
        },
        events=lambda body: body["data"],
        user_values=lambda body: [
            v for e in body["data"] for k, v in e["user"].items() if k in _TIKTOK_HASHED
        ],
        event_names=lambda body: [e["event"] for e in body["data"]],
        ok_body=b'{"code": 0, "message": "OK", "request_id": "r-1", "data": {}}',
        owned_ids=frozenset({"ttp", "ttclid"}),
    ),
    "webhook": Spec(
        settings={
            "type": "webhook",
            "requires": ["analytics"],
            "url": "https://hooks.example.com/gateway/events",
            "secret": "conformance-secret-0123456789",
        },
        events=lambda body: body["events"],
        user_values=lambda body: [v for e in body["events"] for v in e.get("user", {}).values()],
        event_names=lambda body: [e["event"] for e in body["events"]],
        owned_ids=None,
    ),
}

ADAPTER_TYPES = sorted(REGISTRY)
HEX64 = re.compile(r"[0-9a-f]{64}")


def spec_for(adapter_type: str) -> Spec:
    """The spec of ``adapter_type``; a registered adapter without one fails the suite."""
    if adapter_type not in SPECS:
        pytest.fail(
            f"destination type {adapter_type!r} is registered but has no entry in SPECS of "
            "tests/destinations/test_conformance.py: add its minimal valid settings"
        )
    return SPECS[adapter_type]


def build(adapter_type: str, **overrides: Any) -> HttpDestination:
    """An adapter instance from its spec's settings, with top-level ``overrides``."""
    adapter = REGISTRY[adapter_type]
    raw = {**spec_for(adapter_type).settings, **overrides}
    return adapter(f"{adapter_type}_under_test", adapter.Settings.model_validate(raw))


def one_request(destination: HttpDestination) -> OutboundRequest:
    """The single request a governed realistic event encodes to."""
    return single_request(destination, govern_raw(destination), item_id=1)


@pytest.fixture(params=ADAPTER_TYPES)
def adapter_type(request: pytest.FixtureRequest) -> str:
    """Each registered destination type in turn."""
    return request.param


def test_registry_is_not_empty() -> None:
    """The suite runs over real adapters: an empty registry would make it vacuous."""
    assert {"meta_capi", "webhook"} <= set(REGISTRY)


def test_every_registered_adapter_has_a_spec(adapter_type: str) -> None:
    """Each registered type has conformance settings, and they validate."""
    spec = spec_for(adapter_type)
    assert spec.settings["type"] == adapter_type
    REGISTRY[adapter_type].Settings.model_validate(spec.settings)


def test_an_adapter_without_a_spec_fails_rather_than_skips() -> None:
    """Looking up a type with no spec entry fails the test (a reminder, not a skip)."""
    with pytest.raises(pytest.fail.Exception, match="no entry in SPECS"):
        spec_for("carrier_pigeon")


def test_no_spec_for_an_unregistered_type() -> None:
    """The spec table has no stale entries for adapters that were removed."""
    assert set(SPECS) <= set(REGISTRY)


def test_adapter_type_matches_registry_key(adapter_type: str) -> None:
    """The registry key, the adapter's ``type`` and its settings' ``type`` literal agree."""
    adapter = REGISTRY[adapter_type]
    assert adapter.type == adapter_type
    wrong = {**spec_for(adapter_type).settings, "type": "not_" + adapter_type}
    with pytest.raises(ValidationError):
        adapter.Settings.model_validate(wrong)


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["unknown_key", "acces_token", "endpoint_url"])
def test_unknown_settings_keys_are_refused(adapter_type: str, key: str) -> None:
    """A misspelt or unknown top-level key is an error, not silently ignored."""
    settings = {**spec_for(adapter_type).settings, key: "x"}
    with pytest.raises(ValidationError) as info:
        REGISTRY[adapter_type].Settings.model_validate(settings)
    assert any(e["type"] == "extra_forbidden" and e["loc"] == (key,) for e in info.value.errors())


@pytest.mark.parametrize("section", ["batch", "retry", "timeout"])
def test_unknown_nested_settings_keys_are_refused(adapter_type: str, section: str) -> None:
    """Unknown keys inside the shared sections are refused too."""
    settings = {**spec_for(adapter_type).settings, section: {"bogus": 1}}
    with pytest.raises(ValidationError) as info:
        REGISTRY[adapter_type].Settings.model_validate(settings)
    assert any(e["loc"] == (section, "bogus") for e in info.value.errors())


def test_settings_limit_matches_the_adapter_limit(adapter_type: str) -> None:
    """``Settings.MAX_BATCH`` (validation) and ``max_batch_size`` (batching) are one number."""
    adapter = REGISTRY[adapter_type]
    assert adapter.Settings.MAX_BATCH == adapter.max_batch_size >= 1


# --- what may leave ------------------------------------------------------------------------


#: the only user fields a platform may get unhashed (normalized), where it documents that
#: (GA4's address parts): coarse location, never a name, email, phone or id
UNHASHED_ALLOWED = frozenset({"user.city", "user.region", "user.postal_code", "user.country"})


def test_no_user_field_is_declared_raw(adapter_type: str) -> None:
    """No adapter's FIELDS lets a ``user.*`` path leave raw; hashed ones name a recipe, and
    only coarse address parts may leave normalized but unhashed."""
    fields = REGISTRY[adapter_type].FIELDS
    user_rules = {path: rule for path, rule in fields.items() if path.startswith("user.")}
    for path, rule in user_rules.items():
        assert rule.treatment != "raw", path
        if rule.treatment in ("hashed", "normalized"):
            assert rule.recipe is not None, path
        if rule.treatment == "normalized":
            assert path in UNHASHED_ALLOWED, path
    for path, rule in fields.items():
        assert rule.treatment != "normalized" or path in UNHASHED_ALLOWED, path


def test_no_raw_pii_leaves(adapter_type: str) -> None:
    """A realistic event through the real govern stage and encode: no raw PII in the URL,
    headers or body, in any case, and every user value that leaves is lowercase SHA-256 hex."""
    destination = build(adapter_type)
    request = one_request(destination)
    header_text = " ".join(f"{k}: {v}" for k, v in request.headers.items())
    text = "\n".join((request.url, header_text, request.content.decode("utf-8"))).lower()
    fields = REGISTRY[adapter_type].FIELDS
    for field, forbidden in FORBIDDEN_BY_FIELD.items():
        rule = fields.get(f"user.{field}")
        if rule is not None and rule.treatment == "normalized":
            continue
        for raw in forbidden:
            assert raw.lower() not in text, f"raw PII {raw!r} leaves for {adapter_type}"

    values = spec_for(adapter_type).user_values(body_json(request))
    assert values, "the realistic event's user data should leave, hashed"
    assert all(HEX64.fullmatch(v) for v in values), values
    # and what leaves is the hash of the normalized input (email checked independently)
    assert sha256(RAW_USER["email"].strip().lower()) in values


@given(
    local=st.from_regex(r"[A-Za-z][A-Za-z0-9._%+-]{5,20}", fullmatch=True),
    name=st.from_regex(r"Zq[a-z]{4,12}", fullmatch=True),
)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_raw_pii_leaves_for_any_email_or_name(adapter_type: str, local: str, name: str) -> None:
    """Whatever the visitor's email and name, neither leaves in a request body raw."""
    email_address = f"{local}@Mail-{name}.example"
    raw = {**RAW_EVENT, "user": {"email": email_address, "first_name": name, "last_name": name}}
    destination = build(adapter_type)
    [request] = destination.encode(
        [queued(1, govern_raw(destination, raw))], now_ms=NOW_MS
    ).requests
    text = (request.url + request.content.decode("utf-8")).lower()
    assert email_address.lower() not in text
    assert name.lower() not in text
    assert sha256(email_address.lower()) in spec_for(adapter_type).user_values(body_json(request))


# --- endpoint override ---------------------------------------------------------------------


#: adapters whose platform URL has an ``endpoint`` (base URL) override
ENDPOINT_TYPES = [t for t in ADAPTER_TYPES if "endpoint" in REGISTRY[t].Settings.model_fields]


def test_platform_adapters_have_an_endpoint_override() -> None:
    """The ad-platform adapters can be pointed at a proxy or test server."""
    assert "meta_capi" in ENDPOINT_TYPES


@pytest.mark.parametrize("adapter_type", ENDPOINT_TYPES)
@pytest.mark.parametrize("override", ["http://127.0.0.1:9/prefix", "http://127.0.0.1:9/prefix/"])
def test_base_url_override_keeps_the_platform_path(adapter_type: str, override: str) -> None:
    """With ``endpoint`` overridden (a proxy, a test server), the request goes to that
    scheme, host and path prefix, followed by the platform's own path and query."""
    default = httpx.URL(one_request(build(adapter_type)).url)
    url = httpx.URL(one_request(build(adapter_type, endpoint=override)).url)
    assert (url.scheme, url.host, url.port) == ("http", "127.0.0.1", 9)
    assert url.path == "/prefix" + default.path
    assert url.params == default.params
    assert str(url).startswith("http://127.0.0.1:9/prefix/")


# --- classification ------------------------------------------------------------------------


async def send_with(destination: HttpDestination, **route: Any) -> tuple[Any, respx.Route]:
    """Send one request to a respx route answering with ``route`` (``return_value`` or
    ``side_effect``); returns the result and the route."""
    request = one_request(destination)
    async with respx.mock(assert_all_called=True) as mock:
        recorded = mock.route(method=request.method, url=request.url).mock(**route)
        async with httpx.AsyncClient() as client:
            result = await destination.send(client, request)
    return result, recorded


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_2xx_is_ok(adapter_type: str, status: int) -> None:
    """A 2xx answer (with the body the platform means as success) acknowledges the whole
    request."""
    response = httpx.Response(status, content=spec_for(adapter_type).ok_body)
    result, route = await send_with(build(adapter_type), return_value=response)
    assert result.outcome == "ok"
    assert route.call_count == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retryable(adapter_type: str, status: int) -> None:
    """A server error is the platform's problem: retry later."""
    result, _ = await send_with(
        build(adapter_type), return_value=httpx.Response(status, text="upstream unavailable")
    )
    assert result.outcome == "retry"
    assert result.status == status


async def test_429_honours_retry_after_seconds(adapter_type: str) -> None:
    """429 is retried, no sooner than the platform's ``Retry-After`` in seconds."""
    result, _ = await send_with(
        build(adapter_type), return_value=httpx.Response(429, headers={"Retry-After": "7"})
    )
    assert result.outcome == "retry"
    assert result.retry_after_secs == 7


async def test_retry_after_as_http_date_is_honoured(adapter_type: str) -> None:
    """``Retry-After`` as an HTTP date becomes the number of seconds until that date."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    header = email.utils.format_datetime(when, usegmt=True)
    result, _ = await send_with(
        build(adapter_type), return_value=httpx.Response(503, headers={"Retry-After": header})
    )
    assert result.outcome == "retry"
    assert result.retry_after_secs is not None
    assert 110 <= result.retry_after_secs <= 120


@given(
    header=st.binary(min_size=1, max_size=40).filter(
        lambda b: not set(b) & set(b"\r\n\x00") and b.strip()
    )
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_retry_after_header_is_survived(adapter_type: str, header: bytes) -> None:
    """Whatever bytes a server puts in ``Retry-After`` (``²``, garbage dates), classify
    still answers retry, with no wait or a non-negative one."""
    response = httpx.Response(503, headers=[(b"Retry-After", header)])
    result = build(adapter_type).classify(response)
    assert result.outcome == "retry"
    assert result.retry_after_secs is None or result.retry_after_secs >= 0


def test_non_ascii_digits_in_retry_after_are_ignored(adapter_type: str) -> None:
    """``Retry-After: ²`` is not delta-seconds (RFC 9110: ASCII digits): no crash, no wait."""
    response = httpx.Response(503, headers=[(b"Retry-After", "²".encode("latin-1"))])
    result = build(adapter_type).classify(response)
    assert (result.outcome, result.retry_after_secs) == ("retry", None)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_permanent(adapter_type: str, status: int) -> None:
    """A 4xx other than 408/429 will fail the same way again: permanent, not retried."""
    result, _ = await send_with(build(adapter_type), return_value=httpx.Response(status, text="no"))
    assert result.outcome == "permanent"
    assert result.status == status


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_transport_errors_and_timeouts_are_retryable(
    adapter_type: str, error: Exception
) -> None:
    """``send`` never raises for a network failure: it is a retryable result."""
    result, route = await send_with(build(adapter_type), side_effect=error)
    assert result.outcome == "retry"
    assert result.status is None
    assert route.call_count == 1
    # operators can tell a slow platform from an unreachable one
    assert ("timeout" in result.reason) == isinstance(error, httpx.TimeoutException)


async def test_send_puts_the_encoded_request_on_the_wire(adapter_type: str) -> None:
    """``send`` sends exactly the encoded method, URL, headers and body."""
    destination = build(adapter_type)
    request = one_request(destination)
    async with respx.mock(assert_all_called=True) as mock:
        ok = httpx.Response(200, content=spec_for(adapter_type).ok_body)
        route = mock.route(method=request.method, url=request.url).mock(return_value=ok)
        async with httpx.AsyncClient() as client:
            await destination.send(client, request)
    sent = route.calls.last.request
    assert sent.method == request.method
    assert str(sent.url) == str(httpx.URL(request.url))
    assert sent.content == request.content
    for name, value in request.headers.items():
        assert sent.headers[name] == value


# --- credentials and batching --------------------------------------------------------------


def test_missing_credentials_are_listed(adapter_type: str) -> None:
    """Each credential setting left empty is reported by name; complete settings report none."""
    adapter = REGISTRY[adapter_type]
    assert adapter.CREDENTIALS, "every adapter authenticates or signs with something"
    assert build(adapter_type).missing_credentials() == []
    for key in adapter.CREDENTIALS:
        assert build(adapter_type, **{key: ""}).missing_credentials() == [key]
    everything_empty = {key: "" for key in adapter.CREDENTIALS}
    missing = build(adapter_type, **everything_empty).missing_credentials()
    assert missing == list(adapter.CREDENTIALS)


def test_batch_size_defaults_to_the_platform_limit(adapter_type: str) -> None:
    """Without ``batch.max_events`` a request carries up to the platform's limit."""
    destination = build(adapter_type)
    assert destination.batch_size() == destination.max_batch_size


@given(data=st.data())
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_batch_size_never_exceeds_the_platform_limit(adapter_type: str, data: Any) -> None:
    """``batch.max_events`` may lower the batch size, never raise it past the limit."""
    limit = REGISTRY[adapter_type].max_batch_size
    wanted = data.draw(st.integers(min_value=1, max_value=limit))
    assert build(adapter_type, batch={"max_events": wanted}).batch_size() == wanted
    too_many = data.draw(st.integers(min_value=limit + 1, max_value=limit * 10))
    with pytest.raises(ValidationError):
        build(adapter_type, batch={"max_events": too_many})


def assert_accounted(
    adapter_type: str, destination: HttpDestination, items: list[Any], size: int
) -> None:
    """Encode ``items`` and check every item is in exactly one request or rejection."""
    encoded = destination.encode(items, now_ms=NOW_MS)
    sent = [i for r in encoded.requests for i in r.item_ids]
    rejected = [r.item_id for r in encoded.rejected]
    assert Counter(sent + rejected) == Counter(item.id for item in items)
    assert len(encoded.requests) == math.ceil(len(sent) / size)
    for request in encoded.requests:
        assert 1 <= len(request.item_ids) <= size
        assert len(spec_for(adapter_type).events(body_json(request))) == len(request.item_ids)


def test_encode_splits_a_large_batch_and_accounts_for_every_item(adapter_type: str) -> None:
    """A batch larger than ``batch_size`` becomes several requests; every item is in exactly
    one request or one rejection (here one event is 30 days old, which some platforms refuse)."""
    destination = build(adapter_type, batch={"max_events": 3})
    event = govern_raw(destination)
    stale = govern_raw(destination, {**RAW_EVENT, "timestamp": NOW_MS - 30 * 86_400_000})
    items = [queued(100 + 7 * n, {**event, "event_id": f"evt-{n}"}) for n in range(10)]
    items.insert(4, queued(999, stale))
    encoded = destination.encode(items, now_ms=NOW_MS)
    assert len(encoded.requests) >= 4
    assert_accounted(adapter_type, destination, items, 3)


@given(count=st.integers(min_value=0, max_value=23), size=st.integers(min_value=1, max_value=7))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_encode_accounting_holds_for_any_batch(adapter_type: str, count: int, size: int) -> None:
    """For any batch and batch size: no empty request, none above the size, no item lost
    or duplicated."""
    destination = build(adapter_type, batch={"max_events": size})
    event = govern_raw(destination)
    items = [queued(n + 1, {**event, "event_id": f"evt-{n}"}) for n in range(count)]
    assert_accounted(adapter_type, destination, items, size)


# --- what each platform gets, and nothing more ---------------------------------------------

#: a full page event whose every value is a sentinel no adapter could produce by accident
SENTINELS: dict[str, dict[str, str]] = {
    "page": {
        "url": "https://shop.example/sentinel-page-url",
        "referrer": "https://ref.example/sentinel-referrer",
        "title": "SentinelPageTitle",
    },
    "ids": {
        "fbp": "fb.1.1789999000000.4242424242",
        "fbc": "fb.1.1789999000000.SentinelFbclid",
        "ttp": "SentinelTtpCookie",
        "ttclid": "E.C.P.SentinelTtclid",
        "gclid": "SentinelGclid",
        "session_id": "1789998877",
    },
}


def full_event() -> dict[str, Any]:
    """``RAW_EVENT`` with every page field and id set to a sentinel."""
    return {
        **RAW_EVENT,
        "page": SENTINELS["page"],
        "ids": {**RAW_EVENT["ids"], **SENTINELS["ids"]},
    }


def declared(adapter_type: str, path: str) -> bool:
    """Whether ``path`` may leave for ``adapter_type`` (declared, and not ``never``)."""
    fields = REGISTRY[adapter_type].FIELDS
    section = path.rpartition(".")[0]
    rule = fields.get(path, fields.get(f"{section}.*"))
    return rule is not None and rule.treatment != "never"


def test_every_adapter_declares_the_event_and_its_time(adapter_type: str) -> None:
    """The name and time of an event are what every platform needs."""
    for path in ("event", "timestamp_ms"):
        assert declared(adapter_type, path), path


def test_no_body_carries_a_field_the_adapter_did_not_declare(adapter_type: str) -> None:
    """Every page field and id of a full event, each a sentinel: what the adapter does not
    declare (or declares ``never``) appears nowhere in the request, and what it declares
    from the page and ids does appear (the sentinel check is not vacuous)."""
    destination = build(adapter_type)
    [request] = destination.encode(
        [queued(1, govern_raw(destination, full_event()))], now_ms=NOW_MS
    ).requests
    text = " ".join((request.url, *request.headers.values(), request.content.decode("utf-8")))
    for section, values in SENTINELS.items():
        for key, sentinel in values.items():
            path = f"{section}.{key}"
            if declared(adapter_type, path):
                assert sentinel in text, f"{path} is declared but does not leave"
            else:
                assert sentinel not in text, f"{path} leaves for {adapter_type} undeclared"


def test_ids_reach_only_the_platform_that_owns_them(adapter_type: str) -> None:
    """An ad platform may get only its own ids (Meta fbp/fbc, TikTok ttp/ttclid, GA4 the
    client and session id): another platform's cookie or click id would let it link
    visits it did not see."""
    owned = spec_for(adapter_type).owned_ids
    if owned is None:
        # the operator's own endpoint (the webhook) gets every id, as documented
        assert declared(adapter_type, "ids.fbp") and declared(adapter_type, "ids.ttp")
        return
    ids = {
        path.split(".", 1)[1] for path in REGISTRY[adapter_type].FIELDS if path.startswith("ids.")
    }
    leaving = {
        i for i in ids | set(SENTINELS["ids"]) | {"client_id"} if declared(adapter_type, f"ids.{i}")
    }
    assert leaving <= owned


def test_event_id_reaches_every_platform_that_deduplicates(adapter_type: str) -> None:
    """Dedup with the browser pixel needs the event id unchanged (Meta, TikTok: 48 h)."""
    if not spec_for(adapter_type).deduplicates:
        assert not declared(adapter_type, "event_id")
        return
    request = one_request(build(adapter_type))
    assert f'"{RAW_EVENT["event_id"]}"' in request.content.decode("utf-8")


def test_event_names_override_the_shipped_mapping(adapter_type: str) -> None:
    """An operator's ``event_names`` entry replaces the shipped name for that event."""
    destination = build(adapter_type, event_names={"purchase": "order_done"})
    names = spec_for(adapter_type).event_names(body_json(one_request(destination)))
    assert names == ["order_done"]


def test_unknown_events_drop_refuses_an_unmapped_event(adapter_type: str) -> None:
    """With ``unknown_events: drop`` an event without a mapping is not sent (the route
    stage skips it; an item queued before the setting changed is refused with a reason),
    while a mapped one still goes."""
    destination = build(adapter_type, unknown_events="drop", event_names={"purchase": "buy"})
    assert destination.event_name("purchase") == "buy"
    assert destination.event_name("newsletter_signup") is None
    custom = govern_raw(destination, {**RAW_EVENT, "event": "newsletter_signup"})
    encoded = destination.encode([queued(1, custom)], now_ms=NOW_MS)
    assert encoded.requests == []
    assert [r.reason for r in encoded.rejected] == ["no event name mapping (unknown_events: drop)"]
