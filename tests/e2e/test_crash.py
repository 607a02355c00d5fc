"""Crash safety: an event answered 204 survives SIGKILL and reaches the destination.

A real ``gateway serve`` process accepts events while Meta is down, is killed with
SIGKILL in the middle of the load, and is started again; once the (fake) destination is
back, every event that was answered 204 must arrive there.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.configs import base_config, merged, write_config
from tests.support.events import US_BROWSER, purchase
from tests.support.fake_platform import FakePlatform
from tests.support.process import gateway_process
from tests.support.server import free_port


def test_sigkill_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """Every event answered 204 before a SIGKILL is delivered after restart."""
    meta_port, gw_port = free_port(), free_port()
    data = merged(
        base_config(tmp_path / "queue.db", f"http://127.0.0.1:{meta_port}"),
        {
            "queue": {"synchronous": "full"},
            "logging": {"decisions": False},
            "destinations": {
                "meta": {
                    "retry": {
                        "max_attempts": 1000,
                        "initial_backoff_secs": 0.05,
                        "max_backoff_secs": 0.3,
                    }
                }
            },
        },
    )
    config = write_config(tmp_path / "gateway.yaml", data)
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    url = f"http://127.0.0.1:{gw_port}/collect"

    def send_until_stopped() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                event_id = str(uuid.uuid4())
                try:
                    response = client.post(
                        url, json=purchase(event_id=event_id), headers=US_BROWSER
                    )
                except httpx.TransportError:
                    return
                if response.status_code == 204:
                    with lock:
                        acked.append(event_id)

    with gateway_process(config, gw_port) as proc, ThreadPoolExecutor(8) as pool:
        senders = [pool.submit(send_until_stopped) for _ in range(8)]
        deadline = time.monotonic() + 20
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for sender in senders:
            sender.result(timeout=10)
    assert len(acked) >= 300, "the gateway did not accept enough events before the kill"

    fake = FakePlatform(meta_port).start()
    try:
        with gateway_process(config, gw_port):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not set(acked) <= set(fake.event_ids()):
                time.sleep(0.1)
            missing = set(acked) - set(fake.event_ids())
            assert not missing, f"{len(missing)} acknowledged events never arrived"
    finally:
        fake.stop()
