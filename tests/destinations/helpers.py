"""Shared fixtures for destination tests: a raw event, the real govern stage, golden files.

``govern_raw`` runs a page's raw event through the real ingest validation and the real
``gateway.pipeline.govern`` (``source_fields`` with real ``Ingested``, ``Identity``,
``RequestContext`` and ``ConsentResult`` objects), so what the adapters encode here is
what they would get in production.

Golden files live in ``golden/``. Run with ``UPDATE_GOLDEN=1`` to (re)write them from the
encoder; then read the diff against the reference before committing it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx

from destinations.base import GovernedEvent, HttpDestination, OutboundRequest, QueuedEvent
from gateway.pipeline.consent import ConsentResult
from gateway.pipeline.govern import govern, source_fields
from gateway.pipeline.identify import Identity
from gateway.pipeline.ingest import validate
from gateway.request_context import RequestContext

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

#: a fixed clock: 2026-09-21T22:13:20Z, after Meta's v26.0 release
NOW_MS = 1_790_000_000_000

CLIENT_IP = "203.0.113.7"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"

#: raw PII as a page sends it; every value distinctive enough to search for in a body
RAW_USER: dict[str, str] = {
    "email": "Zebulon.Quartermaine@Example.COM",
    "phone": "+1 (650) 555-1212",
    "first_name": "Zebulon",
    "last_name": "Quartermaine",
    "city": "Menlo Park",
    "region": "California",
    "postal_code": "94025-1234",
    "country": "US",
    "external_id": "CRM-Customer-88421",
}

#: per user field, strings that must never leave, compared case-insensitively: the raw
#: value and its normalized forms (the two-letter country is left out: any text has "us")
FORBIDDEN_BY_FIELD: dict[str, tuple[str, ...]] = {
    "email": (RAW_USER["email"], "zebulon.quartermaine@example.com"),
    "phone": (RAW_USER["phone"], "16505551212", "6505551212", "555-1212"),
    "first_name": (RAW_USER["first_name"],),
    "last_name": (RAW_USER["last_name"],),
    "city": (RAW_USER["city"], "menlopark"),
    "region": (RAW_USER["region"],),
    "postal_code": (RAW_USER["postal_code"], "94025"),
    "external_id": (RAW_USER["external_id"],),
}
FORBIDDEN_STRINGS: tuple[str, ...] = tuple(s for v in FORBIDDEN_BY_FIELD.values() for s in v)

RAW_EVENT: dict[str, Any] = {
    "event": "purchase",
    "event_id": "evt-0001",
    "timestamp": NOW_MS - 90_000,
    "page": {
        "url": "https://shop.example/checkout/done",
        "referrer": "https://shop.example/cart",
        "title": "Thank you",
    },
    "user": RAW_USER,
    "ids": {
        "client_id": "1197465313.1789999000",
        "fbp": "fb.1.1789999000000.1234567890",
        "fbc": "fb.1.1789999000000.IwAR2xYzAbC",
    },
    "consent": {"categories": {"marketing": True, "analytics": True}},
    "properties": {
        "value": 129.9,
        "currency": "EUR",
        "transaction_id": "T-1001",
        "items": [
            {"item_id": "SKU-1", "item_name": "Runner", "price": 49.95, "quantity": 2},
            {"item_id": "SKU-2", "item_name": "Socks", "price": 30.0, "quantity": 1},
        ],
    },
}


def sha256(text: str) -> str:
    """An independent SHA-256 (hashlib), not the gateway's helper."""
    return hashlib.sha256(text.encode()).hexdigest()


def opt_out_consent(purposes: dict[str, bool]) -> ConsentResult:
    """The consent stage's result for an opt-out visitor with ``purposes`` decided."""
    return ConsentResult(
        regime="opt_out",
        purposes=purposes,
        verdicts={},
        storage="granted",
        signals={},
        decisions=(),
        signals_digest="",
        record_verdicts=b"{}",
    )


def govern_raw(
    destination: HttpDestination,
    raw: dict[str, Any] | None = None,
    *,
    now_ms: int = NOW_MS,
    country_hint: str | None = "US",
) -> GovernedEvent:
    """The governed event ``destination`` would get for the page's ``raw`` event."""
    [ingested] = validate([copy.deepcopy(raw or RAW_EVENT)], batch=False, now_ms=now_ms)
    identity = Identity(ingested.event.ids.client_id or "GW1.new", "page")
    ctx = RequestContext(
        client_ip=CLIENT_IP, user_agent=USER_AGENT, region="US-CA", gpc=False, peer_trusted=True
    )
    consent = opt_out_consent({"marketing": True, "analytics": True})
    source = source_fields(ingested, identity, ctx, consent)
    return govern(source, destination, country_hint)


def queued(item_id: int, event: GovernedEvent, destination: str = "dest") -> QueuedEvent:
    """A leased queue item carrying ``event``."""
    return QueuedEvent(
        id=item_id, destination=destination, attempts=0, created_ms=NOW_MS, event=event
    )


def single_request(
    destination: HttpDestination, event: GovernedEvent, item_id: int = 7
) -> OutboundRequest:
    """Encode one governed event; its only request (asserting nothing was rejected)."""
    encoded = destination.encode([queued(item_id, event)], now_ms=NOW_MS)
    assert encoded.rejected == []
    [request] = encoded.requests
    return request


def body_json(request: OutboundRequest) -> Any:
    """The request body decoded as JSON (it must be UTF-8 JSON)."""
    return json.loads(request.content.decode("utf-8"))


def snapshot(request: OutboundRequest, *, mask_params: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON-able view of a request for golden files; ``mask_params`` values are masked."""
    url = httpx.URL(request.url)
    for name in mask_params:
        if name in url.params:
            url = url.copy_set_param(name, "MASKED")
    return {
        "method": request.method,
        "url": str(url),
        "headers": dict(request.headers),
        "item_ids": list(request.item_ids),
        "body": body_json(request),
    }


def assert_golden(name: str, actual: Any) -> None:
    """Compare ``actual`` with ``golden/<name>.json``; ``UPDATE_GOLDEN=1`` rewrites the file."""
    path = GOLDEN_DIR / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(exist_ok=True)
        text = json.dumps(actual, indent=2, ensure_ascii=False, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1 and review it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected
