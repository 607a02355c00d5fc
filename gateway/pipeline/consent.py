"""Consent: from the event's signals and the visitor's region to a verdict per destination.

1. The region picks a regime (``opt_in``, ``opt_out``, ``none``); unknown = strictest.
2. Each signal reader votes grant or deny per purpose, with the rule that made it vote.
   A new consent standard is one decoder under ``gateway.signals`` and one reader here.
3. Per purpose: any deny wins; otherwise ``opt_in`` needs a grant, while ``opt_out`` and
   ``none`` grant unless denied.
4. A destination is sent to only if every purpose it ``requires`` is granted.

Every step is a ``Decision`` naming the rule; none carries a consent string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from gateway.config.compile import CompiledPurpose, Policy
from gateway.decisions import Decision
from gateway.event import Consent
from gateway.request_context import RequestContext
from gateway.signals import gcm

Storage = Literal["granted", "denied", "unknown"]


@dataclass(frozen=True, slots=True)
class Signals:
    """The decoded signals of one event."""

    categories: dict[str, bool]
    gcm: gcm.GcmReading
    gpc: bool


@dataclass(frozen=True, slots=True)
class Vote:
    """One signal's say on one purpose."""

    grant: bool
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What may go to one destination."""

    destination: str
    action: Literal["send", "withhold"]
    decisions: tuple[Decision, ...]


@dataclass(frozen=True, slots=True)
class ConsentResult:
    """The consent stage's output for one event."""

    regime: str
    purposes: dict[str, bool]
    verdicts: dict[str, Verdict]
    storage: Storage
    decisions: tuple[Decision, ...]


Reader = Callable[[Signals, CompiledPurpose], Iterator[Vote]]


def _categories(signals: Signals, purpose: CompiledPurpose) -> Iterator[Vote]:
    rule = f"consent.purposes.{purpose.name}.signals.categories"
    present = [c for c in purpose.categories if c in signals.categories]
    denied = [c for c in present if not signals.categories[c]]
    if denied:
        yield Vote(False, rule, f"consent.categories.{denied[0]} is false")
    elif present:
        yield Vote(True, rule, f"consent.categories.{present[0]} is true")


def _gcm(signals: Signals, purpose: CompiledPurpose) -> Iterator[Vote]:
    if not purpose.gcm:
        return
    rule = f"consent.purposes.{purpose.name}.signals.gcm"
    states = {t: signals.gcm.values.get(t) for t in purpose.gcm}
    denied = [t for t, s in states.items() if s == "denied"]
    if denied:
        yield Vote(False, rule, f"consent mode {denied[0]} denied")
    elif all(s == "granted" for s in states.values()):
        yield Vote(True, rule, "consent mode " + ", ".join(purpose.gcm) + " granted")


def _gpc(signals: Signals, purpose: CompiledPurpose) -> Iterator[Vote]:
    if purpose.gpc and signals.gpc:
        rule = f"consent.purposes.{purpose.name}.signals.gpc"
        yield Vote(False, rule, "Sec-GPC: 1 (opt-out of sale and sharing)")


READERS: tuple[Reader, ...] = (_categories, _gcm, _gpc)


def decode_signals(consent: Consent, ctx: RequestContext) -> tuple[Signals, list[Decision]]:
    """Decode every signal the event and request carry; report what could not be read."""
    reading = gcm.decode(consent.gcm)
    decisions = [
        Decision("consent", "consent.gcm", "read_strict", "signals.gcm", problem)
        for problem in reading.problems
    ]
    return Signals(dict(consent.categories or {}), reading, ctx.gpc), decisions


def evaluate(consent: Consent, ctx: RequestContext, policy: Policy) -> ConsentResult:
    """Decide every purpose and every destination for one event."""
    regime, regime_rule = policy.regime_for(ctx.region)
    decisions = [
        Decision("consent", "region", regime, regime_rule, f"region {ctx.region or 'unknown'}")
    ]
    signals, problems = decode_signals(consent, ctx)
    decisions.extend(problems)
    granted: dict[str, bool] = {}
    explicit_deny: set[str] = set()
    for purpose in policy.purposes.values():
        votes = [v for read in READERS for v in read(signals, purpose)]
        denies = [v for v in votes if not v.grant]
        grants = [v for v in votes if v.grant]
        subject = f"purpose:{purpose.name}"
        if denies:
            granted[purpose.name] = False
            explicit_deny.add(purpose.name)
            decisions += [Decision("consent", subject, "deny", v.rule, v.reason) for v in denies]
        elif grants:
            granted[purpose.name] = True
            decisions += [Decision("consent", subject, "grant", v.rule, v.reason) for v in grants]
        elif regime == "opt_in":
            granted[purpose.name] = False
            decisions.append(
                Decision(
                    "consent", subject, "deny", regime_rule, "opt-in regime: no signal grants it"
                )
            )
        else:
            granted[purpose.name] = True
            decisions.append(
                Decision("consent", subject, "grant", regime_rule, f"{regime} regime: no opt-out")
            )
    verdicts = {
        name: _verdict(name, policy.requires[name], granted) for name in policy.destinations
    }
    storage: Storage = "unknown"
    if all(granted.get(p, False) for p in policy.storage_requires):
        storage = "granted"
    elif any(p in explicit_deny for p in policy.storage_requires):
        storage = "denied"
    return ConsentResult(regime, granted, verdicts, storage, tuple(decisions))


def _verdict(destination: str, requires: tuple[str, ...], granted: dict[str, bool]) -> Verdict:
    rule = f"destinations.{destination}.requires"
    missing = [p for p in requires if not granted.get(p, False)]
    if missing:
        return Verdict(
            destination,
            "withhold",
            tuple(
                Decision(
                    "consent",
                    f"destination:{destination}",
                    "withhold",
                    rule,
                    f"purpose {p} not granted",
                    destination,
                )
                for p in missing
            ),
        )
    reason = "requires " + (", ".join(requires) if requires else "no purpose") + ": granted"
    return Verdict(
        destination,
        "send",
        (Decision("consent", f"destination:{destination}", "send", rule, reason, destination),),
    )
