"""TCF v2 TC-string decoder: the public vectors of consent.md §6, strictness, helpers, fuzzing.

Vectors are read from ``tests/vectors/consent_vectors.json`` by ``tests.support.vectors``
(kinds ``tcf_v2``, ``tcf_v2_invalid``, ``tcf_v2_invalid_policy``). Each ``expected`` key is
checked by ``assert_expected``, which fails on any key it does not know, so none is skipped.
Strings no vector covers are built with ``tests.support.tcf_encode``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signals.errors import SignalError
from gateway.signals.tcf import PubRestriction, TcString, decode
from tests.support.tcf_encode import (
    ALPHABET,
    NOT_ALLOWED,
    REQUIRE_CONSENT,
    REQUIRE_LI,
    Spans,
    allowed_vendors_segment,
    core_segment,
    disclosed_vendors_segment,
    encode_tc_string,
    publisher_tc_segment,
    range_entries,
    uint,
    vendor_section,
)
from tests.support.vectors import consent_vectors, vector_ids

# prebid's bitfield for 60 vendors with data for 10
PREBID_TRUNCATED = "CONciguONcjGKADACHENAOCIAC0ta__AACiQAeAA"
SERVICE_SPECIFIC = "COvzTO5OvzTO5BRAAAENAPCoALIAADgAAAAAAewAwABAAlAB6ABBFADBQAQA9hAAAcAA"

VALID = consent_vectors("tcf_v2")
INVALID = consent_vectors("tcf_v2_invalid", "tcf_v2_invalid_policy")
VALID_STRINGS = [vector["string"] for vector in VALID]


def test_vector_counts_match_the_reference() -> None:
    """consent.md §6.1 promises 26 + 6 + 6 TCF vectors; a shrunken file must not pass quietly."""
    kinds = Counter(vector["kind"] for vector in (*VALID, *INVALID))
    assert kinds == {"tcf_v2": 26, "tcf_v2_invalid": 6, "tcf_v2_invalid_policy": 6}


# --- comparing a decoded string with a vector's ``expected`` ---------------------------------

SET_FIELDS = {f.name for f in fields(TcString) if "frozenset" in str(f.type)}
SCALAR_FIELDS = {f.name for f in fields(TcString)} - SET_FIELDS - {"pub_restrictions"}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _restriction(tc: TcString, purpose: int, kind: int) -> PubRestriction | None:
    found = [r for r in tc.pub_restrictions if (r.purpose, r.type) == (purpose, kind)]
    assert len(found) <= 1, "restrictions with one purpose and type are merged"
    return found[0] if found else None


def _check(tc: TcString, key: str, want: Any) -> None:
    if key in ("created", "last_updated"):
        assert getattr(tc, key) == _instant(want)
    elif key in ("created_utc_to_second", "last_updated_utc_to_second"):
        assert getattr(tc, key.removesuffix("_utc_to_second")).replace(microsecond=0) == _instant(
            want
        )
    elif key in SCALAR_FIELDS:
        assert getattr(tc, key) == want
    elif key in SET_FIELDS:
        assert getattr(tc, key) == frozenset(want)
    elif key == "pub_restrictions":
        got = [(r.purpose, r.type, r.vendors) for r in tc.pub_restrictions]
        assert got == [(r["purpose"], r["type"], frozenset(r["vendors"])) for r in want]
    elif key == "pub_restriction_vendors":
        found = _restriction(tc, want["purpose"], want["type"])
        assert found is not None and found.vendors == frozenset(want["vendors"])
    elif key in ("pub_restriction_includes", "pub_restriction_excludes"):
        for purpose, kind, vendor in want:
            found = _restriction(tc, purpose, kind)
            listed = found is not None and vendor in found.vendors
            assert listed == key.endswith("includes"), (purpose, kind, vendor)
    else:
        name, _, form = key.rpartition("_")
        values = getattr(tc, name, None) if name in SET_FIELDS else None
        assert values is not None, f"expected key not understood: {key}"
        ordered = sorted(values)
        if form == "count":
            assert len(values) == want
        elif form == "includes":
            assert set(want) <= values
        elif form == "excludes":
            assert not set(want) & values
        elif form == "first":
            assert ordered[: len(want)] == want
        elif form == "last":
            assert ordered[-len(want) :] == want
        else:
            raise AssertionError(f"expected key not understood: {key}")


def assert_expected(tc: TcString, expected: dict[str, Any]) -> None:
    """Check every key of ``expected``; an unknown key fails instead of being skipped."""
    for key, want in expected.items():
        try:
            _check(tc, key, want)
        except AssertionError as failure:
            raise AssertionError(f"{key}: {failure}") from None


def test_comparator_rejects_keys_it_does_not_understand() -> None:
    tc = decode(SERVICE_SPECIFIC)
    assert isinstance(tc, TcString)
    for key in ("vendor_consent", "vendor_consents_median", "colour", "purpose_li_count_x"):
        with pytest.raises(AssertionError, match="not understood"):
            assert_expected(tc, {key: 1})


# --- the vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VALID, ids=vector_ids(VALID))
def test_valid_vector_decodes_to_what_its_source_asserts(vector: dict[str, Any]) -> None:
    """Global-scope vectors (IsServiceSpecific = 0, 17 of 26) are compared field by field
    through ``allow_global_scope``; by default they are refused like any invalid string."""
    tc = decode(vector["string"], allow_global_scope=True)
    assert isinstance(tc, TcString), tc
    assert_expected(tc, vector["expected"])
    strict = decode(vector["string"])
    if tc.is_service_specific:
        assert strict == tc
    else:
        assert isinstance(strict, SignalError) and "service-specific" in strict.reason


@pytest.mark.parametrize("vector", INVALID, ids=vector_ids(INVALID))
def test_invalid_vector_is_an_error(vector: dict[str, Any]) -> None:
    assert set(vector["expected"]) == {"error", "error_message"}
    for allow in (False, True):
        result = decode(vector["string"], allow_global_scope=allow)
        assert isinstance(result, SignalError), result
        assert result.standard == "tcf"
        assert vector["string"][:12] not in result.reason


def test_prebid_truncated_bitfield_grants_nothing() -> None:
    """60-vendor bitfield with data for 10: iab-tcf reports vendors 11-60 consented (§6.3 D1)."""
    result = decode(PREBID_TRUNCATED, allow_global_scope=True)
    assert result == SignalError("tcf", "TC string is truncated")


def test_created_keeps_deciseconds() -> None:
    tc = decode(VALID_STRINGS[0], allow_global_scope=True)
    assert isinstance(tc, TcString)
    assert tc.created == datetime(2020, 3, 5, 19, 24, 40, 900_000, tzinfo=UTC)
    assert tc.created.tzinfo is UTC


# --- strings built by tests.support.tcf_encode ---------------------------------------------

DAY_2024 = datetime(2024, 5, 1, tzinfo=UTC)


def core(**overrides: Any) -> str:
    """A core segment created 2024-05-01 under policy 4, purposes 1-4 and 7 (LI 2 and 7),
    special feature 1, vendors 32 and 755 (LI 755); ``overrides`` go to ``core_segment``."""
    arguments: dict[str, Any] = {
        "created": DAY_2024,
        "policy_version": 4,
        "special_features": {1},
        "purposes": {1, 2, 3, 4, 7},
        "purpose_li": {2, 7},
        "vendors": {755, 32},
        "vendor_li": {755},
        **overrides,
    }
    return core_segment(**arguments)


def test_encoder_round_trips_through_the_decoder() -> None:
    tc = decode(
        core(pub_restrictions=[(2, NOT_ALLOWED, Spans([(1, 3)]))])
        + "."
        + disclosed_vendors_segment({5})
    )
    assert isinstance(tc, TcString)
    assert tc.created == datetime(2024, 5, 1, tzinfo=UTC)
    assert tc.special_feature_optins == {1} and tc.tcf_policy_version == 4
    assert tc.vendor_consents == {32, 755} and tc.vendor_li == {755}
    assert tc.pub_restrictions == (PubRestriction(2, 0, frozenset({1, 2, 3})),)
    assert tc.disclosed_vendors == {5} and tc.allowed_vendors is None
    assert tc.pub_purpose_consents is None and tc.pub_custom_purpose_li is None


def test_encode_tc_string_round_trips_every_field() -> None:
    """Each argument of ``encode_tc_string`` comes back from the decoder as written."""
    created = datetime(2025, 6, 30, 12, 34, 56, 700_000, tzinfo=UTC)
    updated = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    text = encode_tc_string(
        purposes={1, 3, 4, 10, 24},
        purpose_li=[2, 7, 9],
        vendors=iter([755, 32, 1]),
        vendor_li=Spans([(10, 12), (40, 40)]),
        pub_restrictions=[
            (3, REQUIRE_CONSENT, {5, 6, 7, 90}),
            (4, REQUIRE_LI, Spans([(100, 100)])),
        ],
        disclosed_vendors={1, 5, 32, 755, 900},
        allowed_vendors=Spans([(1, 1000)]),
        publisher_tc=publisher_tc_segment(
            purposes={1, 2}, purpose_li={7}, custom_purposes={2}, custom_purpose_li={1, 3}
        ),
        created=created,
        last_updated=updated,
        policy_version=4,
        special_features=(2,),
        purpose_one_treatment=True,
        cmp_id=300,
        cmp_version=7,
        consent_screen=3,
        consent_language="FR",
        vendor_list_version=321,
        publisher_cc="IT",
        use_non_standard_texts=True,
    )
    assert text.count(".") == 3
    tc = decode(text)
    assert tc == TcString(
        version=2,
        created=created,
        last_updated=updated,
        cmp_id=300,
        cmp_version=7,
        consent_screen=3,
        consent_language="FR",
        vendor_list_version=321,
        tcf_policy_version=4,
        is_service_specific=True,
        use_non_standard_texts=True,
        special_feature_optins=frozenset({2}),
        purpose_consents=frozenset({1, 3, 4, 10, 24}),
        purpose_li=frozenset({2, 7, 9}),
        purpose_one_treatment=True,
        publisher_cc="IT",
        max_vendor_id_consent=755,
        vendor_consent_range_encoding=False,
        vendor_consents=frozenset({1, 32, 755}),
        max_vendor_id_li=40,
        vendor_li_range_encoding=True,
        vendor_li=frozenset({10, 11, 12, 40}),
        pub_restrictions=(
            PubRestriction(3, 1, frozenset({5, 6, 7, 90})),
            PubRestriction(4, 2, frozenset({100})),
        ),
        disclosed_vendors=frozenset({1, 5, 32, 755, 900}),
        allowed_vendors=frozenset(range(1, 1001)),
        pub_purpose_consents=frozenset({1, 2}),
        pub_purpose_li=frozenset({7}),
        pub_num_custom_purposes=3,
        pub_custom_purpose_consents=frozenset({2}),
        pub_custom_purpose_li=frozenset({1, 3}),
    )


def test_encode_tc_string_defaults_make_a_valid_tcf_2_2_string() -> None:
    """Created now, policy 5, service-specific, DisclosedVendors listing the vendors with
    consent or LI: accepted even by a decoder that requires the TCF 2.3 segment."""
    before = datetime.now(UTC).replace(microsecond=0)
    text = encode_tc_string(purposes={1, 2}, vendors={755, 32}, vendor_li={8})
    tc = decode(text, require_disclosed_vendors_after=datetime(2026, 2, 28, tzinfo=UTC))
    assert isinstance(tc, TcString), tc
    assert before <= tc.created <= datetime.now(UTC) and tc.last_updated == tc.created
    assert tc.tcf_policy_version == 5 and tc.is_service_specific
    assert tc.purpose_consents == {1, 2} and tc.purpose_li == frozenset()
    assert tc.vendor_consents == {32, 755} and tc.vendor_li == {8}
    assert tc.disclosed_vendors == {8, 32, 755}
    assert tc.allowed_vendors is None and tc.pub_purpose_consents is None
    assert tc.pub_restrictions == ()
    assert tc.vendor_consented(755, [1, 2]) and not tc.vendor_consented(8, [1])
    without = encode_tc_string(purposes={1}, vendors={755}, disclosed_vendors=None)
    missing = decode(without, require_disclosed_vendors_after=datetime(2026, 2, 28, tzinfo=UTC))
    assert isinstance(missing, SignalError) and "DisclosedVendors" in missing.reason


@settings(max_examples=100, deadline=None)
@given(
    purposes=st.frozensets(st.integers(1, 24)),
    purpose_li=st.frozensets(st.sampled_from([1, 2, *range(7, 25)])),
    vendors=st.frozensets(st.integers(1, 1200), max_size=40),
    vendor_li=st.frozensets(st.integers(1, 1200), max_size=40),
    restricted=st.frozensets(st.integers(1, 1200), min_size=1, max_size=20),
    kind=st.sampled_from([NOT_ALLOWED, REQUIRE_CONSENT, REQUIRE_LI]),
    purpose=st.integers(1, 24),
    policy_version=st.sampled_from([4, 5]),
    deci=st.integers(0, 9),
)
def test_encode_tc_string_round_trip_property(
    purposes: frozenset[int],
    purpose_li: frozenset[int],
    vendors: frozenset[int],
    vendor_li: frozenset[int],
    restricted: frozenset[int],
    kind: int,
    purpose: int,
    policy_version: int,
    deci: int,
) -> None:
    created = datetime(2025, 1, 2, 3, 4, 5, deci * 100_000, tzinfo=UTC)
    text = encode_tc_string(
        purposes=purposes,
        purpose_li=purpose_li,
        vendors=vendors,
        vendor_li=vendor_li,
        pub_restrictions=[(purpose, kind, restricted)],
        created=created,
        policy_version=policy_version,
    )
    tc = decode(text, require_disclosed_vendors_after=datetime(2024, 1, 1, tzinfo=UTC))
    assert isinstance(tc, TcString), tc
    assert (tc.created, tc.tcf_policy_version) == (created, policy_version)
    assert (tc.purpose_consents, tc.purpose_li) == (purposes, purpose_li)
    assert (tc.vendor_consents, tc.vendor_li) == (vendors, vendor_li)
    assert tc.pub_restrictions == (PubRestriction(purpose, kind, restricted),)
    assert tc.disclosed_vendors == vendors | vendor_li


# --- strictness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("C" * 70_000, "too long", id="too-long"),
        pytest.param(SERVICE_SPECIFIC + "=", "base64url", id="padding"),
        pytest.param(SERVICE_SPECIFIC[:-4] + "+/AA", "base64url", id="standard-alphabet"),
        pytest.param(SERVICE_SPECIFIC + " ", "base64url", id="whitespace"),
        pytest.param("CO\u00e9vzTO5OvzTO5BRAAAENAPCoALIAADgAAAAAA", "base64url", id="non-ascii"),
        pytest.param(SERVICE_SPECIFIC + ".", "empty segment", id="trailing-dot"),
        pytest.param("." + SERVICE_SPECIFIC, "empty segment", id="leading-dot"),
        pytest.param(SERVICE_SPECIFIC + "..QAAo", "empty segment", id="double-dot"),
        pytest.param("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", "not version 2", id="tcf-v1.1-string"),
        pytest.param(
            "DBABM~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA", "base64url", id="gpp-string"
        ),
        pytest.param(SERVICE_SPECIFIC + ".QAAo.QAAo", "repeats a segment", id="duplicate-allowed"),
        pytest.param(
            SERVICE_SPECIFIC + ".IAAo.QAAo.IAAo", "repeats a segment", id="duplicate-disclosed"
        ),
        pytest.param(SERVICE_SPECIFIC + ".AAAA", "unknown type", id="segment-type-0"),
        pytest.param(SERVICE_SPECIFIC + ".gAAA", "unknown type", id="segment-type-4"),
        pytest.param(SERVICE_SPECIFIC + ".QA", "truncated", id="truncated-segment"),
        pytest.param(SERVICE_SPECIFIC + "g", "longer than its content", id="core-extra-one-bit"),
        pytest.param(
            SERVICE_SPECIFIC + ".QAAoAAAAAAAAg",
            "longer than its content",
            id="segment-extra-one-bit",
        ),
    ],
)
def test_malformed_strings_are_errors(text: str, reason: str) -> None:
    result = decode(text)
    assert isinstance(result, SignalError) and result.standard == "tcf"
    assert reason in result.reason


def test_non_text_is_an_error() -> None:
    assert isinstance(decode(None), SignalError)  # type: ignore[arg-type]
    assert isinstance(decode(b"CO"), SignalError)  # type: ignore[arg-type]


def test_zero_padding_after_the_content_is_tolerated() -> None:
    """Encoders pad with zeros (24-bit multiple, byte, 6-bit); zeros never grant anything."""
    base = decode(SERVICE_SPECIFIC)
    assert isinstance(base, TcString)
    assert decode(SERVICE_SPECIFIC + "AAAA") == base
    assert decode(SERVICE_SPECIFIC + ".QAAoAAAAAAAA") == decode(SERVICE_SPECIFIC + ".QAAo")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        pytest.param({"version": 1}, "not version 2", id="version-1"),
        pytest.param({"version": 3}, "not version 2", id="version-3"),
        pytest.param({"is_service_specific": False}, "service-specific", id="global-scope"),
        pytest.param(
            {"policy_version": 4, "purpose_li": frozenset({2, 5})},
            "purposes 3-6",
            id="policy4-li-5",
        ),
        pytest.param(
            {"policy_version": 5, "purpose_li": frozenset({3})}, "purposes 3-6", id="policy5-li-3"
        ),
        pytest.param(
            {"policy_version": 3, "created": DAY_2024},
            "policy version below 4",
            id="policy3-in-2024",
        ),
        pytest.param(
            {"policy_version": 2, "created": datetime(2023, 10, 1, tzinfo=UTC)},
            "below 4",
            id="policy2-on-2023-10-01",
        ),
        pytest.param({"consent_language": "E["}, "outside A-Z", id="letter-beyond-Z"),
        pytest.param(
            {"tail_bits": uint(9, 16) + "1" + range_entries([(5, 10)])},
            "outside its bounds",
            id="range-above-max",
        ),
        pytest.param(
            {"tail_bits": uint(9, 16) + "1" + range_entries([(0, 3)])},
            "outside its bounds",
            id="range-from-0",
        ),
        pytest.param(
            {"tail_bits": uint(9, 16) + "1" + range_entries([(4, 3)])},
            "ends before it starts",
            id="range-reversed",
        ),
        pytest.param(
            {"tail_bits": uint(700, 16) + "0" + "1" * 650}, "truncated", id="bitfield-short"
        ),
        pytest.param(
            {"tail_bits": vendor_section({1}) + vendor_section({1})},
            "truncated",
            id="no-num-pub-restrictions",
        ),
        pytest.param(
            {"pub_restrictions": [(0, 0, Spans([(1, 1)]))]},
            "without a purpose",
            id="restriction-purpose-0",
        ),
        pytest.param(
            {"pub_restrictions": [(2, 3, Spans([(1, 1)]))]},
            "undefined type",
            id="restriction-type-3",
        ),
        pytest.param(
            {"pub_restrictions": [(2, 0, Spans([(0, 1)]))]},
            "outside its bounds",
            id="restriction-vendor-0",
        ),
        pytest.param(
            {"pub_restrictions": [(2, 0, Spans([(9, 8)]))]},
            "ends before it starts",
            id="restriction-range-reversed",
        ),
    ],
)
def test_invalid_fields_are_errors(kwargs: dict[str, Any], reason: str) -> None:
    result = decode(core(**kwargs))
    assert isinstance(result, SignalError), result
    assert reason in result.reason


def test_policy_rules_leave_older_strings_alone() -> None:
    """Policy 2 before October 2023 may set LI for 3-6; policy 4+ may set LI for others."""
    sept_2023 = datetime(2023, 9, 30, 23, 59, tzinfo=UTC)
    old = decode(core(policy_version=2, created=sept_2023, purpose_li=frozenset({3, 4, 5, 6})))
    assert isinstance(old, TcString) and old.purpose_li == {3, 4, 5, 6}
    new = decode(core(policy_version=4, purpose_li=frozenset({1, 2, 7, 8, 9, 10, 11, 24})))
    assert isinstance(new, TcString)


def test_cmp_id_zero_is_accepted_because_official_vectors_carry_it() -> None:
    """consent.md §6.3 D4's opinion (reject CmpId 0) is contradicted by iabgpp-es vectors."""
    tc = decode(
        "CPTtLAAPTtLAAAAAAAENAAFgALwAAEAAAAAAAOgAgABgAAAA.IAoAAgABgAAEAQAAEAAA.d4AACEAAAAAA"
    )
    assert isinstance(tc, TcString) and tc.cmp_id == 0 and tc.vendor_list_version == 0


def test_disclosed_vendors_is_required_only_when_asked() -> None:
    without = core()  # created 2024-05-01
    with_it = without + "." + disclosed_vendors_segment({755})
    assert isinstance(decode(without), TcString)
    cutoff = datetime(2024, 4, 30, tzinfo=UTC)
    missing = decode(without, require_disclosed_vendors_after=cutoff)
    assert isinstance(missing, SignalError) and "DisclosedVendors" in missing.reason
    assert isinstance(decode(with_it, require_disclosed_vendors_after=cutoff), TcString)
    later = datetime(2026, 2, 28)  # naive: read as UTC
    assert isinstance(decode(without, require_disclosed_vendors_after=later), TcString)
    same_day = datetime(2024, 5, 1, tzinfo=UTC)  # "after" is strict
    assert isinstance(decode(without, require_disclosed_vendors_after=same_day), TcString)


def test_segments_may_come_in_any_order() -> None:
    disclosed = disclosed_vendors_segment(Spans([(1, 3)]))
    allowed = allowed_vendors_segment({2})
    publisher = publisher_tc_segment(
        purposes={1}, purpose_li={2}, custom_purposes={1}, custom_purpose_li={2}
    )
    decoded = {
        decode(".".join([core(), *order]))
        for order in ([disclosed, allowed, publisher], [publisher, allowed, disclosed])
    }
    assert len(decoded) == 1
    tc = decoded.pop()
    assert isinstance(tc, TcString)
    assert tc.disclosed_vendors == {1, 2, 3} and tc.allowed_vendors == {2}
    assert tc.pub_purpose_consents == {1} and tc.pub_purpose_li == {2}
    assert tc.pub_num_custom_purposes == 2
    assert tc.pub_custom_purpose_consents == {1} and tc.pub_custom_purpose_li == {2}


def test_duplicate_restrictions_are_merged() -> None:
    """iabtcf-es #201: the same purpose/type (and vendor) may be listed more than once."""
    tc = decode(
        core(
            pub_restrictions=[
                (3, NOT_ALLOWED, Spans([(1, 2)])),
                (4, REQUIRE_CONSENT, Spans([(9, 9)])),
                (3, NOT_ALLOWED, Spans([(2, 5)])),
            ]
        )
    )
    assert isinstance(tc, TcString)
    assert tc.pub_restrictions == (
        PubRestriction(3, 0, frozenset({1, 2, 3, 4, 5})),
        PubRestriction(4, 1, frozenset({9})),
    )


def test_wide_ranges_cannot_blow_up_memory() -> None:
    """72 restriction entries of 1..65535 fit in 600 characters; refused, and quickly."""
    spans = [(1, 0xFFFF)]
    restrictions = [(p, k, Spans(spans)) for p in range(1, 25) for k in range(3)]
    text = core(
        vendors=Spans([(755, 755)]), vendor_li=Spans([(755, 755)]), pub_restrictions=restrictions
    )
    assert len(text) < 700
    started = time.perf_counter()
    result = decode(text)
    assert time.perf_counter() - started < 0.5
    assert isinstance(result, SignalError) and "too many vendor ids" in result.reason
    # overlapping ranges are merged before they are counted or expanded
    repeated = decode(core(pub_restrictions=[(2, NOT_ALLOWED, Spans(spans * 200))]))
    assert isinstance(repeated, TcString)
    assert len(repeated.pub_restrictions[0].vendors) == 0xFFFF


def test_reasons_never_echo_the_string() -> None:
    for text in (PREBID_TRUNCATED, SERVICE_SPECIFIC + "g", "Cxyz", SERVICE_SPECIFIC + ".gAAA"):
        result = decode(text)
        assert isinstance(result, SignalError)
        assert not any(text[i : i + 6] in result.reason for i in range(len(text) - 5))


# --- helpers for the consent engine -----------------------------------------------------------


def _tc(**kwargs: Any) -> TcString:
    tc = decode(core(**kwargs))
    assert isinstance(tc, TcString), tc
    return tc


def test_purpose_allowed_is_the_consent_bit() -> None:
    tc = _tc(purposes=frozenset({1, 3}), purpose_li=frozenset({2}))
    assert tc.purpose_allowed(1) and tc.purpose_allowed(3)
    assert not tc.purpose_allowed(2)  # LI only
    assert not tc.purpose_allowed(0) and not tc.purpose_allowed(25)


def test_vendor_consented_needs_vendor_and_every_purpose() -> None:
    tc = _tc(purposes=frozenset({1, 3, 4}), vendors={755})
    assert tc.vendor_consented(755, [1, 3, 4])
    assert tc.vendor_consented(755, iter([1]))
    assert not tc.vendor_consented(755, [1, 2])  # purpose 2 not consented
    assert not tc.vendor_consented(32, [1])  # vendor not consented
    assert not tc.vendor_consented(755, [])  # nothing asked, nothing granted
    assert not tc.vendor_consented(0, [1])


@pytest.mark.parametrize(
    ("kind", "vendor_listed", "granted"),
    [
        (0, True, False),  # purpose not allowed for this vendor
        (0, False, True),  # ... for another vendor only
        (1, True, True),  # consent required: consent is what is checked
        (2, True, False),  # LI required: consent cannot be the basis
        (2, False, True),
    ],
)
def test_vendor_consented_applies_publisher_restrictions(
    kind: int, vendor_listed: bool, granted: bool
) -> None:
    spans = [(700, 800)] if vendor_listed else [(1, 700), (756, 900)]
    tc = _tc(
        purposes=frozenset({1, 3, 4}), vendors={755}, pub_restrictions=[(3, kind, Spans(spans))]
    )
    assert tc.vendor_consented(755, [1, 3]) is granted
    assert tc.vendor_consented(755, [1, 4])  # the restriction is on purpose 3 only


# --- properties -------------------------------------------------------------------------------

# Fields of the optional segments: a cut that drops a whole segment leaves them ``None``.
OPTIONAL = {
    f.name
    for f in fields(TcString)
    if f.name in ("disclosed_vendors", "allowed_vendors")
    or (f.name.startswith("pub_") and f.name != "pub_restrictions")
}


def _decode_any(text: str) -> TcString | SignalError:
    result = decode(text, allow_global_scope=True)
    assert isinstance(result, TcString | SignalError)
    return result


def _assert_coherent(tc: TcString) -> None:
    """What any successful decode must satisfy, whatever the input."""
    assert tc.version == 2
    assert all(1 <= v <= tc.max_vendor_id_consent for v in tc.vendor_consents)
    assert all(1 <= v <= tc.max_vendor_id_li for v in tc.vendor_li)
    assert all(1 <= p <= 24 for p in tc.purpose_consents | tc.purpose_li)
    assert tc.tcf_policy_version < 4 or not tc.purpose_li & {3, 4, 5, 6}
    assert tc.tcf_policy_version >= 4 or tc.created < datetime(2023, 10, 1, tzinfo=UTC)
    assert all(r.purpose >= 1 and r.type in (0, 1, 2) for r in tc.pub_restrictions)
    assert tc.consent_language.isalpha() and tc.publisher_cc.isupper()


@settings(max_examples=250, deadline=None)
@given(st.text())
def test_no_text_raises(text: str) -> None:
    _decode_any(text)


@settings(max_examples=250, deadline=None)
@given(st.text(alphabet=ALPHABET + ".", max_size=300).map(lambda s: "C" + s))
def test_no_base64url_text_raises(text: str) -> None:
    result = _decode_any(text)
    if isinstance(result, TcString):
        _assert_coherent(result)


@pytest.mark.parametrize("text", VALID_STRINGS, ids=vector_ids(VALID))
def test_every_truncation_grants_nothing_new(text: str) -> None:
    """Every prefix is an error, or (when only zero padding or whole optional segments were
    cut) decodes to the same core; a cut into the core's content is always an error."""
    full = _decode_any(text)
    assert isinstance(full, TcString)
    core_text = text.split(".")[0]
    for cut in range(len(text)):
        prefix = _decode_any(text[:cut])
        if isinstance(prefix, SignalError):
            continue
        if cut < len(core_text):
            assert set(core_text[cut:]) == {"A"}, f"cut at {cut} inside the core decoded"
        for name in (f.name for f in fields(TcString)):
            got, want = getattr(prefix, name), getattr(full, name)
            assert got == want or (name in OPTIONAL and got is None), name


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(VALID_STRINGS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 63)), min_size=1, max_size=4),
)
def test_bit_flips_never_raise(text: str, flips: list[tuple[int, int]]) -> None:
    chars = list(text)
    for at, mask in flips:
        i = at % len(chars)
        if chars[i] != ".":
            chars[i] = ALPHABET[ALPHABET.index(chars[i]) ^ mask]
    result = _decode_any("".join(chars))
    if isinstance(result, TcString):
        _assert_coherent(result)


def test_decoding_is_fast_enough_for_the_hot_path() -> None:
    """A loose bound (machines vary): the 26 valid vectors, 20 times, well under a second."""
    started = time.perf_counter()
    for _ in range(20):
        for text in VALID_STRINGS:
            decode(text)
    assert time.perf_counter() - started < 1.0
