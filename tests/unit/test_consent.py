"""Consent, first cut: regimes by region, signals voting per purpose, verdicts per
destination, fail closed, every decision recorded with its rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config.compile import Policy, compile_policy
from gateway.config.models import Config
from gateway.event import Consent
from gateway.pipeline.consent import ConsentResult, evaluate
from gateway.request_context import RequestContext
from tests.support.configs import base_config


@pytest.fixture(scope="module")
def policy() -> Policy:
    return compile_policy(Config.model_validate(base_config(Path("/tmp/unused.db"))))


def ctx(region: str | None, gpc: bool = False) -> RequestContext:
    return RequestContext("203.0.113.7", "UA", region, gpc, True)


def decide(policy: Policy, region: str | None, gpc: bool = False, **consent: Any) -> ConsentResult:
    return evaluate(Consent.model_validate(consent), ctx(region, gpc), policy)


def rules(result: ConsentResult, action: str) -> set[str]:
    return {d.rule for d in result.decisions if d.action == action} | {
        d.rule for v in result.verdicts.values() for d in v.decisions if d.action == action
    }


@pytest.mark.parametrize(
    ("region", "regime"),
    [
        ("DE", "opt_in"),
        ("US-CA", "opt_out"),
        ("US", "opt_out"),
        ("JP", "opt_in"),
        (None, "opt_in"),
        ("NO", "opt_in"),
    ],
)
def test_region_picks_the_regime(policy: Policy, region: str | None, regime: str) -> None:
    """Listed regions get their regime (US-CA through US); unlisted ones the default;
    an unknown region the strictest (opt_in)."""
    assert decide(policy, region).regime == regime


def test_opt_in_without_a_signal_withholds(policy: Policy) -> None:
    """Opt-in regime, no signal: both purposes denied, meta withheld, with the reason."""
    result = decide(policy, "DE")
    assert result.purposes == {"analytics": False, "advertising": False}
    verdict = result.verdicts["meta"]
    assert verdict.action == "withhold"
    assert [d.reason for d in verdict.decisions] == ["purpose advertising not granted"]
    assert any("opt-in regime: no signal grants it" in d.reason for d in result.decisions)


def test_opt_in_category_grant_sends(policy: Policy) -> None:
    """A site category grant opens the purpose; the rule that granted it is recorded."""
    result = decide(policy, "DE", categories={"advertising": True})
    assert result.verdicts["meta"].action == "send"
    assert "consent.purposes.advertising.signals.categories" in rules(result, "grant")


def test_alias_category_grants(policy: Policy) -> None:
    """Any listed category name grants (marketing is an alias of advertising here)."""
    assert decide(policy, "DE", categories={"marketing": True}).purposes["advertising"]


def test_opt_out_grants_until_denied(policy: Policy) -> None:
    """Opt-out regime: granted without a signal; a category set to false denies."""
    assert decide(policy, "US").verdicts["meta"].action == "send"
    denied = decide(policy, "US", categories={"advertising": False})
    assert denied.verdicts["meta"].action == "withhold"


def test_deny_beats_grant(policy: Policy) -> None:
    """Conflicting signals: one category grants, consent mode denies: denied."""
    result = decide(
        policy,
        "DE",
        categories={"advertising": True},
        gcm={"ad_storage": "granted", "ad_user_data": "denied"},
    )
    assert result.purposes["advertising"] is False
    assert "consent.purposes.advertising.signals.gcm" in rules(result, "deny")


def test_gcm_needs_every_listed_type(policy: Policy) -> None:
    """Consent mode grants advertising only when ad_storage and ad_user_data are both
    granted; one missing is not a grant (opt-in stays denied)."""
    assert not decide(policy, "DE", gcm={"ad_storage": "granted"}).purposes["advertising"]
    both = decide(policy, "DE", gcm={"ad_storage": "granted", "ad_user_data": "GRANTED"})
    assert both.purposes["advertising"]


def test_malformed_gcm_value_reads_as_denied(policy: Policy) -> None:
    """An unrecognised consent-mode value is read as denied and the problem recorded."""
    result = decide(policy, "US", gcm={"ad_storage": "yes please", "ad_user_data": "granted"})
    assert result.purposes["advertising"] is False
    assert any(d.action == "read_strict" for d in result.decisions)


def test_gpc_denies_advertising_not_analytics(policy: Policy) -> None:
    """Sec-GPC: 1 withdraws purposes marked gpc: true, even against a category grant."""
    result = decide(policy, "US", gpc=True, categories={"advertising": True})
    assert result.purposes == {"analytics": True, "advertising": False}
    assert "consent.purposes.advertising.signals.gpc" in rules(result, "deny")


def test_storage_consent(policy: Policy) -> None:
    """The cookie needs analytics: granted, unknown without a signal, denied on a deny."""
    assert decide(policy, "DE", categories={"analytics": True}).storage == "granted"
    assert decide(policy, "DE").storage == "unknown"
    assert decide(policy, "US", categories={"analytics": False}).storage == "denied"


def test_decisions_never_carry_consent_strings(policy: Policy) -> None:
    """Decisions name signals and rules, never the strings the page sent."""
    result = decide(policy, "DE", tcf="CQzzzzzzSECRETTCF", usp="1YNN")
    text = repr(result)
    assert "CQzzzzzzSECRETTCF" not in text and "1YNN" not in text


def test_request_context_region_needs_a_trusted_peer(policy: Policy) -> None:
    """Sanity link with the request context: headers from an untrusted peer give no region."""
    from gateway.request_context import build_context

    headers = {"cf-ipcountry": ["US"]}
    untrusted = build_context("198.51.100.1", headers, {}, policy.context_rules)
    assert untrusted.region is None and evaluate(Consent(), untrusted, policy).regime == "opt_in"
