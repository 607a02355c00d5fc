"""One delivery loop per destination: lease, encode, send, settle.

Every leased item is settled exactly once: acked, retried later, or dead-lettered with
a reason. An adapter that raises while encoding, or forgets an item, cannot break that:
what it did not account for is retried. A permanent failure that the adapter marks
``splittable`` (one bad event failing a whole batch, as Meta does) is bisected so the
good events still go and only the bad one is dead-lettered. An item that has waited
past the destination's ``retry.max_age_secs`` is dead-lettered when it comes due.

A circuit breaker (``gateway.delivery.circuit``) pauses leasing while the platform keeps
failing, so an outage leaves events queued rather than burning their attempts. Each
destination has its own loop, sending one request at a time: a slow or dead platform
holds up only its own events. ``stop`` lets the batch in flight finish; a batch
interrupted anyway (the grace period ran out) is made due again before the task ends.
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
from gateway.delivery.circuit import Circuit
from gateway.delivery.retry import MAX_RETRY_AFTER_SECS, backoff_secs, exhausted
from gateway.errors import QueueError
from gateway.metrics import Metrics
from gateway.queue.base import Store

log = structlog.get_logger("gateway.delivery")

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
        self.circuit = Circuit(destination.settings.circuit)
        self._stopping = asyncio.Event()
        #: a ``Retry-After`` holds back the whole destination, not only the events it
        #: answered: the platform asked this sender to wait (``time.monotonic()``)
        self._throttled_until = 0.0
        metrics.circuit_open.labels(self.name).set(0)

    def stop(self) -> None:
        """Finish the batch in flight, then return from ``run``."""
        self._stopping.set()
        self.store.wakeup(self.name).set()

    async def run(self) -> None:
        """Deliver until stopped (or cancelled)."""
        log.info("delivery_started", destination=self.name)
        while not self._stopping.is_set():
            try:
                if pause := self._hold_secs():
                    await self._pause(pause)
                    continue
                if not await self._wait_for_work():
                    break
                limit = 1 if self.circuit.probing else self.destination.batch_size()
                batch = await self.store.lease(self.name, limit, self.lease_secs)
                if batch:
                    await self.deliver(batch)
            except QueueError as err:
                # leased items stay leased and come due again when the lease expires
                log.error("queue_unavailable", destination=self.name, error=str(err))
                await self._pause(STORE_FAILURE_PAUSE_SECS)
        log.info("delivery_stopped", destination=self.name)

    def _hold_secs(self) -> float:
        """Seconds before anything may be sent: the circuit is open, or the platform
        asked to wait (0: send now)."""
        return max(self.circuit.wait_secs(), self._throttled_until - time.monotonic(), 0.0)

    async def _pause(self, secs: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=secs)

    async def _wait_for_work(self) -> bool:
        """Return True when items are due and either a batch is full or the oldest has
        waited long enough (``batch.max_wait_ms``): batching costs at most that much
        latency. False when the worker is stopping."""
        wake = self.store.wakeup(self.name)
        linger_ms = self.destination.settings.batch.max_wait_ms
        poll_secs = self.store.poll_secs
        while True:
            if self._stopping.is_set():
                return False
            wake.clear()
            due = await self.store.next_due_ms(self.name)
            now = _now_ms()
            if due is not None and due <= now:
                full = self.store.depth().get(self.name, 0) >= self.destination.batch_size()
                if full or now >= due + linger_ms:
                    return True
                wait = (due + linger_ms - now) / 1000
            elif due is not None:
                wait = min((due - now) / 1000, poll_secs)
            else:
                wait = poll_secs
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(wait, 0.001))

    async def deliver(self, batch: Sequence[QueuedEvent]) -> None:
        """Send ``batch`` and settle every item in it exactly once."""
        unsettled = {item.id: item for item in batch}
        try:
            if expired := self._expired(batch):
                max_age = self.destination.settings.retry.max_age_secs
                for item in expired:
                    del unsettled[item.id]
                await self._dead(expired, f"expired: waited longer than {max_age:g} s")
            await self._send(list(unsettled.values()), unsettled)
        except asyncio.CancelledError:
            # shutdown ran out of grace mid-send: due again at once, not after the lease
            with contextlib.suppress(QueueError):
                await asyncio.shield(
                    self.store.retry(list(unsettled), 0, "interrupted by shutdown")
                )
            raise
        except Exception as err:  # an adapter bug must not lose or stall events
            log.exception("delivery_error", destination=self.name, error=type(err).__name__)
        if unsettled:
            await self._retry(list(unsettled.values()), None, "not settled by the adapter")
            unsettled.clear()

    def _expired(self, batch: Sequence[QueuedEvent]) -> list[QueuedEvent]:
        oldest = _now_ms() - int(self.destination.settings.retry.max_age_secs * 1000)
        return [item for item in batch if item.created_ms < oldest]

    async def _send(self, items: list[QueuedEvent], unsettled: dict[int, QueuedEvent]) -> None:
        if not items:
            return
        encoded = self.destination.encode(items, now_ms=_now_ms())
        self._note_remarks(encoded.remarks)
        for rejection in encoded.rejected:
            await self._dead([unsettled.pop(rejection.item_id)], f"rejected: {rejection.reason}")
        for request in encoded.requests:
            sent = [unsettled[i] for i in request.item_ids if i in unsettled]
            if self.circuit.state == "open" or self._throttled_until > time.monotonic():
                # the platform failed again, or asked to wait, mid-batch: hold the rest
                # back unsent (the worker leases nothing more until it may send)
                for item in sent:
                    del unsettled[item.id]
                await self.store.retry([i.id for i in sent], 0, "held: platform unavailable")
                continue
            started = time.perf_counter()
            result = await self.destination.send(self.client, request)
            self.metrics.request_seconds.labels(self.name).observe(time.perf_counter() - started)
            self.metrics.requests.labels(self.name, result.outcome).inc()
            self._note_circuit(self.circuit.record(result.outcome != "retry"), result)
            if result.outcome == "retry" and result.retry_after_secs:
                wait = min(result.retry_after_secs, MAX_RETRY_AFTER_SECS)
                self._throttled_until = max(self._throttled_until, time.monotonic() + wait)
            for item in sent:
                del unsettled[item.id]
            await self._settle(sent, result, unsettled)

    def _note_circuit(self, changed: str | None, result: SendResult) -> None:
        if changed is None:
            return
        self.metrics.circuit_open.labels(self.name).set(int(changed != "closed"))
        if changed == "open":
            self.metrics.inc(self.metrics.circuit_opened, self.name)
            log.warning(
                "circuit_opened",
                destination=self.name,
                reason=result.reason,
                probe_in_secs=self.circuit.cooldown_secs,
            )
        elif changed == "closed":
            log.info("circuit_closed", destination=self.name)

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
