"""The ``governance:`` rules that apply to an event whatever its destination.

In order: bot and junk filtering (from the request and the typed properties), the
tracking plan (on the properties as sent, before anything rewrites them), sensitive
pages, then PII scrubbing of the text that is left. Each change is a remark; the
destination-specific rules come after, in ``pipeline.govern``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from destinations.policy import Kind
from gateway.config.governance import GovernanceConfig
from gateway.decisions import Decision
from gateway.event import Properties
from gateway.governance.agents import JunkFilter
from gateway.governance.pages import SensitivePages
from gateway.governance.plan import CompiledPlan, Violation
from gateway.governance.scrub import Scrubber
from gateway.request_context import RequestContext

_JUNK_REASONS = {
    "known_bot": "known bot or crawler user agent",
    "headless": "headless or automated browser",
    "custom_user_agent": "user agent matches governance.bots.user_agents",
    "prefetch": "prefetch or link preview, not a visit",
    "impossible_value": "impossible value (negative, or above max_value)",
}


@dataclass(frozen=True, slots=True)
class EventGovernance:
    """What the event-wide rules made of one event."""

    source: dict[str, dict[str, Any]]
    #: why the event is junk (a ``gateway_events_filtered_total`` reason), if it is
    junk: str | None
    violations: tuple[Violation, ...]
    #: why the event is dead-lettered for every destination (tracking plan), if it is
    dead_letter: str | None
    remarks: tuple[Decision, ...]
    #: destination kinds withheld, with the rule that withholds each
    withhold: dict[str, str]
    keep_junk_for: frozenset[str]

    def withheld(self, name: str, kind: Kind) -> Decision | None:
        """Why destination ``name`` (of ``kind``) gets nothing for this event, if so."""
        subject = f"destination:{name}"
        if self.junk is not None and kind not in self.keep_junk_for:
            reason = f"{_JUNK_REASONS[self.junk]}: kept only for {sorted(self.keep_junk_for)}"
            return Decision("route", subject, "skip", "governance.bots.keep_for", reason, name)
        if (rule := self.withhold.get(kind)) is not None:
            return Decision("route", subject, "skip", rule, f"sensitive page: no {kind}", name)
        return None


class Governance:
    """The compiled ``governance:`` section."""

    def __init__(self, config: GovernanceConfig) -> None:
        self.junk = JunkFilter.compile(config.bots)
        self.keep_junk_for = frozenset(config.bots.keep_for)
        self.plan = CompiledPlan.compile(config.tracking_plan)
        self.pages = SensitivePages(config.sensitive_pages)
        self.scrubber = Scrubber.compile(config.scrub)

    def apply(
        self, source: dict[str, dict[str, Any]], properties: Properties, ctx: RequestContext
    ) -> EventGovernance:
        """Run the event-wide rules over ``source`` (``pipeline.govern.source_fields``)."""
        remarks: list[Decision] = []
        junk = self.junk.check(ctx.user_agent, ctx.prefetch, properties)
        if junk is not None:
            remarks.append(Decision("govern", "event", "filter", "governance.bots", junk))
        event = source[""]["event"]
        checked = self.plan.check(event, source["properties"])
        remarks += [_violation_remark(v) for v in checked.violations]
        out = source
        if checked.properties is not source["properties"]:
            out = {**out, "properties": checked.properties}
        page = self.pages.check(out["page"])
        remarks += page.remarks
        if page.page is not out["page"]:
            out = {**out, "page": page.page}
        for section in ("page", "properties"):
            scrubbed, changes = self.scrubber.scrub(section, out[section])
            if changes:
                out = {**out, section: scrubbed}
                remarks += [
                    Decision("govern", c.path, c.action, c.rule, "personal data in text")
                    for c in changes
                ]
        withhold: dict[str, str] = {}
        for kind, rule in page.withhold:
            withhold.setdefault(kind, rule)
        return EventGovernance(
            out,
            junk,
            checked.violations,
            checked.dead_letter,
            tuple(remarks),
            withhold,
            self.keep_junk_for,
        )


def _violation_remark(v: Violation) -> Decision:
    base = "governance.tracking_plan"
    if v.rule == "unknown_event":
        rule = f"{base}.unknown_events"
    elif v.rule == "additional_properties":
        rule = f"{base}.events.{v.event}.additional_properties"
    else:
        rule = f"{base}.events.{v.event}.properties.{v.rule}"
    return Decision("govern", v.path, v.handling, rule, v.reason)
