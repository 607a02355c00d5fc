"""Graceful shutdown of a real ``gateway serve`` process on SIGTERM.

Within ``server.shutdown_grace_secs`` the batch in flight finishes and is settled; what
is still queued stays queued, not leased, and the next start delivers it, each event
once. A send that outlives the grace period is cut off and its events are due again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx

from tests.support.configs import base_config, merged, write_config
from tests.support.events import US_BROWSER, purchase
from tests.support.fake_platform import Answer, FakePlatform
from tests.support.process import gateway_process
from tests.support.server import free_port


def _config(tmp_path: Path, meta_url: str, grace: float) -> Path:
    data = merged(
        base_config(tmp_path / "queue.db", meta_url),
        {
            "server": {"shutdown_grace_secs": grace},
            "logging": {"decisions": False},
            "destinations": {
                "meta": {
                    "batch": {"max_events": 5, "max_wait_ms": 0},
                    "timeout": {"connect_secs": 1, "read_secs": 30},
                }
            },
        },
    )
    return write_config(tmp_path / "gateway.yaml", data)


def _post(port: int, count: int) -> list[str]:
    ids = []
    with httpx.Client(timeout=5) as client:
        for _ in range(count):
            event = purchase()
            response = client.post(
                f"http://127.0.0.1:{port}/collect", json=event, headers=US_BROWSER
            )
            assert response.status_code == 204
            ids.append(event["event_id"])
    return ids


def _queued(path: Path) -> list[tuple[str, int, int]]:
    """(event id, leased, attempts) of every row still in the queue file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT event_id, leased, attempts FROM items").fetchall()
    finally:
        conn.close()


def _sigterm_while_sending(config: Path, port: int, log: Path, count: int) -> list[str]:
    """Start a gateway, post ``count`` events, SIGTERM it while a batch is being sent;
    it must exit 0 within 5 s. The ids posted."""
    with gateway_process(config, port, log) as proc:
        ids = _post(port, count)
        _wait(lambda: _in_flight(config.parent / "queue.db"))
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 5
    return ids


def _in_flight(path: Path) -> bool:
    """Whether a worker holds a lease: a batch is being sent."""
    return any(leased for _, leased, _ in _queued(path))


def _wait(check: object, secs: float = 10) -> None:
    deadline = time.monotonic() + secs
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sigterm_finishes_the_send_in_flight_and_leaves_the_rest_queued(
    tmp_path: Path,
) -> None:
    """The slow request in flight at SIGTERM completes and its events are acked (not
    left leased, so they are not sent twice); the rest stay queued and are delivered
    after a restart: every event exactly once."""
    fake = FakePlatform().start()
    fake.default = Answer(delay_secs=0.8)
    gw_port = free_port()
    config = _config(tmp_path, fake.url, grace=5)
    log = tmp_path / "gateway.log"
    try:
        ids = _sigterm_while_sending(config, gw_port, log, 30)
        delivered = fake.event_ids()
        assert delivered, "the request in flight was not finished"
        queued = _queued(tmp_path / "queue.db")
        assert all(leased == 0 for _, leased, _ in queued)
        assert not {event_id for event_id, _, _ in queued} & set(delivered)
        assert len(delivered) + len(queued) == 30
        text = log.read_text()
        assert '"delivery_stopped"' in text and "delivery_interrupted" not in text

        fake.default = Answer()
        with gateway_process(config, gw_port):
            _wait(lambda: len(fake.event_ids()) >= 30)
        assert sorted(fake.event_ids()) == sorted(ids)
    finally:
        fake.stop()


def test_a_send_past_the_grace_period_is_cut_off_and_due_again(tmp_path: Path) -> None:
    """A platform that hangs longer than the grace period does not hold the shutdown:
    the send is cancelled, its events are queued and due (not leased), and the next
    start delivers them."""
    fake = FakePlatform().start()
    fake.default = Answer(delay_secs=20)
    gw_port = free_port()
    config = _config(tmp_path, fake.url, grace=0.5)
    log = tmp_path / "gateway.log"
    try:
        ids = _sigterm_while_sending(config, gw_port, log, 3)
        queued = _queued(tmp_path / "queue.db")
        assert sorted(event_id for event_id, _, _ in queued) == sorted(ids)
        assert all(leased == 0 for _, leased, _ in queued)
        assert '"delivery_interrupted"' in log.read_text()

        fake.default = Answer()
        with gateway_process(config, gw_port):
            _wait(lambda: set(ids) <= set(fake.event_ids()))
    finally:
        fake.stop()
