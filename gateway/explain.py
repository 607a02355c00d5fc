"""``gateway explain``: what each destination would receive for an event, and why.

It runs the same stages as the request path (``gateway.pipeline.process``) and the
same encoder as the delivery worker, with the queue and the send step left out, so what
it explains is what the gateway does. Secrets in URLs, headers and bodies are masked.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from destinations.base import HttpDestination, OutboundRequest, QueuedEvent
from gateway.config.compile import Policy
from gateway.decisions import Decision
from gateway.pipeline import Outcome, Processed, process
from gateway.pipeline.ingest import parse_body, validate
from gateway.request_context import RequestContext, build_context, read_headers

MASK = "***"


def run(
    policy: Policy, body: bytes, headers: list[tuple[str, str]], peer: str = "127.0.0.1"
) -> tuple[RequestContext, Processed]:
    """Run the request path's stages over an event file's body, as if ``peer`` had posted
    it with ``headers``; raises ``InputError`` for input ``POST /collect`` would refuse."""
    raw, batch = parse_body(body, policy.config.server.max_events_per_request)
    events = validate(raw, batch=batch)
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    rules = policy.context_rules
    ctx = build_context(peer, read_headers(encoded, rules.wanted), {}, rules)
    return ctx, process(events, ctx, policy, field_remarks=True)


def explain(
    policy: Policy, body: bytes, headers: list[tuple[str, str]], peer: str = "127.0.0.1"
) -> dict[str, Any]:
    """The explanation as data: the request context and, per event, per destination,
    the verdict, the decisions and the exact requests that would be sent."""
    ctx, processed = run(policy, body, headers, peer)
    return {
        "request": _context(ctx),
        "identity": {"source": processed.identity.source},
        "events": [_outcome(o, policy) for o in processed.outcomes],
    }


def _context(ctx: RequestContext) -> dict[str, Any]:
    return {
        "client_ip": ctx.client_ip,
        "user_agent": ctx.user_agent,
        "region": ctx.region,
        "gpc": ctx.gpc,
        "peer_trusted": ctx.peer_trusted,
        "notes": list(ctx.notes),
    }


def _outcome(outcome: Outcome, policy: Policy) -> dict[str, Any]:
    ingested = outcome.ingested
    general = [d for d in outcome.decisions if d.destination is None]
    destinations = {}
    for name, destination in policy.destinations.items():
        verdict = outcome.consent.verdicts[name]
        entry: dict[str, Any] = {
            "type": destination.type,
            "verdict": verdict.action,
            "decisions": [d.as_json() for d in outcome.decisions if d.destination == name],
        }
        if verdict.restrictions:
            entry["restrictions"] = list(verdict.restrictions)
        if (missing := destination.missing_credentials()) and verdict.action != "withhold":
            entry["note"] = (
                "credentials missing (" + ", ".join(missing) + "): events are queued, not sent"
            )
        if (governed := outcome.governed.get(name)) is not None:
            item = QueuedEvent(0, name, 0, ingested.received_ms, governed)
            encoded = destination.encode([item], now_ms=int(time.time() * 1000))
            entry["requests"] = [describe_request(r, destination) for r in encoded.requests]
            entry["rejected"] = [r.reason for r in encoded.rejected]
            entry["fitted"] = [
                {"path": r.path, "action": r.action, "rule": r.rule, "reason": r.reason}
                for r in encoded.remarks
            ]
        destinations[name] = entry
    return {
        "event": ingested.event.event,
        "event_id": ingested.event_id,
        "regime": outcome.consent.regime,
        "signals": outcome.consent.signals,
        "purposes": outcome.consent.purposes,
        "decisions": [d.as_json() for d in general],
        "destinations": destinations,
    }


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def describe_request(request: OutboundRequest, destination: HttpDestination) -> dict[str, Any]:
    """The request as JSON-able data, every secret of ``destination`` masked."""
    secrets = destination.settings.secret_values()
    body: Any = request.content.decode("utf-8", "replace")
    try:
        body = orjson.loads(_mask(body, secrets))
    except orjson.JSONDecodeError:
        body = _mask(body, secrets)
    return {
        "method": request.method,
        "url": _mask(request.url, secrets),
        "headers": {k: _mask(v, secrets) for k, v in request.headers.items()},
        "body": body,
    }


def render(explanation: dict[str, Any]) -> str:
    """The explanation as text for a terminal."""
    lines: list[str] = []
    req = explanation["request"]
    lines.append(
        f"request: client_ip={req['client_ip']} region={req['region'] or 'unknown'} "
        f"gpc={'yes' if req['gpc'] else 'no'} peer_trusted={'yes' if req['peer_trusted'] else 'no'}"
    )
    lines += [f"  note: {n}" for n in req["notes"]]
    for event in explanation["events"]:
        lines.append("")
        lines.append(
            f"event {event['event']} (event_id {event['event_id']}), regime {event['regime']}"
        )
        signals = orjson.dumps(event["signals"], option=orjson.OPT_SORT_KEYS).decode()
        lines.append(f"  signals: {signals}")
        for d in event["decisions"]:
            lines.append(f"  {_decision(d)}")
        for name, dest in event["destinations"].items():
            lines.append("")
            restricted = f" [{', '.join(dest['restrictions'])}]" if "restrictions" in dest else ""
            lines.append(
                f"  destination {name} ({dest['type']}): {dest['verdict'].upper()}{restricted}"
            )
            lines += [f"    {_decision(d)}" for d in dest["decisions"]]
            if note := dest.get("note"):
                lines.append(f"    note: {note}")
            for reason in dest.get("rejected", []):
                lines.append(f"    would be dead-lettered: {reason}")
            for f in dest.get("fitted", []):
                lines.append(f"    fitted: {f['path']} {f['action']} ({f['rule']}: {f['reason']})")
            for r in dest.get("requests", []):
                lines.append(f"    {r['method']} {r['url']}")
                lines += [f"    {k}: {v}" for k, v in r["headers"].items()]
                body = orjson.dumps(r["body"], option=orjson.OPT_INDENT_2).decode()
                lines += [f"    {line}" for line in body.splitlines()]
    return "\n".join(lines) + "\n"


def _decision(d: dict[str, Any]) -> str:
    return str(Decision(d["stage"], d["subject"], d["action"], d["rule"], d["reason"]))
