"""``gateway serve`` with ``POST /collect`` stopping after the stage in ``ABLATE_LEVEL``.

Used by ``bench/ablate.py`` only: a measuring instrument, not a way to run the gateway.
Level ``full`` leaves the real endpoint in place.
"""

from __future__ import annotations

import os
import sys

from starlette.requests import Request
from starlette.responses import Response

import gateway.app
from gateway.cli import main
from gateway.endpoints.common import context_of, read_body
from gateway.pipeline import process
from gateway.pipeline.ingest import parse_body, validate

STAGES = ("body", "validate", "pipeline", "queue")
LEVEL = os.environ.get("ABLATE_LEVEL", "full")


async def collect_until(request: Request) -> Response:
    """The request path, cut after ``LEVEL``."""
    runtime = request.app.state.runtime
    depth = STAGES.index(LEVEL)
    body = await read_body(request, runtime.policy.config.server.max_body_bytes)
    if depth >= 1:
        raw, batch = parse_body(body, 100)
        events = validate(raw, batch=batch)
    if depth >= 2:
        processed = process(events, context_of(request, runtime), runtime.policy)
    if depth >= 3:
        await runtime.store.put(processed.entries)
    return Response(status_code=204)


if LEVEL != "full":
    gateway.app.collect = collect_until  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
