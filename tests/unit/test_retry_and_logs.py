"""Backoff with full jitter and Retry-After; log redaction of PII, secrets and consent."""

from __future__ import annotations

import io
import json

import structlog

from destinations.base import RetrySettings, parse_retry_after
from gateway import logs
from gateway.delivery.retry import backoff_secs, exhausted

SETTINGS = RetrySettings(max_attempts=5, initial_backoff_secs=1, max_backoff_secs=60)


def test_backoff_is_exponential_with_full_jitter() -> None:
    """The ceiling doubles per attempt up to the cap; the delay is a draw below it."""
    assert backoff_secs(1, SETTINGS, draw=lambda: 1.0) == 1
    assert backoff_secs(4, SETTINGS, draw=lambda: 1.0) == 8
    assert backoff_secs(20, SETTINGS, draw=lambda: 1.0) == 60
    assert backoff_secs(4, SETTINGS, draw=lambda: 0.25) == 2
    assert backoff_secs(4, SETTINGS, draw=lambda: 0.0) == 0


def test_retry_after_is_a_floor() -> None:
    """A platform's Retry-After is never undercut, even beyond the backoff cap."""
    assert backoff_secs(1, SETTINGS, retry_after_secs=120, draw=lambda: 0.5) == 120
    assert backoff_secs(1, SETTINGS, retry_after_secs=10**9, draw=lambda: 0.5) == 86_400


def test_retry_after_header_forms() -> None:
    """Retry-After as delta-seconds or as an HTTP date; garbage is ignored."""
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == 10
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_exhausted() -> None:
    assert not exhausted(4, SETTINGS) and exhausted(5, SETTINGS)


def test_redaction_processor_masks_pii_secrets_and_consent() -> None:
    """Sensitive keys are masked wherever they are; emails, phone numbers and secret URL
    parameters are masked in any string; timestamps and ids survive."""
    buffer = io.StringIO()
    logs.configure("debug", stream=buffer)
    structlog.get_logger("t").info(
        "delivery_failed",
        email="Jane.Doe@Example.com",
        nested={"access_token": "EAAsecret", "detail": "contact jane@x.io or +1 (555) 010-2030"},
        url="https://graph.facebook.com/v26.0/1/events?access_token=EAAsecret&x=1",
        tcf="CQsecretconsentstring",
        event_id="5b0c9a3e-7f0e-4c53-9f53-8c1f4e0b1a22",
        reason="HTTP 503",
    )
    line = json.loads(buffer.getvalue().splitlines()[-1])
    text = buffer.getvalue()
    for leak in ("Jane.Doe", "jane@x.io", "010-2030", "EAAsecret", "CQsecretconsentstring"):
        assert leak not in text
    assert line["event"] == "delivery_failed" and line["reason"] == "HTTP 503"
    assert line["event_id"] == "5b0c9a3e-7f0e-4c53-9f53-8c1f4e0b1a22"
    assert line["timestamp"].startswith("20") and line["level"] == "info"
