"""What the event endpoints share: body limits, problem responses, the accept step."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import client_id
from gateway.errors import BodyTooLarge, InputError, QueueError
from gateway.pipeline import Processed, process
from gateway.pipeline.ingest import Ingested
from gateway.request_context import RequestContext, build_context

log = structlog.get_logger("gateway.ingest")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
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


def unavailable(error: QueueError) -> JSONResponse:
    """503 with ``Retry-After``: the client should send the same events again later."""
    return JSONResponse(
        {"error": "queue unavailable, retry later", "detail": []},
        status_code=503,
        headers={"Retry-After": str(error.retry_after_secs)},
    )


def context_of(request: Request, runtime: Any) -> RequestContext:
    """The request context under the current policy."""
    peer = request.client.host if request.client else None
    return build_context(peer, request.headers, request.cookies, runtime.policy.context_rules)


async def accept(
    runtime: Any, endpoint: str, events: list[Ingested], ctx: RequestContext
) -> Processed:
    """Run the pipeline and queue the result; returns once the entries are committed."""
    policy = runtime.policy
    processed = process(events, ctx, policy)
    await runtime.store.put(processed.entries)
    runtime.metrics.accepted.labels(endpoint).inc(len(events))
    for outcome in processed.outcomes:
        for name, verdict in outcome.consent.verdicts.items():
            runtime.metrics.verdicts.labels(name, verdict.action).inc()
        if policy.log_decisions:
            log.info(
                "event_decided",
                endpoint=endpoint,
                event_name=outcome.ingested.event.event,
                event_id=outcome.ingested.event_id,
                regime=outcome.consent.regime,
                verdicts={n: v.action for n, v in outcome.consent.verdicts.items()},
                withheld_by=sorted(
                    {
                        d.rule
                        for v in outcome.consent.verdicts.values()
                        for d in v.decisions
                        if d.action == "withhold"
                    }
                ),
            )
    return processed


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
        response.set_cookie(
            cookie.name,
            client_id.sign(processed.identity.client_id, runtime.policy.secret),
            max_age=cookie.max_age_days * 86_400,
            domain=cookie.domain,
            secure=cookie.secure,
            httponly=True,
            samesite="lax",
        )
    elif storage == "denied" and cookie.name in ctx.cookies:
        response.delete_cookie(
            cookie.name, domain=cookie.domain, secure=cookie.secure, httponly=True, samesite="lax"
        )
