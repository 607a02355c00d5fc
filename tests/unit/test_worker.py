"""The delivery worker: every leased item settled exactly once; retries, dead letters,
bisection of batches a platform rejects because of one event."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import time
import weakref
from collections import Counter
from typing import Any

import httpx
import orjson
import respx

from destinations.base import CircuitSettings, Encoded, QueuedEvent
from destinations.meta_capi import MetaCapi, Settings
from gateway.delivery.worker import DestinationWorker
from gateway.metrics import Metrics
from gateway.pipeline.route import QueueEntry
from tests.support.fake_platform import FakePlatform
from tests.support.worker import RecordingStore, assert_each_settled_once, run_once

URL = "http://meta.test/v26.0/42/events"


def governed(n: int, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "page_view",
        "event_id": f"e{n}",
        "timestamp_ms": int(time.time() * 1000),
        "page": {"url": "https://shop.example/"},
        "context": {"user_agent": "UA/1", "ip": "203.0.113.7"},
    }
    event.update(overrides)
    return event


def meta(**retry: Any) -> MetaCapi:
    settings = Settings.model_validate(
        {
            "type": "meta_capi",
            "requires": [],
            "pixel_id": "42",
            "access_token": "tok",
            "endpoint": "http://meta.test",
            "retry": {
                "max_attempts": 3,
                "initial_backoff_secs": 0.01,
                "max_backoff_secs": 0.05,
                **retry,
            },
        }
    )
    return MetaCapi("meta", settings)


@respx.mock
async def test_mixed_outcomes_settle_every_item_exactly_once(store: RecordingStore) -> None:
    """Across ok, retryable and permanent answers and up-front rejections, the number of
    acks + retries + dead letters equals the number of leased items, each item once."""
    destination = meta()
    destination.settings = destination.settings.model_copy(
        update={"batch": destination.settings.batch.model_copy(update={"max_events": 2})}
    )
    respx.post(url__startswith=URL).mock(
        side_effect=[
            httpx.Response(200, json={"events_received": 2}),
            httpx.Response(503),
            httpx.Response(400, json={"error": {"code": 190, "message": "token"}}),
        ]
    )
    events = [governed(i) for i in range(6)]
    events[5] = governed(5, context={})  # no user agent: refused before sending
    leased = await run_once(store, destination, events)
    assert_each_settled_once(store, leased)
    kinds = Counter(kind for kind, _ in store.settled)
    assert kinds == {"ack": 2, "retry": 2, "dead": 2}
    assert any(r.startswith("rejected: no user agent") for r in store.reasons.values())
    assert any(r.startswith("permanent: HTTP 400, Graph error 190") for r in store.reasons.values())


@respx.mock
async def test_one_bad_event_is_bisected_out_of_a_batch(store: RecordingStore) -> None:
    """Meta rejects a whole batch for one invalid event (code 100): the worker splits the
    batch until the bad event is alone; the others are delivered."""

    def answer(request: httpx.Request) -> httpx.Response:
        ids = [e["event_id"] for e in orjson.loads(request.content)["data"]]
        if "e5" in ids:
            return httpx.Response(400, json={"error": {"code": 100, "error_subcode": 2804019}})
        return httpx.Response(200, json={"events_received": len(ids)})

    respx.post(url__startswith=URL).mock(side_effect=answer)
    leased = await run_once(store, meta(), [governed(i) for i in range(8)])
    assert_each_settled_once(store, leased)
    dead = [i for kind, i in store.settled if kind == "dead"]
    assert len(dead) == 1 and (await store.dead_letters())[0].event_id == "e5"
    assert Counter(kind for kind, _ in store.settled)["ack"] == 7


@respx.mock
async def test_retry_after_is_a_floor_for_the_delay(store: RecordingStore) -> None:
    """A 429 with Retry-After: 30 is retried no sooner than 30 s later."""
    respx.post(url__startswith=URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "30"})
    )
    leased = await run_once(store, meta(max_backoff_secs=1), [governed(1)])
    assert_each_settled_once(store, leased)
    assert len(store.delays) == 1 and store.delays[0] >= 30


@respx.mock
async def test_exhausted_retries_go_to_the_dead_letter_store(store: RecordingStore) -> None:
    """After max_attempts, a retryable failure dead-letters the item with the reason."""
    respx.post(url__startswith=URL).mock(return_value=httpx.Response(503))
    destination = meta(max_attempts=2)
    await store.put([QueueEntry("meta", "e1", orjson.dumps(governed(1)))])
    async with httpx.AsyncClient() as client:
        worker = DestinationWorker(destination, store, client, Metrics(), 30)
        for _ in range(2):
            await asyncio.sleep(0.06)
            await worker.deliver(await store.lease("meta", 10, 30))
    assert [kind for kind, _ in store.settled] == ["retry", "dead"]
    (dead,) = await store.dead_letters()
    assert dead.reason == "retries exhausted: HTTP 503" and dead.attempts == 2


@respx.mock
async def test_transport_errors_are_retried(store: RecordingStore) -> None:
    """A refused connection or a timeout is retryable, never a dead letter."""
    respx.post(url__startswith=URL).mock(side_effect=[httpx.ConnectError("refused")])
    leased = await run_once(store, meta(), [governed(1)])
    assert store.settled == [("retry", leased[0])]


async def test_an_adapter_that_raises_cannot_lose_events(store: RecordingStore) -> None:
    """If encoding raises (an adapter bug), every item is retried, none is lost."""

    class Broken(MetaCapi):
        def encode(self, batch: Any, *, now_ms: int | None = None) -> Any:
            raise TypeError("bug")

    destination = Broken("meta", meta().settings)
    leased = await run_once(store, destination, [governed(i) for i in range(3)])
    assert_each_settled_once(store, leased)
    assert {kind for kind, _ in store.settled} == {"retry"}


async def test_worker_loop_delivers_what_is_put(store: RecordingStore) -> None:
    """The running worker wakes on put, batches, delivers and acks."""
    with respx.mock:
        route = respx.post(url__startswith=URL).mock(
            return_value=httpx.Response(200, json={"events_received": 1})
        )
        async with httpx.AsyncClient() as client:
            worker = DestinationWorker(meta(), store, client, Metrics(), 30)
            task = asyncio.create_task(worker.run())
            await store.put(
                [QueueEntry("meta", f"e{i}", orjson.dumps(governed(i))) for i in range(20)]
            )
            for _ in range(200):
                if store.depth() == {}:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
    assert store.depth() == {}
    assert route.call_count == 1


def one_request_per_event(destination: MetaCapi) -> MetaCapi:
    """The adapter, sending each event in a request of its own (as GA4 does per visitor)."""

    class PerEvent(MetaCapi):
        def encode(self, batch: Any, *, now_ms: int | None = None) -> Encoded:
            parts = [super(PerEvent, self).encode([item], now_ms=now_ms) for item in batch]
            return Encoded([r for p in parts for r in p.requests])

    return PerEvent(destination.name, destination.settings)


async def wait_until(check: Any, secs: float = 5) -> None:
    deadline = time.monotonic() + secs
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_circuit_opens_holds_events_queued_and_probes_before_resuming(
    store: RecordingStore,
) -> None:
    """After `failures` failed requests in a row nothing more is sent: the rest of the
    batch is held back unsent, events stay queued with attempts to spare. After the
    cool-down one event goes as a probe; when it succeeds, everything is delivered."""
    destination = one_request_per_event(meta(max_attempts=50))
    destination.settings = destination.settings.model_copy(
        update={
            "circuit": CircuitSettings(failures=2, cooldown_secs=0.4),
            "batch": destination.settings.batch.model_copy(update={"max_wait_ms": 0}),
        }
    )
    down = True
    sizes: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sizes.append(len(orjson.loads(request.content)["data"]))
        if down:
            return httpx.Response(503)
        return httpx.Response(200, json={"events_received": 1})

    metrics = Metrics()
    with respx.mock:
        route = respx.post(url__startswith=URL).mock(side_effect=answer)
        async with httpx.AsyncClient() as client:
            worker = DestinationWorker(destination, store, client, metrics, 30)
            await store.put(
                [QueueEntry("meta", f"e{i}", orjson.dumps(governed(i))) for i in range(6)]
            )
            task = asyncio.create_task(worker.run())
            await wait_until(lambda: worker.circuit.state == "open")
            await asyncio.sleep(0.2)  # open: nothing is sent
            assert route.call_count == 2
            assert store.depth() == {"meta": 6} and store.kinds()["dead"] == 0
            assert "held: platform unavailable" in store.retry_reasons
            assert metrics.circuit_open.labels("meta")._value.get() == 1
            down = False
            await wait_until(lambda: store.depth() == {}, secs=5)
            worker.stop()
            await task
    assert sizes[2] == 1, "the first request after the cool-down is a one-event probe"
    assert worker.circuit.state == "closed"
    assert store.kinds()["ack"] == 6 and store.kinds()["dead"] == 0
    assert metrics.circuit_opened.labels("meta")._value.get() == 1
    assert metrics.circuit_open.labels("meta")._value.get() == 0


async def test_events_past_max_age_are_dead_lettered_with_the_reason(
    store: RecordingStore,
) -> None:
    """An item that has waited longer than retry.max_age_secs is not sent: it goes to
    the dead-letter store, saying so; younger items in the same batch are delivered."""
    destination = meta(max_age_secs=3600)
    with respx.mock:
        route = respx.post(url__startswith=URL).mock(
            return_value=httpx.Response(200, json={"events_received": 1})
        )
        await store.put([QueueEntry("meta", f"e{i}", orjson.dumps(governed(i))) for i in range(2)])
        old, young = await store.lease("meta", 10, 30)
        old = dataclasses.replace(old, created_ms=old.created_ms - 3601 * 1000)
        async with httpx.AsyncClient() as client:
            await DestinationWorker(destination, store, client, Metrics(), 30).deliver([old, young])
    assert_each_settled_once(store, [old.id, young.id])
    assert store.reasons == {old.id: "expired: waited longer than 3600 s"}
    assert [e["event_id"] for e in orjson.loads(route.calls[0].request.content)["data"]] == ["e1"]


async def test_stop_lets_the_request_in_flight_finish(store: RecordingStore) -> None:
    """stop() during a send: the send completes and is acked, then run() returns."""
    sent = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        sent.set()
        await asyncio.sleep(0.3)
        return httpx.Response(200, json={"events_received": 1})

    with respx.mock:
        respx.post(url__startswith=URL).mock(side_effect=slow)
        async with httpx.AsyncClient() as client:
            worker = DestinationWorker(meta(), store, client, Metrics(), 30)
            task = asyncio.create_task(worker.run())
            await store.put([QueueEntry("meta", "e1", orjson.dumps(governed(1)))])
            await asyncio.wait_for(sent.wait(), 5)
            worker.stop()
            await asyncio.wait_for(task, 5)
    assert store.settled and store.kinds() == {"ack": 1}
    assert store.depth() == {}


async def test_a_send_cancelled_at_the_end_of_the_grace_period_is_due_again(
    store: RecordingStore,
) -> None:
    """Cancelled mid-send (the grace period ran out): its items are due again at once,
    with the reason, not stuck behind their lease."""
    sent = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        sent.set()
        await asyncio.sleep(30)
        return httpx.Response(200)

    with respx.mock:
        respx.post(url__startswith=URL).mock(side_effect=hang)
        async with httpx.AsyncClient() as client:
            worker = DestinationWorker(meta(), store, client, Metrics(), 3600)
            task = asyncio.create_task(worker.run())
            await store.put([QueueEntry("meta", "e1", orjson.dumps(governed(1)))])
            await asyncio.wait_for(sent.wait(), 5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert store.kinds() == {"retry": 1}
    assert store.retry_reasons == ["interrupted by shutdown"]
    (again,) = await store.lease("meta", 10, 30)
    assert again.event["event_id"] == "e1"


async def test_retry_after_holds_back_the_whole_destination(store: RecordingStore) -> None:
    """A 429 with Retry-After: 1 pauses every send to the destination for that second,
    not only the throttled events: events queued meanwhile wait too."""
    times: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        if len(times) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        return httpx.Response(200, json={"events_received": 1})

    destination = meta()
    destination.settings = destination.settings.model_copy(
        update={"batch": destination.settings.batch.model_copy(update={"max_wait_ms": 0})}
    )
    with respx.mock:
        respx.post(url__startswith=URL).mock(side_effect=answer)
        async with httpx.AsyncClient() as client:
            worker = DestinationWorker(destination, store, client, Metrics(), 30)
            task = asyncio.create_task(worker.run())
            await store.put([QueueEntry("meta", "e1", orjson.dumps(governed(1)))])
            await wait_until(lambda: len(times) == 1)
            await store.put([QueueEntry("meta", "e2", orjson.dumps(governed(2)))])
            await wait_until(lambda: store.depth() == {}, secs=5)
            worker.stop()
            await task
    assert len(times) >= 2 and times[1] - times[0] >= 0.95


async def test_a_sent_request_is_freed_without_waiting_for_the_cyclic_gc() -> None:
    """The request (and its body, up to megabytes for a full batch) is released by
    reference counting when the send returns: the server runs the cyclic GC rarely, and a
    backlog drained through lingering cycles grew its memory with every batch."""
    fake = FakePlatform().start()
    settings = meta().settings.model_copy(update={"endpoint": fake.url})
    destination = MetaCapi("meta", settings)
    now = int(time.time() * 1000)
    events = [QueuedEvent(i, "meta", 1, now, governed(i)) for i in range(3)]
    (request,) = destination.encode(events).requests
    seen: list[weakref.ref[httpx.Request]] = []

    async def note(sent: httpx.Request) -> None:
        seen.append(weakref.ref(sent))

    gc.disable()
    try:
        async with httpx.AsyncClient(event_hooks={"request": [note]}) as client:
            result = await destination.send(client, request)
            assert result.outcome == "ok"
            assert seen and seen[0]() is None, "the request outlived the send"
    finally:
        gc.enable()
        fake.stop()
