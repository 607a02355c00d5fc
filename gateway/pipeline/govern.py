"""Govern: cut an event down to what one destination may receive, in the form it may get it.

The adapter's ``FIELDS`` is the allow-list: a path it does not declare, or declares
``never``, is dropped; a ``hashed`` path leaves only as the SHA-256 of its normalized
value, a ``normalized`` one as its normalized value (GA4's unhashed address parts);
``user`` fields are never passed raw, whatever an adapter declares. The operator's field
list (``destinations.NAME.fields``) narrows it further. Email addresses found in any raw
text that leaves are replaced by ``redacted``: the fixed floor under the configurable
scrubbing rules of ``governance.scrub`` (which run before, once per event). Every change
is a remark (field path, action, rule, reason), never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from destinations.base import FieldRule, GovernedEvent, HttpDestination
from gateway.decisions import Decision
from gateway.governance.destination_rules import Allowed
from gateway.governance.scrub import scrub_floor
from gateway.pii import PiiField
from gateway.pipeline.consent import ConsentResult, Verdict
from gateway.pipeline.identify import Identity
from gateway.pipeline.ingest import Ingested
from gateway.request_context import RequestContext

_PII_FIELDS = {field.value: field for field in PiiField}
#: changes counted by (destination, rule, action), for ``gateway_governance_changes_total``
Tally = dict[tuple[str, str, str], int]
#: sections whose dropped fields are worth a remark (the rest are event payload)
_REMARKED = frozenset({"user", "ids", "context", "page"})
EMAIL_RULE = "govern.email_in_text"
#: browser and click ids that identify a visitor to an ad platform
_AD_IDS = frozenset({"fbp", "fbc", "ttp", "ttclid", "gclid"})
_HASH_ACTIONS = {
    "hashed": "hash",
    "passed_prehashed": "pass_hashed",
    "normalized": "normalize",
    "dropped": "drop",
}


@dataclass(frozen=True, slots=True)
class _Section:
    """One section's slice of an adapter's ``FIELDS``: exact keys, and the ``*`` rule."""

    exact: Mapping[str, FieldRule]
    wildcard: FieldRule | None


_PLANS: dict[type, dict[str, _Section]] = {}


def _plan(fields: Mapping[str, FieldRule]) -> dict[str, _Section]:
    """``FIELDS`` regrouped by section (``""`` is the top level)."""
    exact: dict[str, dict[str, FieldRule]] = {}
    wildcard: dict[str, FieldRule] = {}
    for path, rule in fields.items():
        section, _, key = path.rpartition(".")
        if key == "*":
            wildcard[section] = rule
        else:
            exact.setdefault(section, {})[key] = rule
    sections = set(exact) | set(wildcard)
    return {s: _Section(exact.get(s, {}), wildcard.get(s)) for s in sections}


def _plan_for(destination: HttpDestination) -> dict[str, _Section]:
    """The adapter's plan, computed once per adapter class."""
    adapter = type(destination)
    if (plan := _PLANS.get(adapter)) is None:
        plan = _PLANS[adapter] = _plan(adapter.FIELDS)
    return plan


def source_fields(
    ingested: Ingested, identity: Identity, ctx: RequestContext, consent: ConsentResult
) -> dict[str, dict[str, Any]]:
    """Everything known about the event, by section, before any destination's cut."""
    event = ingested.event
    data = event.model_dump(exclude_none=True, exclude={"event", "event_id", "timestamp"})
    # the settled identity, never a malformed id the page sent (GA4 needs its own form)
    ids = {**data.get("ids", {}), "client_id": identity.client_id}
    context = {"ip": ctx.client_ip, "user_agent": ctx.user_agent, "region": ctx.region}
    return {
        "": {
            "event": event.event,
            "event_id": ingested.event_id,
            "timestamp_ms": ingested.timestamp_ms,
            "received_ms": ingested.received_ms,
        },
        "page": data.get("page", {}),
        "user": data.get("user", {}),
        "ids": ids,
        "context": {k: v for k, v in context.items() if v is not None},
        "properties": data.get("properties", {}),
        "consent": {"regime": consent.regime},
    }


def govern(
    source: dict[str, dict[str, Any]],
    destination: HttpDestination,
    country_hint: str | None,
    remarks: list[Decision] | None = None,
    verdict: Verdict | None = None,
    *,
    allowed: Allowed | None = None,
    changes: list[Decision] | None = None,
    tally: Tally | None = None,
) -> GovernedEvent:
    """The governed event for ``destination``, in the form its consent ``verdict`` allows.

    The verdict's purposes and restrictions become the ``consent`` section (adapters
    turn restrictions into the platform's privacy fields); under an ``ad_user_data``
    restriction no ``user`` field leaves, hashed or not. ``allowed`` is the operator's
    field list (``destinations.NAME.fields``): it narrows the adapter's declaration.

    With a ``remarks`` list, a remark about each change the adapter's declaration makes
    is appended to it. The request path passes none: its remarks would be thrown away,
    and making them costs as much as the cut itself (``gateway explain`` and the tests
    ask for them). Fields the operator's list drops are remarked in ``changes`` always.
    ``tally`` counts every change by (destination, rule, action), remarked or not, for
    the metrics: a counter bump per field is cheap where a remark is not.
    """
    name = destination.name
    rule_id = f"{destination.type}.FIELDS"
    plan = _plan_for(destination)
    if verdict is not None:
        source = _restricted(source, verdict, remarks, tally)
    out: dict[str, Any] = {}
    for section, values in source.items():
        cut = plan.get(section)
        if cut is None and (remarks is None or section not in _REMARKED):
            if tally is not None and section in _REMARKED and values:
                _count(tally, (name, rule_id, "drop"), len(values))
            continue
        target = out if not section else {}
        for key, value in values.items():
            rule = None if cut is None else cut.exact.get(key, cut.wildcard)
            if (
                allowed is not None
                and rule is not None
                and rule.treatment != "never"
                and not allowed.permits(section, key)
            ):
                if changes is not None:
                    changes.append(
                        Decision(
                            "govern",
                            _path(section, key),
                            "drop",
                            allowed.rule,
                            "not in the destination's field list",
                            name,
                        )
                    )
                continue
            if rule is None or rule.treatment == "never":
                if tally is not None and section in _REMARKED:
                    _count(tally, (name, rule_id, "drop"), 1)
                if remarks is not None and section in _REMARKED:
                    remarks.append(
                        Decision(
                            "govern",
                            _path(section, key),
                            "drop",
                            rule_id,
                            "not sent to this destination",
                            name,
                        )
                    )
                continue
            if section == "user" or rule.treatment in ("hashed", "normalized"):
                digest = _hash(
                    section, key, value, rule, country_hint, name, rule_id, remarks, tally
                )
                if digest is not None:
                    target[key] = digest
                continue
            # inline for the common case, a string without "@": one call fewer per field
            scrubbed = False
            if not isinstance(value, str) or "@" in value or "%40" in value:
                value, scrubbed = scrub_floor(value)
            if scrubbed and tally is not None:
                _count(tally, (name, EMAIL_RULE, "redact"), 1)
            if scrubbed and remarks is not None:
                remarks.append(
                    Decision(
                        "govern",
                        _path(section, key),
                        "redact",
                        EMAIL_RULE,
                        "email address in text",
                        name,
                    )
                )
            target[key] = value
        if section and target:
            out[section] = target
    return out  # type: ignore[return-value]


def _restricted(
    source: dict[str, dict[str, Any]],
    verdict: Verdict,
    remarks: list[Decision] | None,
    tally: Tally | None,
) -> dict[str, dict[str, Any]]:
    consent = {
        **source.get("consent", {}),
        "purposes": verdict.purposes,
        "restrictions": list(verdict.restrictions),
    }
    cut = {**source, "consent": consent}
    for restriction, section, keys, reason in (
        ("ad_user_data", "user", None, "ad_user_data restricted: no user data"),
        # an opted-out visitor's browser ids do not go to ad platforms either (the
        # reference's minimisation for US opt-outs); the gateway's own id is not one
        ("limited_data_use", "ids", _AD_IDS, "limited data use: no advertising ids"),
    ):
        values = source.get(section) or {}
        dropped = [k for k in values if keys is None or k in keys]
        if restriction not in verdict.restrictions or not dropped:
            continue
        cut[section] = {k: v for k, v in values.items() if k not in dropped}
        rule = f"destinations.{verdict.destination}.restrictions.{restriction}"
        if tally is not None:
            _count(tally, (verdict.destination, rule, "drop"), len(dropped))
        if remarks is not None:
            remarks += [
                Decision("govern", f"{section}.{k}", "drop", rule, reason, verdict.destination)
                for k in dropped
            ]
    return cut


def _count(tally: Tally, key: tuple[str, str, str], n: int) -> None:
    tally[key] = tally.get(key, 0) + n


def _path(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _hash(
    section: str,
    key: str,
    value: Any,
    rule: FieldRule,
    country_hint: str | None,
    destination: str,
    rule_id: str,
    remarks: list[Decision] | None,
    tally: Tally | None,
) -> str | None:
    field = _PII_FIELDS.get(key)
    if rule.recipe is None or field is None:
        if tally is not None:
            _count(tally, (destination, rule_id, "drop"), 1)
        if remarks is not None:
            remarks.append(
                Decision(
                    "govern", _path(section, key), "drop", rule_id, "no hashing recipe", destination
                )
            )
        return None
    result = rule.recipe.apply(
        field, str(value), country=country_hint, hashed=rule.treatment != "normalized"
    )
    if tally is not None:
        key = (destination, rule.recipe.rule, _HASH_ACTIONS[result.action])
        tally[key] = tally.get(key, 0) + 1
    if remarks is not None:
        remarks.append(
            Decision(
                "govern",
                _path(section, key),
                _HASH_ACTIONS[result.action],
                rule.recipe.rule,
                f"{rule.recipe.name} recipe: {result.reason}",
                destination,
            )
        )
    return result.value
