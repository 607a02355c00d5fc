"""What the event endpoints share: body limits, problem responses, the accept step."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, Response

from gateway import client_id, consent_records
from gateway.config.compile import Policy
from gateway.consent_records import ConsentRecord
from gateway.errors import BodyTooLarge, InputError, QueueError
from gateway.pipeline import Processed, process
from gateway.pipeline.ingest import Ingested
from gateway.request_context import RequestContext, build_context, read_headers

log = structlog.get_logger("gateway.ingest")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def problem(error: InputError) -> JSONResponse:
    """The JSON problem body of CONTRACT.md: ``{"error": ..., "detail": [{loc, msg}]}``."""
    return JSONResponse(
        {"error": error.error, "detail": [d.as_json() for d in error.details]},
        status_code=error.status,
    )


def unavailable(error: QueueError, retry_after_secs: int) -> JSONResponse:
    """503 with ``Retry-After``: the client should send the same events again later."""
    message = "queue full, retry later" if error.reason == "queue_full" else "queue unavailable"
    return JSONResponse(
        {"error": message, "detail": []},
        status_code=503,
        headers={"Retry-After": str(retry_after_secs)},
    )


def context_of(request: Request, runtime: Any) -> RequestContext:
    """The request context under the current policy."""
    client = request.scope.get("client")
    rules = runtime.policy.context_rules
    # straight from the ASGI scope: Starlette's Headers and cookie properties each build
    # an object per request that this would then throw away
    headers = read_headers(request.scope["headers"], rules.wanted)
    cookie = headers.get("cookie")
    cookies = cookie_parser(cookie[0]) if cookie else {}
    return build_context(client[0] if client else None, headers, cookies, rules)


async def accept(
    runtime: Any, endpoint: str, events: list[Ingested], ctx: RequestContext
) -> Processed:
    """Run the pipeline and queue the result; returns once the entries are committed."""
    policy = runtime.policy
    processed = process(events, ctx, policy, tally=runtime.metrics.changes)
    await runtime.store.put(processed.entries, _records(processed, ctx, policy))
    metrics = runtime.metrics
    metrics.inc(metrics.accepted, endpoint, amount=len(events))
    for outcome in processed.outcomes:
        verdicts = outcome.consent.verdicts
        for name, verdict in verdicts.items():
            metrics.inc(metrics.verdicts, name, verdict.action)
        ruled = outcome.governance
        if ruled.junk is not None:
            metrics.inc(metrics.filtered, endpoint, ruled.junk)
        for v in ruled.violations:
            metrics.inc(metrics.plan_violations, v.event, v.rule)
        tally = metrics.changes
        for change in outcome.changes:
            key = (change.destination or "*", change.rule, change.action)
            tally[key] = tally.get(key, 0) + 1
        if policy.log_decisions:
            runtime.decisions.record(
                {
                    "endpoint": endpoint,
                    "event_name": outcome.ingested.event.event,
                    "event_id": outcome.ingested.event_id,
                    "regime": outcome.consent.regime,
                    "verdicts": {n: v.action for n, v in verdicts.items()},
                    "withheld_by": sorted(
                        {
                            d.rule
                            for v in verdicts.values()
                            for d in v.decisions
                            if d.action == "withhold"
                        }
                    ),
                    # the governance rules that changed the event (ids, never values)
                    "governed_by": sorted({c.rule for c in outcome.changes}),
                    # the rules that kept it from a destination consent allowed
                    "skipped_by": sorted({d.rule for d in outcome.decisions if d.action == "skip"}),
                }
            )
    return processed


def _records(processed: Processed, ctx: RequestContext, policy: Policy) -> list[ConsentRecord]:
    if not policy.config.consent.records.enabled:
        return []
    key = consent_records.client_key(processed.identity.client_id, policy.secret)
    return [
        ConsentRecord(
            o.ingested.received_ms,
            key,
            o.ingested.event_id,
            o.ingested.event.event,
            ctx.region,
            o.consent.regime,
            o.consent.signals_digest,
            o.consent.record_verdicts,
            policy.version,
        )
        for o in processed.outcomes
    ]


def apply_storage_consent(
    response: Response, processed: Processed, ctx: RequestContext, runtime: Any
) -> None:
    """Set or refresh the client-id cookie when storage is granted; clear it when denied.

    The request's last event carries the page's latest consent, so it decides.
    """
    if not processed.outcomes:
        return
    cookie = runtime.policy.cookie
    storage = processed.outcomes[-1].consent.storage
    if storage == "granted":
        value = client_id.sign(processed.identity.client_id, runtime.policy.secret)
        max_age = cookie.max_age_days * 86_400
    elif storage == "denied" and cookie.name in ctx.cookies:
        value, max_age = "", 0
    else:
        return
    header = client_id.set_cookie_header(
        cookie.name, value, max_age=max_age, domain=cookie.domain, secure=cookie.secure
    )
    response.headers.append("set-cookie", header)
