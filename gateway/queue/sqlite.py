"""The embedded queue: one SQLite file in WAL mode, written by a single thread.

Invariants
- A row is inserted by ``put`` inside a transaction that commits before ``put``
  returns, and the endpoint answers 204 only after ``put`` returns: an acknowledged
  event is on disk (fsynced with ``synchronous: full``, in the OS page cache with
  ``normal``, which survives a process crash but not a power cut).
- Group commit: every operation waiting when the writer thread wakes runs in one
  transaction (all inserts in one statement), so N concurrent requests cost one commit,
  not N, and the event loop never blocks on the disk (one thread hop per group, not per
  request). Groups grow by themselves: whatever arrives during one commit forms the
  next. (Waiting on purpose to grow them was measured: it only idles the event loop.)
- ``lease`` moves a row's ``available_ms`` past the lease deadline and counts an attempt;
  ``ack`` deletes the row; ``retry`` makes it due later; ``dead_letter`` moves it to
  ``dead_letters`` with the reason, in the same transaction. A row is in exactly one
  of: due, leased, backing off, dead-lettered; or gone after ack.
- One process owns the file (an exclusive lock on ``<path>.lock``), so at start every
  lease is stale: leased rows are made due at once rather than after their deadline.
- An entry ``put`` with a ``dead_letter`` reason is inserted and moved to
  ``dead_letters`` in the same transaction: it is never leased.
- Consent records given to ``put`` are inserted in the same transaction as its rows
  (``gateway.consent_records``): an acknowledged event always has its record.
- Bounds (rows and bytes of live rows) are checked before writing; past them ``put``
  raises ``QueueFull``. A write that fails (disk full, I/O error) raises
  ``QueueUnavailable`` and leaves nothing half-written.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from destinations.base import QueuedEvent
from gateway import consent_records
from gateway.consent_records import ConsentRecord
from gateway.errors import QueueFull, QueueUnavailable
from gateway.pipeline.route import QueueEntry
from gateway.queue.base import DeadLetter
from gateway.queue.dead_letters import DeadLetterQuery, select_ids

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    available_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    leased INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS items_due ON items (destination, available_ms, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    failed_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_destination ON dead_letters (destination, failed_ms);
CREATE TABLE IF NOT EXISTS heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER);
"""
    + consent_records.SCHEMA
)

#: operations one transaction may hold; bounds the latency of the first waiter
_MAX_GROUP = 2048
_INSERT = (
    "INSERT INTO items (destination, event_id, payload, created_ms, available_ms)"
    " VALUES (?, ?, ?, ?, ?)"
)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class _Op:
    run: Callable[[sqlite3.Connection], Any] | None
    future: asyncio.Future[Any]
    on_done: Callable[[Any], None] | None = None
    on_fail: Callable[[], None] | None = None
    #: rows to insert (a put); all puts of a group go in one executemany
    rows: list[tuple[Any, ...]] | None = None
    #: consent records written with them
    records: Sequence[ConsentRecord] | None = None


@dataclass
class _Counts:
    """Live rows per destination and in all, their bytes, and dead letters; touched only
    on the event loop, so no lock."""

    rows: Counter[str] = field(default_factory=Counter)
    total: int = 0
    bytes: int = 0
    dead: Counter[str] = field(default_factory=Counter)

    def add(self, rows: dict[str, int], size: int) -> None:
        for destination, n in rows.items():
            self.rows[destination] += n
            self.total += n
        self.bytes += size


class SqliteStore:
    """The ``Store`` over one SQLite file; see the module docstring for its invariants."""

    #: one process owns the file, so every put sets a wakeup: polling is only a backstop
    poll_secs = 5.0

    def __init__(
        self, path: str, *, max_rows: int, max_bytes: int, synchronous: str = "full"
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.synchronous = synchronous.upper()
        self._ops: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock_fd: int | None = None
        self._counts = _Counts()
        self._wakeups: dict[str, asyncio.Event] = {}
        #: transactions committed (group commit: far fewer than operations under load)
        self.commits = 0

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise QueueUnavailable(f"another process holds {self.path}") from None
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._writer, args=(ready,), name="queue-writer", daemon=True
        )
        self._thread.start()
        await ready

    async def close(self) -> None:
        if self._thread is not None:
            self._ops.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        return conn

    def _writer(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            conn = self._connect()
            conn.execute("UPDATE items SET available_ms = ?, leased = 0 WHERE leased = 1", (0,))
            sizes = conn.execute(
                "SELECT destination, count(*), coalesce(sum(length(payload)), 0)"
                " FROM items GROUP BY destination"
            ).fetchall()
            dead = Counter(
                dict(conn.execute("SELECT destination, count(*) FROM dead_letters GROUP BY 1"))
            )
        except sqlite3.Error as err:
            loop.call_soon_threadsafe(_fail, ready, QueueUnavailable(f"cannot open queue: {err}"))
            return
        loop.call_soon_threadsafe(self._opened, ready, sizes, dead)
        while True:
            op = self._ops.get()
            if op is None:
                break
            group = [op]
            stop = False
            while len(group) < _MAX_GROUP:
                try:
                    nxt = self._ops.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            results = self._run_group(conn, group)
            loop.call_soon_threadsafe(self._settle, results)
            if stop:
                break
        conn.close()

    def _run_group(
        self, conn: sqlite3.Connection, group: list[_Op]
    ) -> list[tuple[_Op, Any, BaseException | None]]:
        rows = [row for op in group if op.rows is not None for row in op.rows]
        records = [r for op in group if op.records is not None for r in op.records]
        try:
            conn.execute("BEGIN IMMEDIATE")
            if rows:
                conn.executemany(_INSERT, rows)
            if records:
                conn.executemany(consent_records.INSERT, records)
            results = [op.run(conn) if op.run is not None else None for op in group]
            conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = QueueUnavailable(f"queue write failed: {type(err).__name__}")
            return [(op, None, error) for op in group]
        return [(op, result, None) for op, result in zip(group, results, strict=True)]

    def _opened(
        self, ready: asyncio.Future[None], sizes: list[tuple[str, int, int]], dead: Counter[str]
    ) -> None:
        for destination, rows, size in sizes:
            self._counts.add({destination: rows}, size)
        self._counts.dead = dead
        if not ready.done():
            ready.set_result(None)

    def _settle(self, results: list[tuple[_Op, Any, BaseException | None]]) -> None:
        for op, result, error in results:
            if error is not None:
                if op.on_fail is not None:
                    op.on_fail()
                if not op.future.done():
                    op.future.set_exception(error)
                continue
            if op.on_done is not None:
                op.on_done(result)
            if not op.future.done():
                op.future.set_result(result)

    def _submit(
        self,
        run: Callable[[sqlite3.Connection], Any] | None,
        on_done: Callable[[Any], None] | None = None,
        on_fail: Callable[[], None] | None = None,
        rows: list[tuple[Any, ...]] | None = None,
        records: Sequence[ConsentRecord] | None = None,
    ) -> asyncio.Future[Any]:
        if self._thread is None or self._loop is None:
            raise QueueUnavailable("queue is not running")
        future = self._loop.create_future()
        self._ops.put(_Op(run, future, on_done, on_fail, rows, records))
        return future

    # -- the Store operations ----------------------------------------------------

    async def put(
        self, entries: Sequence[QueueEntry], records: Sequence[ConsentRecord] = ()
    ) -> None:
        dead = [e for e in entries if e.dead_letter is not None]
        if dead:
            entries = [e for e in entries if e.dead_letter is None]
        if not entries and not dead:
            if records:
                await self._submit(None, records=records)
            return
        size = sum(len(e.payload) for e in entries)
        counts = self._counts
        if counts.total + len(entries) > self.max_rows or counts.bytes + size > self.max_bytes:
            raise QueueFull("queue bound reached")
        # reserve now so concurrent puts see the bound; released if the write fails
        per_destination: dict[str, int] = {}
        for e in entries:
            per_destination[e.destination] = per_destination.get(e.destination, 0) + 1
        counts.add(per_destination, size)
        now = _now_ms()
        rows = [(e.destination, e.event_id, e.payload, now, now) for e in entries]

        def done(_: None) -> None:
            for destination in per_destination:
                self.wakeup(destination).set()
            counts.dead.update(e.destination for e in dead)

        def failed() -> None:
            counts.add({d: -n for d, n in per_destination.items()}, -size)

        run = _dead_on_arrival(dead, now) if dead else None
        await self._submit(run, done, failed, rows or None, records or None)

    async def lease(self, destination: str, limit: int, lease_secs: float) -> list[QueuedEvent]:
        now = _now_ms()
        until = now + int(lease_secs * 1000)

        def run(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(
                "UPDATE items SET available_ms = ?, leased = 1, attempts = attempts + 1"
                " WHERE id IN (SELECT id FROM items WHERE destination = ? AND available_ms <= ?"
                " ORDER BY available_ms, id LIMIT ?)"
                " RETURNING id, attempts, created_ms, payload",
                (until, destination, now, limit),
            ).fetchall()

        rows = await self._submit(run)
        rows.sort(key=lambda r: r[0])
        return [
            QueuedEvent(row_id, destination, attempts, created, orjson.loads(payload))
            for row_id, attempts, created, payload in rows
        ]

    async def ack(self, ids: Sequence[int]) -> None:
        if ids:
            await self._submit(lambda conn: _delete(conn, ids), self._removed)

    async def retry(self, ids: Sequence[int], delay_secs: float, reason: str) -> None:
        if not ids:
            return
        due = _now_ms() + int(delay_secs * 1000)
        params = [(due, reason, i) for i in ids]
        await self._submit(
            lambda conn: conn.executemany(
                "UPDATE items SET available_ms = ?, leased = 0, last_error = ? WHERE id = ?",
                params,
            )
        )

    async def dead_letter(self, ids: Sequence[int], reason: str) -> None:
        if not ids:
            return
        now = _now_ms()

        def run(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            conn.executemany(
                "INSERT INTO dead_letters"
                " (id, destination, event_id, payload, created_ms, attempts, failed_ms, reason)"
                " SELECT id, destination, event_id, payload, created_ms, attempts, ?, ?"
                " FROM items WHERE id = ?",
                [(now, reason, i) for i in ids],
            )
            return _delete(conn, ids)

        def done(removed: list[tuple[str, int]]) -> None:
            self._counts.dead.update(destination for destination, _ in removed)
            self._removed(removed)

        await self._submit(run, done)

    def _removed(self, removed: list[tuple[str, int]]) -> None:
        for destination, size in removed:
            self._counts.add({destination: -1}, -size)

    async def next_due_ms(self, destination: str) -> int | None:
        row = await self._submit(
            lambda conn: conn.execute(
                "SELECT min(available_ms) FROM items WHERE destination = ?", (destination,)
            ).fetchone()
        )
        return row[0]

    async def dead_letters(self, destination: str | None = None) -> list[DeadLetter]:
        sql = (
            "SELECT id, destination, event_id, attempts, created_ms, failed_ms, reason"
            " FROM dead_letters"
        )
        args: tuple[str, ...] = ()
        if destination is not None:
            sql += " WHERE destination = ?"
            args = (destination,)
        rows = await self._submit(lambda conn: conn.execute(sql + " ORDER BY id", args).fetchall())
        return [DeadLetter(*row) for row in rows]

    async def replay(self, query: DeadLetterQuery) -> int:
        """Move the dead letters ``query`` selects back into the queue, due now, with
        their event ids and payloads (platforms deduplicate a resend) and a fresh attempt
        count; returns how many. Their original ``created_ms`` is kept: an event past a
        platform's age limit is dead-lettered again, with that reason."""
        now = _now_ms()

        def run(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            moved: list[tuple[str, int]] = []
            for dead_id in select_ids(conn, query):
                moved += conn.execute(
                    "INSERT INTO items (destination, event_id, payload, created_ms, available_ms)"
                    " SELECT destination, event_id, payload, created_ms, ? FROM dead_letters"
                    " WHERE id = ? RETURNING destination, length(payload)",
                    (now, dead_id),
                ).fetchall()
                conn.execute("DELETE FROM dead_letters WHERE id = ?", (dead_id,))
            return moved

        def done(moved: list[tuple[str, int]]) -> None:
            for destination, size in moved:
                self._counts.add({destination: 1}, size)
                self._counts.dead[destination] -= 1
                self.wakeup(destination).set()

        moved: list[tuple[str, int]] = await self._submit(run, done)
        return len(moved)

    async def purge(self, query: DeadLetterQuery) -> int:
        """Delete the dead letters ``query`` selects for good; returns how many."""

        def run(conn: sqlite3.Connection) -> list[str]:
            ids = select_ids(conn, query)
            removed: list[str] = []
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                removed += [
                    row[0]
                    for row in conn.execute(
                        f"DELETE FROM dead_letters WHERE id IN ({marks}) RETURNING destination",
                        chunk,
                    )
                ]
            return removed

        def done(removed: list[str]) -> None:
            for destination in removed:
                self._counts.dead[destination] -= 1

        removed: list[str] = await self._submit(run, done)
        return len(removed)

    async def purge_consent_records(self, before_ms: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            # rows are appended in time order: the first one to keep bounds the delete,
            # and finding it reads only the expired rows before it (no time index)
            keep = conn.execute(
                "SELECT id FROM consent_records WHERE at_ms >= ? ORDER BY id LIMIT 1",
                (before_ms,),
            ).fetchone()
            if keep is None:
                return int(conn.execute("DELETE FROM consent_records").rowcount)
            return int(conn.execute("DELETE FROM consent_records WHERE id < ?", keep).rowcount)

        return int(await self._submit(run))

    async def ping(self) -> None:
        now = _now_ms()
        await self._submit(
            lambda conn: conn.execute("INSERT OR REPLACE INTO heartbeat VALUES (1, ?)", (now,))
        )

    def depth(self) -> Mapping[str, int]:
        return {d: n for d, n in self._counts.rows.items() if n > 0}

    def dead_letter_count(self) -> Mapping[str, int]:
        return dict(self._counts.dead)

    def wakeup(self, destination: str) -> asyncio.Event:
        if (event := self._wakeups.get(destination)) is None:
            event = self._wakeups[destination] = asyncio.Event()
        return event


def _dead_on_arrival(
    entries: Sequence[QueueEntry], now: int
) -> Callable[[sqlite3.Connection], None]:
    """Write ``entries`` straight to the dead-letter store, through ``items`` so that a
    dead letter's id never collides with an item's (dead letters keep their item id)."""

    def run(conn: sqlite3.Connection) -> None:
        for e in entries:
            cursor = conn.execute(_INSERT, (e.destination, e.event_id, e.payload, now, now))
            conn.execute(
                "INSERT INTO dead_letters"
                " (id, destination, event_id, payload, created_ms, attempts, failed_ms, reason)"
                " SELECT id, destination, event_id, payload, created_ms, 0, ?, ?"
                " FROM items WHERE id = ?",
                (now, e.dead_letter, cursor.lastrowid),
            )
            conn.execute("DELETE FROM items WHERE id = ?", (cursor.lastrowid,))

    return run


def _delete(conn: sqlite3.Connection, ids: Sequence[int]) -> list[tuple[str, int]]:
    """Delete rows by id; return the destination and payload size of each one removed."""
    removed: list[tuple[str, int]] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        removed += conn.execute(
            f"DELETE FROM items WHERE id IN ({marks}) RETURNING destination, length(payload)",
            chunk,
        ).fetchall()
    return removed


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
