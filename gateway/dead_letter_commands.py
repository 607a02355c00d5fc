"""``gateway dead-letters list|show|replay|purge``: the dead-letter store, for operators.

``list`` and ``show`` work while the gateway runs. On SQLite, ``replay`` and ``purge``
need the file's lock, so they run while the gateway is stopped (its in-memory counts and
workers would not see rows changed behind its back); on Redis they work live. Replay
keeps each event's id, so a platform that already has the event deduplicates the resend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from gateway.config.models import Config
from gateway.errors import QueueUnavailable
from gateway.queue.admin import QueueAdmin, open_admin
from gateway.queue.base import DeadLetter
from gateway.queue.dead_letters import DeadLetterQuery


def run(args: argparse.Namespace, config: Config) -> int:
    """Run the ``dead-letters`` sub-command ``args.action``; the exit code."""
    query = DeadLetterQuery(
        args.destination, args.reason, args.since, args.until, tuple(args.id), args.limit
    )
    unselected = query == DeadLetterQuery(limit=args.limit) and not args.all
    if args.action in ("replay", "purge") and unselected:
        print(
            f"{args.action}: select dead letters (--id, --destination, --reason, --since,"
            " --until), or pass --all",
            file=sys.stderr,
        )
        return 2
    if args.action == "show" and len(args.id) != 1:
        print("show: give one --id", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, config, query))


async def _run(args: argparse.Namespace, config: Config, query: DeadLetterQuery) -> int:
    async with open_admin(config.queue) as admin:
        if args.action == "list":
            return _list(await admin.dead_letters(query), args.json)
        if args.action == "show":
            return _show(admin, args.id[0], await admin.dead_letter(args.id[0]), args.json)
        return await _change(admin, args.action, query)


async def _change(admin: QueueAdmin, action: str, query: DeadLetterQuery) -> int:
    try:
        count = await (admin.replay(query) if action == "replay" else admin.purge(query))
    except QueueUnavailable as err:
        hint = (
            ""
            if admin.live_changes
            else ": stop the gateway first (a running gateway holds the queue file's lock)"
        )
        print(f"{action}: {err}{hint}", file=sys.stderr)
        return 1
    verb = "replayed (queued again, same event ids)" if action == "replay" else "purged"
    print(f"{count} dead letter{'s' if count != 1 else ''} {verb}")
    return 0


def _list(letters: list[DeadLetter], as_json: bool) -> int:
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


def _show(
    admin: QueueAdmin,
    dead_id: int,
    found: tuple[DeadLetter, dict[str, object]] | None,
    as_json: bool,
) -> int:
    if found is None:
        print(f"show: no dead letter {dead_id} in {admin.where}", file=sys.stderr)
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
