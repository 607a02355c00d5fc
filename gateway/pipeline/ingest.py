"""Ingest: turn a request body or a pixel query into validated events with defaults.

Refusals raise ``InputError`` with one detail per problem, located in the body
(``["events", 3, "user", "email"]``), never quoting the input.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from gateway.decisions import Decision
from gateway.errors import InputDetail, InputError
from gateway.event import Event, timestamp_ms

#: events stamped further ahead than this are clamped to the gateway's clock
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
}


@dataclass(frozen=True, slots=True)
class Ingested:
    """A validated event with its id and time settled."""

    event: Event
    event_id: str
    timestamp_ms: int
    received_ms: int
    decisions: tuple[Decision, ...] = ()


def parse_body(body: bytes, max_events: int) -> tuple[list[Any], bool]:
    """Decode a JSON body into raw event objects, and whether it was a batch.

    The body is one event, or ``{"events": [...]}`` with at most ``max_events``.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InputError("body is not valid JSON", [InputDetail((), _json_reason(err))]) from None
    if not isinstance(data, dict):
        raise InputError("body must be a JSON object", [InputDetail((), "expected an object")])
    if "events" in data and "event" not in data:
        events = data["events"]
        if set(data) != {"events"}:
            extra = sorted(set(data) - {"events"})
            raise InputError("invalid batch", [InputDetail((k,), "unknown field") for k in extra])
        if not isinstance(events, list) or not events:
            raise InputError(
                "invalid batch", [InputDetail(("events",), "expected a non-empty list")]
            )
        if len(events) > max_events:
            raise InputError(
                "too many events",
                [InputDetail(("events",), f"at most {max_events} events per request")],
            )
        return events, True
    return [data], False


def validate(raw_events: list[Any], *, batch: bool, now_ms: int | None = None) -> list[Ingested]:
    """Validate raw event objects; settle ``event_id`` and the timestamp of each."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    details: list[InputDetail] = []
    out: list[Ingested] = []
    for index, raw in enumerate(raw_events):
        prefix: tuple[str | int, ...] = ("events", index) if batch else ()
        try:
            event = Event.model_validate(raw)
        except ValidationError as err:
            details.extend(_details(err, prefix))
            continue
        out.append(_settle(event, now))
    if details:
        raise InputError("invalid event", details)
    return out


def _settle(event: Event, now: int) -> Ingested:
    decisions: list[Decision] = []
    event_id = event.event_id or str(uuid.uuid4())
    if event.event_id is None:
        decisions.append(Decision("ingest", "event_id", "generate", "contract", "absent"))
    if event.timestamp is None:
        ts = now
    else:
        ts = timestamp_ms(event.timestamp)
        if ts > now + MAX_CLOCK_SKEW_MS:
            decisions.append(
                Decision("ingest", "timestamp", "clamp", "contract", "in the future: set to now")
            )
            ts = now
    return Ingested(event, event_id, ts, now, tuple(decisions))


def _details(err: ValidationError, prefix: tuple[str | int, ...]) -> list[InputDetail]:
    out = []
    for e in err.errors(include_input=False, include_url=False, include_context=False):
        message = _MESSAGES.get(e["type"], e["msg"]).removeprefix("Value error, ")
        out.append(InputDetail((*prefix, *e["loc"]), message))
    return out


def _json_reason(err: orjson.JSONDecodeError) -> str:
    text = str(err)
    if "depth limit" in text:
        return "nested too deeply"
    if "UTF-8" in text:
        return "not valid UTF-8"
    return f"invalid JSON at character {err.pos}"


#: query parameters of GET /p.gif with a meaning of their own; the rest become properties
PIXEL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "e": ("event",),
    "eid": ("event_id",),
    "ts": ("timestamp",),
    "dl": ("page", "url"),
    "dr": ("page", "referrer"),
    "dt": ("page", "title"),
    "pc": ("page", "category"),
    "cid": ("ids", "client_id"),
    "sid": ("ids", "session_id"),
    "gcs": ("consent", "gcs"),
    "gcd": ("consent", "gcd"),
}
MAX_PIXEL_PARAMS = 50


def pixel_event(params: list[tuple[str, str]]) -> dict[str, Any]:
    """Build a raw event from pixel query parameters.

    ``e`` (event), ``eid``, ``ts`` (epoch ms), ``dl``/``dr``/``dt``/``pc`` (page url,
    referrer, title, category), ``cid`` (client id), ``sid`` (session id),
    ``gcs``/``gcd`` (consent mode, as Google's tags send it), ``c.<category>=1|0``
    (consent categories); any other parameter becomes a string property (``utm_source``
    and the like).
    """
    if len(params) > MAX_PIXEL_PARAMS:
        raise InputError("too many query parameters", [InputDetail((), "at most 50")])
    raw: dict[str, Any] = {}
    props: dict[str, Any] = {}
    categories: dict[str, bool] = {}
    for key, value in params:
        if key in PIXEL_FIELDS:
            target = raw
            *parents, leaf = PIXEL_FIELDS[key]
            for parent in parents:
                target = target.setdefault(parent, {})
            # ASCII only: "²".isdigit() is true but int("²") raises
            numeric = key == "ts" and value.isascii() and value.isdigit()
            target[leaf] = int(value) if numeric else value
        elif key.startswith("c.") and value in ("0", "1"):
            categories[key[2:]] = value == "1"
        else:
            props[key] = value
    if categories:
        raw.setdefault("consent", {})["categories"] = categories
    if props:
        raw["properties"] = props
    return raw
