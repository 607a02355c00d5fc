"""``/healthz`` (the process answers) and ``/readyz`` (config loaded, queue writable)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.errors import QueueError

READY_TIMEOUT_SECS = 2.0


async def healthz(request: Request) -> JSONResponse:
    """Always 200 while the process runs."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when the config is loaded and a write transaction on the queue succeeds."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None or runtime.policy is None:
        return JSONResponse({"status": "not ready", "reason": "no config"}, status_code=503)
    try:
        await asyncio.wait_for(runtime.store.ping(), READY_TIMEOUT_SECS)
    except (QueueError, TimeoutError):
        return JSONResponse({"status": "not ready", "reason": "queue"}, status_code=503)
    return JSONResponse({"status": "ready"})
