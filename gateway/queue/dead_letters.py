"""Reading the dead-letter store of a SQLite queue file, for ``gateway dead-letters``.

Reads open the file read-only: safe while a gateway is writing it (WAL), so an operator
can list and inspect dead letters on a live system. Replaying and purging change the
store and go through ``SqliteStore`` (``replay``, ``purge``), which takes the file's lock.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.queue.base import DeadLetter

_COLUMNS = "id, destination, event_id, attempts, created_ms, failed_ms, reason"


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """Which dead letters: every given filter must hold (``reason`` is a substring)."""

    destination: str | None = None
    reason: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    ids: tuple[int, ...] = ()
    limit: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL ``WHERE`` clause (empty when nothing filters) and its arguments."""
        clauses: list[str] = []
        args: list[Any] = []
        for clause, value in (
            ("destination = ?", self.destination),
            ("instr(reason, ?) > 0", self.reason),
            ("failed_ms >= ?", self.since_ms),
            ("failed_ms < ?", self.until_ms),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        if self.ids:
            clauses.append(f"id IN ({','.join('?' * len(self.ids))})")
            args += self.ids
        return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args


def select_ids(conn: sqlite3.Connection, query: DeadLetterQuery) -> list[int]:
    """The ids of the dead letters ``query`` selects, oldest first."""
    where, args = query.where()
    limit = "" if query.limit is None else f" LIMIT {int(query.limit)}"
    sql = f"SELECT id FROM dead_letters{where} ORDER BY id{limit}"
    return [row[0] for row in conn.execute(sql, args)]


def read(path: str, query: DeadLetterQuery) -> list[DeadLetter]:
    """The dead letters ``query`` selects, oldest first, from the queue file at ``path``."""
    where, args = query.where()
    limit = "" if query.limit is None else f" LIMIT {int(query.limit)}"
    with _read_only(path) as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM dead_letters{where} ORDER BY id{limit}", args
        ).fetchall()
    return [DeadLetter(*row) for row in rows]


def read_one(path: str, dead_id: int) -> tuple[DeadLetter, dict[str, Any]] | None:
    """One dead letter and the governed event it holds (what would be sent: user data
    hashed, the destination's fields only), or None."""
    with _read_only(path) as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS}, payload FROM dead_letters WHERE id = ?", (dead_id,)
        ).fetchone()
    if row is None:
        return None
    return DeadLetter(*row[:-1]), orjson.loads(row[-1])


def _read_only(path: str) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
