"""Govern: cut an event down to what one destination may receive, in the form it may get it.

The adapter's ``FIELDS`` is the allow-list: a path it does not declare, or declares
``never``, is dropped; a ``hashed`` path leaves only as the SHA-256 of its normalized
value; ``user`` fields are never passed raw, whatever an adapter declares. Email
addresses found in any raw text that leaves (a page URL with ``?email=``, a custom
property) are replaced by ``redacted``: the fixed floor under the configurable scrubbing
rules. Every change is a remark (field path, action, rule, reason), never the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from destinations.base import FieldRule, GovernedEvent, HttpDestination
from gateway.decisions import Decision
from gateway.pii import PiiField
from gateway.pipeline.consent import ConsentResult
from gateway.pipeline.identify import Identity
from gateway.pipeline.ingest import Ingested
from gateway.request_context import RequestContext

_PII_KEYS = frozenset(field.value for field in PiiField)
#: an email address, also URL-encoded (``%40``), anywhere in a string
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
EMAIL_RULE = "govern.email_in_text"


def scrub_emails(value: Any) -> tuple[Any, bool]:
    """``value`` with every email address in its strings replaced; whether any was."""
    if isinstance(value, str):
        if "@" not in value and "%40" not in value:
            return value, False
        scrubbed = _EMAIL.sub("redacted", value)
        return scrubbed, scrubbed != value
    if isinstance(value, dict):
        pairs = {k: scrub_emails(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(c for _, c in pairs.values())
    if isinstance(value, list):
        items = [scrub_emails(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def source_fields(
    ingested: Ingested, identity: Identity, ctx: RequestContext, consent: ConsentResult
) -> dict[str, dict[str, Any]]:
    """Everything known about the event, by section, before any destination's cut."""
    event = ingested.event
    ids = {k: v for k, v in event.ids.model_dump(exclude_none=True).items()}
    ids["client_id"] = (
        identity.client_id
        if identity.source == "cookie"
        else (event.ids.client_id or identity.client_id)
    )
    context = {"ip": ctx.client_ip, "user_agent": ctx.user_agent, "region": ctx.region}
    return {
        "": {
            "event": event.event,
            "event_id": ingested.event_id,
            "timestamp_ms": ingested.timestamp_ms,
            "received_ms": ingested.received_ms,
        },
        "page": event.page.model_dump(exclude_none=True),
        "user": event.user.model_dump(exclude_none=True),
        "ids": ids,
        "context": {k: v for k, v in context.items() if v is not None},
        "properties": event.properties.model_dump(exclude_none=True),
        "consent": {"regime": consent.regime, "purposes": consent.purposes},
    }


def _rule(fields: Mapping[str, FieldRule], section: str, key: str) -> tuple[str, FieldRule | None]:
    path = f"{section}.{key}" if section else key
    if (rule := fields.get(path)) is not None:
        return path, rule
    return path, fields.get(f"{section}.*") if section else None


def govern(
    source: dict[str, dict[str, Any]],
    destination: HttpDestination,
    country_hint: str | None,
) -> tuple[GovernedEvent, list[Decision]]:
    """The governed event for ``destination`` and the remarks about what changed."""
    name = destination.name
    rule_id = f"{destination.type}.FIELDS"
    out: dict[str, Any] = {}
    decisions: list[Decision] = []
    for section, values in source.items():
        target = out if not section else {}
        for key, value in values.items():
            path, rule = _rule(destination.FIELDS, section, key)
            if rule is None or rule.treatment == "never":
                if section in ("user", "ids", "context", "page"):
                    decisions.append(
                        Decision(
                            "govern", path, "drop", rule_id, "not sent to this destination", name
                        )
                    )
                continue
            if section == "user" or rule.treatment == "hashed":
                hashed, remark = _hash(path, key, value, rule, country_hint, name, rule_id)
                decisions.append(remark)
                if hashed is not None:
                    target[key] = hashed
                continue
            value, scrubbed = scrub_emails(value)
            if scrubbed:
                decisions.append(
                    Decision("govern", path, "redact", EMAIL_RULE, "email address in text", name)
                )
            target[key] = value
        if section and target:
            out[section] = target
    return out, decisions  # type: ignore[return-value]


def _hash(
    path: str,
    key: str,
    value: Any,
    rule: FieldRule,
    country_hint: str | None,
    destination: str,
    rule_id: str,
) -> tuple[str | None, Decision]:
    if rule.recipe is None or key not in _PII_KEYS:
        return None, Decision("govern", path, "drop", rule_id, "no hashing recipe", destination)
    result = rule.recipe.apply(PiiField(key), str(value), country=country_hint)
    action = {"hashed": "hash", "passed_prehashed": "pass_hashed", "dropped": "drop"}[result.action]
    reason = f"{rule.recipe.name} recipe: {result.reason}"
    return result.value, Decision(
        "govern", path, action, f"pii.{rule.recipe.name}", reason, destination
    )
