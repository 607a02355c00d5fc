"""Scale-out on Redis: the combined ingest rate of two gateway processes sharing one Redis
queue, against one process on the same Redis (and, for reference, one on SQLite).

What it does, in order:

1. starts a ``redis-server`` on loopback (AOF on, ``appendfsync everysec``) and the fake
   Meta of bench/fake_meta.py (which answers GA4 and TikTok too);
2. for each setup (SQLite x1, Redis x1, Redis x2): starts the gateway processes with the
   shipped config, its queue pointed at the file or at Redis (``consumer`` gw-a, gw-b),
   loads ``POST /collect`` with single purchase events from one ``wrk`` per process
   (``--connections`` split between them, as a load balancer would), then waits until
   every process's ``gateway_queue_depth`` is 0 and checks what the fake received;
3. prints events/s accepted, p50/p99, and the ratio of two processes to one.

On a 2-core machine two gateways, Redis, wrk and the fake share the two cores: the
ratio says how much the second process adds there, not what two machines would give.

Usage: ``python bench/scale_redis.py [--duration S] [--connections N]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fake_meta import FakeMeta
from load import LoadResult, ensure_wrk, run_load
from procs import ProcessGroup, clean_up, free_port, http, status_kib, wait_until_ready
from run import (
    DEFAULT_CONFIG,
    EXAMPLE_EVENT,
    LOAD_HEADERS,
    event_body,
    gateway_command,
    gateway_env,
    scrape,
)


@dataclass
class Setup:
    name: str
    backend: str
    instances: int


@dataclass
class Outcome:
    setup: Setup
    loads: list[LoadResult]
    accepted: int
    delivered_meta: int
    drained: bool
    peak_rss_kib: list[int | None]

    @property
    def rate(self) -> float:
        return sum(load.rate for load in self.loads)

    @property
    def p99_ms(self) -> float:
        return max(load.p99_ms for load in self.loads)

    @property
    def p50_ms(self) -> float:
        return max(load.p50_ms for load in self.loads)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds")
    parser.add_argument("--connections", type=int, default=64, help="in all, split per process")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    return parser.parse_args(argv)


def start_redis(procs: ProcessGroup, tmp: Path) -> str:
    """A redis-server with AOF (everysec) and noeviction, as the README recommends."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "no redis-server: `make test` installs it (apt-get install redis-server)"
        )
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp)]
    cmd += ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
    cmd += ["--maxmemory-policy", "noeviction"]
    log = (tmp / "redis.log").open("w")
    proc = procs.start("redis", cmd, stdout=log, stderr=log)

    def ready() -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until_ready(proc, ready, 15, "redis-server")
    return f"redis://127.0.0.1:{port}/0"


def config_text(backend: str, tmp: Path, redis_url: str, consumer: str, prefix: str) -> str:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    queue = dict(data.get("queue") or {})
    if backend == "redis":
        queue.update({"backend": "redis", "url": redis_url, "prefix": prefix, "consumer": consumer})
        queue.pop("path", None)
        queue.pop("synchronous", None)
    else:
        queue["path"] = str(tmp / "queue.db")
    data["queue"] = queue
    return yaml.safe_dump(data, sort_keys=False)


def run_setup(
    setup: Setup,
    args: argparse.Namespace,
    wrk: str | None,
    body_file: Path,
    procs: ProcessGroup,
    tmp: Path,
    redis_url: str,
    fake: FakeMeta,
) -> Outcome:
    """Start the setup's gateways, load them together, drain, stop them."""
    gateway_bin = gateway_command()
    work = tmp / setup.name.replace(" ", "-")
    work.mkdir()
    before = fake.counts().distinct_events
    ports: list[int] = []
    gateways = []
    for n in range(setup.instances):
        consumer = f"gw-{'ab'[n]}"
        config = work / f"{consumer}.yaml"
        config.write_text(config_text(setup.backend, work, redis_url, consumer, work.name))
        port = free_port()
        log = (work / f"{consumer}.log").open("w")
        cmd = [str(gateway_bin), "serve", "--config", str(config), "--port", str(port)]
        proc = procs.start(consumer, cmd, env=gateway_env(fake.url), stdout=log, stderr=log)

        def ready(port: int = port) -> bool:
            return http("GET", f"http://127.0.0.1:{port}/readyz")[0] == 200

        wait_until_ready(proc, ready, 30, f"gateway {consumer}")
        ports.append(port)
        gateways.append(proc)

    def load(duration: float, tag: str) -> list[LoadResult]:
        results: list[LoadResult | None] = [None] * len(ports)

        def one(i: int) -> None:
            results[i] = run_load(
                wrk=wrk,
                port=ports[i],
                connections=max(1, args.connections // len(ports)),
                duration_secs=duration,
                body_file=body_file,
                tag=f"{work.name}-{tag}-{i}",  # event ids unique across setups
                headers=LOAD_HEADERS,
                procs=procs,
                log_dir=work,
            )

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(ports))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [r for r in results if r is not None]

    warm = load(args.warmup, "warm")
    loads = load(args.duration, "run")
    accepted = sum(r.accepted for r in warm + loads)
    deadline = time.monotonic() + args.drain_timeout
    drained = False
    while time.monotonic() < deadline:
        depth = sum(
            v
            for port in ports
            for k, v in scrape(f"http://127.0.0.1:{port}").items()
            if k.startswith("gateway_queue_depth")
        )
        if depth == 0:
            drained = True
            break
        time.sleep(0.5)
    rss = [status_kib(p.pid, "VmHWM") for p in gateways]
    for proc in gateways:
        procs.stop(proc)
    delivered = fake.counts().distinct_events - before
    return Outcome(setup, loads, accepted, delivered, drained, rss)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk(install=not args.no_install)
    procs = ProcessGroup()
    tmp = Path(tempfile.mkdtemp(prefix="gateway-scale-"))
    fake = FakeMeta().start()
    try:
        redis_url = start_redis(procs, tmp)
        body_file = tmp / "event.json"
        body_file.write_bytes(event_body(EXAMPLE_EVENT))
        setups = [Setup("sqlite x1", "sqlite", 1), Setup("redis x1", "redis", 1)]
        setups.append(Setup("redis x2", "redis", 2))
        outcomes = []
        for setup in setups:
            print(f"-- {setup.name}: {args.duration:g} s at {args.connections} connections")
            outcomes.append(run_setup(setup, args, wrk, body_file, procs, tmp, redis_url, fake))
        print()
        print(
            f"{'setup':<10} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'accepted':>9} {'at meta':>8} {'drained':>7}  peak RSS MiB"
        )
        for o in outcomes:
            rss = ", ".join(f"{(k or 0) / 1024:.0f}" for k in o.peak_rss_kib)
            print(
                f"{o.setup.name:<10} {o.rate:>9.0f} {o.p50_ms:>7.1f} {o.p99_ms:>7.1f} "
                f"{o.accepted:>9} {o.delivered_meta:>8} {'yes' if o.drained else 'NO':>7}  {rss}"
            )
        one, two = outcomes[1], outcomes[2]
        print()
        print(f"two Redis instances / one: {two.rate / one.rate:.2f}x combined ingest")
        print(f"Redis x1 / SQLite x1:      {one.rate / outcomes[0].rate:.2f}x")
        lost = [o.setup.name for o in outcomes if o.delivered_meta < o.accepted or not o.drained]
        print("every accepted event reached Meta" if not lost else f"MISSING in: {lost}")
        return 0 if not lost else 1
    finally:
        fake.stop()
        clean_up(procs, tmp, keep=False)


if __name__ == "__main__":
    sys.exit(main())
