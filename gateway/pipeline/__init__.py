"""The request path's stages, composed: ingest → identify → consent → govern → route.

Govern runs in two steps: the event-wide ``governance:`` rules (bots, tracking plan,
sensitive pages, scrubbing) once per event, then per destination its own rules and the
adapter's field declarations.

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
from gateway.governance.event_rules import EventGovernance
from gateway.pipeline.consent import ConsentResult, evaluate
from gateway.pipeline.govern import Tally, govern, source_fields
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
    governance: EventGovernance
    decisions: list[Decision] = field(default_factory=list)
    #: every change a governance rule made (also in ``decisions``): counted in metrics
    changes: list[Decision] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Processed:
    """What the pipeline made of one request."""

    identity: Identity
    outcomes: list[Outcome]

    @property
    def entries(self) -> list[QueueEntry]:
        return [entry for outcome in self.outcomes for entry in outcome.entries]


def process(
    events: list[Ingested],
    ctx: RequestContext,
    policy: Policy,
    *,
    field_remarks: bool = False,
    tally: Tally | None = None,
) -> Processed:
    """Run every stage after ingest over the events of one request.

    Each outcome's decisions hold every stage's verdicts; the govern stage's remark per
    field (hashed, dropped, redacted) is added only with ``field_remarks``, as
    ``gateway explain`` asks: they follow from the event and the config alone, and making
    them on the request path would cost as much as governing. ``tally`` counts every
    change the adapters' declarations make, by (destination, rule, action), for metrics.
    """
    identity = identify(ctx, events, policy.cookie.name, policy.secret, int(time.time()))
    outcomes = [_one(ingested, identity, ctx, policy, field_remarks, tally) for ingested in events]
    return Processed(identity, outcomes)


def _one(
    ingested: Ingested,
    identity: Identity,
    ctx: RequestContext,
    policy: Policy,
    field_remarks: bool,
    tally: Tally | None,
) -> Outcome:
    consent = evaluate(ingested.event.consent, ctx, policy)
    decisions = [*ingested.decisions, *identity.decisions, *consent.decisions]
    source = source_fields(ingested, identity, ctx, consent)
    ruled = policy.governance.apply(source, ingested.event.properties, ctx)
    changes = list(ruled.remarks)
    decisions += ruled.remarks
    country = ingested.event.user.country or policy.default_country
    name_of_event = ingested.event.event
    governed: dict[str, GovernedEvent] = {}
    entries: list[QueueEntry] = []
    for name, destination in policy.destinations.items():
        verdict = consent.verdicts[name]
        decisions.extend(verdict.decisions)
        if verdict.action == "withhold":
            continue
        rules = policy.rules[name]
        skipped = (
            skip(destination, name_of_event)
            or rules.skip(name_of_event)
            or ruled.withheld(name, rules.kind)
        )
        if skipped is not None:
            decisions.append(skipped)
            continue
        narrowed: list[Decision] = []
        narrowed_source = rules.narrow(ruled.source, ctx.region, narrowed)
        remarks = decisions if field_remarks else None
        event = govern(
            narrowed_source,
            destination,
            country,
            remarks,
            verdict,
            allowed=rules.allowed(name_of_event),
            changes=narrowed,
            tally=tally,
        )
        changes += narrowed
        decisions += narrowed
        entry, routed = route(destination, ingested.event_id, event, ruled.dead_letter)
        decisions.append(routed)
        governed[name] = event
        entries.append(entry)
    return Outcome(ingested, consent, governed, entries, ruled, decisions, changes)
