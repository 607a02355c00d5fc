"""One delivery loop per destination: lease, encode, send, settle.

Every leased item is settled exactly once: acked, retried later, or dead-lettered with
a reason. An adapter that raises while encoding, or forgets an item, cannot break that:
what it did not account for is retried. A permanent failure that the adapter marks
``splittable`` (one bad event failing a whole batch, as Meta does) is bisected so the
good events still go and only the bad one is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence

import httpx
import structlog

from destinations.base import HttpDestination, QueuedEvent, Remark, SendResult
from gateway.delivery.retry import backoff_secs, exhausted
from gateway.errors import QueueError
from gateway.metrics import Metrics
from gateway.queue.base import Store

log = structlog.get_logger("gateway.delivery")

#: how often an idle worker re-checks the queue even without a wakeup
IDLE_RECHECK_SECS = 5.0
STORE_FAILURE_PAUSE_SECS = 1.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class DestinationWorker:
    """Delivers one destination's queued events until stopped."""

    def __init__(
        self,
        destination: HttpDestination,
        store: Store,
        client: httpx.AsyncClient,
        metrics: Metrics,
        lease_secs: float,
    ) -> None:
        self.destination = destination
        self.store = store
        self.client = client
        self.metrics = metrics
        self.lease_secs = lease_secs
        self.name = destination.name

    async def run(self) -> None:
        """Deliver until cancelled."""
        log.info("delivery_started", destination=self.name)
        while True:
            try:
                await self._wait_for_work()
                batch = await self.store.lease(
                    self.name, self.destination.batch_size(), self.lease_secs
                )
                if batch:
                    await self.deliver(batch)
            except QueueError as err:
                # leased items stay leased and come due again when the lease expires
                log.error("queue_unavailable", destination=self.name, error=str(err))
                await asyncio.sleep(STORE_FAILURE_PAUSE_SECS)

    async def _wait_for_work(self) -> None:
        """Return when items are due and either a batch is full or the oldest has waited long
        enough (``batch.max_wait_ms``): batching costs at most that much latency."""
        wake = self.store.wakeup(self.name)
        linger_ms = self.destination.settings.batch.max_wait_ms
        while True:
            wake.clear()
            due = await self.store.next_due_ms(self.name)
            now = _now_ms()
            if due is not None and due <= now:
                full = self.store.depth().get(self.name, 0) >= self.destination.batch_size()
                if full or now >= due + linger_ms:
                    return
                wait = (due + linger_ms - now) / 1000
            elif due is not None:
                wait = min((due - now) / 1000, IDLE_RECHECK_SECS)
            else:
                wait = IDLE_RECHECK_SECS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(wait, 0.001))

    async def deliver(self, batch: Sequence[QueuedEvent]) -> None:
        """Send ``batch`` and settle every item in it exactly once."""
        unsettled = {item.id: item for item in batch}
        try:
            await self._send(list(batch), unsettled)
        except Exception as err:  # an adapter bug must not lose or stall events
            log.exception("delivery_error", destination=self.name, error=type(err).__name__)
        if unsettled:
            await self._retry(list(unsettled.values()), None, "not settled by the adapter")
            unsettled.clear()

    async def _send(self, items: list[QueuedEvent], unsettled: dict[int, QueuedEvent]) -> None:
        encoded = self.destination.encode(items, now_ms=_now_ms())
        self._note_remarks(encoded.remarks)
        for rejection in encoded.rejected:
            await self._dead([unsettled.pop(rejection.item_id)], f"rejected: {rejection.reason}")
        for request in encoded.requests:
            started = time.perf_counter()
            result = await self.destination.send(self.client, request)
            self.metrics.request_seconds.labels(self.name).observe(time.perf_counter() - started)
            self.metrics.requests.labels(self.name, result.outcome).inc()
            sent = [unsettled.pop(i) for i in request.item_ids if i in unsettled]
            await self._settle(sent, result, unsettled)

    def _note_remarks(self, remarks: Sequence[Remark]) -> None:
        """Count and log what the adapter changed to fit the platform: never silent."""
        if not remarks:
            return
        by_rule = Counter(remark.rule for remark in remarks)
        for rule, count in by_rule.items():
            self.metrics.inc(self.metrics.fitted, self.name, rule, amount=count)
        log.info("delivery_fitted", destination=self.name, rules=dict(by_rule))

    async def _settle(
        self, items: list[QueuedEvent], result: SendResult, unsettled: dict[int, QueuedEvent]
    ) -> None:
        if result.outcome == "ok":
            await self.store.ack([i.id for i in items])
            self.metrics.deliveries.labels(self.name, "delivered").inc(len(items))
            return
        log.warning(
            "delivery_failed",
            destination=self.name,
            outcome=result.outcome,
            reason=result.reason,
            status=result.status,
            events=len(items),
        )
        if result.outcome == "permanent":
            if result.splittable and len(items) > 1:
                half = len(items) // 2
                for part in (items[:half], items[half:]):
                    unsettled.update({i.id: i for i in part})
                    await self._send(part, unsettled)
                return
            await self._dead(items, f"permanent: {result.reason}")
            return
        await self._retry(items, result.retry_after_secs, result.reason)

    async def _retry(
        self, items: list[QueuedEvent], retry_after: float | None, reason: str
    ) -> None:
        settings = self.destination.settings.retry
        spent = [i for i in items if exhausted(i.attempts, settings)]
        again = [i for i in items if not exhausted(i.attempts, settings)]
        if spent:
            await self._dead(spent, f"retries exhausted: {reason}")
        if again:
            attempt = max(i.attempts for i in again)
            delay = backoff_secs(attempt, settings, retry_after)
            await self.store.retry([i.id for i in again], delay, reason)
            self.metrics.deliveries.labels(self.name, "retried").inc(len(again))

    async def _dead(self, items: list[QueuedEvent], reason: str) -> None:
        await self.store.dead_letter([i.id for i in items], reason)
        self.metrics.deliveries.labels(self.name, "dead_lettered").inc(len(items))
        log.warning("dead_lettered", destination=self.name, reason=reason, events=len(items))
