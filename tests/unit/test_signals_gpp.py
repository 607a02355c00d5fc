"""Tests for gateway.signals.gpp: the consent.md §6 GPP vectors, decoding rules and properties.

``VECTORS`` (kinds gpp, gpp_invalid, gpp_header, gpp_section_usnat and gpp_section_usca) is read
from ``tests/vectors/consent_vectors.json`` by ``tests.support.vectors``; the comparators fail on
any expected key they do not understand.

Strings for the rule tests are built by ``tests.support.gpp_encode``, written from the spec text
(consent.md §2.1-§2.3) independently of the decoder, and checked here against the spec's own
examples, the vectors and the decoder (round trips).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signals.errors import SignalError
from gateway.signals.gpp import (
    PREFIXES,
    GppString,
    UsSection,
    decode,
    decode_header,
)
from gateway.signals.tcf import TcString
from gateway.signals.tcf import decode as decode_tcf
from gateway.signals.usp import UsPrivacy
from tests.support.gpp_encode import (
    ALPHABET,
    Section,
    UsCa,
    UsNat,
    UsVa,
    base64url,
    encode_gpp,
    fibonacci,
    gpc_subsection,
    header,
    us_core,
)
from tests.support.tcf_encode import encode_tc_string
from tests.support.vectors import consent_vectors, vector_id, vector_ids
from tests.unit.test_signals_usp import KNOWN_REASONS as USP_REASONS

GPP_KINDS = ("gpp", "gpp_invalid", "gpp_header", "gpp_section_usnat", "gpp_section_usca")
VECTORS = consent_vectors(*GPP_KINDS)
# Headers taken from other vectors, to put a bare section vector into a GPP string.
SECTION_HEADERS = {"gpp_section_usnat": "DBABLA", "gpp_section_usca": "DBABBg"}
SECTION_PREFIX = {"gpp_section_usnat": "usnat", "gpp_section_usca": "usca"}
# The upstream error message of an invalid vector -> our (value-free) reason for it.
UPSTREAM_ERRORS = {
    "The number of sections does not match the number of sections defined in the header.": (
        "number of sections does not match the header"
    ),
}

# Every reason the decoder may give. A fixed set proves no reason carries the input.
_US_PREFIXES = tuple(prefix for sid, prefix in PREFIXES.items() if sid >= 7)
_SECTION_FAULTS = (
    "is empty",
    "is not base64url",
    "is truncated",
    "is longer than its fields",
    "has a field value outside 0-2",
    "has more than one sub-section",
    "has a sub-section its layout does not define",
)
_SUBSECTION_FAULTS = (
    "is empty",
    "is not base64url",
    "is not a GPC sub-section",
    "is longer than its fields",
)
KNOWN_REASONS = frozenset(
    {
        "GPP string is not text",
        "GPP string is empty",
        "GPP string is too long",
        "GPP header is not text",
        "GPP header is empty",
        "GPP header is not base64url",
        "GPP header is truncated",
        "GPP header is longer than its fields",
        "GPP header has an out-of-range section id",
        "GPP header lists too many sections",
        "not a GPP string: header type is not 3",
        "unsupported GPP header version",
        "number of sections does not match the header",
        "a GPP section is empty",
        "tcfeuv2 section is not a base64url TC string",
    }
    # section 6 is read by the US Privacy decoder, whose reasons it carries
    | {f"uspv1 section: {reason}" for reason in USP_REASONS}
    | {f"{prefix} section {fault}" for prefix in _US_PREFIXES for fault in _SECTION_FAULTS}
    | {f"{prefix} sub-section {fault}" for prefix in _US_PREFIXES for fault in _SUBSECTION_FAULTS}
)
KNOWN_UNDECODED = frozenset(
    {"no layout for this section", "unknown section id"}
    | {f"no layout for this {prefix} version" for prefix in _US_PREFIXES}
)
_EVERY_SECTION = "all present sections apply"

# Vector key -> dataclass field where snake-casing the key is not the name; a key that maps
# to no field fails the comparison.
FIELD_ALIASES = {
    "SaleOptOut": "sale_opt_out_code",
    "SharingOptOut": "sharing_opt_out_code",
    "TargetedAdvertisingOptOut": "targeted_advertising_opt_out_code",
    "LspaCovered": "lspa",
}
# usva's spec has a single Int(2) here; the decoder keeps every section's list as a tuple.
SCALAR_IN_SPEC = {("usva", "KnownChildSensitiveDataConsents")}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _assert_fields(decoded: object, prefix: str, expected: dict[str, Any]) -> None:
    """Every expected key names a field of ``decoded`` and holds the expected value."""
    assert decoded is not None, f"{prefix} section missing"
    names = {spec.name for spec in dataclasses.fields(decoded)}  # type: ignore[arg-type]
    for key, want in expected.items():
        name = FIELD_ALIASES.get(key, _snake(key))
        if name not in names:
            pytest.fail(f"comparator does not understand {prefix}.{key}")
        got = getattr(decoded, name)
        if (prefix, key) in SCALAR_IN_SPEC:
            assert isinstance(got, tuple) and len(got) == 1, f"{prefix}.{key}"
            got = got[0]
        elif isinstance(got, tuple):
            got = list(got)
        # Types too, so True never passes for 1.
        assert (type(got), got) == (type(want), want), f"{prefix}.{key}"


def _check_gpp(text: str, result: GppString | SignalError, expected: dict[str, Any]) -> None:
    expected = dict(expected)
    if expected.pop("error", False):
        upstream = expected.pop("error_message")
        assert upstream in UPSTREAM_ERRORS, f"comparator does not understand {upstream!r}"
        assert result == SignalError("gpp", UPSTREAM_ERRORS[upstream])
    else:
        assert isinstance(result, GppString), result
    parts = text.split("~")[1:]
    for key, want in expected.items():
        assert isinstance(result, GppString)
        if key == "section_ids":
            assert list(result.section_ids) == want
        elif key == "tcfeuv2":
            # Handed over as text; its fields are compared in test_tcfeuv2_section_fields.
            assert result.tcfeuv2 == parts[result.section_ids.index(2)]
        elif key == "uspv1":
            _assert_fields(result.uspv1, key, want)
        elif key in PREFIXES.values() and isinstance(want, dict):
            _assert_fields(result.present.us_section(key), key, want)
        else:
            pytest.fail(f"comparator does not understand {key}")


@pytest.mark.parametrize("vector", VECTORS, ids=vector_ids(VECTORS))
def test_vector(vector: dict[str, Any]) -> None:
    """Each vector decodes to every value its source asserts (or fails as it says)."""
    kind, text, expected = vector["kind"], vector["string"], vector["expected"]
    if kind == "gpp_header":
        assert set(expected) == {"section_ids"}, "comparator does not understand the keys"
        assert decode_header(text) == tuple(expected["section_ids"])
    elif kind in SECTION_HEADERS:
        result = decode(f"{SECTION_HEADERS[kind]}~{text}")
        assert isinstance(result, GppString), result
        _assert_fields(result.present.us_section(SECTION_PREFIX[kind]), kind, expected)
    else:
        _check_gpp(text, decode(text), expected)


TCF_VECTORS = [vector for vector in VECTORS if "tcfeuv2" in vector["expected"]]


@pytest.mark.parametrize("vector", TCF_VECTORS, ids=vector_ids(TCF_VECTORS))
def test_tcfeuv2_section_fields(vector: dict[str, Any]) -> None:
    """Section 2's TC string, read by gateway.signals.tcf, holds every asserted field."""
    result = decode(vector["string"])
    assert isinstance(result, GppString)
    assert result.tcfeuv2 is not None
    tc_string = decode_tcf(result.tcfeuv2)
    assert not isinstance(tc_string, SignalError), tc_string
    for key, want in vector["expected"]["tcfeuv2"].items():
        if not hasattr(tc_string, key):
            pytest.fail(f"comparator does not understand tcfeuv2.{key}")
        got = getattr(tc_string, key)
        if key in ("created", "last_updated"):
            assert got == datetime.fromisoformat(want), key
        elif isinstance(got, frozenset):
            assert sorted(got) == want, key
        else:
            assert (type(got), got) == (type(want), want), key


def test_vectors_cover_the_kinds() -> None:
    """The file holds the 30 GPP vectors of consent.md §6.1, with distinct test ids."""
    counts = {kind: sum(v["kind"] == kind for v in VECTORS) for kind in GPP_KINDS}
    assert counts == {
        "gpp": 21,
        "gpp_invalid": 2,
        "gpp_header": 5,
        "gpp_section_usnat": 1,
        "gpp_section_usca": 1,
    }
    ids = [vector_id(vector) for vector in VECTORS]
    assert len(set(ids)) == len(ids)


# --- strings built by tests.support.gpp_encode ---------------------------------------------------

GPC_TRUE, GPC_FALSE = gpc_subsection(True), gpc_subsection(False)
_USNAT_NOTICES = (
    "sharing_notice",
    "sale_opt_out_notice",
    "sharing_opt_out_notice",
    "targeted_advertising_opt_out_notice",
    "sensitive_data_processing_opt_out_notice",
    "sensitive_data_limit_use_notice",
)
_USNAT_OPT_OUTS = ("sale_opt_out", "sharing_opt_out", "targeted_advertising_opt_out")
# Builder field -> UsSection field, where the names differ.
_DECODED_NAME = {name: f"{name}_code" for name in _USNAT_OPT_OUTS}


def _usnat(notices: Sequence[int], opt_outs: Sequence[int]) -> UsNat:
    """A usnat section with the six notices and three opt-out codes in spec order."""
    codes: dict[str, Any] = dict(zip(_USNAT_NOTICES, notices, strict=True))
    codes.update(zip(_USNAT_OPT_OUTS, opt_outs, strict=True))
    return UsNat(**codes)


def test_encoder_matches_the_spec_examples() -> None:
    """The encoder reproduces consent.md §2.1's Fibonacci table, range and headers."""
    assert [fibonacci(n) for n in range(1, 8)] == [
        "11",
        "011",
        "0011",
        "1011",
        "00011",
        "10011",
        "01011",
    ]
    range_bits = "000000000010" + "0" + "0011" + "1" + "011" + "0011"
    assert base64url(f"{3:06b}{1:06b}{range_bits}") == header([3, 5, 6, 7, 8])
    assert header([2]) == "DBABM"
    assert header([2, 6]) == "DBACNY"
    assert header([5, 6]) == "DBABjw"
    assert encode_gpp({7: "BVVqAAEABCA.QA"}).startswith("DBABL")


def test_encoder_docstring_examples() -> None:
    """The examples in tests.support.gpp_encode's docstrings hold."""
    assert UsNat(sale_opt_out=1, gpc=True).encode() == "BVVaAAAAAZ.Y"
    assert UsCa(sharing_opt_out=1).encode() == "BVkAAABk"
    assert UsVa(targeted_advertising_opt_out=1).encode() == "BVkAABk"


def test_encode_gpp_refuses_a_builder_under_another_id() -> None:
    with pytest.raises(ValueError, match="UsCa is section 8"):
        encode_gpp({7: UsCa()})


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=400), max_size=24))
def test_header_round_trip(ids: set[int]) -> None:
    """Any sorted id list, grouped or not, reads back exactly from its header."""
    assert decode_header(header(sorted(ids))) == tuple(sorted(ids))


_CODE = st.integers(min_value=0, max_value=2)
_GPC = st.none() | st.booleans()


@st.composite
def _us_builders(draw: st.DrawFn) -> UsNat | UsCa | UsVa:
    """Any usnat (v1 or v2), usca or usva builder with every field drawn from 0-2."""
    kind = draw(st.sampled_from([UsNat, UsCa, UsVa]))
    version = draw(st.sampled_from([1, 2])) if kind is UsNat else 1
    v2 = version == 2
    lengths = {
        UsNat: (16 if v2 else 12, 3 if v2 else 2),
        UsCa: (9, 2),
        UsVa: (8, None),
    }[kind]
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(kind):
        if spec.name == "version":
            values[spec.name] = version
        elif spec.name == "gpc":
            values[spec.name] = draw(_GPC)
        elif spec.name == "sensitive_data_processing":
            values[spec.name] = tuple(
                draw(st.lists(_CODE, min_size=lengths[0], max_size=lengths[0]))
            )
        elif spec.name == "known_child_sensitive_data_consents" and lengths[1] is not None:
            values[spec.name] = tuple(
                draw(st.lists(_CODE, min_size=lengths[1], max_size=lengths[1]))
            )
        else:
            values[spec.name] = draw(_CODE)
    return kind(**values)


@settings(max_examples=300, deadline=None)
@given(_us_builders())
def test_us_builders_round_trip(builder: UsNat | UsCa | UsVa) -> None:
    """Every field a builder writes is read back by the decoder into the same field; the
    decoder's fields the layout lacks are None, and GPC is present exactly when set."""
    result = decode(encode_gpp({builder.section_id: builder}))
    assert isinstance(result, GppString), result
    section = result.present.us_section(builder.section_id)
    assert section is not None
    written = {spec.name for spec in dataclasses.fields(builder)}
    for spec in dataclasses.fields(builder):
        want = getattr(builder, spec.name)
        if spec.name == "gpc":
            assert (section.gpc, section.gpc_present) == (bool(want), want is not None)
        elif isinstance(want, tuple):
            assert getattr(section, spec.name) == want, spec.name
        elif isinstance(builder, UsVa) and spec.name == "known_child_sensitive_data_consents":
            assert section.known_child_sensitive_data_consents == (want,)
        else:
            assert getattr(section, _DECODED_NAME.get(spec.name, spec.name)) == want, spec.name
    if "gpc" not in written:
        assert (section.gpc, section.gpc_present) == (False, False)
    assert (section.section_id, section.prefix) == (
        builder.section_id,
        PREFIXES[section.section_id],
    )
    read = {_DECODED_NAME.get(name, name) for name in written}
    for spec in dataclasses.fields(section):
        if spec.name not in read | {"gpc", "gpc_present", "section_id", "prefix"}:
            assert getattr(section, spec.name) is None, spec.name


def test_encode_gpp_round_trips_every_kind_of_section() -> None:
    """tcfeuv2 (built by tcf_encode), uspv1, usnat v2 with GPC, usca and usva together."""
    tc = encode_tc_string(purposes={1, 2, 7}, vendors={32, 755}, purpose_li={2})
    usnat = UsNat(
        version=2,
        sale_opt_out=1,
        sensitive_data_processing=(2,) * 16,
        known_child_sensitive_data_consents=(0, 0, 2),
        gpc=True,
    )
    text = encode_gpp(
        {9: UsVa(sale_opt_out=1), 2: tc, 8: UsCa(sharing_opt_out=1, gpc=False), 7: usnat, 6: "1YYN"}
    )
    assert text.count("~") == 5
    result = decode(text)
    assert isinstance(result, GppString), result
    assert result.section_ids == (2, 6, 7, 8, 9)
    assert result.tcfeuv2 == tc
    tc_string = decode_tcf(result.tcfeuv2)
    assert isinstance(tc_string, TcString), tc_string
    assert tc_string.vendor_consents == {32, 755} and tc_string.purpose_li == {2}
    assert result.uspv1 == UsPrivacy(1, "Y", "Y", "N")
    nat, ca, va = result.us_sections
    assert (nat.version, nat.sale_opt_out, nat.gpc, nat.gpc_present) == (2, True, True, True)
    assert all(nat.sensitive_consent) and not nat.known_child
    assert ca.sharing_opt_out and not ca.sale_opt_out
    assert (ca.gpc, ca.gpc_present) == (False, True)
    assert (va.sale_opt_out, va.targeted_advertising_opt_out) == (True, False)
    assert result.opt_outs() == {
        "sale": "section uspv1",
        "sharing": "section usnat GPC",
        "targeted_advertising": "section usnat GPC",
    }


# Vectors whose US sections list every field: the builders, set to those fields, must write
# sections the decoder reads exactly as it reads the vector's own (field order as upstream).
_FULL_US_SECTIONS = [
    (vector, SECTION_PREFIX[vector["kind"]])
    for vector in VECTORS
    if vector["kind"] in SECTION_PREFIX
] + [
    (vector, prefix)
    for vector in VECTORS
    if vector["kind"] == "gpp"
    for prefix in ("usnat", "usca", "usva")
    if "Version" in vector["expected"].get(prefix, {})
]
_BUILDERS: dict[str, type[UsNat | UsCa | UsVa]] = {"usnat": UsNat, "usca": UsCa, "usva": UsVa}


@pytest.mark.parametrize(
    ("vector", "prefix"),
    _FULL_US_SECTIONS,
    ids=[f"{prefix}-{vector_id(vector)}" for vector, prefix in _FULL_US_SECTIONS],
)
def test_builders_match_the_vectors(vector: dict[str, Any], prefix: str) -> None:
    """A builder given a vector's fields (spec names, snake case) reads back as the vector."""
    if vector["kind"] in SECTION_PREFIX:
        expected = vector["expected"]
        text = f"{SECTION_HEADERS[vector['kind']]}~{vector['string']}"
    else:
        expected = vector["expected"][prefix]
        text = vector["string"]
    original = decode(text)
    assert isinstance(original, GppString), original
    section = original.present.us_section(prefix)
    assert section is not None
    fields = {_snake(key): value for key, value in expected.items() if key != "Gpc"}
    for key, value in fields.items():
        if isinstance(value, list):
            fields[key] = tuple(value)
    builder = _BUILDERS[prefix](
        **fields, **({"gpc": expected["Gpc"]} if section.gpc_present else {})
    )
    rebuilt = decode(encode_gpp({builder.section_id: builder}))
    assert isinstance(rebuilt, GppString), rebuilt
    assert rebuilt.present.us_section(prefix) == section


# --- decoding rules ------------------------------------------------------------------------------


def _section(section: Section, section_id: int | None = None) -> UsSection:
    """The decoded US section of a one-section GPP string (``section_id`` for text)."""
    if section_id is None:
        assert not isinstance(section, str), "text needs its section id"
        section_id = section.section_id
    result = decode(encode_gpp({section_id: section}))
    assert isinstance(result, GppString), result
    section = result.present.us_section(section_id)
    assert section is not None
    return section


@pytest.mark.parametrize(
    ("notices", "opt_outs", "expected"),
    [
        # SaleOptOut / SharingOptOut / TargetedAdvertisingOptOut: 1 opts out, 2 does not.
        ((1, 1, 1, 1, 1, 1), (2, 2, 2), (False, False, False)),
        ((1, 1, 1, 1, 1, 1), (1, 2, 2), (True, False, False)),
        ((1, 1, 1, 1, 1, 1), (2, 1, 2), (False, True, False)),
        ((1, 1, 1, 1, 1, 1), (2, 2, 1), (False, False, True)),
        # 0: the business does not sell / share / target, so there is nothing to opt out of.
        ((0, 0, 0, 0, 0, 0), (0, 0, 0), (False, False, False)),
        # Notice not provided (2): the MSPA requires the opt-out to read 1; deny beats grant.
        ((1, 2, 1, 1, 1, 1), (0, 2, 2), (True, False, False)),
        ((1, 1, 2, 1, 1, 1), (2, 2, 2), (False, True, False)),
        ((1, 1, 1, 2, 1, 1), (2, 2, 0), (False, False, True)),
    ],
)
def test_usnat_opt_outs(
    notices: tuple[int, ...], opt_outs: tuple[int, ...], expected: tuple[bool, bool, bool]
) -> None:
    """The derived opt-outs follow consent.md §7.1, tightened where a notice was missing."""
    section = _section(_usnat(notices, opt_outs))
    got = (section.sale_opt_out, section.sharing_opt_out, section.targeted_advertising_opt_out)
    assert got == expected
    assert section.opt_out is any(expected)
    result = decode(encode_gpp({7: _usnat(notices, opt_outs)}))
    assert isinstance(result, GppString)
    assert result.us_opt_out() is any(expected)


def test_gpc_sub_section() -> None:
    """``.Y`` is GPC true and an opt-out by itself; ``.Q`` false; none reads false."""
    assert GPC_TRUE == "Y" and GPC_FALSE == "Q"
    on = _section(UsNat(gpc=True))
    off = _section(UsNat(gpc=False))
    absent = _section(UsNat())
    assert (on.gpc, on.gpc_present, on.opt_out) == (True, True, True)
    assert (off.gpc, off.gpc_present, off.opt_out) == (False, True, False)
    assert (absent.gpc, absent.gpc_present, absent.opt_out) == (False, False, False)
    result = decode(encode_gpp({7: UsNat(gpc=True)}))
    assert isinstance(result, GppString)
    assert result.present.gpc and result.us_opt_out()


def test_usca_and_usva_fields() -> None:
    """usca has sale and sharing opt-outs, usva sale and targeted ads; absent fields are None."""
    usca = _section(
        UsCa(sale_opt_out=2, sharing_opt_out=1, known_child_sensitive_data_consents=(0, 1))
    )
    assert (usca.sale_opt_out, usca.sharing_opt_out, usca.targeted_advertising_opt_out) == (
        False,
        True,
        False,
    )
    assert usca.targeted_advertising_opt_out_code is None and usca.sharing_notice is None
    assert usca.known_child
    usva = _section(UsVa(sale_opt_out=2, targeted_advertising_opt_out=1))
    assert (usva.sale_opt_out, usva.sharing_opt_out, usva.targeted_advertising_opt_out) == (
        False,
        False,
        True,
    )
    assert usva.sharing_opt_out_code is None and usva.personal_data_consents is None
    assert usva.known_child_sensitive_data_consents == (0,)
    assert not usva.gpc_present


def test_known_child_sensitive_consent_and_mspa() -> None:
    """Known child = any entry 1; sensitive data only on 2; MSPA covered only on 1."""
    section = _section(
        UsNat(
            sensitive_data_processing=(2, 1, 0, *(0,) * 9),
            known_child_sensitive_data_consents=(2, 0),
            personal_data_consents=0,
            mspa_covered_transaction=0,
            mspa_opt_out_option_mode=0,
            mspa_service_provider_mode=0,
        )
    )
    assert not section.known_child
    assert section.sensitive_consent == (True, False, False, *(False,) * 9)
    assert not section.mspa_covered
    child = _section(
        UsNat(
            known_child_sensitive_data_consents=(2, 1),
            personal_data_consents=0,
            mspa_covered_transaction=1,
            mspa_opt_out_option_mode=0,
            mspa_service_provider_mode=0,
        )
    )
    assert child.known_child and child.mspa_covered
    result = decode(encode_gpp({7: UsNat(known_child_sensitive_data_consents=(0, 1))}))
    assert isinstance(result, GppString) and result.present.known_child


def test_usnat_layout_by_length() -> None:
    """Version 2 in 60 or 66 bits is read with the v1 layout and zero-extended (§6.3 D6)."""
    for core in ("CAAAAAABEQ", "CAAAAAABEQA"):
        section = _section(core, 7)
        assert section.version == 2
        assert section.sensitive_data_processing == (*(0,) * 11, 1, 0, 0, 0, 0)
        assert section.known_child_sensitive_data_consents == (0, 1, 0)
    v2 = UsNat(
        version=2,
        sensitive_data_processing=(0,) * 15 + (2,),
        known_child_sensitive_data_consents=(0, 0, 1),
    ).encode()
    assert len(v2) == 12
    section = _section(v2, 7)
    assert section.sensitive_consent[15] and section.known_child
    v1 = _section(
        UsNat(sensitive_data_processing=(1,) * 12, known_child_sensitive_data_consents=(1, 2))
    )
    assert v1.sensitive_data_processing == (1,) * 12
    assert v1.known_child_sensitive_data_consents == (1, 2)


def test_uspv1_section() -> None:
    """Section 6 reads like a US Privacy string; ``Y`` in position 3 is an opt-out."""
    result = decode(encode_gpp({6: "1NYN"}))
    assert isinstance(result, GppString)
    assert result.uspv1 == UsPrivacy(1, "N", "Y", "N")
    assert result.uspv1.opted_out and result.uspv1.applies and result.us_opt_out()
    not_applicable = decode(encode_gpp({6: "1---"}))
    assert isinstance(not_applicable, GppString) and not_applicable.uspv1 is not None
    assert not not_applicable.uspv1.applies and not not_applicable.us_opt_out()


def test_undecoded_sections() -> None:
    """Sections without a layout are kept and reported; a US one counts as an opt-out."""
    # usco in a version 2 that no spec defines yet ("C" is version 2)
    text = encode_gpp({5: "BPSG_8APSG_8A", 10: "CVoYYQg", 40: "x", 7: UsNat(version=3)})
    result = decode(text)
    assert isinstance(result, GppString)
    undecoded = {section.section_id: section for section in result.undecoded}
    assert sorted(undecoded) == [5, 7, 10, 40]
    assert undecoded[5].prefix == "tcfcav1" and undecoded[40].prefix is None
    assert undecoded[7].reason == "no layout for this usnat version"
    assert undecoded[10].raw == "CVoYYQg"
    assert undecoded[10].reason == "no layout for this usco version"
    assert {section.reason for section in result.undecoded} <= KNOWN_UNDECODED
    assert result.us_sections == ()
    assert result.us_opt_out()
    canada_only = decode(text, applicable_sections=[5])
    assert isinstance(canada_only, GppString) and not canada_only.us_opt_out()


def test_raw_strings_stay_out_of_repr() -> None:
    """The TC string and undecoded sections are kept but never printed by ``repr``."""
    tc = "CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA"
    result = decode(encode_gpp({2: tc, 12: "BVaGGGCA"}))
    assert isinstance(result, GppString)
    assert result.tcfeuv2 == tc
    assert tc not in repr(result) and "BVaGGGCA" not in repr(result)


_TRUNCATED_V1 = "BVVqAAEAB"
_VALUE_3 = us_core(1, [3] + [1] * 26)
_LONG_FIB = base64url(f"{3:06b}{1:06b}{1:012b}0" + "01" * 17 + "1")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "GPP string is empty"),
        ("D" * 65_537, "GPP string is too long"),
        ("~1YNN", "GPP header is empty"),
        ("DB+BMA~1YNN", "GPP header is not base64url"),
        ("DBABMA=~1YNN", "GPP header is not base64url"),
        (" DBABTA~1YNN", "GPP header is not base64url"),
        ("DBA", "GPP header is truncated"),
        ("DBAB", "GPP header is truncated"),
        ("CBABTA~1YNN", "not a GPP string: header type is not 3"),
        ("DCABTA~1YNN", "unsupported GPP header version"),
        ("DBABTAAAAA~1YNN", "GPP header is longer than its fields"),
        (_LONG_FIB + "~x", "GPP header has an out-of-range section id"),
        ("DBABTA", "number of sections does not match the header"),
        ("DBABTA~1YNN~1YNN", "number of sections does not match the header"),
        ("DBACNY~1YNN", "number of sections does not match the header"),
        ("DBACNY~~1YNN", "a GPP section is empty"),
        ("DBABM~C+SG", "tcfeuv2 section is not a base64url TC string"),
        ("DBABM~CPSG..YA", "tcfeuv2 section is not a base64url TC string"),
        ("DBABTA~1YN", "uspv1 section: US Privacy string must be exactly 4 characters"),
        (
            "DBABTA~2YNN",
            "uspv1 section: unsupported US Privacy version; only version 1 is specified",
        ),
        ("DBABTA~1yNN", "uspv1 section: notice flag is not one of Y, N, - (upper case)"),
        (
            "DBABTA~1Y-N",
            "uspv1 section: opt-out of sale is '-' although the string says CCPA applies",
        ),
        ("DBABLA~.QA", "usnat section is empty"),
        ("DBABLA~BVVq+AEABCA", "usnat section is not base64url"),
        ("DBABLA~" + _TRUNCATED_V1, "usnat section is truncated"),
        ("DBABLA~BVVqAAEABCAAAAA", "usnat section is longer than its fields"),
        ("DBABLA~" + _VALUE_3, "usnat section has a field value outside 0-2"),
        ("DBABLA~BVVqAAEABCA.QA.QA", "usnat section has more than one sub-section"),
        ("DBABLA~BVVqAAEABCA.", "usnat sub-section is empty"),
        ("DBABLA~BVVqAAEABCA.Q=", "usnat sub-section is not base64url"),
        ("DBABLA~BVVqAAEABCA.gA", "usnat sub-section is not a GPC sub-section"),
        ("DBABLA~BVVqAAEABCA.QAAAA", "usnat sub-section is longer than its fields"),
        ("DBABLA~CAAAVVVVA", "usnat section is truncated"),
        # A v2 core cut to 66 bits: read as v1 by the length rule, its last character is data.
        ("DBABLA~CAAAVVVVAFB", "usnat section is longer than its fields"),
        ("DBABBg~BVoYYZo", "usca section is truncated"),
        ("DBABBg~" + UsCa().encode() + ".wA", "usca sub-section is not a GPC sub-section"),
        (
            "DBACLMA~BVVqAAEABCA~BVoYYYI.QA",
            "usva section has a sub-section its layout does not define",
        ),
    ],
)
def test_rejects(text: str, reason: str) -> None:
    """Each defect makes the whole string an error, with a reason that does not echo it."""
    assert reason in KNOWN_REASONS
    result = decode(text)
    assert result == SignalError("gpp", reason)
    for part in re.split(r"[~.]", text):
        assert len(part) < 4 or part not in reason


def test_header_alone_is_bounded() -> None:
    """A header read alone may not expand a group into more ids than a count can hold."""
    huge_group = base64url(f"{3:06b}{1:06b}{1:012b}1{fibonacci(1)}{fibonacci(5000)}")
    assert decode_header(huge_group) == SignalError("gpp", "GPP header lists too many sections")
    assert decode(huge_group + "~1YNN") == SignalError(
        "gpp", "number of sections does not match the header"
    )
    assert decode_header(header(range(1, 4096))) == tuple(range(1, 4096))


@pytest.mark.parametrize("value", [None, 7, b"DBABTA~1YNN", ["DBABTA", "1YNN"]])
def test_non_text_is_an_error(value: object) -> None:
    """A value that is not a string is reported, not raised."""
    assert decode(value) == SignalError("gpp", "GPP string is not text")  # type: ignore[arg-type]
    assert decode_header(value) == SignalError("gpp", "GPP header is not text")  # type: ignore[arg-type]


# --- applicable sections -------------------------------------------------------------------------

_TC = "CPSG_8APSG_8ANwAAAENAwCgAAAAAAAAAAAAAAAAAAAA.IAAA.YAAAAAAAAAAA"
# tcfeuv2, uspv1 without opt-out, usnat without opt-out, usca with a sale opt-out.
_MIXED = encode_gpp(
    {2: _TC, 6: "1YNN", 7: UsNat(gpc=False), 8: UsCa(sale_opt_out=1, sharing_opt_out=2)}
)
_ALL = (2, 6, 7, 8)


@pytest.mark.parametrize(
    ("applicable", "ids", "opted_out", "trusted"),
    [
        (None, _ALL, True, True),
        ([7], (7,), False, True),
        ([8], (8,), True, True),
        ([6, 7], (6, 7), False, True),
        ((x for x in [7]), (7,), False, True),
        (range(7, 9), (7, 8), True, True),
        ([7, 7], (7,), False, True),
        ([-1], (), False, True),
        ([-1, -1], (), False, True),
        # Not trusted: every present section applies.
        ([0], _ALL, True, False),
        ([0, 7], _ALL, True, False),
        ([-1, 7], _ALL, True, False),
        ([-2], _ALL, True, False),
        ([9], _ALL, True, False),
        ([7, 9], _ALL, True, False),
        ([], _ALL, True, False),
        (["7"], _ALL, True, False),
        ([True], _ALL, True, False),
        ([7.0], _ALL, True, False),
        (7, _ALL, True, False),
        (list(range(1, 100)), _ALL, True, False),
    ],
)
def test_applicable_sections(
    applicable: Any, ids: tuple[int, ...], opted_out: bool, trusted: bool
) -> None:
    """gpp_sid selects the sections in force; -1 is none; anything doubtful means all."""
    result = decode(_MIXED, applicable)
    assert isinstance(result, GppString)
    assert result.section_ids == _ALL
    assert result.applicable.ids == ids
    assert result.us_opt_out() is opted_out
    assert result.us_opt_out(all_present=True)
    assert (result.applicable.tcfeuv2 is not None) is (2 in ids)
    assert (result.applicable.uspv1 is not None) is (6 in ids)
    assert tuple(section.section_id for section in result.applicable.us) == tuple(
        section_id for section_id in ids if section_id in (7, 8)
    )
    if trusted:
        assert result.problems == ()
    else:
        assert len(result.problems) == 1 and result.problems[0].endswith(_EVERY_SECTION)


def test_opt_outs_name_each_kind_and_where() -> None:
    """opt_outs maps each opt-out kind to the first applicable section expressing it."""
    text = encode_gpp(
        {
            6: "1NYN",
            7: UsNat(sharing_opt_out=1, known_child_sensitive_data_consents=(1, 0)),
            8: UsCa(gpc=True),
            10: "BVoYYQg",
        }
    )
    every = decode(text)
    assert isinstance(every, GppString)
    assert every.opt_outs() == {
        "sale": "section uspv1",
        "sharing": "section usnat",
        "known_child": "section usnat",
        "targeted_advertising": "section usca GPC",
    }
    usnat = decode(text, [7])
    assert isinstance(usnat, GppString)
    assert usnat.opt_outs() == {"sharing": "section usnat", "known_child": "section usnat"}
    assert usnat.opt_outs(all_present=True) == every.opt_outs()
    colorado = decode(text, [10])
    assert isinstance(colorado, GppString)
    # BVoYYQg: no sale or targeted-advertising opt-out, KnownChildSensitiveDataConsents 1
    assert colorado.opt_outs() == {"known_child": "section usco"}
    unread = decode(encode_gpp({10: "CVoYYQg"}))
    assert isinstance(unread, GppString)
    assert unread.opt_outs() == dict.fromkeys(
        ("sale", "sharing", "targeted_advertising", "known_child"), "section usco (not decoded)"
    )
    none = decode(text, [-1])
    assert isinstance(none, GppString)
    assert none.opt_outs() == {} and not none.us_opt_out()
    quiet = decode(encode_gpp({7: UsNat(gpc=False)}))
    assert isinstance(quiet, GppString) and quiet.opt_outs() == {}


def test_applicable_raw_signals() -> None:
    """The TC and US Privacy strings in force are handed over as text for their decoders."""
    every = decode(_MIXED)
    assert isinstance(every, GppString)
    assert every.applicable_ids == _ALL
    assert every.applicable_tcfeuv2 == _TC
    assert every.applicable_uspv1 == UsPrivacy(1, "Y", "N", "N")
    usnat = decode(_MIXED, [7])
    assert isinstance(usnat, GppString)
    assert usnat.applicable_ids == (7,)
    assert usnat.applicable_tcfeuv2 is None and usnat.applicable_uspv1 is None
    assert usnat.tcfeuv2 == _TC and usnat.uspv1 == UsPrivacy(1, "Y", "N", "N")


# --- properties ----------------------------------------------------------------------------------


def _assert_total(result: object) -> None:
    """A result is a GppString or a SignalError with one of the fixed reasons."""
    if isinstance(result, SignalError):
        assert result.standard == "gpp"
        assert result.reason in KNOWN_REASONS, result.reason
        return
    assert isinstance(result, GppString)
    assert {section.reason for section in result.undecoded} <= KNOWN_UNDECODED
    assert all(problem.endswith(_EVERY_SECTION) for problem in result.problems)
    assert set(result.applicable.ids) <= set(result.section_ids)
    opt_outs = result.opt_outs()
    assert set(opt_outs) <= {"sale", "sharing", "targeted_advertising", "known_child"}
    assert all(_WHERE.fullmatch(where) for where in opt_outs.values())
    assert result.us_opt_out() is bool(set(opt_outs) - {"known_child"})


_GPP_ALPHABET = ALPHABET + "~."
_WHERE = re.compile(r"section [a-z0-9]+( GPC| \(not decoded\))?")
# Every string a vector says is valid, bare sections behind a header, by vector id.
VALID = {
    vector_id(vector): (
        f"{SECTION_HEADERS[vector['kind']]}~{vector['string']}"
        if vector["kind"] in SECTION_HEADERS
        else vector["string"]
    )
    for vector in VECTORS
    if vector["kind"] in ("gpp", *SECTION_HEADERS) and "error" not in vector["expected"]
}
VALID_STRINGS = list(VALID.values())


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    """No text makes the decoder raise; every reason is one of the fixed sentences."""
    _assert_total(decode(text))
    _assert_total(decode(text, [7]))
    ids = decode_header(text)
    assert isinstance(ids, tuple) or ids.reason in KNOWN_REASONS


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_GPP_ALPHABET, max_size=60))
def test_never_raises_on_the_gpp_alphabet(text: str) -> None:
    """Strings over base64url, ``~`` and ``.`` never make the decoder raise."""
    _assert_total(decode(text))
    ids = decode_header(text.split("~")[0])
    assert isinstance(ids, tuple) or ids.reason in KNOWN_REASONS


@st.composite
def _after_a_valid_header(draw: st.DrawFn) -> tuple[str, list[int]]:
    ids = sorted(draw(st.sets(st.sampled_from([2, 5, 6, 7, 8, 9, 12, 40]), min_size=1, max_size=4)))
    sections = [
        draw(
            st.sampled_from(["1YNN", "1NYN", "BVVqAAEABCA.QA", "BVoYYZoI", "BVoYYYI", _TC])
            | st.text(alphabet=ALPHABET + ".", min_size=1, max_size=20)
        )
        for _ in ids
    ]
    return "~".join([header(ids), *sections]), ids


@settings(max_examples=300, deadline=None)
@given(_after_a_valid_header())
def test_never_raises_after_a_valid_header(case: tuple[str, list[int]]) -> None:
    """Arbitrary sections behind a valid header: an error, or exactly the header's ids."""
    text, ids = case
    result = decode(text)
    _assert_total(result)
    if isinstance(result, GppString):
        assert list(result.section_ids) == ids


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID_STRINGS), st.integers(min_value=0), st.sampled_from(_GPP_ALPHABET))
def test_never_raises_on_a_changed_character(text: str, where: int, char: str) -> None:
    """Any one character of a valid string replaced: still no raise."""
    where %= len(text)
    _assert_total(decode(text[:where] + char + text[where + 1 :]))


@settings(max_examples=200, deadline=None)
@given(
    st.none()
    | st.lists(st.integers(min_value=-3, max_value=45), max_size=6)
    | st.lists(
        st.integers() | st.text(max_size=3) | st.booleans() | st.floats() | st.none(), max_size=6
    )
)
def test_never_raises_on_any_applicable_sections(applicable: list[Any] | None) -> None:
    """Whatever gpp_sid holds, the string still decodes; doubt widens to every section."""
    result = decode(_MIXED, applicable)
    _assert_total(result)
    assert isinstance(result, GppString)
    if result.problems:
        assert result.applicable == result.present


def _opt_outs(result: GppString) -> tuple[object, ...]:
    """The opt-out flags other than GPC, section by section."""
    usp = result.uspv1.opted_out if result.uspv1 else None
    sections = tuple(
        (s.section_id, s.sale_opt_out, s.sharing_opt_out, s.targeted_advertising_opt_out)
        for s in result.us_sections
    )
    undecoded = tuple(section.section_id for section in result.undecoded)
    return usp, sections, undecoded


@pytest.mark.parametrize("text", VALID_STRINGS, ids=list(VALID))
def test_truncation_never_silently_drops_an_opt_out(text: str) -> None:
    """Every prefix of a valid string is an error or keeps the full string's opt-outs.

    Sale, sharing, targeted-ads and uspv1 opt-outs are always kept. GPC is kept unless the
    prefix cut off a section's whole GPC sub-section: a string without one is valid (LiveRamp
    reads it as GPC false), so that prefix is a valid string, and the format cannot tell it
    apart. The request's own Sec-GPC header is the independent signal for that case.
    """
    full = decode(text)
    assert isinstance(full, GppString)
    for cut in range(len(text)):
        got = decode(text[:cut])
        _assert_total(got)
        if isinstance(got, SignalError):
            continue
        assert got.section_ids == full.section_ids
        assert _opt_outs(got) == _opt_outs(full)
        lost_gpc = False
        for whole in full.us_sections:
            part = got.present.us_section(whole.section_id)
            assert part is not None
            if part.gpc != whole.gpc:
                assert whole.gpc_present and not part.gpc_present
                lost_gpc = True
        if got.us_opt_out() != full.us_opt_out():
            assert lost_gpc and full.us_opt_out()


def test_format_limits_under_truncation() -> None:
    """The two cases the format itself cannot detect, pinned so a change is noticed."""
    # A GPC sub-section cut off whole: the rest is a valid string with GPC false.
    full = decode("DBABLA~BVVqAAEABCA.YA")
    cut = decode("DBABLA~BVVqAAEABCA")
    assert isinstance(full, GppString) and isinstance(cut, GppString)
    assert full.us_opt_out() and not cut.us_opt_out()
    # A v2 core cut to 60 bits is read with the v1 layout (the length rule), so the fields
    # after the first 12 sensitive-data entries are read from other bits.
    v2 = _section("CAAAAAAAAQRA", 7)
    v2_cut = _section("CAAAAAAAAQ", 7)
    assert v2.known_child and not v2_cut.known_child
    assert (v2.sale_opt_out, v2.sharing_opt_out) == (v2_cut.sale_opt_out, v2_cut.sharing_opt_out)
