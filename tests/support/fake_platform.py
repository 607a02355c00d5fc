"""A local fake ad platform: a real HTTP server on loopback that records what it receives.

It answers with a scripted sequence of responses (status, body, headers, delay), then
with its default answer. Tests assert on exactly what it received; the benchmark uses
it as the destination. Run standalone with ``python -m tests.support.fake_platform PORT``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    """One scripted response."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"events_received": 1, "messages": []})
    headers: dict[str, str] = field(default_factory=dict)
    delay_secs: float = 0.0


@dataclass
class Received:
    """One request the fake platform got."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class FakePlatform:
    """Start with ``start()``; ``url`` is its base URL; ``received`` what it got."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self._lock = threading.Lock()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                with platform._lock:
                    answer = platform.script.popleft() if platform.script else platform.default
                if answer.delay_secs:
                    time.sleep(answer.delay_secs)
                with platform._lock:
                    platform.received.append(
                        Received(
                            "POST",
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            answer.status,
                        )
                    )
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> FakePlatform:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """Every event of every body answered 2xx: Meta-style ``data`` or webhook ``events``."""
        with self._lock:
            bodies = [r.json() for r in self.received if 200 <= r.status < 300]
        return [e for b in bodies for e in (b.get("data") or b.get("events") or [])]

    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.events()]


if __name__ == "__main__":
    fake = FakePlatform(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(fake.url, flush=True)
    fake.server.serve_forever()
