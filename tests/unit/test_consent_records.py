"""Consent records: written with the queue rows in one transaction, keyed by a hash of
the client id, purged past retention, and queried by ``gateway consent-log``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from gateway import consent_records
from gateway.cli import main
from gateway.consent_records import ConsentRecord, Query
from gateway.pipeline.route import QueueEntry
from gateway.queue.sqlite import SqliteStore
from tests.support.configs import SECRET, base_config, write_config

CLIENT = "1234567890.1795000000"
NOW = int(time.time() * 1000)


def record(event_id: str, at_ms: int = NOW, client: str = CLIENT) -> ConsentRecord:
    verdicts = {"meta": {"action": "withhold", "rules": ["destinations.meta.requires"]}}
    return ConsentRecord(
        at_ms,
        consent_records.client_key(client, SECRET.encode()),
        event_id,
        "purchase",
        "DE",
        "opt_in",
        "d" * 32,
        orjson.dumps(verdicts),
        "abc123def456",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "q.db"), max_rows=1000, max_bytes=10_000_000)
    await s.start()
    yield s
    await s.close()


async def test_records_commit_with_the_rows(store: SqliteStore) -> None:
    entry = QueueEntry("meta", "e1", b"{}")
    await store.put([entry], [record("e1")])
    await store.put([], [record("e2")])  # every destination withheld: still recorded
    rows = list(consent_records.read(store.path, Query()))
    assert [r["event_id"] for r in rows] == ["e1", "e2"]
    assert rows[0]["verdicts"]["meta"]["action"] == "withhold"


async def test_client_key_is_keyed_and_stable() -> None:
    key = consent_records.client_key(CLIENT, SECRET.encode())
    assert key == consent_records.client_key(CLIENT, SECRET.encode())
    assert key != consent_records.client_key(CLIENT, b"another-secret-0123456")
    assert CLIENT not in key and len(key) == 32


async def test_a_failed_write_leaves_no_record(store: SqliteStore) -> None:
    """Records and rows share the transaction: a refused put writes neither."""
    conn = sqlite3.connect(store.path)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON items BEGIN SELECT RAISE(ABORT, 'x'); END")
    conn.commit()
    conn.close()
    with pytest.raises(Exception, match="queue write failed"):
        await store.put([QueueEntry("meta", "e1", b"{}")], [record("e1")])
    assert list(consent_records.read(store.path, Query())) == []


async def test_purge_drops_only_expired_records(store: SqliteStore) -> None:
    old = NOW - 400 * 86_400_000
    await store.put([], [record("old", at_ms=old), record("new")])
    assert await store.purge_consent_records(NOW - 395 * 86_400_000) == 1
    assert [r["event_id"] for r in consent_records.read(store.path, Query())] == ["new"]


async def test_consent_log_queries_by_client_and_time(
    store: SqliteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await store.put([], [record("mine"), record("theirs", client="999.1795000000")])
    # the command runs as it would beside a gateway: on its own loop, reading the file
    config = write_config(tmp_path / "gateway.yaml", base_config(Path(store.path)))

    assert (
        await asyncio.to_thread(
            main, ["consent-log", "--config", str(config), "--client-id", CLIENT, "--json"]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == ["mine"]

    assert (
        await asyncio.to_thread(
            main, ["consent-log", "--config", str(config), "--since", "2000-01-01"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "event_id=mine" in text and "event_id=theirs" in text
    assert "meta=withhold" in text and "destinations.meta.requires" in text

    assert (
        await asyncio.to_thread(
            main, ["consent-log", "--config", str(config), "--until", "2000-01-01"]
        )
        == 0
    )
    assert "no matching consent records" in capsys.readouterr().err


def test_consent_log_refuses_a_zoneless_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "gateway.yaml", base_config(tmp_path / "q.db"))
    with pytest.raises(SystemExit):
        main(["consent-log", "--config", str(config), "--since", "2026-11-25T10:00"])
    assert "needs a zone" in capsys.readouterr().err


def test_consent_log_on_a_missing_queue_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "gateway.yaml", base_config(tmp_path / "absent.db"))
    assert main(["consent-log", "--config", str(config)]) == 1
    assert "cannot read consent records" in capsys.readouterr().err
