"""Two gateway processes share one queue on Redis; one is killed while both consume.

Both accept events and deliver them; gateway A is killed with SIGKILL in the middle of
the load, holding leases on events it was sending. Gateway B reclaims them once their
lease times out (``XAUTOCLAIM``) and delivers them with their event ids. A restarted
under its own consumer name resumes at once. In the end every event answered 204 by
either process was delivered or dead-lettered with a reason: none missing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from gateway.queue.dead_letters import DeadLetterQuery
from gateway.queue.redis import RedisStore
from tests.support.configs import base_config, merged, write_config
from tests.support.events import US_BROWSER, purchase
from tests.support.fake_platform import Answer, FakePlatform
from tests.support.process import gateway_process
from tests.support.server import free_port


def _config(tmp_path: Path, name: str, meta_url: str, redis_url: str, prefix: str) -> Path:
    data = merged(
        base_config(tmp_path / "unused.db", meta_url),
        {
            "queue": {
                "backend": "redis",
                "url": redis_url,
                "prefix": prefix,
                "consumer": name,
                "lease_secs": 5,
            },
            "logging": {"decisions": False},
            "destinations": {
                "meta": {
                    "batch": {"max_events": 20, "max_wait_ms": 5},
                    "retry": {
                        "max_attempts": 1000,
                        "initial_backoff_secs": 0.05,
                        "max_backoff_secs": 0.3,
                    },
                }
            },
        },
    )
    return write_config(tmp_path / f"{name}.yaml", data)


async def _dead_letter_ids(redis_url: str, prefix: str) -> dict[str, str]:
    store = RedisStore(redis_url, prefix=prefix, consumer="check", max_rows=10, max_bytes=1 << 20)
    await store.start()
    try:
        return {d.event_id: d.reason for d in await store.read_dead_letters(DeadLetterQuery())}
    finally:
        await store.close()


def test_killing_one_of_two_redis_gateways_loses_nothing(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """SIGKILL one gateway mid-load: the other reclaims its leases; with it restarted,
    every event answered 204 by either is delivered (by event id) or dead-lettered."""
    fake = FakePlatform().start()
    fake.default = Answer(delay_secs=0.05)  # sends are in flight when the kill comes
    ports = {"gw-a": free_port(), "gw-b": free_port()}
    configs = {name: _config(tmp_path, name, fake.url, redis_url, redis_prefix) for name in ports}
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    targets = itertools.cycle(ports.values())

    def send_until_stopped() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                with lock:
                    port = next(targets)
                event_id = str(uuid.uuid4())
                try:
                    response = client.post(
                        f"http://127.0.0.1:{port}/collect",
                        json=purchase(event_id=event_id),
                        headers=US_BROWSER,
                    )
                except httpx.TransportError:
                    continue  # the killed gateway: not acknowledged, not counted
                if response.status_code == 204:
                    with lock:
                        acked.append(event_id)

    try:
        with (
            gateway_process(configs["gw-b"], ports["gw-b"], tmp_path / "b.log"),
            ThreadPoolExecutor(6) as pool,
        ):
            with gateway_process(configs["gw-a"], ports["gw-a"], tmp_path / "a.log") as a:
                senders = [pool.submit(send_until_stopped) for _ in range(6)]
                deadline = time.monotonic() + 30
                while (len(acked) < 400 or len(fake.event_ids()) < 100) and (
                    time.monotonic() < deadline
                ):
                    time.sleep(0.01)
                os.kill(a.pid, signal.SIGKILL)
                a.wait(timeout=10)
            time.sleep(0.5)  # B alone takes the load for a moment
            stop.set()
            for sender in senders:
                sender.result(timeout=10)
            assert len(acked) >= 400, "the gateways did not accept enough events"

            # B alone: A's leases are reclaimed once they time out (lease_secs: 5)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not set(acked) <= set(fake.event_ids()):
                time.sleep(0.1)
            with gateway_process(configs["gw-a"], ports["gw-a"], tmp_path / "a2.log"):
                dead = asyncio.run(_dead_letter_ids(redis_url, redis_prefix))
                missing = set(acked) - set(fake.event_ids()) - set(dead)
                assert not missing, f"{len(missing)} acknowledged events neither delivered nor dead"
                assert all(reason for reason in dead.values())
    finally:
        fake.stop()
