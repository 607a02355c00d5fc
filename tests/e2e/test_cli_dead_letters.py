"""``gateway dead-letters``: list and show read a live queue file; replay puts events back
in the queue with their event ids, and a restarted gateway delivers them; purge deletes.
Replay and purge refuse to run while a gateway holds the queue file. On Redis all of them
work against the live queue, and the running gateway delivers what is replayed."""

from __future__ import annotations

import asyncio
import fcntl
import time
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.cli import main
from gateway.config.loader import load_config
from gateway.config.models import Config
from gateway.pipeline.route import QueueEntry
from gateway.queue.factory import open_store
from gateway.queue.sqlite import SqliteStore
from tests.support.configs import base_config, merged, write_config
from tests.support.events import US_BROWSER
from tests.support.fake_platform import FakePlatform
from tests.support.server import serve

REASON = "tracking plan: purchase.properties.transaction_id required property missing"


def _event(event_id: str) -> bytes:
    return orjson.dumps(
        {
            "event": "purchase",
            "event_id": event_id,
            "timestamp_ms": int(time.time() * 1000),
            "page": {"url": "https://shop.example/checkout/done"},
            "context": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"},
            "properties": {"value": 1.0, "currency": "EUR"},
        }
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, FakePlatform]:
    fake = FakePlatform().start()
    queue = tmp_path / "queue.db"
    config = write_config(tmp_path / "gateway.yaml", base_config(queue, fake.url))
    return config, queue, fake


async def _dead(queue: Path, entries: list[QueueEntry]) -> None:
    store = SqliteStore(str(queue), max_rows=1000, max_bytes=1 << 20)
    await store.start()
    await store.put(entries)
    await store.close()


async def _fill(queue: Path) -> None:
    await _dead(
        queue,
        [
            QueueEntry("meta", "evt-a", _event("evt-a"), REASON),
            QueueEntry("meta", "evt-b", _event("evt-b"), "HTTP 400: invalid parameter"),
            QueueEntry("hook", "evt-c", _event("evt-c"), REASON),
        ],
    )


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_and_show_filter_by_destination_reason_and_time(
    setup: tuple[Path, Path, FakePlatform], capsys: pytest.CaptureFixture[str]
) -> None:
    config, queue, fake = setup
    asyncio.run(_fill(queue))
    cfg = str(config)
    code, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg)
    assert code == 0
    assert [line.split()[3] for line in out.splitlines()] == [
        "event_id=evt-a",
        "event_id=evt-b",
        "event_id=evt-c",
    ]
    assert f"reason: {REASON}" in out.splitlines()[0]
    _, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg, "--destination", "meta")
    assert len(out.splitlines()) == 2
    _, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg, "--reason", "tracking plan")
    assert {line.split()[2] for line in out.splitlines()} == {"meta", "hook"}
    _, out, err = _run(capsys, "dead-letters", "list", "--config", cfg, "--since", "2100-01-01")
    assert out == "" and "no matching dead letters" in err
    _, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg, "--json", "--limit", "1")
    (first,) = [orjson.loads(line) for line in out.splitlines()]
    assert first["event_id"] == "evt-a" and first["attempts"] == 0
    code, out, _ = _run(capsys, "dead-letters", "show", "--config", cfg, "--id", str(first["id"]))
    assert code == 0 and '"event_id": "evt-a"' in out and f"reason: {REASON}" in out
    code, _, err = _run(capsys, "dead-letters", "show", "--config", cfg, "--id", "999")
    assert code == 1 and "no dead letter 999" in err
    fake.stop()


def test_replay_requeues_with_the_same_event_ids_and_the_gateway_delivers_them(
    setup: tuple[Path, Path, FakePlatform], capsys: pytest.CaptureFixture[str]
) -> None:
    config, queue, fake = setup
    asyncio.run(_fill(queue))
    cfg = str(config)
    code, _, err = _run(capsys, "dead-letters", "replay", "--config", cfg)
    assert code == 2 and "--all" in err, "replay needs a selection"
    code, out, _ = _run(
        capsys,
        "dead-letters",
        "replay",
        "--config",
        cfg,
        "--destination",
        "meta",
        "--reason",
        "tracking plan",
    )
    assert (code, out) == (0, "1 dead letter replayed (queued again, same event ids)\n")
    _, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg)
    assert "evt-a" not in out and "evt-b" in out and "evt-c" in out
    # a gateway started on the file delivers the replayed event, under its own id
    app = create_app(load_config(str(config)), str(config))
    with serve(app):
        deadline = time.monotonic() + 10
        while "evt-a" not in fake.event_ids() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert fake.event_ids() == ["evt-a"]
    fake.stop()


def test_replay_and_purge_refuse_while_a_gateway_holds_the_queue(
    setup: tuple[Path, Path, FakePlatform], capsys: pytest.CaptureFixture[str]
) -> None:
    config, queue, fake = setup
    asyncio.run(_fill(queue))
    cfg = str(config)
    # what a running gateway holds: the queue file's lock
    with open(f"{queue}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, _, err = _run(capsys, "dead-letters", "purge", "--config", cfg, "--all")
        assert code == 1 and "stop the gateway first" in err
        # reading works on the live file
        code, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg)
        assert code == 0 and len(out.splitlines()) == 3
    code, out, _ = _run(capsys, "dead-letters", "purge", "--config", cfg, "--destination", "hook")
    assert (code, out) == (0, "1 dead letter purged\n")
    code, out, _ = _run(capsys, "dead-letters", "purge", "--config", cfg, "--all")
    assert code == 0 and out.endswith("purged\n")
    _, out, err = _run(capsys, "dead-letters", "list", "--config", cfg)
    assert out == "" and "no matching" in err
    fake.stop()


def test_on_redis_dead_letters_are_listed_replayed_and_delivered_while_the_gateway_runs(
    tmp_path: Path, redis_url: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a Redis queue every command works live: the running gateway delivers a replayed
    event (same id) at its next poll, with no restart; consent-log reads the records."""
    fake = FakePlatform().start()
    data = merged(
        base_config(tmp_path / "unused.db", fake.url),
        {"queue": {"backend": "redis", "url": redis_url, "prefix": redis_prefix}},
    )
    config = write_config(tmp_path / "gateway.yaml", data)
    cfg = str(config)
    app = create_app(load_config(cfg), cfg)
    try:
        with serve(app) as url:
            asyncio.run(_dead_on_redis(load_config(cfg)))
            code, out, _ = _run(capsys, "dead-letters", "list", "--config", cfg, "--json")
            letters = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
            assert code == 0 and [d["event_id"] for d in letters] == ["evt-a", "evt-b"]
            dead_id = str(letters[0]["id"])
            code, out, _ = _run(capsys, "dead-letters", "show", "--config", cfg, "--id", dead_id)
            assert code == 0 and '"event_id": "evt-a"' in out and f"reason: {REASON}" in out
            code, out, _ = _run(capsys, "dead-letters", "replay", "--config", cfg, "--id", dead_id)
            assert code == 0 and "1 dead letter replayed (queued again, same event ids)\n" in out
            deadline = time.monotonic() + 10
            while "evt-a" not in fake.event_ids() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert fake.event_ids() == ["evt-a"]
            metrics = httpx.get(f"{url}/metrics").text
            assert 'gateway_dead_letters{destination="meta"} 1.0' in metrics
            code, out, _ = _run(capsys, "dead-letters", "purge", "--config", cfg, "--all")
            assert code == 0 and "1 dead letter purged\n" in out

            response = httpx.post(
                f"{url}/collect",
                json={
                    "event": "page_view",
                    "event_id": "evt-consent",
                    "page": {"url": "https://shop.example/"},
                    "consent": {"categories": {"analytics": True, "advertising": False}},
                },
                headers=US_BROWSER,
            )
            assert response.status_code == 204
            code, out, _ = _run(
                capsys, "consent-log", "--config", cfg, "--event-id", "evt-consent", "--json"
            )
            (record,) = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
            assert code == 0 and record["verdicts"]["meta"]["action"] == "withhold"
    finally:
        fake.stop()


async def _dead_on_redis(config: Config) -> None:
    store = open_store(config.queue)
    await store.start()
    try:
        await store.put(
            [
                QueueEntry("meta", "evt-a", _event("evt-a"), REASON),
                QueueEntry("meta", "evt-b", _event("evt-b"), "HTTP 400: invalid parameter"),
            ]
        )
    finally:
        await store.close()
