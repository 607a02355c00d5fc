"""Consent: from the event's signals and the visitor's region to a verdict per destination.

1. The region picks a regime (``opt_in``, ``opt_out``, ``none``); unknown = strictest.
2. Each signal reader votes grant or deny (or abstains) per purpose, with the rule that
   made it vote.
   A new consent standard is one decoder under ``gateway.signals`` and one reader here.
3. Per purpose: any deny wins; otherwise ``opt_in`` needs a grant, while ``opt_out`` and
   ``none`` grant unless denied.
4. A destination is sent to only if every purpose it ``requires`` is granted.

Every step is a ``Decision`` naming the rule; none carries a consent string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

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


class Vote(NamedTuple):
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


Reader = Callable[[Signals, CompiledPurpose], Vote | None]


def _categories(signals: Signals, purpose: CompiledPurpose) -> Vote | None:
    cats = signals.categories
    present = [c for c in purpose.categories if c in cats]
    if not present:
        return None
    rule = f"consent.purposes.{purpose.name}.signals.categories"
    denied = next((c for c in present if not cats[c]), None)
    if denied is not None:
        return Vote(False, rule, f"consent.categories.{denied} is false")
    return Vote(True, rule, f"consent.categories.{present[0]} is true")


def _gcm(signals: Signals, purpose: CompiledPurpose) -> Vote | None:
    if not purpose.gcm or not signals.gcm.values:
        return None
    states = [signals.gcm.values.get(t) for t in purpose.gcm]
    rule = f"consent.purposes.{purpose.name}.signals.gcm"
    if "denied" in states:
        return Vote(False, rule, f"consent mode {purpose.gcm[states.index('denied')]} denied")
    if all(s == "granted" for s in states):
        return Vote(True, rule, "consent mode " + ", ".join(purpose.gcm) + " granted")
    return None


def _gpc(signals: Signals, purpose: CompiledPurpose) -> Vote | None:
    if purpose.gpc and signals.gpc:
        rule = f"consent.purposes.{purpose.name}.signals.gpc"
        return Vote(False, rule, "Sec-GPC: 1 (opt-out of sale and sharing)")
    return None


READERS: tuple[Reader, ...] = (_categories, _gcm, _gpc)


def evaluate(consent: Consent, ctx: RequestContext, policy: Policy) -> ConsentResult:
    """Decide every purpose and every destination for one event.

    The result depends only on the policy, the region, GPC and the consent signals, a
    small set in practice, so it is memoized; callers must treat it as read-only.
    """
    return _decide(
        policy,
        ctx.region,
        ctx.gpc,
        tuple(sorted((consent.categories or {}).items())),
        tuple(sorted((consent.gcm or {}).items())),
    )


@lru_cache(maxsize=4096)
def _decide(
    policy: Policy,
    region: str | None,
    gpc: bool,
    categories: tuple[tuple[str, bool], ...],
    gcm_object: tuple[tuple[str, str], ...],
) -> ConsentResult:
    regime, regime_rule = policy.regime_for(region)
    decisions = [
        Decision("consent", "region", regime, regime_rule, f"region {region or 'unknown'}")
    ]
    reading = gcm.decode(dict(gcm_object))
    decisions += [
        Decision("consent", "consent.gcm", "read_strict", "signals.gcm", problem)
        for problem in reading.problems
    ]
    signals = Signals(dict(categories), reading, gpc)
    granted: dict[str, bool] = {}
    explicit_deny: set[str] = set()
    for purpose in policy.purposes.values():
        votes = [v for read in READERS if (v := read(signals, purpose)) is not None]
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
