"""The baseline: a bare Starlette app that reads the body of ``POST /collect`` and answers 204.

It runs with the uvicorn settings the benchmark brief asks for (one worker, uvloop,
httptools, no access log, lifespan on, no server header), through ``uvicorn.Server.run``,
which is what installs the uvloop loop. ``--loop asyncio`` runs it on the standard
asyncio loop instead, for comparison (see bench/README.md: ``gateway serve`` currently
ends up on that loop).

Usage: ``python bench/bare_app.py --port 8081 [--host 127.0.0.1] [--loop uvloop|asyncio]``
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def collect(request: Request) -> Response:
    """Read the whole body (as the gateway must) and answer 204."""
    await request.body()
    return Response(status_code=204)


app = Starlette(routes=[Route("/collect", collect, methods=["POST"])])


def main() -> None:
    """Serve ``app`` until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            loop=args.loop,
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            workers=1,
        )
    ).run()


if __name__ == "__main__":
    main()
