"""Route: which destinations get a queue item for an event, and why the others do not.

A destination is routed when consent says ``send``, it is enabled, and it has a name for
the event (or sends unmapped events as custom ones: ``unknown_events``). A destination
without credentials is still routed: its items wait in the queue, visible in metrics,
until credentials arrive; nothing is thrown away.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from destinations.base import GovernedEvent, HttpDestination
from gateway.decisions import Decision


class QueueEntry(NamedTuple):
    """One row to insert: an event governed for one destination."""

    destination: str
    event_id: str
    payload: bytes


def route(
    destination: HttpDestination, event_id: str, governed: GovernedEvent
) -> tuple[QueueEntry | None, Decision]:
    """A queue entry for ``destination``, or the reason there is none."""
    name = destination.name
    subject = f"destination:{name}"
    if not destination.settings.enabled:
        return None, Decision(
            "route", subject, "skip", f"destinations.{name}.enabled", "disabled", name
        )
    if destination.event_name(governed["event"]) is None:
        return None, Decision(
            "route",
            subject,
            "skip",
            f"destinations.{name}.unknown_events",
            "no event name mapping for this event (unknown_events: drop)",
            name,
        )
    entry = QueueEntry(name, event_id, orjson.dumps(governed))
    return entry, Decision("route", subject, "queue", f"destinations.{name}", "queued", name)
