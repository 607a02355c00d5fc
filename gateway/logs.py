"""Structured logs: structlog, JSON lines, configured once, with PII and secrets redacted.

Event names are stable snake_case facts (``event_queued``, ``delivery_failed``); keys
are stable too. The redaction processor is the last line of defence: code should not
log personal data in the first place, but if it does, values under sensitive keys, email
addresses, phone-like numbers and secret URL parameters are masked before rendering.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

REDACTED = "[redacted]"
#: keys the logging pipeline itself fills in
_STRUCTURAL_KEYS = frozenset({"event", "level", "timestamp", "logger"})

#: keys whose values are never logged, wherever they appear
SENSITIVE_KEYS = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "city",
        "postal_code",
        "external_id",
        "user",
        "ip",
        "client_ip",
        "user_agent",
        "token",
        "access_token",
        "api_secret",
        "secret",
        "password",
        "authorization",
        "cookie",
        "set-cookie",
        "tcf",
        "gpp",
        "usp",
        "consent",
        "consent_string",
        "fbp",
        "fbc",
        "ttp",
        "ttclid",
        "gclid",
        "client_id",
    }
)
_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")
#: nine or more digits with phone punctuation between them (dates have eight, so they survive)
_PHONE = re.compile(r"\+?\(?\d(?:[\s().-]{0,2}\d){8,}")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_SECRET_PARAM = re.compile(
    r"(?i)\b(access_token|api_secret|token|secret|password|key|sig|signature)=([^&\s\"']+)"
)


def redact_text(text: str) -> str:
    """Mask emails, phone-like numbers and secret query parameters in free text."""
    # each pattern only runs when the text could match it: most log values are short
    # names and ids, and the email pattern is quadratic on long text without an @
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    if len(text) - len(text.translate(_NO_DIGITS)) >= 9:
        text = _PHONE.sub("[number]", text)
    return text


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth > 6:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every value of the event dict."""
    for key, value in list(event_dict.items()):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        elif key not in _STRUCTURAL_KEYS:
            event_dict[key] = _redact(value)
    return event_dict


def _dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure(level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog (and stdlib logging, for uvicorn) to write redacted JSON lines."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
        structlog.processors.JSONRenderer(serializer=_dumps),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
