"""Fallback load generator (used only when ``wrk`` is not available): asyncio, keep-alive.

It opens ``--connections`` HTTP/1.1 connections and sends single-event ``POST /collect``
requests on each back to back (closed loop, like wrk) for ``--duration`` seconds, then
prints one ``BENCH_JSON {...}`` line in the same shape as bench/collect.lua. It runs in
its own process (on uvloop when installed) and costs noticeably more CPU per request
than wrk, which the server under test then does not get: prefer wrk.

Usage: ``python bench/pyload.py --port P --connections N --duration S --body-file F
--tag T [--header 'Name: value' ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class _Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_us: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def _percentile(sorted_values: list[int], pct: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _connection(
    number: int,
    args: argparse.Namespace,
    head: str,
    prefix: bytes,
    suffix: bytes,
    deadline: float,
    tally: _Tally,
) -> None:
    try:
        reader, writer = await asyncio.open_connection(args.host, args.port)
    except OSError:
        tally.errors["connect"] += 1
        return
    counter = 0
    try:
        while time.perf_counter() < deadline:
            counter += 1
            body = prefix + f"{args.tag}-{number}-{counter}".encode() + suffix
            request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            started = time.perf_counter()
            writer.write(request)
            try:
                status = await asyncio.wait_for(_read_response(reader), args.timeout)
            except TimeoutError:
                tally.errors["timeout"] += 1
                return
            except (OSError, asyncio.IncompleteReadError, ValueError):
                tally.errors["read"] += 1
                return
            tally.latencies_us.append(int((time.perf_counter() - started) * 1_000_000))
            tally.statuses[status] += 1
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> str:
    """Read one response (status line, headers, Content-Length body); return the status."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(args: argparse.Namespace) -> dict[str, object]:
    with open(args.body_file, "rb") as file:
        template = file.read()
    prefix, sep, suffix = template.partition(b"__EVENT_ID__")
    if not sep:
        raise SystemExit(f"{args.body_file}: no __EVENT_ID__ placeholder")
    head = f"POST /collect HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
    head += "".join(f"{h}\r\n" for h in args.header)
    tally = _Tally()
    started = time.perf_counter()
    deadline = started + args.duration
    await asyncio.gather(
        *(
            _connection(n, args, head, prefix, suffix, deadline, tally)
            for n in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - started
    lat = sorted(tally.latencies_us)
    return {
        "duration_us": int(elapsed * 1_000_000),
        "responses": len(lat),
        "statuses": dict(tally.statuses),
        "errors": {k: tally.errors[k] for k in ("connect", "read", "write", "timeout")},
        "latency_us": {
            "p50": _percentile(lat, 50),
            "p90": _percentile(lat, 90),
            "p99": _percentile(lat, 99),
            "max": lat[-1] if lat else 0,
            "mean": sum(lat) / len(lat) if lat else 0.0,
        },
    }


def main() -> None:
    """Parse the flags, run the load, print the ``BENCH_JSON`` line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_run(args))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
