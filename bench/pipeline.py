"""In-process cost of the request path's stages per event (parse, validate, context,
identity, consent, govern for every shipped destination, route), without HTTP or the
queue: ``.venv/bin/python bench/pipeline.py [--event FILE] [-n N]``. Prints microseconds
per event; compare figures from one session (these machines are noisy)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from gateway.config.compile import compile_policy
from gateway.config.loader import load_config
from gateway.pipeline import process
from gateway.pipeline.ingest import parse_body, validate
from gateway.request_context import build_context, read_headers

ROOT = Path(__file__).resolve().parents[1]
HEADERS = [
    (b"user-agent", b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131"),
    (b"cf-ipcountry", b"US"),
    (b"cf-region-code", b"TX"),
    (b"x-forwarded-for", b"203.0.113.9"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--event", default=str(ROOT / "examples/events/purchase.json"))
    parser.add_argument("--config", default=str(ROOT / "config/gateway.yaml"))
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("GATEWAY_SECRET", "bench-secret-0123456789")
    policy = compile_policy(load_config(args.config))
    body = Path(args.event).read_bytes()
    rules = policy.context_rules
    tally: dict[tuple[str, str, str], int] = {}

    def one() -> None:
        raw, batch = parse_body(body, 100)
        events = validate(raw, batch=batch)
        ctx = build_context("127.0.0.1", read_headers(HEADERS, rules.wanted), {}, rules)
        process(events, ctx, policy, tally=tally)

    for _ in range(2_000):
        one()
    start = time.perf_counter()
    for _ in range(args.n):
        one()
    per_event = (time.perf_counter() - start) / args.n * 1e6
    print(
        f"{Path(args.event).name}: {per_event:.1f} us per event ({len(policy.destinations)} "
        f"destinations, {args.n:,} events)"
    )


if __name__ == "__main__":
    main()
