"""``GET /p.gif``: events from image requests (email opens, ``<noscript>``, postbacks).

The answer is always the same 43-byte transparent GIF, ``Cache-Control: no-store``, even
when the event is refused: an image tag cannot show an error. Refusals are counted in
``gateway_events_refused_total`` and logged instead.
"""

from __future__ import annotations

import base64

import structlog
from starlette.requests import Request
from starlette.responses import Response

from gateway.endpoints.common import accept, apply_storage_consent, context_of
from gateway.errors import InputError, QueueError
from gateway.pipeline.ingest import pixel_event, validate

log = structlog.get_logger("gateway.ingest")

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


_HEADERS = {"Cache-Control": "no-store, max-age=0", "Content-Type": "image/gif"}


async def pixel(request: Request) -> Response:
    """Queue the event in the query (if valid), and always answer the GIF."""
    runtime = request.app.state.runtime
    metrics = runtime.metrics
    response = Response(GIF, headers=_HEADERS)
    metrics.inc(metrics.received, "pixel")
    try:
        events = validate([pixel_event(request.query_params.multi_items())], batch=False)
    except InputError as err:
        metrics.inc(metrics.refused, "pixel", "invalid")
        log.info(
            "request_refused",
            endpoint="pixel",
            error=err.error,
            locs=[".".join(map(str, d.loc)) for d in err.details[:10]],
        )
        return response
    ctx = context_of(request, runtime)
    try:
        processed = await accept(runtime, "pixel", events, ctx)
    except QueueError as err:
        metrics.inc(metrics.refused, "pixel", err.reason)
        log.warning("request_refused", endpoint="pixel", error=err.reason)
        return response
    apply_storage_consent(response, processed, ctx, runtime)
    return response
