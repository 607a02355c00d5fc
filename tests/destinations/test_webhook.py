"""Generic webhook adapter: governed events as JSON, signed with HMAC-SHA256.

The receiver's side is written here independently with Python's ``hmac`` module (the
adapter signs with ``cryptography``), so a signature the adapter computes differently
from its documented recipe fails these tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from destinations.base import OutboundRequest
from destinations.webhook import Settings, Webhook
from tests.destinations.helpers import NOW_MS, govern_raw, queued

URL = "https://hooks.example.com/gateway/events/"
SECRET = "whsec-0123456789abcdef"


def webhook(**overrides: Any) -> Webhook:
    """A webhook adapter with a URL and secret, plus ``overrides``."""
    raw = {"type": "webhook", "requires": ["analytics"], "url": URL, "secret": SECRET}
    return Webhook("hook", Settings.model_validate({**raw, **overrides}))


def verify(secret: str, headers: httpx.Headers, body: bytes) -> bool:
    """What a receiver does: recompute ``sha256=HMAC(secret, "<ts>." + body)`` and compare
    in constant time."""
    timestamp = headers["x-gateway-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["x-gateway-signature"])


def encode(count: int = 2, destination: Webhook | None = None) -> tuple[OutboundRequest, list]:
    """Encode ``count`` governed events; return the only request and the events."""
    destination = destination or webhook()
    event = govern_raw(destination)
    events = [{**event, "event_id": f"evt-{n}"} for n in range(count)]
    encoded = destination.encode([queued(10 + n, e) for n, e in enumerate(events)], now_ms=NOW_MS)
    assert encoded.rejected == []
    [request] = encoded.requests
    return request, events


def test_body_is_the_governed_events() -> None:
    """The body is ``{"events": [...]}``: the governed events, in batch order, unchanged."""
    request, events = encode(3)
    assert json.loads(request.content) == {"events": events}
    assert request.item_ids == (10, 11, 12)
    assert request.method == "POST"
    assert httpx.Headers(request.headers)["content-type"] == "application/json"


def test_request_goes_to_the_configured_url_as_written() -> None:
    """The request goes to the configured URL exactly, trailing slash included."""
    request, _ = encode(1)
    assert request.url == URL
    request, _ = encode(1, webhook(url="https://hooks.example.com/in"))
    assert request.url == "https://hooks.example.com/in"


def test_signature_verifies_with_an_independent_hmac() -> None:
    """``X-Gateway-Signature: sha256=<hex>`` is HMAC-SHA256 over ``"<ts>." + body`` with the
    secret, and ``X-Gateway-Timestamp`` is the encode time in Unix seconds."""
    request, _ = encode()
    headers = httpx.Headers(request.headers)
    assert headers["x-gateway-timestamp"] == str(NOW_MS // 1000)
    assert headers["x-gateway-signature"].startswith("sha256=")
    assert len(headers["x-gateway-signature"]) == len("sha256=") + 64
    assert verify(SECRET, headers, request.content)


def test_tampered_body_fails_verification() -> None:
    """Changing one byte of the body breaks the signature."""
    request, _ = encode()
    headers = httpx.Headers(request.headers)
    tampered = request.content.replace(b"evt-0", b"evt-9", 1)
    assert tampered != request.content
    assert not verify(SECRET, headers, tampered)


def test_tampered_timestamp_fails_verification() -> None:
    """Replaying the body under a fresh timestamp breaks the signature (the timestamp is
    signed, so a receiver can refuse stale ones)."""
    request, _ = encode()
    headers = httpx.Headers(request.headers)
    headers["x-gateway-timestamp"] = str(NOW_MS // 1000 + 600)
    assert not verify(SECRET, headers, request.content)


def test_other_secret_fails_verification() -> None:
    """A receiver with a different secret cannot verify the request."""
    request, _ = encode()
    assert not verify("another-secret-0123456789", httpx.Headers(request.headers), request.content)


def test_each_request_of_a_split_batch_is_signed_on_its_own_body() -> None:
    """A batch split into several requests carries a valid signature per request."""
    destination = webhook(batch={"max_events": 2})
    event = govern_raw(destination)
    encoded = destination.encode([queued(n, event) for n in range(5)], now_ms=NOW_MS)
    assert [len(r.item_ids) for r in encoded.requests] == [2, 2, 1]
    for request in encoded.requests:
        assert verify(SECRET, httpx.Headers(request.headers), request.content)


async def test_signature_survives_the_wire() -> None:
    """What the receiver gets over HTTP (through ``send``) verifies."""
    destination = webhook()
    request, _ = encode(1, destination)
    async with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).respond(204)
        async with httpx.AsyncClient() as client:
            result = await destination.send(client, request)
    assert result.outcome == "ok"
    received = route.calls.last.request
    assert verify(SECRET, received.headers, received.content)


def test_secret_is_not_in_the_request() -> None:
    """The signing secret never travels: not in the URL, headers or body."""
    request, _ = encode()
    assert SECRET not in request.url
    assert all(SECRET not in v for v in request.headers.values())
    assert SECRET.encode() not in request.content


@pytest.mark.parametrize("secret", ["short", "fifteen-chars-x"])
def test_secret_shorter_than_16_characters_is_refused(secret: str) -> None:
    """A guessable signing secret is a settings error."""
    assert len(secret) < 16
    with pytest.raises(ValidationError, match="at least 16"):
        webhook(secret=secret)


def test_secret_of_16_characters_is_accepted() -> None:
    """16 characters is the minimum, inclusive."""
    assert webhook(secret="x" * 16).missing_credentials() == []


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/in", "hooks.example.com/in", "https://h.example/in?token=1"]
)
def test_url_must_be_http_without_query(url: str) -> None:
    """The URL is http(s) with a host and no query (a token there would end up in logs)."""
    with pytest.raises(ValidationError):
        webhook(url=url)


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({"url": "", "secret": ""}, ["url", "secret"]),
        ({"url": ""}, ["url"]),
        ({"secret": ""}, ["secret"]),
    ],
)
def test_missing_url_or_secret_is_reported(overrides: dict[str, str], missing: list[str]) -> None:
    """A webhook without URL or secret reports them as missing credentials (not sent to)."""
    assert webhook(**overrides).missing_credentials() == missing


def test_defaults_leave_both_credentials_missing() -> None:
    """Settings with only ``type`` and ``requires`` are valid but incomplete."""
    bare = Webhook("hook", Settings.model_validate({"type": "webhook", "requires": []}))
    assert bare.missing_credentials() == ["url", "secret"]
