"""The ``Store`` semantics, held against every backend (SQLite and Redis): leases and
their expiry, settlement, bounds, dead letters on arrival, consent records, wakeups,
replay and purge, and the counts after each."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway import consent_records
from gateway.consent_records import ConsentRecord, Query
from gateway.errors import QueueFull
from gateway.pipeline.route import QueueEntry
from gateway.queue.dead_letters import DeadLetterQuery
from gateway.queue.redis import RedisStore
from gateway.queue.sqlite import SqliteStore

Store = SqliteStore | RedisStore
MakeStore = Callable[..., Awaitable[Store]]


def entry(n: int, destination: str = "meta", size: int = 0, dead: str | None = None) -> QueueEntry:
    payload = {"event": "x", "event_id": f"e{n}", "pad": "p" * size}
    return QueueEntry(destination, f"e{n}", orjson.dumps(payload), dead)


def record(event_id: str, at_ms: int, region: str | None = "DE") -> ConsentRecord:
    verdicts = {"meta": {"action": "send", "rules": ["destinations.meta.requires"]}}
    return ConsentRecord(
        at_ms, "k" * 32, event_id, "purchase", region, "opt_in", "d" * 32,
        orjson.dumps(verdicts), "abc123",
    )  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(params=["sqlite", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Opens stores of the backend under test (``make(max_rows=..., max_bytes=...)``)."""
    opened: list[Store] = []
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")

    async def make(max_rows: int = 1000, max_bytes: int = 10_000_000) -> Store:
        s: Store
        if request.param == "sqlite":
            s = SqliteStore(str(tmp_path / "q.db"), max_rows=max_rows, max_bytes=max_bytes)
        else:
            s = RedisStore(
                url, prefix=prefix, consumer="c1", max_rows=max_rows, max_bytes=max_bytes
            )
        await s.start()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    """A started store of each backend."""
    return await make_store()


async def read_records(store: Store, query: Query | None = None) -> list[dict[str, Any]]:
    query = query or Query()
    if isinstance(store, SqliteStore):
        return list(consent_records.read(store.path, query))
    return await store.read_consent_records(query)


async def test_put_then_lease_oldest_first_counting_attempts(store: Store) -> None:
    """Leases hand out due items oldest first, with the event, and count an attempt."""
    before = now_ms()
    await store.put([entry(i) for i in range(5)])
    leased = await store.lease("meta", 3, 30)
    assert [i.event["event_id"] for i in leased] == ["e0", "e1", "e2"]
    assert all(i.attempts == 1 and i.destination == "meta" for i in leased)
    assert all(before <= i.created_ms <= now_ms() for i in leased)
    assert [i.id for i in leased] == sorted(i.id for i in leased)
    assert store.depth() == {"meta": 5}
    rest = await store.lease("meta", 10, 30)
    assert [i.event["event_id"] for i in rest] == ["e3", "e4"]


async def test_leased_items_are_hidden_until_the_lease_expires(store: Store) -> None:
    """A leased item is not leased again while its lease runs; after expiry it is due,
    with the same id, one more attempt counted."""
    await store.put([entry(1)])
    (first,) = await store.lease("meta", 10, 0.2)
    assert await store.lease("meta", 10, 0.2) == []
    await asyncio.sleep(0.25)
    (again,) = await store.lease("meta", 10, 0.2)
    assert (again.id, again.event, again.attempts) == (first.id, first.event, 2)
    assert store.depth() == {"meta": 1}


async def test_ack_retry_and_dead_letter(store: Store) -> None:
    """ack removes; retry makes an item due after the delay; dead_letter keeps it aside
    with its reason and counts it."""
    await store.put([entry(i) for i in range(3)])
    a, b, c = await store.lease("meta", 3, 30)
    await store.ack([a.id])
    await store.retry([b.id], 0.2, "HTTP 503")
    await store.dead_letter([c.id], "permanent: HTTP 400")
    assert store.depth() == {"meta": 1}
    assert store.dead_letter_count() == {"meta": 1}
    assert await store.lease("meta", 10, 30) == []
    await asyncio.sleep(0.25)
    (again,) = await store.lease("meta", 10, 30)
    assert (again.id, again.attempts) == (b.id, 2)
    (dead,) = await store.dead_letters("meta")
    assert (dead.id, dead.event_id, dead.reason, dead.attempts) == (
        c.id,
        "e2",
        "permanent: HTTP 400",
        1,
    )
    assert dead.created_ms == c.created_ms and dead.failed_ms >= dead.created_ms
    await store.ack([again.id])
    assert store.depth() == {}
    assert await store.next_due_ms("meta") is None


async def test_settling_an_unknown_or_settled_item_changes_nothing(store: Store) -> None:
    """ack, retry and dead_letter of ids that are gone are no-ops, counts intact."""
    await store.put([entry(1)])
    (item,) = await store.lease("meta", 1, 30)
    await store.ack([item.id])
    await store.ack([item.id, 999_999])
    await store.retry([item.id], 0, "x")
    await store.dead_letter([item.id], "x")
    assert store.depth() == {}
    assert store.dead_letter_count().get("meta", 0) == 0
    assert await store.lease("meta", 10, 30) == []


async def test_destinations_are_leased_separately(store: Store) -> None:
    """Each destination has its own line: leasing one never returns another's items."""
    await store.put([entry(1, "meta"), entry(2, "hook")])
    assert [i.event["event_id"] for i in await store.lease("hook", 10, 30)] == ["e2"]
    assert store.depth() == {"meta": 1, "hook": 1}
    assert [i.event["event_id"] for i in await store.lease("meta", 10, 30)] == ["e1"]


async def test_row_bound_refuses_with_queue_full(make_store: MakeStore) -> None:
    """Past max_rows, put raises QueueFull and writes nothing (not its dead letters,
    not its consent records); acking makes room."""
    store = await make_store(max_rows=3)
    await store.put([entry(i) for i in range(3)])
    with pytest.raises(QueueFull):
        await store.put([entry(9), entry(8, dead="plan")], [record("e9", now_ms())])
    assert store.depth() == {"meta": 3}
    assert await store.dead_letters() == []
    assert await read_records(store) == []
    leased = await store.lease("meta", 1, 30)
    await store.ack([leased[0].id])
    await store.put([entry(10)])
    assert store.depth() == {"meta": 3}


async def test_byte_bound_refuses_with_queue_full(make_store: MakeStore) -> None:
    """Past max_bytes of live payloads, put raises QueueFull; dead letters do not count."""
    store = await make_store(max_rows=100, max_bytes=70_000)
    await store.put([entry(1, size=60_000)])
    with pytest.raises(QueueFull):
        await store.put([entry(2, size=20_000)])
    await store.put([entry(3, size=20_000, dead="plan")])
    assert store.depth() == {"meta": 1}
    (item,) = await store.lease("meta", 1, 30)
    await store.ack([item.id])
    await store.put([entry(2, size=20_000)])
    assert store.depth() == {"meta": 1}


async def test_dead_on_arrival_is_never_leased(store: Store) -> None:
    """An entry put with a dead_letter reason goes straight to the dead letters (no
    attempt counted) and is never leased; the others in the put are queued."""
    await store.put([entry(1, dead="tracking plan: unknown event"), entry(2)])
    assert store.depth() == {"meta": 1}
    assert store.dead_letter_count() == {"meta": 1}
    (dead,) = await store.dead_letters()
    assert (dead.event_id, dead.attempts, dead.reason) == ("e1", 0, "tracking plan: unknown event")
    (item,) = await store.lease("meta", 10, 30)
    assert item.event["event_id"] == "e2"
    await store.ack([item.id])
    assert await store.lease("meta", 10, 0) == []
    assert await store.next_due_ms("meta") is None
    assert store.dead_letter_count() == {"meta": 1}


async def test_consent_records_are_written_with_put_and_purged(store: Store) -> None:
    """Records are written with the put (even one that queues nothing), read oldest
    first with filters, and purged by age."""
    now = now_ms()
    await store.put([entry(1)], [record("e1", now - 10_000), record("e2", now - 5000, None)])
    await store.put([], [record("e3", now)])
    rows = await read_records(store)
    assert [r["event_id"] for r in rows] == ["e1", "e2", "e3"]
    assert rows[1]["region"] is None and rows[0]["region"] == "DE"
    assert rows[0]["verdicts"]["meta"]["action"] == "send"
    assert rows[0] == {
        **record("e1", now - 10_000)._asdict(),
        "verdicts": orjson.loads(record("e1", 0).verdicts),
    }
    since = await read_records(store, Query(since_ms=now - 5000, limit=1))
    assert [r["event_id"] for r in since] == ["e2"]
    until = await read_records(store, Query(until_ms=now - 5000))
    assert [r["event_id"] for r in until] == ["e1"]
    assert [r["event_id"] for r in await read_records(store, Query(event_id="e3"))] == ["e3"]
    assert await read_records(store, Query(client_key="nobody")) == []
    assert await store.purge_consent_records(now - 5000) == 1
    assert [r["event_id"] for r in await read_records(store)] == ["e2", "e3"]
    assert await store.purge_consent_records(now + 1) == 2
    assert await read_records(store) == []
    await store.put([], [record("e4", now)])
    assert [r["event_id"] for r in await read_records(store)] == ["e4"]


async def test_next_due_and_wakeup(store: Store) -> None:
    """next_due_ms tells when the earliest item is due (a lease's end, a retry's delay);
    a put sets the wakeup event."""
    assert await store.next_due_ms("meta") is None
    wake = store.wakeup("meta")
    wake.clear()
    before = now_ms()
    await store.put([entry(1)])
    assert wake.is_set()
    due = await store.next_due_ms("meta")
    assert due is not None and before <= due <= now_ms()
    (item,) = await store.lease("meta", 1, 30)
    due = await store.next_due_ms("meta")
    assert due is not None and now_ms() + 29_000 < due <= now_ms() + 30_000
    await store.retry([item.id], 0.2, "HTTP 503")
    due = await store.next_due_ms("meta")
    assert due is not None and now_ms() + 100 < due <= now_ms() + 200
    other = store.wakeup("hook")
    other.clear()
    await store.put([entry(2)])
    assert not other.is_set()
    assert await store.next_due_ms("meta") <= now_ms()
    await asyncio.sleep(0.2)
    leased = await store.lease("meta", 10, 30)
    await store.ack([i.id for i in leased])
    assert await store.next_due_ms("meta") is None


async def _bury(store: Store) -> list[int]:
    """Six dead letters: e0..e3 for meta, e4 and e5 for hook; reasons alternate."""
    await store.put([entry(i, "meta" if i < 4 else "hook") for i in range(6)])
    ids = []
    for destination in ("meta", "hook"):
        for item in await store.lease(destination, 10, 30):
            reason = "HTTP 400" if int(item.event["event_id"][1:]) % 2 == 0 else "rejected: x"
            await store.dead_letter([item.id], reason)
            ids.append(item.id)
            await asyncio.sleep(0.002)  # distinct failed_ms
    return ids


async def test_replay_requeues_with_the_same_event(store: Store) -> None:
    """replay moves dead letters back, due now: same event id and payload, attempts
    reset, created_ms kept; counts and wakeup follow."""
    await _bury(store)
    dead = {d.event_id: d for d in await store.dead_letters()}
    wake = store.wakeup("meta")
    wake.clear()
    assert await store.replay(DeadLetterQuery(destination="meta", reason="400")) == 2
    assert wake.is_set()
    assert store.depth() == {"meta": 2}
    assert store.dead_letter_count() == {"meta": 2, "hook": 2}
    assert (await store.next_due_ms("meta") or 0) <= now_ms()
    leased = await store.lease("meta", 10, 30)
    assert [i.event["event_id"] for i in leased] == ["e0", "e2"]
    assert all(i.attempts == 1 for i in leased)
    assert [i.created_ms for i in leased] == [dead["e0"].created_ms, dead["e2"].created_ms]
    assert leased[0].event == orjson.loads(entry(0).payload)
    assert [d.event_id for d in await store.dead_letters()] == ["e1", "e3", "e4", "e5"]
    await store.dead_letter([leased[0].id], "again")
    assert store.dead_letter_count() == {"meta": 3, "hook": 2}


async def test_replay_and_purge_select_with_filters(store: Store) -> None:
    """Both take the same selection: destination, reason substring, failed_ms window,
    ids and limit, oldest first."""
    ids = await _bury(store)
    letters = await store.dead_letters()
    assert [d.id for d in letters] == sorted(ids)
    assert await store.purge(DeadLetterQuery(ids=(ids[5], ids[4], 123_456))) == 2
    assert store.dead_letter_count() == {"meta": 4, "hook": 0}
    assert await store.purge(DeadLetterQuery(destination="hook")) == 0
    middle = letters[1].failed_ms
    assert await store.purge(DeadLetterQuery(since_ms=middle, until_ms=middle + 1)) == 1
    assert [d.event_id for d in await store.dead_letters()] == ["e0", "e2", "e3"]
    assert await store.replay(DeadLetterQuery(reason="HTTP", limit=1)) == 1
    assert [d.event_id for d in await store.dead_letters("meta")] == ["e2", "e3"]
    assert await store.replay(DeadLetterQuery(reason="nothing like it")) == 0
    assert await store.purge(DeadLetterQuery()) == 2
    assert await store.dead_letters() == []
    assert store.dead_letter_count().get("meta", 0) == 0
    assert store.depth() == {"meta": 1}


@pytest.mark.parametrize("seed", range(3))
async def test_every_leased_item_is_settled_exactly_once(store: Store, seed: int) -> None:
    """Property: whatever the order of leases and settlements, no item is held twice
    at once, each lease is settled exactly once, and every item ends acked or dead."""
    rng = random.Random(seed)
    n = 40
    await store.put([entry(i, rng.choice(["meta", "hook"])) for i in range(n)])
    held: dict[int, str] = {}
    acked: set[str] = set()
    dead: set[str] = set()
    while store.depth():
        destination = rng.choice(["meta", "hook"])
        for item in await store.lease(destination, rng.randint(1, 7), 30):
            assert item.id not in held
            held[item.id] = item.event["event_id"]
        if not held:
            continue
        settle = rng.sample(sorted(held), rng.randint(1, len(held)))
        for item_id in settle:
            event_id = held.pop(item_id)
            roll = rng.random()
            if roll < 0.5:
                await store.ack([item_id])
                acked.add(event_id)
            elif roll < 0.7:
                await store.dead_letter([item_id], "permanent")
                dead.add(event_id)
            else:
                await store.retry([item_id], 0, "HTTP 503")
    assert held == {}
    assert acked | dead == {f"e{i}" for i in range(n)} and not acked & dead
    assert sum(store.dead_letter_count().values()) == len(dead)
    assert {d.event_id for d in await store.dead_letters()} == dead
