"""``gateway dead-letters list|show|replay|purge``: the dead-letter store, for operators.

``list`` and ``show`` read the queue file read-only and work while the gateway runs.
``replay`` and ``purge`` change the store through ``SqliteStore``, which holds the file's
lock: they run while the gateway is stopped (a running gateway holds the lock, and its
in-memory counts and workers would not see rows changed behind its back). Replay keeps
each event's id, so a platform that already has the event deduplicates the resend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from gateway.config.models import Config
from gateway.errors import QueueUnavailable
from gateway.queue import dead_letters
from gateway.queue.base import DeadLetter
from gateway.queue.dead_letters import DeadLetterQuery
from gateway.queue.sqlite import SqliteStore


def run(args: argparse.Namespace, config: Config) -> int:
    """Run the ``dead-letters`` sub-command ``args.action``; the exit code."""
    path = config.queue.path
    query = DeadLetterQuery(
        args.destination, args.reason, args.since, args.until, tuple(args.id), args.limit
    )
    if args.action == "list":
        return _list(path, query, args.json)
    if args.action == "show":
        return _show(path, args.id, args.json)
    if query == DeadLetterQuery(limit=args.limit) and not args.all:
        print(
            f"{args.action}: select dead letters (--id, --destination, --reason, --since,"
            " --until), or pass --all",
            file=sys.stderr,
        )
        return 2
    try:
        count = asyncio.run(_change(config, args.action, query))
    except QueueUnavailable as err:
        print(
            f"{args.action}: {err}: stop the gateway first (a running gateway holds the queue"
            " file's lock)",
            file=sys.stderr,
        )
        return 1
    verb = "replayed (queued again, same event ids)" if args.action == "replay" else "purged"
    print(f"{count} dead letter{'s' if count != 1 else ''} {verb}")
    return 0


async def _change(config: Config, action: str, query: DeadLetterQuery) -> int:
    q = config.queue
    store = SqliteStore(q.path, max_rows=q.max_rows, max_bytes=q.max_bytes)
    await store.start()
    try:
        if action == "replay":
            return await store.replay(query)
        return await store.purge(query)
    finally:
        await store.close()


def _list(path: str, query: DeadLetterQuery, as_json: bool) -> int:
    letters = dead_letters.read(path, query)
    for d in letters:
        if as_json:
            print(json.dumps(_as_json(d)))
        else:
            print(
                f"{d.id} {_iso(d.failed_ms)} {d.destination} event_id={d.event_id}"
                f" attempts={d.attempts} reason: {d.reason}"
            )
    if not letters:
        print("no matching dead letters", file=sys.stderr)
    return 0


def _show(path: str, ids: list[int], as_json: bool) -> int:
    if len(ids) != 1:
        print("show: give one --id", file=sys.stderr)
        return 2
    found = dead_letters.read_one(path, ids[0])
    if found is None:
        print(f"show: no dead letter {ids[0]}", file=sys.stderr)
        return 1
    letter, event = found
    if as_json:
        print(json.dumps({**_as_json(letter), "event": event}))
        return 0
    for key, value in _as_json(letter).items():
        print(f"{key}: {value}")
    print("event (as governed for the destination):")
    print(json.dumps(event, indent=2, ensure_ascii=False))
    return 0


def _as_json(d: DeadLetter) -> dict[str, object]:
    return {
        "id": d.id,
        "destination": d.destination,
        "event_id": d.event_id,
        "attempts": d.attempts,
        "created": _iso(d.created_ms),
        "failed": _iso(d.failed_ms),
        "reason": d.reason,
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
