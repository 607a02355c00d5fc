"""The request path's stages, composed: ingest → identify → consent → govern → route.

``process`` is pure apart from the clock and the random client id; the endpoints put
its entries in the queue, and ``gateway explain`` prints its decisions and encodes its
governed events instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from destinations.base import GovernedEvent
from gateway.config.compile import Policy
from gateway.decisions import Decision
from gateway.pipeline.consent import ConsentResult, evaluate
from gateway.pipeline.govern import govern, source_fields
from gateway.pipeline.identify import Identity, identify
from gateway.pipeline.ingest import Ingested
from gateway.pipeline.route import QueueEntry, route, skip
from gateway.request_context import RequestContext


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pipeline made of one event."""

    ingested: Ingested
    consent: ConsentResult
    governed: dict[str, GovernedEvent]
    entries: list[QueueEntry]
    decisions: list[Decision] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Processed:
    """What the pipeline made of one request."""

    identity: Identity
    outcomes: list[Outcome]

    @property
    def entries(self) -> list[QueueEntry]:
        return [entry for outcome in self.outcomes for entry in outcome.entries]


def process(
    events: list[Ingested], ctx: RequestContext, policy: Policy, *, field_remarks: bool = False
) -> Processed:
    """Run every stage after ingest over the events of one request.

    Each outcome's decisions hold every stage's verdicts; the govern stage's remark per
    field (hashed, dropped, redacted) is added only with ``field_remarks``, as
    ``gateway explain`` asks: they follow from the event and the config alone, and making
    them on the request path would cost as much as governing.
    """
    identity = identify(ctx, events, policy.cookie.name, policy.secret, int(time.time()))
    outcomes = [_one(ingested, identity, ctx, policy, field_remarks) for ingested in events]
    return Processed(identity, outcomes)


def _one(
    ingested: Ingested,
    identity: Identity,
    ctx: RequestContext,
    policy: Policy,
    field_remarks: bool,
) -> Outcome:
    consent = evaluate(ingested.event.consent, ctx, policy)
    decisions = [*ingested.decisions, *identity.decisions, *consent.decisions]
    source = source_fields(ingested, identity, ctx, consent)
    country = ingested.event.user.country or policy.default_country
    governed: dict[str, GovernedEvent] = {}
    entries: list[QueueEntry] = []
    for name, destination in policy.destinations.items():
        verdict = consent.verdicts[name]
        decisions.extend(verdict.decisions)
        if verdict.action == "withhold":
            continue
        if (skipped := skip(destination, ingested.event.event)) is not None:
            decisions.append(skipped)
            continue
        remarks = decisions if field_remarks else None
        event = govern(source, destination, country, remarks, verdict)
        entry, routed = route(destination, ingested.event_id, event)
        decisions.append(routed)
        governed[name] = event
        entries.append(entry)
    return Outcome(ingested, consent, governed, entries, decisions)
