"""Where the request path's time goes: the gateway stopped after each stage, under load.

    .venv/bin/python bench/ablate.py [--duration 6] [--connections 64]

For each level, a real ``gateway serve`` runs with ``POST /collect`` replaced by a copy
that stops after the named stage and answers 204 (``bench/ablated_serve.py``); the last
level is the real endpoint. Both example events are loaded with ``wrk``. Prints events/s
per level: the drop from one row to the next is that stage's cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from fake_meta import FakeMeta
from load import ensure_wrk, run_load
from procs import ProcessGroup, free_port, http, wait_until_ready
from run import PIXEL_ID, ROOT, bench_config, event_body

LEVELS = {
    "body": "read the body, answer 204",
    "validate": "+ parse and validate (orjson, pydantic)",
    "pipeline": "+ request context, identity, consent, govern (hashing), route",
    "queue": "+ durable put (group commit, fsync)",
    "full": "+ decision record, cookie, metrics, delivery worker (everything)",
}
EVENTS = {
    "page view": ROOT / "examples" / "events" / "page_view.json",
    "purchase": ROOT / "examples" / "events" / "purchase.json",
}
HEADERS = [
    "Content-Type: application/json",
    "CF-IPCountry: US",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
]


def main() -> int:
    """Run every level for every event and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    wrk = ensure_wrk(install=True)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-ablate-"))
    bodies = {}
    for name, path in EVENTS.items():
        bodies[name] = tmp / f"{name.replace(' ', '_')}.json"
        bodies[name].write_bytes(event_body(path))
    procs = ProcessGroup()
    fake = FakeMeta().start()
    rates: dict[str, dict[str, float]] = {}
    try:
        for level in LEVELS:
            port = free_port()
            config = tmp / f"{level}.yaml"
            config.write_text(bench_config(ROOT / "config" / "gateway.yaml", tmp / level / "q.db"))
            env = {
                **os.environ,
                "ABLATE_LEVEL": level,
                "GATEWAY_SECRET": "bench-secret-0123456789abcdefghij",
                "GATEWAY_META_PIXEL_ID": PIXEL_ID,
                "GATEWAY_META_ACCESS_TOKEN": "bench",
                "GATEWAY_META_ENDPOINT": fake.url,
            }
            cmd = [
                sys.executable,
                str(Path(__file__).with_name("ablated_serve.py")),
                "--config",
                str(config),
                "--port",
                str(port),
            ]
            with (tmp / f"{level}.log").open("w") as log:
                proc = procs.start(level, cmd, env=env, stdout=log, stderr=log)
            wait_until_ready(
                proc,
                lambda port=port: http("GET", f"http://127.0.0.1:{port}/readyz")[0] == 200,
                30,
                f"gateway ({level})",
            )
            rates[level] = {}
            for name, body in bodies.items():
                result = run_load(
                    wrk=wrk,
                    port=port,
                    connections=args.connections,
                    duration_secs=args.duration,
                    body_file=body,
                    tag=f"{level}-{name.replace(' ', '_')}",
                    headers=HEADERS,
                    procs=procs,
                    log_dir=tmp,
                )
                rates[level][name] = result.rate
            procs.stop(proc)
    finally:
        procs.stop_all()
        fake.stop()
    print(
        f"\nevents/s at {args.connections} connections ({wrk and 'wrk'}, "
        f"{args.duration:g} s per row)"
    )
    print(f"{'request path up to':66} {'page view':>10} {'purchase':>10}")
    for level, label in LEVELS.items():
        row = rates[level]
        print(f"{label:66} {row['page view']:>10,.0f} {row['purchase']:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
