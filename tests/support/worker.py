"""Running the delivery worker in tests: the real SQLite store, recording each settlement.

``RecordingStore`` is the real store that also notes how each item was settled (ack,
retry with its delay and reason, dead letter with its reason); ``run_once`` queues
governed events, leases them all and has a real ``DestinationWorker`` deliver them once.
The ``store`` fixture (``tests/conftest.py``) gives a started one per test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from destinations.base import HttpDestination
from gateway.delivery.worker import DestinationWorker
from gateway.metrics import Metrics
from gateway.pipeline.route import QueueEntry
from gateway.queue.sqlite import SqliteStore


class RecordingStore(SqliteStore):
    """The real store, recording how each item was settled (and why)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settled: list[tuple[str, int]] = []
        self.delays: list[float] = []
        self.retry_reasons: list[str] = []
        self.reasons: dict[int, str] = {}

    async def ack(self, ids: Sequence[int]) -> None:
        self.settled += [("ack", i) for i in ids]
        await super().ack(ids)

    async def retry(self, ids: Sequence[int], delay_secs: float, reason: str) -> None:
        self.settled += [("retry", i) for i in ids]
        self.delays.append(delay_secs)
        self.retry_reasons.append(reason)
        await super().retry(ids, delay_secs, reason)

    async def dead_letter(self, ids: Sequence[int], reason: str) -> None:
        self.settled += [("dead", i) for i in ids]
        self.reasons.update(dict.fromkeys(ids, reason))
        await super().dead_letter(ids, reason)

    def kinds(self) -> Counter[str]:
        """How many settlements of each kind (``ack``, ``retry``, ``dead``)."""
        return Counter(kind for kind, _ in self.settled)


async def run_once(
    store: RecordingStore, destination: HttpDestination, events: Sequence[dict[str, Any]]
) -> list[int]:
    """Queue ``events`` (governed, for ``destination``), lease them all, deliver once;
    the leased ids. An event without an ``event_id`` is queued as ``e<index>``."""
    name = destination.name
    await store.put(
        [
            QueueEntry(name, e.get("event_id", f"e{n}"), orjson.dumps(e))
            for n, e in enumerate(events)
        ]
    )
    leased = await store.lease(name, len(events), 30)
    assert len(leased) == len(events)
    async with httpx.AsyncClient() as client:
        worker = DestinationWorker(destination, store, client, Metrics(), 30)
        await worker.deliver(leased)
    return [i.id for i in leased]


def assert_each_settled_once(store: RecordingStore, leased: list[int]) -> None:
    """Every leased item was acked, retried or dead-lettered, and exactly once."""
    counts = Counter(item for _, item in store.settled)
    assert sorted(counts) == sorted(leased)
    assert set(counts.values()) == {1}
