"""End-to-end: the gateway served by uvicorn, spoken to over real HTTP, delivering to a
local fake Meta. What a site owner sees: 204s, clear 4xx problems, events arriving hashed."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from gateway import client_id
from gateway.endpoints.pixel import GIF
from tests.e2e.conftest import Gateway
from tests.support.configs import SECRET, TOKEN
from tests.support.events import RAW_MARKERS, US_BROWSER, purchase
from tests.support.fake_platform import FakePlatform


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def metric(gw: Gateway, name: str, **labels: str) -> float:
    text = gw.client().get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            got = series[len(name) :].strip("{}")
            if ",".join(sorted(got.split(","))) == want or (not want and not got):
                return float(value)
    return 0.0


def test_consented_purchase_arrives_at_meta_hashed(gateway: Gateway, fake: FakePlatform) -> None:
    """A US visitor's purchase is answered 204 and reaches Meta with hashed PII, the client
    IP from X-Forwarded-For (the peer is a trusted proxy), the user agent and the event id."""
    event = purchase()
    response = gateway.client().post("/collect", json=event, headers=US_BROWSER)
    assert response.status_code == 204
    wait_for(lambda: fake.event_ids())
    request = fake.received[0]
    assert request.path == "/v26.0/1234567890/events"
    assert request.query["access_token"] == [TOKEN]
    (sent,) = request.json()["data"]
    assert sent["event_name"] == "Purchase"
    assert sent["event_id"] == event["event_id"]
    user = sent["user_data"]
    assert user["client_ip_address"] == "203.0.113.7"
    assert user["client_user_agent"] == US_BROWSER["User-Agent"]
    assert user["em"] == [hashlib.sha256(b"jane.doe@example.com").hexdigest()]
    assert user["ph"] == [hashlib.sha256(b"15550102030").hexdigest()]
    body = request.body.decode()
    for marker in RAW_MARKERS:
        assert marker not in body
    assert sent["custom_data"]["order_id"] == "T-1001"


def test_region_headers_through_a_trusted_proxy_with_forwarded_for(
    gateway: Gateway, fake: FakePlatform
) -> None:
    """Behind a trusted proxy that adds X-Forwarded-For, the region header counts: a US
    visitor with no consent signal is in the opt-out regime and the event is sent."""
    response = gateway.client().post("/collect", json=purchase(consent={}), headers=US_BROWSER)
    assert response.status_code == 204
    wait_for(lambda: fake.event_ids())
    assert fake.events()[0]["user_data"]["client_ip_address"] == "203.0.113.7"


def test_text_plain_batch_is_accepted_and_sent_in_one_request(
    gateway: Gateway, fake: FakePlatform
) -> None:
    """sendBeacon bodies (text/plain) are accepted; a batch leaves as one Meta request."""
    events = [purchase() for _ in range(3)]
    response = gateway.client().post(
        "/collect",
        content=json.dumps({"events": events}),
        headers={**US_BROWSER, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 204
    wait_for(lambda: len(fake.event_ids()) == 3)
    assert len(fake.received) == 1
    assert sorted(fake.event_ids()) == sorted(e["event_id"] for e in events)


def test_opt_in_region_without_consent_sends_nothing(gateway: Gateway, fake: FakePlatform) -> None:
    """A German visitor without a consent signal: accepted (204), withheld, recorded."""
    event = purchase(consent={})
    headers = {**US_BROWSER, "CF-IPCountry": "DE"}
    headers.pop("CF-Region-Code")
    assert gateway.client().post("/collect", json=event, headers=headers).status_code == 204
    assert (
        metric(gateway, "gateway_consent_verdicts_total", destination="meta", verdict="withhold")
        == 1
    )
    time.sleep(0.2)
    assert fake.received == []
    assert "destinations.meta.requires" in gateway.log.getvalue()


def test_gpc_withdraws_advertising_in_the_us(gateway: Gateway, fake: FakePlatform) -> None:
    """Sec-GPC: 1 opts a US visitor out of advertising, even with a site category grant."""
    response = gateway.client().post(
        "/collect", json=purchase(), headers={**US_BROWSER, "Sec-GPC": "1"}
    )
    assert response.status_code == 204
    assert (
        metric(gateway, "gateway_consent_verdicts_total", destination="meta", verdict="withhold")
        == 1
    )


def test_forged_region_from_untrusted_peer_gets_strictest_regime(
    gateway_factory: Callable[..., Any], fake: FakePlatform
) -> None:
    """With no trusted proxy, CF-IPCountry: US is ignored: the region is unknown, the
    strictest regime applies and an event without consent is withheld."""
    with gateway_factory({"server": {"trusted_proxies": []}}) as gw:
        event = purchase(consent={})
        assert gw.client().post("/collect", json=event, headers=US_BROWSER).status_code == 204
        assert (
            metric(gw, "gateway_consent_verdicts_total", destination="meta", verdict="withhold")
            == 1
        )


@pytest.mark.parametrize(
    ("body", "loc", "msg"),
    [
        ({"event": 5}, ["event"], "Input should be a valid string"),
        ({"event": "x", "user": {"emial": "a@b.co"}}, ["user", "emial"], "unknown field"),
        ({"event": "x", "consnet": {}}, ["consnet"], "unknown field"),
        ({"event": "x", "timestamp": "yesterday"}, ["timestamp"], "ISO 8601"),
        ({"event": "x", "properties": {"value": "12"}}, ["properties", "value"], "valid number"),
        ({"event": "x", "properties": {"currency": "EURO"}}, ["properties", "currency"], "pattern"),
        (
            {"event": "x", "consent": {"categories": {"ads": "yes"}}},
            ["consent", "categories", "ads"],
            "valid boolean",
        ),
        ({"events": [{"event": "ok"}, {"evnt": "x"}]}, ["events", 1, "event"], "required"),
        ({"events": []}, ["events"], "non-empty list"),
        ([1, 2], [], "expected an object"),
    ],
)
def test_bad_input_gets_a_400_problem_naming_the_field(
    gateway: Gateway, body: Any, loc: list[Any], msg: str
) -> None:
    """Invalid events are refused with 400 and a JSON problem locating each bad field."""
    response = gateway.client().post("/collect", json=body)
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"]
    assert any(d["loc"] == loc and msg in d["msg"] for d in problem["detail"]), problem


def test_problem_never_echoes_the_input(gateway: Gateway) -> None:
    """Error messages locate the field but never quote what was sent (it may be PII)."""
    response = gateway.client().post(
        "/collect", json={"event": "x", "user": {"email": 12345678901, "phone": ["+15550102030"]}}
    )
    assert response.status_code == 400
    assert "12345678901" not in response.text and "5550102030" not in response.text


def test_batch_over_100_events_is_refused(gateway: Gateway) -> None:
    """At most 100 events per request."""
    response = gateway.client().post("/collect", json={"events": [{"event": "x"}] * 101})
    assert response.status_code == 400
    assert response.json()["detail"][0]["msg"] == "at most 100 events per request"


def test_body_over_the_limit_is_413(gateway: Gateway) -> None:
    """A body above server.max_body_bytes (64 KiB by default) is refused with 413."""
    big = {"event": "x", "properties": {"blob": "a" * 70_000}}
    response = gateway.client().post("/collect", json=big)
    assert response.status_code == 413
    assert (
        metric(gateway, "gateway_events_refused_total", endpoint="collect", reason="too_large") == 1
    )


def test_other_content_types_are_415(gateway: Gateway) -> None:
    """Form posts and the like are refused with a clear 415."""
    response = gateway.client().post("/collect", data={"event": "x"})
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"][0]["msg"]


HOSTILE: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not json", b"event=purchase"),
    ("invalid utf-8", b'{"event": "a\xff\xfe"}'),
    ("lone surrogate", b'{"event": "x", "user": {"email": "\\ud800@x.io"}}'),
    ("deep nesting", b'{"event": "x", "properties": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"),
    ("nested properties", b'{"event": "x", "properties": {"a": {"b": {"c": {"d": {"e": 1}}}}}}'),
    ("huge string", orjson.dumps({"event": "x", "page": {"url": "h" * 60_000}})),
    ("huge number", b'{"event": "x", "properties": {"value": 1e400}}'),
    ("nan", b'{"event": "x", "properties": {"value": NaN}}'),
    ("null byte", b'{"event": "x\\u0000"}'),
    ("null event", b'{"event": null}'),
    ("array of events", b'{"events": "many"}'),
    ("batch with extra", b'{"events": [{"event": "x"}], "more": 1}'),
    ("number body", b"42"),
    ("string body", b'"purchase"'),
    ("bool in user", b'{"event": "x", "user": {"email": true}}'),
    ("items not list", b'{"event": "x", "properties": {"items": {"a": 1}}}'),
    ("item bad quantity", b'{"event": "x", "properties": {"items": [{"quantity": -1}]}}'),
    (
        "too many properties",
        orjson.dumps({"event": "x", "properties": {f"p{i}": i for i in range(150)}}),
    ),
    ("timestamp epoch seconds", b'{"event": "x", "timestamp": 1795567616}'),
    ("gpp_sid strings", b'{"event": "x", "consent": {"gpp_sid": ["7"]}}'),
]


@pytest.mark.parametrize(("name", "body"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_malformed_input_is_a_4xx_never_a_500(gateway: Gateway, name: str, body: bytes) -> None:
    """However malformed the body, the answer is a 4xx with a JSON problem."""
    response = gateway.client().post(
        "/collect", content=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert response.json()["error"]


def test_queue_full_answers_503_with_retry_after(
    gateway_factory: Callable[..., Any], fake: FakePlatform
) -> None:
    """Past queue.max_rows, POST /collect answers 503 with Retry-After, counted by reason."""
    overrides = {
        "queue": {"max_rows": 2, "retry_after_secs": 17},
        "destinations": {"meta": {"access_token": ""}},
    }
    with gateway_factory(overrides) as gw:
        client = gw.client()
        for _ in range(2):
            assert client.post("/collect", json=purchase(), headers=US_BROWSER).status_code == 204
        response = client.post("/collect", json=purchase(), headers=US_BROWSER)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "17"
        assert (
            metric(gw, "gateway_events_refused_total", endpoint="collect", reason="queue_full") == 1
        )


def test_destination_without_credentials_keeps_events_queued(
    gateway_factory: Callable[..., Any], fake: FakePlatform
) -> None:
    """Missing credentials: reported once at start-up; events are queued and visible in
    gateway_queue_depth, never sent and never dropped."""
    with gateway_factory({"destinations": {"meta": {"pixel_id": ""}}}) as gw:
        for _ in range(3):
            assert (
                gw.client().post("/collect", json=purchase(), headers=US_BROWSER).status_code == 204
            )
        time.sleep(0.2)
        assert fake.received == []
        assert metric(gw, "gateway_queue_depth", destination="meta") == 3
        assert metric(gw, "gateway_destination_configured", destination="meta") == 0
        assert gw.log.getvalue().count('"destination_unconfigured"') == 1


def test_pixel_always_answers_the_gif(gateway: Gateway, fake: FakePlatform) -> None:
    """GET /p.gif answers the 43-byte GIF with no-store, for valid and invalid events; a
    valid one is routed like any event."""
    client = gateway.client()
    good = client.get(
        "/p.gif",
        params={
            "e": "email_open",
            "eid": "mail-1",
            "dl": "https://shop.example/mail",
            "c.advertising": "1",
            "utm_campaign": "nov",
        },
        headers=US_BROWSER,
    )
    bad = client.get("/p.gif", params={"eid": "no event name"})
    for response in (good, bad):
        assert response.status_code == 200
        assert response.content == GIF and len(GIF) == 43
        assert response.headers["content-type"] == "image/gif"
        assert "no-store" in response.headers["cache-control"]
    wait_for(lambda: fake.event_ids() == ["mail-1"])
    assert fake.events()[0]["custom_data"]["utm_campaign"] == "nov"
    assert metric(gateway, "gateway_events_refused_total", endpoint="pixel", reason="invalid") == 1


def test_received_is_accepted_plus_refused(gateway: Gateway) -> None:
    """Every event counted as received is counted once as accepted or as refused."""
    client = gateway.client()
    client.post("/collect", json={"events": [purchase(), purchase()]}, headers=US_BROWSER)
    client.post("/collect", json={"events": [{"event": "ok"}, {"event": 1}, {"event": 2}]})
    client.post("/collect", content=b"{not json", headers={"Content-Type": "text/plain"})
    client.post("/collect", data={"a": "b"})
    client.get("/p.gif", params={"e": "email_open"})
    for endpoint in ("collect", "pixel"):
        received = metric(gateway, "gateway_events_received_total", endpoint=endpoint)
        accepted = metric(gateway, "gateway_events_accepted_total", endpoint=endpoint)
        refused = sum(
            metric(gateway, "gateway_events_refused_total", endpoint=endpoint, reason=r)
            for r in ("invalid", "too_large", "unsupported_media_type", "queue_full")
        )
        assert received == accepted + refused
    assert metric(gateway, "gateway_events_received_total", endpoint="collect") == 7


@pytest.mark.parametrize("ts", ["\u00b2", "\u0663", "12a", "-5", "9" * 40])
def test_pixel_with_a_malformed_timestamp_still_answers_the_gif(gateway: Gateway, ts: str) -> None:
    """Digits Python calls digits but int() refuses (superscripts), or absurd values, are
    a refused event and a GIF, never a 500."""
    response = gateway.client().get("/p.gif", params={"e": "email_open", "ts": ts})
    assert response.status_code == 200 and response.content == GIF


def test_health_ready_and_metrics(gateway: Gateway) -> None:
    """/healthz and /readyz answer 200; /metrics is Prometheus text with gateway_ names."""
    client = gateway.client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}
    client.post("/collect", json=purchase(), headers=US_BROWSER)
    text = client.get("/metrics").text
    for name in (
        "gateway_events_received_total",
        "gateway_events_accepted_total",
        "gateway_consent_verdicts_total",
        "gateway_queue_depth",
        "gateway_queue_commits_total",
    ):
        assert name in text
    wait_for(
        lambda: (
            metric(gateway, "gateway_deliveries_total", destination="meta", outcome="delivered")
            == 1
        )
    )


def test_readyz_is_503_when_the_queue_cannot_write(gateway: Gateway) -> None:
    """When the queue is closed, /readyz says so with 503 (and /collect answers 503)."""
    import asyncio

    runtime = gateway.runtime
    loop = runtime.store._loop
    assert loop is not None
    asyncio.run_coroutine_threadsafe(runtime.store.close(), loop).result(5)
    client = gateway.client()
    assert client.get("/readyz").status_code == 503
    response = client.post("/collect", json=purchase(), headers=US_BROWSER)
    assert response.status_code == 503 and response.headers["retry-after"]


class TestClientIdCookie:
    """The gateway's own first-party cookie follows storage consent."""

    def test_set_signed_when_storage_is_granted(self, gateway: Gateway) -> None:
        """Granted analytics: a signed, HttpOnly, SameSite=Lax cookie of at most 400 days."""
        response = gateway.client().post("/collect", json=purchase(), headers=US_BROWSER)
        cookie = response.headers["set-cookie"]
        value = cookie.split(";")[0].split("=", 1)[1]
        assert client_id.verify(value, SECRET.encode()) is not None
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
        assert max_age <= 400 * 86400

    def test_not_set_without_storage_consent(self, gateway: Gateway) -> None:
        """In an opt-in region with no grant, no cookie is set."""
        headers = {**US_BROWSER, "CF-IPCountry": "DE"}
        headers.pop("CF-Region-Code")
        response = gateway.client().post("/collect", json=purchase(consent={}), headers=headers)
        assert response.status_code == 204
        assert "set-cookie" not in response.headers

    def test_valid_cookie_keeps_the_client_id(self, gateway: Gateway, fake: FakePlatform) -> None:
        """A valid cookie is refreshed with the same id."""
        value = client_id.sign("123456789.1795000000", SECRET.encode())
        client = gateway.client()
        client.cookies.set("gw_id", value)
        response = client.post("/collect", json=purchase(), headers=US_BROWSER)
        assert response.headers["set-cookie"].startswith(f"gw_id={value};")

    def test_tampered_cookie_is_replaced(self, gateway: Gateway) -> None:
        """A cookie whose signature does not verify is ignored and replaced by a new id."""
        forged = client_id.sign("123456789.1795000000", b"some-other-secret-value")
        client = gateway.client()
        client.cookies.set("gw_id", forged)
        response = client.post("/collect", json=purchase(), headers=US_BROWSER)
        new = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        assert new != forged
        assert client_id.verify(new, SECRET.encode()) not in (None, "123456789.1795000000")

    def test_cleared_when_consent_is_withdrawn(self, gateway: Gateway) -> None:
        """An explicit analytics deny expires an existing cookie."""
        client = gateway.client()
        client.cookies.set("gw_id", client_id.sign("123456789.1795000000", SECRET.encode()))
        event = purchase(consent={"categories": {"analytics": False, "advertising": False}})
        response = client.post("/collect", json=event, headers=US_BROWSER)
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("gw_id=;") and "Max-Age=0" in cookie


def test_logs_never_carry_raw_pii_tokens_or_consent_strings(
    gateway: Gateway, fake: FakePlatform
) -> None:
    """After accepting, refusing and delivering events, no log line holds a raw email,
    phone, access token or consent string."""
    client = gateway.client()
    tcf = (  # a public TCF v2 vector (consent_vectors.json)
        "COvzTO5OvzTO5B7ABCENAPCYAKdAADkAAIqIFhwBAAGAAXAFGAsMAhYAgAMAAegBYAEKAAA"
        ".IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAg"
        "AAQARAEQAAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw.QE5QAwCvgHyATkA"
    )
    for _ in range(3):
        client.post(
            "/collect",
            json=purchase(consent={"tcf": tcf, "usp": "1YNN", "categories": {"advertising": True}}),
            headers=US_BROWSER,
        )
    client.post("/collect", json={"event": "x", "user": {"email": 5}})
    wait_for(lambda: len(fake.event_ids()) == 3)
    text = gateway.log.getvalue()
    assert "events_decided" in text
    for secret in (*RAW_MARKERS, TOKEN, tcf, tcf[:40], "1YNN", "203.0.113.7"):
        assert secret not in text, secret
