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
    #: set aside in the dead-letter store at once, with this reason (tracking plan)
    dead_letter: str | None = None


def skip(destination: HttpDestination, event_name: str) -> Decision | None:
    """Why ``destination`` gets no queue item for an event named ``event_name``, if it
    gets none whatever the event holds: checked before the event is governed for it."""
    name = destination.name
    subject = f"destination:{name}"
    if not destination.settings.enabled:
        return Decision("route", subject, "skip", f"destinations.{name}.enabled", "disabled", name)
    if destination.event_name(event_name) is None:
        return Decision(
            "route",
            subject,
            "skip",
            f"destinations.{name}.unknown_events",
            "no event name mapping for this event (unknown_events: drop)",
            name,
        )
    return None


def route(
    destination: HttpDestination,
    event_id: str,
    governed: GovernedEvent,
    dead_letter: str | None = None,
) -> tuple[QueueEntry, Decision]:
    """The queue entry for ``destination`` (``skip`` said it gets one) and the decision;
    with ``dead_letter``, the entry goes straight to the dead-letter store (it can be
    replayed from there once the tracking plan or the site is fixed)."""
    name = destination.name
    entry = QueueEntry(name, event_id, orjson.dumps(governed), dead_letter)
    if dead_letter is not None:
        return entry, Decision(
            "route",
            f"destination:{name}",
            "dead_letter",
            "governance.tracking_plan",
            dead_letter,
            name,
        )
    return entry, Decision(
        "route", f"destination:{name}", "queue", f"destinations.{name}", "queued", name
    )
