"""Sample events and request headers for tests."""

from __future__ import annotations

import copy
import uuid
from typing import Any

RAW_PII = {
    "email": "Jane.Doe@Example.com",
    "phone": "+1 (555) 010-2030",
    "first_name": "Jane",
    "last_name": "Doe",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "country": "US",
    "external_id": "cust-123",
}

#: strings that must never leave for an ad platform or appear in a log
RAW_MARKERS = ("Jane.Doe@Example.com", "jane.doe@example.com", "010-2030", "cust-123")

US_BROWSER = {
    "CF-IPCountry": "US",
    "CF-Region-Code": "TX",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Test/1.0",
    "X-Forwarded-For": "203.0.113.7",
}


def purchase(**overrides: Any) -> dict[str, Any]:
    """A consented purchase with PII, as a page would send it."""
    event: dict[str, Any] = {
        "event": "purchase",
        "event_id": str(uuid.uuid4()),
        "page": {
            "url": "https://shop.example/checkout/done",
            "referrer": "https://www.google.com/",
        },
        "user": copy.deepcopy(RAW_PII),
        "ids": {"fbp": "fb.1.1732350000000.1234567890"},
        "consent": {"categories": {"analytics": True, "advertising": True}},
        "properties": {
            "value": 42.5,
            "currency": "EUR",
            "transaction_id": "T-1001",
            "items": [{"item_id": "SKU-1", "item_name": "Sneaker", "price": 21.25, "quantity": 2}],
        },
    }
    event.update(overrides)
    return event
