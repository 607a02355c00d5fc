"""Soak ``gateway serve`` against a failing platform: nothing lost, memory flat.

What it does, in order (bench/README.md, "Soak run", explains the output):

1. starts the fake platform (tests/support/fake_platform.py) in a process of its own,
   failing a seeded ``--fail-rate`` of requests with 500/503, with a control port to
   read its counts and to take it down;
2. starts one real ``gateway serve`` with the shipped config reduced to the ``meta``
   destination, pointed at the fake, with retries that outlast the outage (1000
   attempts, backoff 0.5 s doubling up to 5 s);
3. measures the ingest ceiling with a closed-loop burst (``--ceiling-secs``), unless
   ``--rate`` is given;
4. loads ``POST /collect`` open-loop (requests go on schedule, whatever the answers) at
   half that ceiling for ``--duration`` seconds; the fake refuses connections for
   ``--outage`` seconds in the middle; every 10 s it prints ingest rate and latency,
   what the fake has, the queue depth and the gateway's RSS;
5. waits for the queue to drain and compares, by event id, what was accepted (204)
   with what the fake got (2xx, answered in time) and what was dead-lettered.

Usage: ``python bench/soak.py [--duration 600] [--outage 60] [--fail-rate 0.2] [--rate R]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from procs import (
    ProcessGroup,
    clean_up,
    free_port,
    http,
    interrupt_on_termination,
    status_kib,
    wait_until_ready,
)
from run import (
    DEFAULT_CONFIG,
    EXAMPLE_EVENT,
    LOAD_HEADERS,
    event_body,
    gateway_command,
    gateway_env,
    log_tail,
    scrape,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ID_PREFIX = "soak-"
SAMPLE_SECS = 10.0
#: the open loop closes connections idle for longer (below uvicorn's keep-alive timeout)
IDLE_SECS = 2.0
#: the soak config's Meta retries: an event outlives a one-minute outage with room to
#: spare (about 1000 x 2.5 s on average between tries once the backoff is at its ceiling)
SOAK_RETRY = {"max_attempts": 1000, "initial_backoff_secs": 0.5, "max_backoff_secs": 5}
#: RSS is "flat" when the last window's peak is at most this much above the first's
RSS_GROWTH_LIMIT = 0.10
META_DELIVERIES = 'gateway_deliveries_total{{destination="meta",outcome="{outcome}"}}'

T = TypeVar("T")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/soak.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument(
        "--outage", type=float, default=60.0, help="seconds the platform is down, mid-run"
    )
    parser.add_argument(
        "--fail-rate", type=float, default=0.2, help="fraction of requests the fake fails"
    )
    parser.add_argument("--rate", type=float, help="events/s (default: half the ceiling)")
    parser.add_argument(
        "--ceiling-secs", type=float, default=10.0, help="length of the ceiling burst"
    )
    parser.add_argument(
        "--ceiling-connections", type=int, default=64, help="connections of the burst"
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=256,
        help="open-loop: connections at most; beyond, requests wait (latency counts it)",
    )
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1, help="seed of the fake's failures")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--event", type=Path, default=EXAMPLE_EVENT)
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.duration <= 0 or not 0 <= args.outage < args.duration:
        parser.error("need 0 <= --outage < --duration")
    if not 0 <= args.fail_rate < 1:
        parser.error("--fail-rate: a fraction in [0, 1)")
    return args


# --- the gateway's config --------------------------------------------------------------


def soak_config(source: Path, queue_path: Path) -> dict[str, Any]:
    """The shipped config with the queue in ``queue_path``, only the ``meta`` destination
    (its events are what is counted), and retries that outlast the outage."""
    data = yaml.safe_load(source.read_text())
    data["queue"]["path"] = str(queue_path)
    meta = data["destinations"]["meta"]
    meta["retry"] = {**meta.get("retry", {}), **SOAK_RETRY}
    data["destinations"] = {"meta": meta}
    return data


# --- HTTP load ---------------------------------------------------------------------------


@dataclass
class Window:
    """Responses since the last sample."""

    accepted: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, pct: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))]


class Connection:
    """One keep-alive HTTP/1.1 connection to the gateway."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        #: ``loop.time()`` when its last answer was read
        self.last_used = 0.0

    async def request(self, raw: bytes) -> tuple[int, bool]:
        """Send ``raw``; the status, and whether the server keeps the connection open."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, keep = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
        if length:
            await self.reader.readexactly(length)
        return status, keep

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Load:
    """Single-event ``POST /collect`` requests with ids ``soak-N``; records what got 204."""

    def __init__(self, port: int, template: bytes, timeout_secs: float = 10.0) -> None:
        self.port = port
        prefix, sep, suffix = template.partition(b"__EVENT_ID__")
        if not sep:
            raise RuntimeError("the event template has no __EVENT_ID__")
        self.prefix = prefix + ID_PREFIX.encode()
        self.suffix = suffix
        head = f"POST /collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        self.head = head + "".join(f"{h}\r\n" for h in LOAD_HEADERS)
        self.timeout_secs = timeout_secs
        self.accepted: set[int] = set()
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.window = Window()
        self.next_id = 1
        # open loop
        #: parked connections, most recently used last
        self.idle: deque[Connection] = deque()
        self.open = 0
        self.max_open = 0
        self.pending: deque[tuple[int, float]] = deque()
        self.backlog_peak = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def _raw(self, n: int) -> bytes:
        body = self.prefix + str(n).encode() + self.suffix
        return (self.head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def _connect(self) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return Connection(reader, writer)

    async def _one(self, conn: Connection, n: int, since: float) -> bool:
        """One request; whether ``conn`` is still usable. Latency counts from ``since``
        (the scheduled time in the open loop: waiting for a connection counts too)."""
        loop = asyncio.get_running_loop()
        try:
            status, keep = await asyncio.wait_for(conn.request(self._raw(n)), self.timeout_secs)
        except TimeoutError:
            self.errors["timeout"] += 1
            return False
        except asyncio.IncompleteReadError as err:
            # closed by the server: before any byte of an answer, or in the middle of one
            self.errors["closed" if not err.partial else "read"] += 1
            return False
        except (OSError, ValueError, IndexError):
            self.errors["read"] += 1
            return False
        conn.last_used = loop.time()
        self.statuses[status] += 1
        self.window.latencies_ms.append((conn.last_used - since) * 1000)
        if status == 204:
            self.accepted.add(n)
            self.window.accepted += 1
        return keep

    # closed loop: the ceiling

    async def closed_loop(self, connections: int, secs: float) -> tuple[int, float]:
        """``connections`` connections sending back to back for ``secs``; (204s, seconds)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + secs
        before = len(self.accepted)

        async def run() -> None:
            try:
                conn = await self._connect()
            except OSError:
                self.errors["connect"] += 1
                return
            try:
                while loop.time() < deadline:
                    n, self.next_id = self.next_id, self.next_id + 1
                    if not await self._one(conn, n, loop.time()):
                        return
            finally:
                conn.close()

        await asyncio.gather(*(run() for _ in range(connections)))
        return len(self.accepted) - before, loop.time() - started

    # open loop: the soak

    async def open_loop(self, rate: float, secs: float, max_connections: int) -> None:
        """Start request ``k`` at ``k / rate`` seconds, whatever the answers so far."""
        self.max_open = max_connections
        loop = asyncio.get_running_loop()
        started = loop.time()
        issued = 0
        total = int(rate * secs)
        while issued < total:
            due = min(total, int((loop.time() - started) * rate) + 1)
            while issued < due:
                self._dispatch(self.next_id, started + issued / rate)
                self.next_id += 1
                issued += 1
            await asyncio.sleep(max(0.0, started + issued / rate - loop.time()))

    def _dispatch(self, n: int, scheduled: float) -> None:
        # close connections parked so long that the server may be closing them (uvicorn's
        # keep-alive timeout is 5 s): a request written as it does so would be lost
        now = asyncio.get_running_loop().time()
        while self.idle and now - self.idle[0].last_used > IDLE_SECS:
            self.idle.popleft().close()
            self.open -= 1
        if self.idle:
            self._spawn(self._drive(self.idle.pop(), n, scheduled))
        elif self.open < self.max_open:
            self.open += 1
            self._spawn(self._drive(None, n, scheduled))
        else:
            self.pending.append((n, scheduled))
            self.backlog_peak = max(self.backlog_peak, len(self.pending))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _drive(self, conn: Connection | None, n: int, scheduled: float) -> None:
        """Send ``n`` on ``conn`` (a new one when None), then whatever waits for a
        connection; park the connection when nothing does."""
        while True:
            if conn is None:
                try:
                    conn = await self._connect()
                except OSError:
                    self.errors["connect"] += 1
                    self.open -= 1
                    return
            if not await self._one(conn, n, scheduled):
                conn.close()
                conn = None
            if not self.pending:
                break
            n, scheduled = self.pending.popleft()
        if conn is None:
            self.open -= 1
        else:
            self.idle.append(conn)

    async def finish(self) -> None:
        """Wait for the requests in flight and close every connection."""
        while self.tasks or self.pending:
            if self.tasks:
                await asyncio.wait(list(self.tasks))
            elif self.pending:
                self._dispatch(*self.pending.popleft())
        for conn in self.idle:
            conn.close()
        self.idle.clear()

    def take_window(self) -> Window:
        window, self.window = self.window, Window()
        return window


# --- what the gateway and the fake say ---------------------------------------------------


def get_json(url: str, timeout: float = 60.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str) -> Any:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def family(values: dict[str, float], name: str) -> float:
    """The sum of every series of metric ``name``."""
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


@dataclass
class Sample:
    """One line of the time series."""

    t: float
    accepted_per_sec: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    delivered: int
    queue_depth: int
    dead: int
    fake_up: bool
    rss_peak_kib: int


@dataclass
class Monitor:
    """Samples the gateway's RSS every second and everything else every 10 s."""

    gateway_url: str
    control_url: str
    pid: int
    load: Load
    started: float = 0.0
    rss: list[tuple[float, int]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    last_sample: float = 0.0

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.started = self.last_sample = loop.time()
        next_tick = self.started
        while True:
            next_tick += 1.0
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            now = loop.time()
            kib = status_kib(self.pid, "VmRSS")
            if kib is not None:
                self.rss.append((now - self.started, kib))
            if now - self.last_sample >= SAMPLE_SECS - 0.01:
                await self.sample(now)

    async def sample(self, now: float) -> Sample:
        values = await self.blocking(scrape, self.gateway_url)
        stats = await self.blocking(get_json, f"{self.control_url}/stats")
        window = self.load.take_window()
        span = max(now - self.last_sample, 1e-9)
        since = self.last_sample - self.started
        peak = max((kib for t, kib in self.rss if t >= since - 1e-6), default=0)
        self.last_sample = now
        sample = Sample(
            t=now - self.started,
            accepted_per_sec=window.accepted / span,
            p50_ms=window.percentile(50),
            p99_ms=window.percentile(99),
            max_ms=max(window.latencies_ms, default=float("nan")),
            delivered=int(stats["delivered"]),
            queue_depth=int(family(values, "gateway_queue_depth")),
            dead=int(family(values, "gateway_dead_letters")),
            fake_up=not stats["paused"],
            rss_peak_kib=peak,
        )
        self.samples.append(sample)
        print(_sample_line(sample), flush=True)
        return sample


SAMPLE_HEADER = (
    f"{'t':>6} {'accepted/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    f" {'delivered':>10} {'queue':>8} {'dead':>6} {'fake':>5} {'RSS MiB':>8}"
)


def _sample_line(s: Sample) -> str:
    return (
        f"{s.t:>5.0f}s {s.accepted_per_sec:>10,.0f} {s.p50_ms:>8.2f} {s.p99_ms:>8.2f}"
        f" {s.max_ms:>8.1f} {s.delivered:>10,} {s.queue_depth:>8,} {s.dead:>6,}"
        f" {'up' if s.fake_up else 'DOWN':>5} {s.rss_peak_kib / 1024:>8.1f}"
    )


# --- the run -------------------------------------------------------------------------------


def start_fake(
    args: argparse.Namespace, procs: ProcessGroup, tmp: Path
) -> tuple[str, str, subprocess.Popen[Any]]:
    port, control_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "tests.support.fake_platform", str(port)]
    cmd += ["--fail-rate", str(args.fail_rate), "--seed", str(args.seed)]
    cmd += ["--control-port", str(control_port)]
    log_path = tmp / "fake.log"
    with log_path.open("w") as log:
        proc = procs.start(
            "fake platform",
            cmd,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=log,
            cwd=str(ROOT),
        )
    control = f"http://127.0.0.1:{control_port}"
    try:
        wait_until_ready(proc, lambda: http("GET", f"{control}/stats")[0] == 200, 20, "fake")
    except RuntimeError as err:
        raise RuntimeError(f"{err}\n{log_tail(log_path)}") from None
    print(f"fake platform: {' '.join(cmd[1:])}  (pid {proc.pid})", flush=True)
    return f"http://127.0.0.1:{port}", control, proc


def start_gateway(
    args: argparse.Namespace, procs: ProcessGroup, tmp: Path, fake_url: str
) -> tuple[str, subprocess.Popen[Any], Path, Path]:
    config_path = tmp / "gateway.yaml"
    config_path.write_text(
        yaml.safe_dump(soak_config(args.config, tmp / "queue" / "queue.db"), sort_keys=False)
    )
    gateway_bin = gateway_command()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = gateway_env(fake_url)  # the soak config keeps only meta
    log_path = tmp / "gateway.log"
    cmd = [str(gateway_bin), "serve", "--config", str(config_path)]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        proc = procs.start("gateway", cmd, env=env, stdout=log, stderr=log, cwd=str(tmp))
    try:
        wait_until_ready(proc, lambda: http("GET", f"{base_url}/readyz")[0] == 200, 30, "gateway")
    except RuntimeError as err:
        raise RuntimeError(f"{err}\n--- gateway log (tail) ---\n{log_tail(log_path)}") from None
    print(f"gateway: {' '.join(cmd)}  (pid {proc.pid}, log {log_path})", flush=True)
    print(f"  Meta retry: {SOAK_RETRY}; other settings as in {args.config}", flush=True)
    return base_url, proc, config_path, log_path


def dead_letter_ids(config_path: Path, fake_url: str) -> set[str] | None:
    """Event ids in the dead-letter store (``gateway dead-letters list``); None if the
    command failed."""
    cmd = [str(gateway_command()), "dead-letters", "list", "--config", str(config_path)]
    cmd.append("--json")
    env = gateway_env(fake_url)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        print(f"  gateway dead-letters list failed: {done.stderr.strip()[-500:]}", flush=True)
        return None
    ids = set()
    for line in done.stdout.splitlines():
        if line.strip():
            ids.add(str(json.loads(line)["event_id"]))
    return ids


async def soak(args: argparse.Namespace, procs: ProcessGroup, tmp: Path) -> int:
    fake_url, control_url, _fake_proc = start_fake(args, procs, tmp)
    gateway_url, gateway, config_path, log_path = start_gateway(args, procs, tmp, fake_url)
    template = event_body(args.event)
    load = Load(int(gateway_url.rsplit(":", 1)[1]), template)
    status, answer = http(
        "POST",
        f"{gateway_url}/collect",
        template.replace(b"__EVENT_ID__", f"{ID_PREFIX}0".encode()),
        dict(h.split(": ", 1) for h in LOAD_HEADERS),
    )
    if status != 204:
        raise RuntimeError(f"probe POST /collect answered {status}: {answer[:500]!r}")
    load.accepted.add(0)

    burst_accepted = 0
    if args.rate is None:
        burst_accepted, secs = await load.closed_loop(args.ceiling_connections, args.ceiling_secs)
        ceiling = burst_accepted / secs
        rate = ceiling / 2
        print(
            f"ingest ceiling: {ceiling:,.0f} events/s ({burst_accepted:,} accepted in {secs:.1f} s,"
            f" closed loop, {args.ceiling_connections} connections, this script's load"
            f" generator) -> soak rate {rate:,.0f} events/s",
            flush=True,
        )
    else:
        rate = args.rate
        print(f"soak rate {rate:,.0f} events/s (--rate)", flush=True)
    load.take_window()

    outage_at = (args.duration - args.outage) / 2
    print(
        f"\nsoak: {args.duration:g} s open loop at {rate:,.0f} events/s; fake fails"
        f" {args.fail_rate:.0%} of requests and is down from t={outage_at:g} s for"
        f" {args.outage:g} s\n",
        flush=True,
    )
    monitor = Monitor(gateway_url, control_url, gateway.pid, load)
    print(SAMPLE_HEADER, flush=True)
    monitor_task = asyncio.create_task(monitor.run())

    async def outage() -> None:
        if args.outage <= 0:
            return
        await asyncio.sleep(outage_at)
        await monitor.blocking(post_json, f"{control_url}/pause")
        print(f"  -- fake platform down (refusing connections) at t={outage_at:.0f} s", flush=True)
        await asyncio.sleep(args.outage)
        await monitor.blocking(post_json, f"{control_url}/resume")
        print(f"  -- fake platform up again at t={outage_at + args.outage:.0f} s", flush=True)

    loop = asyncio.get_running_loop()
    outage_task = asyncio.create_task(outage())
    await load.open_loop(rate, args.duration, args.max_connections)
    await load.finish()
    await outage_task
    load_secs = loop.time() - monitor.started
    print(f"  -- load stopped at t={load_secs:.0f} s; waiting for the queue to drain", flush=True)

    drain_started = loop.time()
    drained = False
    while loop.time() - drain_started < args.drain_timeout:
        values = await monitor.blocking(scrape, gateway_url)
        if family(values, "gateway_queue_depth") == 0:
            drained = True
            break
        await asyncio.sleep(1.0)
    drain_secs = loop.time() - drain_started
    await monitor.sample(loop.time())
    monitor_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await monitor_task

    values = scrape(gateway_url)
    stats = get_json(f"{control_url}/stats")
    delivered_ids = set(get_json(f"{control_url}/delivered", timeout=300))
    peak_kib = status_kib(gateway.pid, "VmHWM")
    end_kib = status_kib(gateway.pid, "VmRSS")
    dead_ids = dead_letter_ids(config_path, fake_url)
    code = procs.stop(gateway)
    stopped = '"gateway_stopped"' in log_tail(log_path, 50)

    accepted = {f"{ID_PREFIX}{n}" for n in load.accepted}
    delivered = accepted & delivered_ids
    dead_metric = int(family(values, "gateway_dead_letters"))
    dead = accepted & dead_ids if dead_ids is not None else set()
    missing = accepted - delivered - dead
    extra = delivered_ids - accepted
    print()
    print(
        f"Soak summary: {args.duration:g} s at {rate:,.0f} events/s, fake failing"
        f" {args.fail_rate:.0%} and down {args.outage:g} s from t={outage_at:g} s"
    )
    non_204 = {s: n for s, n in sorted(load.statuses.items()) if s != 204}
    print(
        f"  accepted (204):        {len(accepted):>10,}  (ceiling burst {burst_accepted:,},"
        f" probe 1; non-204: {non_204 or 'none'}; socket errors: {dict(load.errors) or 'none'};"
        f" requests waiting for a connection at most: {load.backlog_peak})"
    )
    counted = int(values.get(META_DELIVERIES.format(outcome="delivered"), 0))
    print(
        f"  delivered:             {len(delivered):>10,}  (distinct accepted ids the fake answered"
        f" 2xx in time; gateway_deliveries_total delivered: {counted:,})"
    )
    dead_text = f"{len(dead):,}" if dead_ids is not None else "unknown (by id)"
    print(f"  dead-lettered:         {dead_text:>10}  (gateway_dead_letters: {dead_metric:,})")
    verdict_missing = "OK" if not missing and dead_ids is not None else "LOST"
    print(f"  missing:               {len(missing):>10,}  -> {verdict_missing} (must be 0)")
    if missing:
        print(f"    e.g. {sorted(missing)[:10]}")
    print(f"  delivered, never 204:  {len(extra):>10,}  (sent by a request whose answer was lost)")
    duplicates = int(stats["ok_events"]) - int(stats["delivered"])
    print(
        f"  fake platform: {stats['requests']:,} requests, by status {stats['by_status']};"
        f" {duplicates:,} events received again after a first 2xx; {stats['late']:,} answered"
        f" after the gateway gave up; down {stats['paused_secs']:.0f} s"
    )
    opened = int(family(values, "gateway_circuit_opened_total"))
    retried = int(values.get(META_DELIVERIES.format(outcome="retried"), 0))
    print(f"  gateway: events retried {retried:,}; circuit opened {opened:,} times")
    depth_peak = max(monitor.samples, key=lambda s: s.queue_depth, default=None)
    if depth_peak is not None:
        print(
            f"  queue: peak depth {depth_peak.queue_depth:,} at t={depth_peak.t:.0f} s;"
            f" {'drained' if drained else 'NOT drained'} {drain_secs:.0f} s after the load ended"
        )
    rss_ok = report_rss(monitor, load_secs, peak_kib, end_kib)
    status_text = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    print(f"  gateway after SIGTERM: {status_text}; gateway_stopped logged: {stopped}")
    return 0 if drained and verdict_missing == "OK" and rss_ok else 2


def report_rss(
    monitor: Monitor, load_secs: float, peak_kib: int | None, end_kib: int | None
) -> bool:
    """First-window vs last-window peak of the per-second RSS samples taken under load."""
    window = min(60.0, load_secs / 4)
    under_load = [(t, kib) for t, kib in monitor.rss if t <= load_secs]
    first = max((kib for t, kib in under_load if t <= window), default=0)
    last = max((kib for t, kib in under_load if t >= load_secs - window), default=0)
    growth = (last - first) / first if first else float("nan")
    flat = first > 0 and growth <= RSS_GROWTH_LIMIT
    print(
        f"  gateway RSS: peak {first / 1024:.1f} MiB in the first {window:.0f} s under load,"
        f" {last / 1024:.1f} MiB in the last {window:.0f} s ({growth:+.1%})"
        f" -> {'flat' if flat else 'GREW'} (limit +{RSS_GROWTH_LIMIT:.0%});"
        f" VmHWM {(peak_kib or 0) / 1024:.1f} MiB, after the drain {(end_kib or 0) / 1024:.1f} MiB"
    )
    return flat


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when nothing was lost and RSS stayed flat, 2 when not, 1 on errors."""
    args = parse_args(argv)
    interrupt_on_termination()
    tmp = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
    procs = ProcessGroup()
    failed = False
    print(f"temporary directory: {tmp}", flush=True)
    try:
        import uvloop

        runner: Callable[[Any], int] = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        code = runner(soak(args, procs, tmp))
        # a soak that lost events or grew: keep the gateway's log and queue to look at
        failed = code != 0
        return code
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers", file=sys.stderr, flush=True)
        return 130
    except (RuntimeError, OSError) as err:
        failed = True
        print(f"soak failed: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        clean_up(procs, tmp, keep=args.keep_tmp or failed)


if __name__ == "__main__":
    sys.exit(main())
