"""What operators' commands read and change in a queue, whichever backend holds it.

``gateway dead-letters`` and ``gateway consent-log`` go through ``open_admin``. On
SQLite, reads open the file read-only (safe beside a running gateway, WAL), while
replay and purge take the file's lock, so they run with the gateway stopped. On Redis
every operation is an atomic script on the shared queue: all of them work while
gateways run, and a replayed event is picked up by the next worker poll.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from gateway import consent_records
from gateway.config.models import QueueConfig
from gateway.queue import dead_letters
from gateway.queue.base import DeadLetter
from gateway.queue.dead_letters import DeadLetterQuery
from gateway.queue.sqlite import SqliteStore

if TYPE_CHECKING:  # imported when used: only a Redis queue needs redis-py loaded
    from gateway.queue.redis import RedisStore


class QueueAdmin(Protocol):
    """Operator access to a queue's dead letters and consent records."""

    #: where the queue is, for messages (never a password)
    where: str
    #: whether replay and purge work while gateways run
    live_changes: bool

    async def dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """The selected dead letters, oldest first."""

    async def dead_letter(self, dead_id: int) -> tuple[DeadLetter, dict[str, Any]] | None:
        """One dead letter and the governed event it holds."""

    async def consent_records(self, query: consent_records.Query) -> list[dict[str, Any]]:
        """The selected consent records, oldest first."""

    async def replay(self, query: DeadLetterQuery) -> int:
        """Queue the selected dead letters again (same event ids); how many."""

    async def purge(self, query: DeadLetterQuery) -> int:
        """Delete the selected dead letters; how many."""


class _SqliteAdmin:
    live_changes = False

    def __init__(self, queue: QueueConfig) -> None:
        self.queue = queue
        self.where = queue.path

    async def dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        return dead_letters.read(self.queue.path, query)

    async def dead_letter(self, dead_id: int) -> tuple[DeadLetter, dict[str, Any]] | None:
        return dead_letters.read_one(self.queue.path, dead_id)

    async def consent_records(self, query: consent_records.Query) -> list[dict[str, Any]]:
        return list(consent_records.read(self.queue.path, query))

    async def replay(self, query: DeadLetterQuery) -> int:
        async with self._locked() as store:
            return await store.replay(query)

    async def purge(self, query: DeadLetterQuery) -> int:
        async with self._locked() as store:
            return await store.purge(query)

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[SqliteStore]:
        q = self.queue
        store = SqliteStore(q.path, max_rows=q.max_rows, max_bytes=q.max_bytes)
        await store.start()
        try:
            yield store
        finally:
            await store.close()


@contextlib.asynccontextmanager
async def open_admin(queue: QueueConfig) -> AsyncIterator[QueueAdmin]:
    """Operator access to the queue ``queue`` configures."""
    if queue.backend != "redis":
        yield _SqliteAdmin(queue)
        return
    from gateway.queue.redis import RedisStore

    assert queue.url is not None  # the config refuses redis without a url
    store = RedisStore(
        queue.url.get_secret_value(),
        prefix=queue.prefix,
        # a name of its own: an admin command must never claim a gateway's leases
        consumer=f"admin-{socket.gethostname()}-{os.getpid()}",
        max_rows=queue.max_rows,
        max_bytes=queue.max_bytes,
    )
    await store.start()
    try:
        yield _RedisAdmin(store, queue.prefix)
    finally:
        await store.close()


class _RedisAdmin:
    live_changes = True

    def __init__(self, store: RedisStore, prefix: str) -> None:
        self.store = store
        self.where = f"redis queue {prefix!r}"

    async def dead_letters(self, query: DeadLetterQuery) -> list[DeadLetter]:
        return await self.store.read_dead_letters(query)

    async def dead_letter(self, dead_id: int) -> tuple[DeadLetter, dict[str, Any]] | None:
        return await self.store.read_dead_letter(dead_id)

    async def consent_records(self, query: consent_records.Query) -> list[dict[str, Any]]:
        return await self.store.read_consent_records(query)

    async def replay(self, query: DeadLetterQuery) -> int:
        return await self.store.replay(query)

    async def purge(self, query: DeadLetterQuery) -> int:
        return await self.store.purge(query)
