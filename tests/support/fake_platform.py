"""A local fake ad platform: a real HTTP server on loopback that records what it receives.

It answers with a scripted sequence of responses (status, body, headers, delay), then
with its default answer. Tests assert on exactly what it received; the benchmarks use
it as the destination.

For fault tests it can also:

- answer late (``Answer.delay_secs``): each ``Received`` says when the request arrived
  (``at``), how long the answer took (``answered_after_secs``) and whether the client
  had already closed the connection when the answer was written (``client_gone``, i.e.
  it timed out and gave up; the status is still the one the fake answered);
- refuse connections for a while and recover on the same port: ``pause()`` closes the
  listening socket and every open connection, ``resume()`` listens on the same port
  again (``pause(secs)`` resumes by itself; ``Answer.pause_secs`` pauses when that
  request arrives, the request itself still being answered as scripted). ``received``
  is kept across both;
- fail a seeded random fraction of its default answers (``fail_rate``) with 500/503;
- send ``Retry-After`` (``Answer.retry_after``, or ``fail_retry_after``).

It counts as it goes (``stats()``, ``delivered_ids()``): the event ids of requests
answered 2xx to a client still waiting. With ``keep_received=False`` it keeps only those
counts, not every request, so a long soak run does not grow its memory.

Run standalone with ``python -m tests.support.fake_platform PORT [options]`` (``--help``);
``--control-port`` adds a second server for whoever drives it: ``GET /stats``,
``GET /delivered`` (the ids), ``POST /pause`` (``?secs=N`` to resume by itself) and
``POST /resume``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import select
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: how often the serving loop looks for a shutdown request: ``pause()`` waits up to this
POLL_SECS = 0.02


@dataclass
class Answer:
    """One scripted response."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"events_received": 1, "messages": []})
    headers: dict[str, str] = field(default_factory=dict)
    #: wait this long before answering (longer than the client's read timeout: a timeout)
    delay_secs: float = 0.0
    #: sent as the ``Retry-After`` header (seconds, or an HTTP date as a string)
    retry_after: float | str | None = None
    #: when this request arrives, refuse connections for this long (then listen again on
    #: the same port); this request is still answered as scripted
    pause_secs: float = 0.0

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            value = self.retry_after
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            headers["Retry-After"] = str(value)
        return headers


@dataclass
class Received:
    """One request the fake platform got."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int
    #: ``time.monotonic()`` when the request (its headers) arrived
    at: float = 0.0
    #: seconds from ``at`` until the answer was written
    answered_after_secs: float = 0.0
    #: the client had closed the connection before the answer was written: it gave up
    #: waiting (a timeout); the platform may still have processed the request
    client_gone: bool = False

    @property
    def answered_at(self) -> float:
        """``time.monotonic()`` when the answer was written."""
        return self.at + self.answered_after_secs

    @property
    def ok(self) -> bool:
        """Answered 2xx to a client that was still waiting: delivered, as the client sees it."""
        return 200 <= self.status < 300 and not self.client_gone

    def json(self) -> Any:
        return json.loads(self.body)

    def event_ids(self) -> list[str]:
        """The event ids in the body: Meta-style ``data`` or webhook ``events``."""
        return event_ids_of(self.body)


def event_ids_of(body: bytes) -> list[str]:
    """Event ids of a Meta-style (``data``) or webhook (``events``) body; [] if neither."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    events = parsed.get("data") or parsed.get("events") or []
    return [str(e["event_id"]) for e in events if isinstance(e, dict) and "event_id" in e]


def _client_gone(sock: socket.socket) -> bool:
    """Whether the peer has closed ``sock`` (readable, and a peek reads end of file)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class FakePlatform:
    """Start with ``start()``; ``url`` is its base URL; ``received`` what it got."""

    def __init__(
        self,
        port: int = 0,
        *,
        fail_rate: float = 0.0,
        fail_statuses: Iterable[int] = (500, 503),
        fail_retry_after: float | str | None = None,
        seed: int = 0,
        keep_received: bool = True,
    ) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        #: the fraction of default answers replaced by a failure (seeded: reproducible)
        self.fail_rate = fail_rate
        self.fail_statuses = tuple(fail_statuses)
        self.fail_retry_after = fail_retry_after
        self.keep_received = keep_received
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        # pause/resume/stop, one at a time
        self._state = threading.RLock()
        self._conns: set[socket.socket] = set()
        self._local = threading.local()
        self._resume_timer: threading.Timer | None = None
        self._stopped = False
        self._paused_since: float | None = None
        self.paused_secs = 0.0
        self.pauses = 0
        self._by_status: Counter[int] = Counter()
        self._requests = 0
        self._in_flight = 0
        self._started = 0
        self._late = 0
        self._ok_events = 0
        self._delivered: set[str] = set()
        self._handler = self._make_handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                platform._local.conn = self.connection
                with platform._lock:
                    platform._conns.add(self.connection)

            def finish(self) -> None:
                with platform._lock:
                    platform._conns.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                at = time.monotonic()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                with platform._lock:
                    platform._started += 1
                    platform._in_flight += 1
                answer = platform._next_answer()
                if answer.pause_secs:
                    platform.pause(answer.pause_secs)
                if answer.delay_secs:
                    time.sleep(answer.delay_secs)
                gone = _client_gone(self.connection)
                record = Received(
                    "POST",
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    answer.status,
                    at,
                    time.monotonic() - at,
                    gone,
                )
                platform._record(record)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.all_headers().items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _next_answer(self) -> Answer:
        with self._lock:
            if self.script:
                return self.script.popleft()
            answer = self.default
            if self.fail_rate and self._random.random() < self.fail_rate:
                status = self._random.choice(self.fail_statuses)
                body = {"error": {"message": "fake failure", "code": 2, "is_transient": True}}
                return Answer(status, body, dict(answer.headers), 0.0, self.fail_retry_after)
            return answer

    def _record(self, record: Received) -> None:
        ids = event_ids_of(record.body) if 200 <= record.status < 300 else []
        with self._lock:
            if self.keep_received:
                self.received.append(record)
            self._in_flight -= 1
            self._requests += 1
            self._by_status[record.status] += 1
            if record.client_gone:
                self._late += 1
            elif ids:
                self._ok_events += len(ids)
                self._delivered.update(ids)

    def start(self) -> FakePlatform:
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_SECS,), daemon=True
        )
        self._thread.start()
        return self

    @property
    def requests_started(self) -> int:
        """Requests that have arrived, answered or not yet (``received`` has the answered)."""
        with self._lock:
            return self._started

    @property
    def paused(self) -> bool:
        with self._state:
            return self._paused_since is not None

    def pause(self, secs: float | None = None) -> None:
        """Refuse connections: close the listening socket and every open connection (but
        the one of the request calling this). With ``secs``, ``resume()`` after that long;
        ``received`` and the script are kept."""
        current = getattr(self._local, "conn", None)
        with self._state:
            if self._stopped:
                return
            if self._resume_timer is not None:
                self._resume_timer.cancel()
                self._resume_timer = None
            if self._paused_since is None:
                self._paused_since = time.monotonic()
                self.pauses += 1
                self._close_listener()
                with self._lock:
                    conns = [c for c in self._conns if c is not current]
                for conn in conns:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            if secs is not None:
                self._resume_timer = threading.Timer(secs, self.resume)
                self._resume_timer.daemon = True
                self._resume_timer.start()

    def resume(self) -> None:
        """Listen on the same port again after ``pause()``."""
        with self._state:
            if self._resume_timer is not None:
                self._resume_timer.cancel()
                self._resume_timer = None
            if self._stopped or self._paused_since is None:
                return
            deadline = time.monotonic() + 5
            while True:
                try:
                    server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            server.daemon_threads = True
            self.server = server
            self.paused_secs += time.monotonic() - self._paused_since
            self._paused_since = None
            self.start()

    def stop(self) -> None:
        with self._state:
            if self._resume_timer is not None:
                self._resume_timer.cancel()
                self._resume_timer = None
            if self._stopped:
                return
            self._stopped = True
            if self._paused_since is None:
                self._close_listener()

    def _close_listener(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """Every event of every body answered 2xx: Meta-style ``data`` or webhook ``events``.
        Includes requests answered after the client gave up (``Received.client_gone``)."""
        with self._lock:
            bodies = [r.json() for r in self.received if 200 <= r.status < 300]
        return [e for b in bodies for e in (b.get("data") or b.get("events") or [])]

    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.events()]

    def delivered_ids(self) -> set[str]:
        """Distinct event ids answered 2xx to a client that was still waiting."""
        with self._lock:
            return set(self._delivered)

    def stats(self) -> dict[str, Any]:
        """Counts since start (kept with ``keep_received=False`` too)."""
        with self._state:
            paused = self._paused_since is not None
            paused_secs = self.paused_secs + (
                time.monotonic() - self._paused_since if self._paused_since is not None else 0.0
            )
        with self._lock:
            return {
                # requests answered (and recorded), and those arrived but not answered yet
                "requests": self._requests,
                "in_flight": self._in_flight,
                "by_status": {str(k): v for k, v in sorted(self._by_status.items())},
                # requests answered after the client had closed the connection
                "late": self._late,
                # events in requests answered 2xx in time, and their distinct ids
                "ok_events": self._ok_events,
                "delivered": len(self._delivered),
                "paused": paused,
                "pauses": self.pauses,
                "paused_secs": round(paused_secs, 3),
            }


def control_server(fake: FakePlatform, port: int) -> ThreadingHTTPServer:
    """A second server to drive a standalone fake: stats, delivered ids, pause, resume."""

    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, payload: Any) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/stats":
                self._send(200, fake.stats())
            elif path == "/delivered":
                self._send(200, sorted(fake.delivered_ids()))
            else:
                self._send(404, {"error": "GET /stats or /delivered"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if parts.path == "/pause":
                secs = parse_qs(parts.query).get("secs")
                fake.pause(float(secs[0]) if secs else None)
                self._send(200, fake.stats())
            elif parts.path == "/resume":
                fake.resume()
                self._send(200, fake.stats())
            else:
                self._send(404, {"error": "POST /pause[?secs=N] or /resume"})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Control)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_platform",
        description="A fake ad platform on 127.0.0.1 that answers POSTs and counts events.",
    )
    parser.add_argument("port", nargs="?", type=int, default=0, help="0: any free port")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction answered 5xx")
    parser.add_argument(
        "--fail-status", default="500,503", help="statuses failures draw from (500,503)"
    )
    parser.add_argument("--fail-retry-after", help="Retry-After header on failures")
    parser.add_argument("--seed", type=int, default=0, help="seed of the failure draws")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--control-port", type=int, help="serve /stats, /pause ... here")
    parser.add_argument("--keep-received", action="store_true", help="keep every request in memory")
    args = parser.parse_args(argv)
    fake = FakePlatform(
        args.port,
        fail_rate=args.fail_rate,
        fail_statuses=[int(s) for s in args.fail_status.split(",") if s.strip()],
        fail_retry_after=args.fail_retry_after,
        seed=args.seed,
        keep_received=args.keep_received,
    )
    fake.default = Answer(delay_secs=args.delay)
    print(fake.url, flush=True)
    if args.control_port is not None:
        control = control_server(fake, args.control_port)
        print(f"control http://127.0.0.1:{control.server_address[1]}", flush=True)
        threading.Thread(target=control.serve_forever, daemon=True).start()
    fake.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
