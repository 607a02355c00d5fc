"""What only the SQLite store does: group commit, one process per file, a full disk, and
stale leases made due at restart. The semantics every store shares are held against it
in ``test_store_conformance``."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from gateway.errors import QueueUnavailable
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


async def test_concurrent_puts_share_commits(store: SqliteStore) -> None:
    """Group commit: 300 concurrent puts cost far fewer than 300 transactions."""
    before = store.commits
    await asyncio.gather(*(store.put([entry(i)]) for i in range(300)))
    assert store.depth() == {"meta": 300}
    assert store.commits - before < 100


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
