"""What only the Redis store does: several processes (consumers) on one queue, leases
of a dead consumer reclaimed, a restart under the same consumer name, counts shared
between processes, and Redis unreachable or out of memory. The semantics every store
shares are in ``test_store_conformance``."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
import redis.asyncio

from gateway.consent_records import ConsentRecord, Query
from gateway.errors import QueueFull, QueueUnavailable
from gateway.pipeline.route import QueueEntry
from gateway.queue import redis as redis_store
from gateway.queue.redis import RedisStore
from tests.support.server import free_port

Open = Callable[..., Awaitable[RedisStore]]


def entry(n: int, destination: str = "meta") -> QueueEntry:
    return QueueEntry(destination, f"e{n}", orjson.dumps({"event": "x", "event_id": f"e{n}"}))


@pytest.fixture
async def open_store(redis_url: str, redis_prefix: str) -> AsyncIterator[Open]:
    """Opens stores on one queue, as separate gateway processes would (``consumer``)."""
    opened: list[RedisStore] = []

    async def open_(consumer: str, max_rows: int = 1000) -> RedisStore:
        store = RedisStore(
            redis_url,
            prefix=redis_prefix,
            consumer=consumer,
            max_rows=max_rows,
            max_bytes=10_000_000,
        )
        await store.start()
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


async def test_two_consumers_share_the_queue_exactly_once(open_store: Open) -> None:
    """Two processes leasing one destination never hold the same item at once, and
    together deliver every item exactly once."""
    a, b = await open_store("a"), await open_store("b")
    await a.put([entry(i) for i in range(60)])
    held: dict[int, str] = {}
    delivered: list[str] = []
    by: set[str] = set()
    rng = random.Random(7)

    async def work(store: RedisStore) -> None:
        while True:
            batch = await store.lease("meta", rng.randint(1, 8), 30)
            if not batch:
                return
            for item in batch:
                assert item.id not in held
                held[item.id] = item.event["event_id"]
            await asyncio.sleep(0)  # let the other consumer lease meanwhile
            for item in batch:
                delivered.append(held.pop(item.id))
            by.add(store.consumer)
            await store.ack([item.id for item in batch])

    await asyncio.gather(work(a), work(b))
    assert sorted(delivered) == sorted(f"e{i}" for i in range(60))
    assert set(by) == {"a", "b"}
    assert await a.next_due_ms("meta") is None


async def test_a_dead_consumers_leases_are_reclaimed_after_the_lease_time(
    open_store: Open,
) -> None:
    """Items leased by a process that died are claimed by another once their lease has
    run out (XAUTOCLAIM), same ids and events, one more attempt counted."""
    dying, survivor = await open_store("dying"), await open_store("survivor")
    await dying.put([entry(i) for i in range(3)])
    leased = await dying.lease("meta", 10, 0.3)
    # the dying process never settles them
    assert await survivor.lease("meta", 10, 0.3) == []
    due = await survivor.next_due_ms("meta")
    assert due is not None and time.time() * 1000 < due
    await asyncio.sleep(0.35)
    assert (await survivor.next_due_ms("meta") or 0) <= time.time() * 1000
    reclaimed = await survivor.lease("meta", 10, 0.3)
    assert [(i.id, i.event, i.attempts) for i in reclaimed] == [(i.id, i.event, 2) for i in leased]
    await survivor.ack([i.id for i in reclaimed])
    await asyncio.sleep(0.35)
    assert await survivor.lease("meta", 10, 0.3) == []
    assert survivor.depth() == {}


async def test_restart_under_the_same_consumer_name_makes_its_leases_due(
    open_store: Open,
) -> None:
    """A process restarted under its consumer name gets the items its predecessor left
    leased at once, not after the lease time; another consumer's leases stay theirs."""
    first = await open_store("gw-1")
    other = await open_store("gw-2")
    await first.put([entry(i) for i in range(4)])
    mine = await first.lease("meta", 2, 3600)
    theirs = await other.lease("meta", 1, 3600)
    await first.close()

    again = await open_store("gw-1")
    assert (await again.next_due_ms("meta") or 0) <= time.time() * 1000
    leased = await again.lease("meta", 10, 3600)
    assert [(i.event["event_id"], i.attempts) for i in leased] == [("e0", 2), ("e1", 2), ("e3", 1)]
    assert [i.id for i in leased[:2]] == [i.id for i in mine]
    assert theirs[0].event["event_id"] == "e2"
    assert again.depth() == {"meta": 4}


async def test_bounds_and_counts_are_shared_between_processes(open_store: Open) -> None:
    """The bounds hold across processes; each sees the others' changes in its counts
    (at once after its own operations, within a second otherwise)."""
    a = await open_store("a", max_rows=3)
    b = await open_store("b", max_rows=3)
    await a.put([entry(i) for i in range(2)], [])
    await b.put([entry(2)])
    assert b.depth() == {"meta": 3}
    with pytest.raises(QueueFull):
        await a.put([entry(3)])
    (item,) = await b.lease("meta", 1, 30)
    await b.dead_letter([item.id], "permanent")
    deadline = time.monotonic() + 2
    while a.dead_letter_count() != {"meta": 1} and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert (a.depth(), a.dead_letter_count()) == ({"meta": 2}, {"meta": 1})


async def test_consent_records_out_of_time_order_are_kept(open_store: Open) -> None:
    """A record whose at_ms is earlier than the last one written (another process's
    clock) is still written, and purged no earlier than the records before it."""
    store = await open_store("a")
    now = int(time.time() * 1000)
    records = [
        ConsentRecord(at, "k", f"e{at}", "page_view", None, "opt_in", "d", b"{}", "v")
        for at in (now, now - 1000)
    ]
    await store.put([], records)
    assert [r["at_ms"] for r in await store.read_consent_records(Query())] == [now, now - 1000]
    assert await store.purge_consent_records(now - 500) == 0
    assert await store.purge_consent_records(now + 1) == 2


async def test_redis_down_is_queue_unavailable() -> None:
    """Unreachable Redis: every operation raises QueueUnavailable, never anything else,
    and the message never holds the URL's password."""
    store = RedisStore(
        f"redis://:s3cret@127.0.0.1:{free_port()}/0",
        consumer="a",
        max_rows=10,
        max_bytes=10_000,
    )
    with pytest.raises(QueueUnavailable) as started:
        await store.start()
    with pytest.raises(QueueUnavailable) as put:
        await store.put([entry(1)])
    with pytest.raises(QueueUnavailable):
        await store.lease("meta", 10, 30)
    with pytest.raises(QueueUnavailable):
        await store.ping()
    for err in (started.value, put.value):
        assert "s3cret" not in str(err) and "unreachable" in str(err)
    await store.close()


async def test_redis_out_of_memory_is_queue_unavailable(open_store: Open, redis_url: str) -> None:
    """A Redis at its maxmemory (noeviction) refuses the put script before it runs:
    QueueUnavailable, and nothing written."""
    store = await open_store("a")
    await store.put([entry(1)])
    admin = redis.asyncio.Redis.from_url(redis_url)
    saved = await admin.config_get("maxmemory*")
    try:
        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("maxmemory", 1)
        with pytest.raises(QueueUnavailable, match="out of memory"):
            await store.put([entry(2), entry(3)])
        with pytest.raises(QueueUnavailable, match="out of memory"):
            await store.ping()
    finally:
        await admin.config_set("maxmemory", saved["maxmemory"])
        await admin.config_set("maxmemory-policy", saved["maxmemory-policy"])
        await admin.aclose()
    leased = await store.lease("meta", 10, 30)
    assert [i.event["event_id"] for i in leased] == ["e1"]
    assert store.depth() == {"meta": 1}


async def test_idle_consumers_holding_nothing_are_forgotten_at_start(
    open_store: Open, redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processes named by host and pid leave a consumer each in the group; a start
    removes those idle past the limit with nothing leased, and keeps one holding leases."""
    old, busy = await open_store("gw-old"), await open_store("gw-busy")
    await old.put([entry(i) for i in range(2)])
    (done,) = await old.lease("meta", 1, 3600)
    await old.ack([done.id])
    await busy.lease("meta", 1, 3600)
    await asyncio.sleep(0.05)
    monkeypatch.setattr(redis_store, "_FORGET_CONSUMER_MS", 10)
    await open_store("gw-new")
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        consumers = await admin.xinfo_consumers(f"{redis_prefix}:q:meta", "delivery")
    finally:
        await admin.aclose()
    assert sorted(c["name"].decode() for c in consumers) == ["gw-busy"]
