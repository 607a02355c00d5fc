"""Generic webhook: the governed events as JSON, signed so the receiver can verify them.

Body: ``{"events": [<governed event>, ...]}``. Headers: ``X-Gateway-Timestamp`` (Unix
seconds) and ``X-Gateway-Signature: sha256=<hex>``, the HMAC-SHA256 keyed by the
configured secret over ``"<timestamp>." + body``. A receiver recomputes it, compares in
constant time and refuses stale timestamps, which defeats replays (the README shows how).
User fields arrive hashed like Meta's (SHA-256 of the normalized value).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

import orjson
from cryptography.hazmat.primitives import hashes, hmac
from pydantic import SecretStr, field_validator

from destinations.base import (
    RAW,
    UNMAPPED,
    DestinationSettings,
    Encoded,
    EncodedEvent,
    FieldRule,
    HttpDestination,
    OutboundRequest,
    QueuedEvent,
    Rejection,
    base_url,
    encode_batches,
    hashed,
)

SIGNATURE_HEADER = "x-gateway-signature"
TIMESTAMP_HEADER = "x-gateway-timestamp"


class Settings(DestinationSettings):
    """``webhook`` settings: the full URL to POST to and the signing secret."""

    type: Literal["webhook"]
    url: str = ""
    secret: SecretStr = SecretStr("")
    MAX_BATCH: ClassVar[int] = 500
    #: the receiver gets the restrictions in force in the event's consent section
    RESTRICTED_MODES: ClassVar[frozenset[str]] = frozenset(
        {"ad_personalization", "limited_data_use"}
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # validated like a base URL but sent as written: a receiver's route may need its
        # trailing slash (base_url() strips it)
        if value:
            base_url(value)
        return value

    @field_validator("secret")
    @classmethod
    def _secret_length(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` over ``"<timestamp>." + body``, keyed by ``secret``."""
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(f"{timestamp}.".encode() + body)
    return "sha256=" + mac.finalize().hex()


class Webhook(HttpDestination):
    """Adapter posting governed events to any HTTPS endpoint."""

    type = "webhook"
    Settings = Settings
    max_batch_size = 500
    CREDENTIALS = ("url", "secret")
    FIELDS: ClassVar[Mapping[str, FieldRule]] = {
        "event": RAW,
        "event_id": RAW,
        "timestamp_ms": RAW,
        "received_ms": RAW,
        "page.*": RAW,
        "user.*": hashed(),
        "ids.*": RAW,
        "context.*": RAW,
        "properties.*": RAW,
        "consent.*": RAW,
    }

    settings: Settings

    def encode(self, batch: Sequence[QueuedEvent], *, now_ms: int | None = None) -> Encoded:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return encode_batches(
            batch,
            lambda item: self._event(item),
            self.batch_size(),
            lambda events: self._request(events, now // 1000),
        )

    def _event(self, item: QueuedEvent) -> EncodedEvent | Rejection:
        name = self.event_name(item.event["event"])
        if name is None:
            return Rejection(item.id, UNMAPPED)
        return EncodedEvent(item.id, {**item.event, "event": name})

    def _request(self, events: list[EncodedEvent], timestamp: int) -> OutboundRequest:
        body = orjson.dumps({"events": [e.payload for e in events]})
        secret = self.settings.secret.get_secret_value().encode()
        return OutboundRequest(
            "POST",
            self.settings.url,
            tuple(e.item_id for e in events),
            {
                "content-type": "application/json",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(secret, timestamp, body),
            },
            body,
        )
