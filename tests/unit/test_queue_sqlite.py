"""The SQLite store: durable puts with group commit, leases, settlement, bounds, restart."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from gateway.errors import QueueFull, QueueUnavailable
from gateway.pipeline.route import QueueEntry
from gateway.queue.sqlite import SqliteStore


def entry(n: int, destination: str = "meta", size: int = 0) -> QueueEntry:
    payload = {"event": "x", "event_id": f"e{n}", "pad": "p" * size}
    return QueueEntry(destination, f"e{n}", orjson.dumps(payload))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "q.db"), max_rows=1000, max_bytes=10_000_000)
    await s.start()
    yield s
    await s.close()


async def test_put_then_lease_oldest_first_counting_attempts(store: SqliteStore) -> None:
    """Leases hand out due items oldest first, with the event, and count an attempt."""
    await store.put([entry(i) for i in range(5)])
    leased = await store.lease("meta", 3, 30)
    assert [i.event["event_id"] for i in leased] == ["e0", "e1", "e2"]
    assert all(i.attempts == 1 and i.destination == "meta" for i in leased)
    assert store.depth() == {"meta": 5}


async def test_leased_items_are_hidden_until_the_lease_expires(store: SqliteStore) -> None:
    """A leased item is not leased again while its lease runs; after expiry it is due."""
    await store.put([entry(1)])
    assert len(await store.lease("meta", 10, 0.2)) == 1
    assert await store.lease("meta", 10, 0.2) == []
    await asyncio.sleep(0.25)
    again = await store.lease("meta", 10, 0.2)
    assert len(again) == 1 and again[0].attempts == 2


async def test_ack_retry_and_dead_letter(store: SqliteStore) -> None:
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
    assert again.id == b.id
    (dead,) = await store.dead_letters("meta")
    assert (dead.event_id, dead.reason, dead.attempts) == ("e2", "permanent: HTTP 400", 1)


async def test_destinations_are_leased_separately(store: SqliteStore) -> None:
    """Each destination has its own line: leasing one never returns another's items."""
    await store.put([entry(1, "meta"), entry(2, "hook")])
    assert [i.event["event_id"] for i in await store.lease("hook", 10, 30)] == ["e2"]
    assert store.depth() == {"meta": 1, "hook": 1}


async def test_concurrent_puts_share_commits(store: SqliteStore) -> None:
    """Group commit: 300 concurrent puts cost far fewer than 300 transactions."""
    before = store.commits
    await asyncio.gather(*(store.put([entry(i)]) for i in range(300)))
    assert store.depth() == {"meta": 300}
    assert store.commits - before < 100


async def test_row_bound_refuses_with_queue_full(tmp_path: Path) -> None:
    """Past max_rows, put raises QueueFull and writes nothing; acking makes room."""
    store = SqliteStore(str(tmp_path / "q.db"), max_rows=3, max_bytes=10_000_000)
    await store.start()
    try:
        await store.put([entry(i) for i in range(3)])
        with pytest.raises(QueueFull):
            await store.put([entry(9)])
        leased = await store.lease("meta", 1, 30)
        await store.ack([leased[0].id])
        await store.put([entry(10)])
        assert store.depth() == {"meta": 3}
    finally:
        await store.close()


async def test_byte_bound_refuses_with_queue_full(tmp_path: Path) -> None:
    """Past max_bytes of live payloads, put raises QueueFull."""
    store = SqliteStore(str(tmp_path / "q.db"), max_rows=100, max_bytes=70_000)
    await store.start()
    try:
        await store.put([entry(1, size=60_000)])
        with pytest.raises(QueueFull):
            await store.put([entry(2, size=20_000)])
    finally:
        await store.close()


async def test_restart_makes_stale_leases_due_and_keeps_everything(tmp_path: Path) -> None:
    """Items leased by a process that died are due at once when the store reopens;
    depth and dead-letter counts are rebuilt from disk."""
    path = str(tmp_path / "q.db")
    first = SqliteStore(path, max_rows=100, max_bytes=10_000_000)
    await first.start()
    await first.put([entry(i) for i in range(4)])
    a, b = await first.lease("meta", 2, 3600)
    await first.dead_letter([a.id], "permanent: x")
    await first.close()

    second = SqliteStore(path, max_rows=100, max_bytes=10_000_000)
    await second.start()
    try:
        assert second.depth() == {"meta": 3}
        assert second.dead_letter_count() == {"meta": 1}
        leased = await second.lease("meta", 10, 30)
        assert sorted(i.event["event_id"] for i in leased) == ["e1", "e2", "e3"]
        assert next(i for i in leased if i.id == b.id).attempts == 2
    finally:
        await second.close()


async def test_one_process_per_file(store: SqliteStore) -> None:
    """A second store on the same file is refused: leases would not be safe to reset."""
    other = SqliteStore(store.path, max_rows=10, max_bytes=10_000_000)
    with pytest.raises(QueueUnavailable):
        await other.start()


class _TinyDisk(SqliteStore):
    """A store whose database cannot grow past a few pages: a full disk, on demand."""

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages + 2}")
        return conn


async def test_full_disk_is_queue_unavailable_and_nothing_half_written(tmp_path: Path) -> None:
    """A write that fails (disk full) raises QueueUnavailable; bounds and depth are
    restored, and the store keeps working for writes that fit."""
    store = _TinyDisk(str(tmp_path / "q.db"), max_rows=1000, max_bytes=10_000_000)
    await store.start()
    try:
        with pytest.raises(QueueUnavailable):
            await store.put([entry(i, size=4000) for i in range(50)])
        assert store.depth() == {}
        await store.put([entry(1)])
        assert store.depth() == {"meta": 1}
        with pytest.raises(QueueUnavailable):
            await store.put([entry(2, size=50_000)])
    finally:
        await store.close()


async def test_next_due_and_wakeup(store: SqliteStore) -> None:
    """next_due_ms tells when the earliest item is due; a put sets the wakeup event."""
    assert await store.next_due_ms("meta") is None
    wake = store.wakeup("meta")
    wake.clear()
    await store.put([entry(1)])
    assert wake.is_set()
    assert await store.next_due_ms("meta") is not None
