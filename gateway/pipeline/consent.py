"""Consent: from the event's signals and the visitor's region to a verdict per destination.

1. The region picks a regime (``opt_in``, ``opt_out``, ``none``); unknown = strictest.
2. Every signal the event carries is decoded (``consent_inputs``); an unreadable one is
   kept as its error, so that its reader can vote the stricter way.
3. Each reader votes grant or deny (or abstains) per purpose, with the rule that made it
   vote. Site categories, consent mode and TCF can grant or deny; GPP, US Privacy and GPC
   are opt-outs and can only deny. An unreadable TC string denies (no valid consent);
   an unreadable GPP or US Privacy string denies too (read as the opt-out it may carry).
   TCF votes per vendor: a destination with a ``tcf_vendor_id`` needs that vendor's
   consent as well, so purposes are decided once per vendor id in the config.
   A new consent standard is one decoder under ``gateway.signals`` and one reader here.
4. Per purpose: any deny wins; otherwise ``opt_in`` needs a grant, while ``opt_out`` and
   ``none`` grant unless denied.
5. Per destination: ``withhold`` unless every purpose it ``requires`` is granted, except
   that in a region listed under its ``restrictions.limited_data_use`` the event goes in
   the platform's limited-data-use mode instead; ``send_restricted`` when a restriction is
   in force (``ad_user_data`` or ``ad_personalization`` purposes not granted, or limited
   data use); ``send`` otherwise.

Every step is a ``Decision`` naming the rule; none carries a consent string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import orjson

from gateway.config.compile import CompiledPurpose, ConsentTerms, Policy
from gateway.consent_records import signals_digest
from gateway.decisions import Decision
from gateway.event import Consent
from gateway.pipeline.consent_inputs import ConsentInputs, describe, read_inputs
from gateway.request_context import RequestContext
from gateway.signals.errors import SignalError
from gateway.signals.gpp import GppString

Storage = Literal["granted", "denied", "unknown"]
Action = Literal["send", "send_restricted", "withhold"]


class Vote(NamedTuple):
    """One signal's say on one purpose."""

    grant: bool
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What may go to one destination, and in which form."""

    destination: str
    action: Action
    #: the restrictions in force (``ad_user_data``, ``ad_personalization``,
    #: ``limited_data_use``); empty unless the action is ``send_restricted``
    restrictions: tuple[str, ...]
    #: the purposes as decided for this destination (its TCF vendor taken into account)
    purposes: dict[str, bool]
    decisions: tuple[Decision, ...]


@dataclass(frozen=True, slots=True)
class ConsentResult:
    """The consent stage's output for one event."""

    regime: str
    #: the purposes as decided without any TCF vendor (storage and the cookie use these)
    purposes: dict[str, bool]
    verdicts: dict[str, Verdict]
    storage: Storage
    #: the decoded signals, safe to show and record (``consent_inputs.describe``)
    signals: dict[str, Any]
    decisions: tuple[Decision, ...]
    #: for the consent record: the signals' digest, and each verdict with its rules (JSON)
    signals_digest: str
    record_verdicts: bytes


Reader = Callable[[ConsentInputs, CompiledPurpose, int | None], Vote | None]


def _rule(purpose: CompiledPurpose, signal: str) -> str:
    return f"consent.purposes.{purpose.name}.signals.{signal}"


def _categories(s: ConsentInputs, purpose: CompiledPurpose, _: int | None) -> Vote | None:
    present = [c for c in purpose.categories if c in s.categories]
    if not present:
        return None
    rule = _rule(purpose, "categories")
    denied = next((c for c in present if not s.categories[c]), None)
    if denied is not None:
        return Vote(False, rule, f"consent.categories.{denied} is false")
    return Vote(True, rule, f"consent.categories.{present[0]} is true")


def _gcm(s: ConsentInputs, purpose: CompiledPurpose, _: int | None) -> Vote | None:
    if not purpose.gcm or not s.gcm:
        return None
    states = [s.gcm.get(t) for t in purpose.gcm]
    rule = _rule(purpose, "gcm")
    if "denied" in states:
        return Vote(False, rule, f"consent mode {purpose.gcm[states.index('denied')]} denied")
    if all(state == "granted" for state in states):
        return Vote(True, rule, "consent mode " + ", ".join(purpose.gcm) + " granted")
    return None


def _tcf(s: ConsentInputs, purpose: CompiledPurpose, vendor: int | None) -> Vote | None:
    if not purpose.tcf or s.tcf is None:
        return None
    rule = _rule(purpose, "tcf")
    if isinstance(s.tcf, SignalError):
        return Vote(False, rule, f"TC string invalid ({s.tcf.reason}): no consent")
    listed = ", ".join(map(str, purpose.tcf))
    missing = [p for p in purpose.tcf if p not in s.tcf.purpose_consents]
    if missing:
        return Vote(False, rule, f"TCF purpose {missing[0]} not consented")
    if vendor is None:
        return Vote(True, rule, f"TCF purposes {listed} consented")
    if not s.tcf.vendor_consented(vendor, purpose.tcf):
        return Vote(False, rule, f"TCF vendor {vendor} not consented for purposes {listed}")
    return Vote(True, rule, f"TCF purposes {listed} and vendor {vendor} consented")


def _gpp(s: ConsentInputs, purpose: CompiledPurpose, _: int | None) -> Vote | None:
    if not purpose.gpp or s.gpp is None:
        return None
    rule = _rule(purpose, "gpp")
    if isinstance(s.gpp, SignalError):
        return Vote(False, rule, f"GPP string invalid ({s.gpp.reason}): read as opted out")
    opted = s.gpp.opt_outs()
    hit = next((kind for kind in purpose.gpp if kind in opted), None)
    if hit is not None:
        return Vote(False, rule, f"GPP {opted[hit]}: {hit} opt-out")
    return None


def _usp(s: ConsentInputs, purpose: CompiledPurpose, _: int | None) -> Vote | None:
    if not purpose.usp or s.usp is None:
        return None
    rule = _rule(purpose, "usp")
    if isinstance(s.usp, SignalError):
        return Vote(False, rule, f"US Privacy string invalid ({s.usp.reason}): read as opted out")
    if s.usp.opted_out:
        return Vote(False, rule, f"{s.usp_source}: opt-out of sale")
    return None


def _gpc(s: ConsentInputs, purpose: CompiledPurpose, _: int | None) -> Vote | None:
    if purpose.gpc and s.gpc:
        return Vote(False, _rule(purpose, "gpc"), "Sec-GPC: 1 (opt-out of sale and sharing)")
    return None


#: TCF is the only reader whose vote depends on the destination's vendor id
GENERAL_READERS: tuple[Reader, ...] = (_categories, _gcm, _gpp, _usp, _gpc)
VENDOR_READERS: tuple[Reader, ...] = (_tcf,)


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
        consent.gcs,
        consent.gcd,
        consent.tcf,
        consent.gpp,
        tuple(consent.gpp_sid) if consent.gpp_sid is not None else None,
        consent.usp,
    )


@lru_cache(maxsize=4096)
def _decide(
    policy: Policy,
    region: str | None,
    gpc: bool,
    categories: tuple[tuple[str, bool], ...],
    gcm_object: tuple[tuple[str, str], ...],
    gcs: str | None,
    gcd: str | None,
    tc_string: str | None,
    gpp_string: str | None,
    gpp_sid: tuple[int, ...] | None,
    usp_string: str | None,
) -> ConsentResult:
    regime, regime_rule = policy.regime_for(region)
    decisions = [
        Decision("consent", "region", regime, regime_rule, f"region {region or 'unknown'}")
    ]
    inputs = read_inputs(
        categories, gcm_object, gcs, gcd, gpc, tc_string, gpp_string, gpp_sid, usp_string
    )
    decisions += [
        Decision("consent", signal, "read_strict", f"signals.{signal.split('.')[1]}", problem)
        for signal, problem in inputs.problems
    ]
    by_vendor: dict[int | None, dict[str, bool]] = {}
    explicit_deny: set[str] = set()
    # the vendor-independent votes are the same for every vendor: read them once
    general = {
        purpose.name: [
            v for read in GENERAL_READERS if (v := read(inputs, purpose, None)) is not None
        ]
        for purpose in policy.purposes.values()
    }
    for vendor in policy.vendor_ids:
        granted: dict[str, bool] = {}
        for purpose in policy.purposes.values():
            votes = general[purpose.name] + [
                v for read in VENDOR_READERS if (v := read(inputs, purpose, vendor)) is not None
            ]
            verdict, reasons = _combine(purpose.name, votes, regime, regime_rule)
            granted[purpose.name] = verdict
            if vendor is None:
                decisions += reasons
                if any(not v.grant for v in votes):
                    explicit_deny.add(purpose.name)
            elif verdict != by_vendor[None][purpose.name]:
                decisions += [r._replace(subject=f"{r.subject}@vendor:{vendor}") for r in reasons]
        by_vendor[vendor] = granted
    # a known child's data may not go to ad platforms at all: no limited-data-use fallback
    child = isinstance(inputs.gpp, GppString) and "known_child" in inputs.gpp.opt_outs()
    verdicts = {
        name: _verdict(name, terms, by_vendor[terms.tcf_vendor_id], regime, region, child)
        for name, terms in policy.terms.items()
    }
    storage: Storage = "unknown"
    no_vendor = by_vendor[None]
    if all(no_vendor.get(p, False) for p in policy.storage_requires):
        storage = "granted"
    elif any(p in explicit_deny for p in policy.storage_requires):
        storage = "denied"
    vendors = tuple(v for v in policy.vendor_ids if v is not None)
    digest = signals_digest(
        (categories, gcm_object, gcs, gcd, tc_string, gpp_string, gpp_sid, usp_string, gpc)
    )
    return ConsentResult(
        regime,
        no_vendor,
        verdicts,
        storage,
        describe(inputs, vendors),
        tuple(decisions),
        digest,
        _record_verdicts(verdicts, policy.terms, decisions),
    )


def _record_verdicts(
    verdicts: dict[str, Verdict], terms: Mapping[str, ConsentTerms], decisions: list[Decision]
) -> bytes:
    """Each destination's verdict with the rules behind it: its own decisions' rules and
    those that decided the purposes it depends on."""
    rules_by_purpose: dict[str, set[str]] = {}
    for d in decisions:
        if d.subject.startswith("purpose:"):
            purpose = d.subject.removeprefix("purpose:").split("@", 1)[0]
            rules_by_purpose.setdefault(purpose, set()).add(d.rule)
    out: dict[str, Any] = {}
    for name, verdict in verdicts.items():
        t = terms[name]
        rules = {d.rule for d in verdict.decisions}
        for purpose in (*t.requires, *t.ad_user_data, *t.ad_personalization):
            rules |= rules_by_purpose.get(purpose, set())
        entry: dict[str, Any] = {"action": verdict.action, "rules": sorted(rules)}
        if verdict.restrictions:
            entry["restrictions"] = list(verdict.restrictions)
        out[name] = entry
    return orjson.dumps(out)


def _combine(
    name: str, votes: list[Vote], regime: str, regime_rule: str
) -> tuple[bool, list[Decision]]:
    subject = f"purpose:{name}"
    denies = [v for v in votes if not v.grant]
    if denies:
        return False, [Decision("consent", subject, "deny", v.rule, v.reason) for v in denies]
    if votes:
        return True, [Decision("consent", subject, "grant", v.rule, v.reason) for v in votes]
    if regime == "opt_in":
        return False, [
            Decision("consent", subject, "deny", regime_rule, "opt-in regime: no signal grants it")
        ]
    return True, [
        Decision("consent", subject, "grant", regime_rule, f"{regime} regime: no opt-out")
    ]


def _in_regions(region: str | None, listed: frozenset[str]) -> str | None:
    """The entry of ``listed`` that covers ``region`` (``US-CA`` or ``US``), if any."""
    if region is None or not listed:
        return None
    return next((code for code in (region, region.split("-", 1)[0]) if code in listed), None)


def _verdict(
    destination: str,
    terms: ConsentTerms,
    granted: dict[str, bool],
    regime: str,
    region: str | None,
    known_child: bool,
) -> Verdict:
    subject = f"destination:{destination}"
    rule = f"destinations.{destination}.requires"
    missing = [p for p in terms.requires if not granted.get(p, False)]
    decisions: list[Decision] = []
    restrictions: list[str] = []
    if missing:
        ldu = _in_regions(region, terms.limited_data_use) if regime != "opt_in" else None
        if ldu is not None and known_child:
            ldu = None
            decisions.append(
                Decision(
                    "consent",
                    subject,
                    "withhold",
                    "consent.gpp.known_child",
                    "GPP marks a known child without consent: limited data use does not apply",
                    destination,
                )
            )
        if ldu is None:
            return Verdict(
                destination,
                "withhold",
                (),
                granted,
                (
                    *decisions,
                    *(
                        Decision(
                            "consent",
                            subject,
                            "withhold",
                            rule,
                            f"purpose {p} not granted",
                            destination,
                        )
                        for p in missing
                    ),
                ),
            )
        restrictions.append("limited_data_use")
        decisions.append(
            Decision(
                "consent",
                subject,
                "restrict",
                f"destinations.{destination}.restrictions.limited_data_use",
                f"purpose {missing[0]} not granted in {ldu}: limited data use, not withheld",
                destination,
            )
        )
    for kind, purposes in (
        ("ad_user_data", terms.ad_user_data),
        ("ad_personalization", terms.ad_personalization),
    ):
        denied = next((p for p in purposes if not granted.get(p, False)), None)
        if denied is not None:
            restrictions.append(kind)
            decisions.append(
                Decision(
                    "consent",
                    subject,
                    "restrict",
                    f"destinations.{destination}.restrictions.{kind}",
                    f"purpose {denied} not granted",
                    destination,
                )
            )
    if restrictions:
        return Verdict(
            destination, "send_restricted", tuple(sorted(restrictions)), granted, tuple(decisions)
        )
    reason = (
        "requires " + (", ".join(terms.requires) if terms.requires else "no purpose") + ": granted"
    )
    return Verdict(
        destination,
        "send",
        (),
        granted,
        (Decision("consent", subject, "send", rule, reason, destination),),
    )
