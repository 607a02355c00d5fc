"""``POST /collect``: one event or ``{"events": [...]}``, JSON or text/plain (sendBeacon)."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.endpoints.common import (
    accept,
    apply_storage_consent,
    context_of,
    problem,
    read_body,
    unavailable,
)
from gateway.errors import InputError, QueueError
from gateway.pipeline.ingest import parse_body, validate

log = structlog.get_logger("gateway.ingest")

ACCEPTED_TYPES = frozenset({"application/json", "text/plain", ""})


async def collect(request: Request) -> Response:
    """Validate, decide, queue durably, then answer 204."""
    runtime = request.app.state.runtime
    metrics = runtime.metrics
    server = runtime.policy.config.server
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        metrics.inc(metrics.received, "collect")
        metrics.inc(metrics.refused, "collect", "unsupported_media_type")
        return JSONResponse(
            {
                "error": "unsupported content type",
                "detail": [{"loc": ["content-type"], "msg": "use application/json or text/plain"}],
            },
            status_code=415,
        )
    # events in the request: one until the body says otherwise; every event counted as
    # received ends up counted as accepted or as refused, so the three always add up
    count = 1
    try:
        body = await read_body(request, server.max_body_bytes)
        raw, batch = parse_body(body, server.max_events_per_request)
        count = len(raw)
        events = validate(raw, batch=batch)
    except InputError as err:
        reason = "too_large" if err.status == 413 else "invalid"
        metrics.inc(metrics.received, "collect", amount=count)
        metrics.inc(metrics.refused, "collect", reason, amount=count)
        log.info(
            "request_refused",
            endpoint="collect",
            status=err.status,
            error=err.error,
            locs=[".".join(map(str, d.loc)) for d in err.details[:10]],
        )
        return problem(err)
    metrics.inc(metrics.received, "collect", amount=count)
    ctx = context_of(request, runtime)
    try:
        processed = await accept(runtime, "collect", events, ctx)
    except QueueError as err:
        metrics.inc(metrics.refused, "collect", err.reason, amount=len(events))
        log.warning("request_refused", endpoint="collect", status=503, error=err.reason)
        return unavailable(err, runtime.policy.config.queue.retry_after_secs)
    response = Response(status_code=204)
    apply_storage_consent(response, processed, ctx, runtime)
    return response
