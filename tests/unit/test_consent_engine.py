"""The consent engine on the shipped policy: every standard votes, unreadable signals
read strictly, verdicts per destination (send, send_restricted, withhold) with their
restrictions, and the facts a consent record keeps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from gateway.config.compile import Policy, compile_policy
from gateway.config.loader import load_config
from gateway.event import Consent
from gateway.pipeline.consent import ConsentResult, evaluate
from gateway.request_context import RequestContext
from tests.support.configs import SECRET
from tests.support.gpp_encode import UsNat, encode_gpp
from tests.support.tcf_encode import NOT_ALLOWED, encode_tc_string

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "gateway.yaml"


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    data = yaml.safe_load(SHIPPED.read_text())
    path = tmp_path_factory.mktemp("cfg") / "gateway.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "GATEWAY_SECRET": SECRET}
    return compile_policy(load_config(str(path), env))


def decide(policy: Policy, region: str | None, gpc: bool = False, **consent: Any) -> ConsentResult:
    ctx = RequestContext("203.0.113.7", "UA", region, gpc, True)
    return evaluate(Consent.model_validate(consent), ctx, policy)


def actions(result: ConsentResult) -> dict[str, str]:
    return {name: v.action for name, v in result.verdicts.items()}


ALL_CATEGORIES = {"analytics": True, "advertising": True}


def test_everything_granted_sends_in_full(policy: Policy) -> None:
    result = decide(policy, "DE", categories=ALL_CATEGORIES)
    assert actions(result) == {"meta": "send", "ga4": "send", "tiktok": "send"}
    assert all(not v.restrictions for v in result.verdicts.values())


def test_opt_in_without_signal_withholds_everything(policy: Policy) -> None:
    result = decide(policy, "DE")
    assert actions(result) == {"meta": "withhold", "ga4": "withhold", "tiktok": "withhold"}
    assert result.storage == "unknown"


def test_ad_user_data_denied_restricts_instead_of_withholding(policy: Policy) -> None:
    """Consent mode: ads storage granted, ad_user_data denied. Meta still gets the event,
    without user data; ga4 is told both restrictions that apply."""
    result = decide(
        policy,
        "DE",
        categories={"analytics": True},
        gcm={"ad_storage": "granted", "ad_user_data": "denied", "ad_personalization": "granted"},
    )
    meta, google = result.verdicts["meta"], result.verdicts["ga4"]
    assert (meta.action, meta.restrictions) == ("send_restricted", ("ad_user_data",))
    assert (google.action, google.restrictions) == ("send_restricted", ("ad_user_data",))
    assert any(d.rule == "destinations.meta.restrictions.ad_user_data" for d in meta.decisions)


def test_us_ca_gpc_sends_meta_in_limited_data_use(policy: Policy) -> None:
    result = decide(policy, "US-CA", gpc=True)
    meta = result.verdicts["meta"]
    assert meta.action == "send_restricted"
    assert set(meta.restrictions) == {"limited_data_use", "ad_user_data"}
    google = result.verdicts["ga4"]
    assert (google.action, set(google.restrictions)) == (
        "send_restricted",
        {"ad_user_data", "ad_personalization"},
    )


def test_opt_out_in_a_state_without_ldu_withholds_meta(policy: Policy) -> None:
    """New York is not in meta's limited_data_use list: an opted-out visitor is withheld."""
    assert decide(policy, "US-NY", gpc=True).verdicts["meta"].action == "withhold"


def test_limited_data_use_never_applies_in_opt_in_regions(tmp_path: Path) -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data["destinations"]["meta"]["restrictions"]["limited_data_use"] = ["DE"]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    strict = compile_policy(load_config(str(path), {"GATEWAY_SECRET": SECRET}))
    assert decide(strict, "DE").verdicts["meta"].action == "withhold"


@pytest.mark.parametrize(
    ("usp", "meta"),
    [("1YYN", "send_restricted"), ("1YNN", "send"), ("1---", "send"), ("1yyn", "send_restricted")],
)
def test_us_privacy_string(policy: Policy, usp: str, meta: str) -> None:
    """1YYN opts out (LDU in California); 1YNN and 1--- do not; a malformed string is
    read as the opt-out it may carry."""
    result = decide(policy, "US-CA", usp=usp)
    assert result.verdicts["meta"].action == meta


def test_invalid_usp_is_recorded_as_read_strictly(policy: Policy) -> None:
    result = decide(policy, "US-CA", usp="1yyn")
    strict = [d for d in result.decisions if d.action == "read_strict"]
    assert [d.subject for d in strict] == ["consent.usp"]
    assert result.signals["usp"]["valid"] is False


def test_malformed_gpp_denies_every_purpose_that_reads_it(policy: Policy) -> None:
    result = decide(policy, "US-VA", gpp="DBABLA~not-a-section!")
    assert result.purposes["advertising"] is False
    assert result.purposes["analytics"] is True
    assert result.signals["gpp"] == {"valid": False, "reason": result.signals["gpp"]["reason"]}


def test_malformed_tc_string_denies_in_opt_in(policy: Policy) -> None:
    """An invalid TC string is no consent, and beats a category grant."""
    result = decide(policy, "FR", tcf="CO-not-a-tc-string", categories=ALL_CATEGORIES)
    assert result.verdicts["meta"].action == "withhold"
    assert any(d.rule == "consent.purposes.advertising.signals.tcf" for d in result.decisions)


def test_gcs_on_pixel_hits_grants_and_denies(policy: Policy) -> None:
    granted = decide(policy, "DE", gcs="G111", categories={"advertising": True})
    assert granted.purposes["analytics"] is True
    denied = decide(policy, "DE", gcs="G100", categories=ALL_CATEGORIES)
    assert denied.purposes == {**denied.purposes, "analytics": False, "advertising": False}


def test_unreadable_gcd_reads_its_types_as_denied(policy: Policy) -> None:
    result = decide(policy, "US", gcd="garbage", categories=ALL_CATEGORIES)
    assert result.purposes["analytics"] is False and result.purposes["advertising"] is False
    assert any(d.subject == "consent.gcd" and d.action == "read_strict" for d in result.decisions)


def test_gcd_letters_merge_with_the_explicit_object(policy: Policy) -> None:
    """gcd grants ad_storage and analytics_storage (v), denies ad_user_data (q); the
    explicit object cannot overturn the denial."""
    result = decide(
        policy,
        "DE",
        gcd="11v1v1q1v5",
        gcm={"ad_user_data": "granted"},
    )
    assert result.purposes["analytics"] and result.purposes["advertising"]
    assert result.purposes["ad_user_data"] is False


def test_unknown_region_is_opt_in(policy: Policy) -> None:
    assert decide(policy, None).regime == "opt_in"
    assert actions(decide(policy, None)) == {
        "meta": "withhold",
        "ga4": "withhold",
        "tiktok": "withhold",
    }


def test_record_verdicts_name_the_deciding_rules(policy: Policy) -> None:
    result = decide(policy, "US-CA", gpc=True)
    record = orjson.loads(result.record_verdicts)
    assert record["meta"]["action"] == "send_restricted"
    assert record["meta"]["restrictions"] == ["ad_user_data", "limited_data_use"]
    assert "consent.purposes.advertising.signals.gpc" in record["meta"]["rules"]
    assert "destinations.meta.restrictions.limited_data_use" in record["meta"]["rules"]
    assert len(result.signals_digest) == 32


def test_signal_digest_changes_with_any_signal(policy: Policy) -> None:
    a = decide(policy, "US-CA", usp="1YNN").signals_digest
    b = decide(policy, "US-CA", usp="1YYN").signals_digest
    c = decide(policy, "US-CA", gpc=True, usp="1YNN").signals_digest
    assert len({a, b, c}) == 3


def test_described_signals_hold_no_raw_string(policy: Policy) -> None:
    result = decide(policy, "US-CA", usp="1YYN", gpp="DBABLA~BVVqAAEABCA.YA", gpp_sid=[7])
    text = orjson.dumps(result.signals).decode() + repr(result.decisions)
    assert "1YYN" not in text and "BVVqAAEABCA" not in text
    assert result.signals["gpp"]["valid"] is True


# --- TCF, per vendor ---------------------------------------------------------------------

ALL_TCF = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}


def test_tcf_grants_advertising_for_meta_and_vendor_755_for_google(policy: Policy) -> None:
    tc = encode_tc_string(purposes=ALL_TCF, vendors={755})
    result = decide(policy, "FR", tcf=tc, categories={"analytics": True})
    assert actions(result) == {"meta": "send", "ga4": "send", "tiktok": "send"}
    assert result.signals["tcf"]["vendor_consents"] == {"755": True}


def test_tcf_without_googles_vendor_restricts_google_only(policy: Policy) -> None:
    """Purposes consented, vendor 755 not: Meta (not a TCF vendor) is sent in full; the
    ga4 loses ad_user_data and ad_personalization, decided at vendor level."""
    tc = encode_tc_string(purposes=ALL_TCF, vendors={1, 2})
    result = decide(policy, "FR", tcf=tc, categories={"analytics": True})
    google = result.verdicts["ga4"]
    assert result.verdicts["meta"].action == "send"
    assert (google.action, set(google.restrictions)) == (
        "send_restricted",
        {"ad_user_data", "ad_personalization"},
    )
    assert google.purposes["ad_user_data"] is False and result.purposes["ad_user_data"] is True
    assert any(d.subject == "purpose:ad_user_data@vendor:755" for d in result.decisions)


def test_tcf_missing_a_purpose_denies(policy: Policy) -> None:
    tc = encode_tc_string(purposes={1, 3, 4}, vendors={755})
    result = decide(policy, "FR", tcf=tc)
    assert result.verdicts["meta"].action == "withhold"
    assert any("TCF purpose 7 not consented" in d.reason for d in result.decisions)


def test_publisher_restriction_takes_consent_from_the_vendor(policy: Policy) -> None:
    """Type 0 (purpose not allowed) on purpose 7 for vendor 755: ad_user_data denied there."""
    tc = encode_tc_string(
        purposes=ALL_TCF, vendors={755}, pub_restrictions=[(7, NOT_ALLOWED, {755})]
    )
    result = decide(policy, "FR", tcf=tc, categories={"analytics": True})
    assert result.verdicts["ga4"].restrictions == ("ad_user_data",)


def test_policy_rules_make_a_tc_string_invalid(policy: Policy) -> None:
    old_policy = encode_tc_string(purposes=ALL_TCF, vendors={755}, policy_version=2)
    li_3_to_6 = encode_tc_string(purposes=ALL_TCF, vendors={755}, purpose_li={3})
    for tc in (old_policy, li_3_to_6):
        result = decide(policy, "FR", tcf=tc, categories=ALL_CATEGORIES)
        assert result.signals["tcf"]["valid"] is False
        assert result.verdicts["meta"].action == "withhold"


def test_a_recent_string_without_disclosed_vendors_is_invalid(policy: Policy) -> None:
    """TCF 2.3: DisclosedVendors is mandatory for strings created after 2026-02-28."""
    tc = encode_tc_string(purposes=ALL_TCF, vendors={755}, disclosed_vendors=None)
    assert decide(policy, "FR", tcf=tc).signals["tcf"]["valid"] is False


def test_gpp_tcfeuv2_section_counts_as_the_tc_string(policy: Policy) -> None:
    gpp = encode_gpp({2: encode_tc_string(purposes=ALL_TCF, vendors={755})})
    result = decide(policy, "FR", gpp=gpp, categories={"analytics": True})
    assert actions(result) == {"meta": "send", "ga4": "send", "tiktok": "send"}
    assert result.signals["tcf"]["source"] == "consent.gpp section tcfeuv2"


def test_gpp_usnat_opt_out_honours_gpp_sid(policy: Policy) -> None:
    gpp = encode_gpp({6: "1NNN", 7: UsNat(sale_opt_out=1)})
    applies = decide(policy, "US-CA", gpp=gpp, gpp_sid=[7])
    assert applies.verdicts["meta"].action == "send_restricted"
    assert applies.signals["gpp"]["opt_outs"] == ["sale"]
    elsewhere = decide(policy, "US-CA", gpp=gpp, gpp_sid=[6])
    assert elsewhere.verdicts["meta"].action == "send"
