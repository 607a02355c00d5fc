"""The store Protocol every queue backend implements.

Semantics every backend keeps (a conformance test runs over each):

- ``put`` returns only once the entries are durable; it raises ``QueueFull`` past the
  configured bounds and ``QueueUnavailable`` when it cannot write. Nothing else. An
  entry with a ``dead_letter`` reason goes straight to the dead-letter store.
- ``lease`` hands out due items of one destination, oldest first, hidden from other
  leases for ``lease_secs``; a lease that is never settled expires and the item is due
  again (at-least-once delivery). Each lease counts as one attempt.
- A leased item is settled by exactly one of ``ack`` (delivered: deleted), ``retry``
  (due again after a delay, with the reason) or ``dead_letter`` (kept aside with the
  reason, no longer delivered).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from destinations.base import QueuedEvent
from gateway.consent_records import ConsentRecord
from gateway.pipeline.route import QueueEntry

if TYPE_CHECKING:  # dead_letters reads DeadLetter from here
    from gateway.queue.dead_letters import DeadLetterQuery


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An item that will not be delivered, and why."""

    id: int
    destination: str
    event_id: str
    attempts: int
    created_ms: int
    failed_ms: int
    reason: str


class Store(Protocol):
    """A durable queue of governed events, one row per (event, destination)."""

    #: how often a worker re-checks for due items without a ``wakeup`` (another
    #: process's puts, and retries coming due, set none)
    poll_secs: float

    async def start(self) -> None:
        """Open the store and make earlier processes' leases due again where safe."""

    async def close(self) -> None:
        """Finish pending writes and release the store."""

    async def put(
        self, entries: Sequence[QueueEntry], records: Sequence[ConsentRecord] = ()
    ) -> None:
        """Durably add entries and their consent records, in one transaction; returns
        after it is committed."""

    async def purge_consent_records(self, before_ms: int) -> int:
        """Delete consent records older than ``before_ms``; returns how many."""

    async def lease(self, destination: str, limit: int, lease_secs: float) -> list[QueuedEvent]:
        """Up to ``limit`` due items of ``destination``."""

    async def ack(self, ids: Sequence[int]) -> None:
        """Delivered: remove the items."""

    async def retry(self, ids: Sequence[int], delay_secs: float, reason: str) -> None:
        """Make the items due again after ``delay_secs``."""

    async def dead_letter(self, ids: Sequence[int], reason: str) -> None:
        """Set the items aside with ``reason``; they are not delivered again."""

    async def next_due_ms(self, destination: str) -> int | None:
        """When the earliest item of ``destination`` becomes due (epoch ms), if any."""

    async def dead_letters(self, destination: str | None = None) -> list[DeadLetter]:
        """The dead-letter store, optionally for one destination."""

    async def replay(self, query: DeadLetterQuery) -> int:
        """Move the selected dead letters back into the queue, due now, same event ids;
        returns how many."""

    async def purge(self, query: DeadLetterQuery) -> int:
        """Delete the selected dead letters for good; returns how many."""

    async def ping(self) -> None:
        """Raise ``QueueUnavailable`` unless the store can write."""

    def depth(self) -> Mapping[str, int]:
        """Items waiting per destination (from memory: cheap enough for every scrape)."""

    def dead_letter_count(self) -> Mapping[str, int]:
        """Dead letters per destination."""

    def wakeup(self, destination: str) -> asyncio.Event:
        """An ``asyncio.Event`` set whenever items for ``destination`` are added."""
