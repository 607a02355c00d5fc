"""A fake Meta Conversions API for the benchmark: real HTTP on loopback, counts only.

It answers every ``POST .../events`` with ``200 {"events_received": N}`` (N = the length
of the body's ``data`` list), as Meta does, and counts requests, events and distinct
``event_id`` values. It keeps no bodies, so a long run does not grow its memory by
more than the set of event ids. It runs in a thread of the benchmark process.

The shipped config's other destinations are pointed at it too, so the gateway does the
work of all three: GA4's ``/mp/collect`` is answered ``204`` and TikTok's
``/open_api/v1.3/event/track/`` ``{"code": 0}``, as those platforms do; their events are
counted apart (``other_events``), the Meta counts stay what the report compares.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: the GA4 and TikTok paths the fake answers besides Meta's
OTHER_PATHS = ("/mp/collect", "/open_api/v1.3/event/track/")


@dataclass(frozen=True)
class FakeCounts:
    """A snapshot of what the fake destination received."""

    requests: int
    events: int
    distinct_events: int
    bad_requests: int
    #: events delivered to the other platforms' paths, by path, and their requests
    other_events: dict[str, int]
    other_requests: int


class FakeMeta:
    """Start with ``start()``; ``url`` is the base URL to put in ``GATEWAY_META_ENDPOINT``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._events = 0
        self._bad = 0
        self._ids: set[str] = set()
        self._other: dict[str, int] = {}
        self._other_requests = 0
        self.paths: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                if path.endswith(OTHER_PATHS):
                    fake._record_other(path, body)
                    if path.endswith("/mp/collect"):
                        self._answer(204, None)
                    else:
                        self._answer(200, {"code": 0, "message": "OK", "request_id": "b"})
                    return
                try:
                    data = json.loads(body).get("data")
                    if not isinstance(data, list) or not path.endswith("/events"):
                        raise ValueError("not a Conversions API request")
                except ValueError:
                    fake._record_bad(path)
                    self._answer(400, {"error": {"message": "bad request", "code": 100}})
                    return
                fake._record(path, data)
                self._answer(200, {"events_received": len(data), "messages": []})

            def _answer(self, status: int, payload: dict[str, Any] | None) -> None:
                raw = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def _record(self, path: str, data: list[Any]) -> None:
        ids = [e.get("event_id") for e in data if isinstance(e, dict)]
        with self._lock:
            self._requests += 1
            self._events += len(data)
            self._ids.update(i for i in ids if isinstance(i, str))
            self.paths.add(path)

    def _record_other(self, path: str, body: bytes) -> None:
        try:
            parsed = json.loads(body)
            events = len(parsed.get("events") or parsed.get("data") or ())
        except (ValueError, AttributeError):
            events = 0
        with self._lock:
            self._other_requests += 1
            self._other[path] = self._other.get(path, 0) + events
            self.paths.add(path)

    def _record_bad(self, path: str) -> None:
        with self._lock:
            self._requests += 1
            self._bad += 1
            self.paths.add(path)

    def counts(self) -> FakeCounts:
        """What was received so far."""
        with self._lock:
            return FakeCounts(
                self._requests,
                self._events,
                len(self._ids),
                self._bad,
                dict(self._other),
                self._other_requests,
            )

    def start(self) -> FakeMeta:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-meta", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
