"""Consent records: an append-only account of every consent decision, for audit.

One record per accepted event: when, for which visitor (a keyed hash of the client id,
so the table alone links no one), a digest of the consent signals as received, the
region and regime, the verdict per destination with the rules that decided it, and the
version of the config that applied. No consent string, IP address or personal data is
stored: a privacy reviewer holding a visitor's client id (and the gateway's secret) can
find that visitor's records; anyone else sees unlinkable rows.

Records are written by the queue in the same transaction as the event's queue rows, so
an event answered 204 always has its record. ``gateway consent-log`` reads them; rows
older than ``consent.records.retention_days`` are purged.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

_KEY_DOMAIN = b"gateway-consent-record-v1:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_records (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    client_key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    region TEXT,
    regime TEXT NOT NULL,
    signals_digest TEXT NOT NULL,
    verdicts BLOB NOT NULL,
    config_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_records_by_client ON consent_records (client_key, at_ms);
"""
# No index on at_ms: one more B-tree per event costs ingest throughput, and rows are
# appended in time order, so the purge finds its cut-off scanning only expired rows.

INSERT = (
    "INSERT INTO consent_records (at_ms, client_key, event_id, event_name, region, regime,"
    " signals_digest, verdicts, config_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class ConsentRecord(NamedTuple):
    """One row, as written."""

    at_ms: int
    client_key: str
    event_id: str
    event_name: str
    region: str | None
    regime: str
    signals_digest: str
    verdicts: bytes
    config_version: str


def client_key(client_id: str, secret: bytes) -> str:
    """The keyed hash that stands for a client id in records (HMAC-SHA256, 128 bits)."""
    return hmac.new(secret, _KEY_DOMAIN + client_id.encode(), hashlib.sha256).hexdigest()[:32]


def signals_digest(signals: tuple[Any, ...]) -> str:
    """A digest of the consent signals exactly as received (strings, objects, GPC).

    Lets a record be matched against a CMP's own log of the string it issued, without
    the record holding the string.
    """
    return hashlib.sha256(orjson.dumps(signals)).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Query:
    """Which records to read; every bound optional."""

    client_key: str | None = None
    event_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 100


def read(path: str, query: Query) -> Iterator[dict[str, Any]]:
    """Records matching ``query``, oldest first, from the queue database at ``path``.

    Opens the file read-only: safe while a gateway is writing it (WAL).
    """
    clauses: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("client_key", "=", query.client_key),
        ("event_id", "=", query.event_id),
        ("at_ms", ">=", query.since_ms),
        ("at_ms", "<", query.until_ms),
    ):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            args.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT at_ms, client_key, event_id, event_name, region, regime, signals_digest,"
            f" verdicts, config_version FROM consent_records{where} ORDER BY at_ms, id LIMIT ?",
            (*args, query.limit),
        ).fetchall()
    finally:
        conn.close()
    for row in rows:
        record = ConsentRecord(*row)
        yield {**record._asdict(), "verdicts": orjson.loads(record.verdicts)}
