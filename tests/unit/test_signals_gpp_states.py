"""GPP US-state sections 10-27 (Colorado ... Rhode Island): every vector of
``tests/vectors/gpp_state_vectors.json`` decodes to the values iabgpp-es 3.2.0 gives, the
opt-outs they carry reach the consent stage, and damaged sections are refused.

Each vector's test id names its section and the iabgpp-es test file (with the commit) it
comes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.signals.errors import SignalError
from gateway.signals.gpp import PREFIXES, GppString, UsSection, decode
from tests.support.gpp_encode import encode_gpp

VECTOR_FILE = Path(__file__).resolve().parents[1] / "vectors" / "gpp_state_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))["vectors"]
STATE_IDS = range(10, 28)


def _id(vector: dict[str, Any]) -> str:
    source = vector["source"]
    return (
        f"{vector['prefix']}:{vector['section']}@{Path(source['path']).name}:{source['commit'][:8]}"
    )


def one_section(section_id: int, section: str) -> UsSection:
    """Decode ``section`` as the only section of a GPP string; it must be read."""
    result = decode(encode_gpp({section_id: section}))
    assert isinstance(result, GppString), result
    [us] = result.us_sections
    assert result.undecoded == ()
    return us


def test_every_state_section_has_vectors() -> None:
    """The vector file covers each of the 18 state sections, so none is read untested."""
    assert {v["section_id"] for v in VECTORS} == set(STATE_IDS)
    assert all(PREFIXES[v["section_id"]] == v["prefix"] for v in VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[_id(v) for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    """Each field decodes to the library's value; a vector the gateway refuses on purpose
    (a field value 3, which no spec defines) is refused with the stated reason."""
    result = decode(encode_gpp({vector["section_id"]: vector["section"]}))
    if "refused" in vector:
        assert isinstance(result, SignalError)
        assert result.reason == vector["refused"]
        return
    assert isinstance(result, GppString), result
    [us] = result.us_sections
    assert (us.section_id, us.prefix) == (vector["section_id"], vector["prefix"])
    for name, expected in vector["expected"].items():
        actual = getattr(us, name)
        if isinstance(actual, tuple):
            actual = list(actual)
        assert actual == expected, name


@pytest.mark.parametrize("section_id", STATE_IDS, ids=lambda i: PREFIXES[i])
def test_state_opt_outs_reach_the_consent_stage(section_id: int) -> None:
    """For every state, the vector with every opt-out set denies sale and targeted
    advertising (and a GPC sub-section true counts as all three), while the library's
    default section (nothing opted out) denies nothing: a state section no longer reads
    as "every opt-out" just because it is a state."""
    vectors = [v for v in VECTORS if v["section_id"] == section_id and "refused" not in v]
    opted = next(v for v in vectors if v["expected"]["sale_opt_out_code"] == 1)
    result = decode(encode_gpp({section_id: opted["section"]}))
    assert isinstance(result, GppString)
    found = result.opt_outs()
    assert found["sale"] == f"section {PREFIXES[section_id]}"
    assert found["targeted_advertising"] == f"section {PREFIXES[section_id]}"
    assert result.us_opt_out()
    quiet = [v for v in vectors if v["expected"]["sale_opt_out_code"] == 0]
    for vector in quiet:
        result = decode(encode_gpp({section_id: vector["section"]}))
        assert isinstance(result, GppString)
        assert result.opt_outs() == {}, vector["section"]
        assert not result.us_opt_out()


def test_a_gpc_sub_section_is_an_opt_out_in_states_that_define_it() -> None:
    """Colorado takes GPC as the universal opt-out (consent.md §5): a core with no opt-out
    and a GPC sub-section saying true opts out of sale, sharing and targeted ads."""
    core_without_opt_outs = "BAAAAEA"
    colorado = one_section(10, f"{core_without_opt_outs}.YA")
    assert colorado.gpc and colorado.gpc_present and not colorado.sale_opt_out
    result = decode(encode_gpp({10: f"{core_without_opt_outs}.YA"}))
    assert isinstance(result, GppString)
    assert result.opt_outs() == dict.fromkeys(
        ("sale", "sharing", "targeted_advertising"), "section usco GPC"
    )


@pytest.mark.parametrize(("section_id", "core"), [(11, "BAAAAAQA"), (13, "BAAAAABA")])
def test_states_without_gpc_refuse_a_sub_section(section_id: int, core: str) -> None:
    """Utah and Florida define no sub-section: one is a malformed section, and so an
    unreadable GPP string (read as an opt-out by the consent stage)."""
    result = decode(encode_gpp({section_id: f"{core}.YA"}))
    assert isinstance(result, SignalError)
    assert "sub-section its layout does not define" in result.reason


def test_the_sensitive_data_sub_section_of_indiana() -> None:
    """Indiana, Kentucky and Rhode Island carry sensitive data in an untyped sub-section;
    without one it reads as not applicable; a second one is refused."""
    assert one_section(25, "BVVV.kkk").sensitive_data_processing == (2, 1, 0, 2, 1, 0, 2, 1)
    assert one_section(25, "BQAA").sensitive_data_processing == (0,) * 8
    assert isinstance(decode(encode_gpp({25: "BVVV.kkk.kkk"})), SignalError)


def test_maryland_has_no_known_child_or_sensitive_fields() -> None:
    """Maryland's layout has neither: the tuples are empty, so nothing reads as a child."""
    maryland = one_section(24, "BVVU.YA")
    assert maryland.known_child_sensitive_data_consents == ()
    assert maryland.sensitive_data_processing == ()
    assert not maryland.known_child
    assert maryland.mspa_mode == 1 and maryland.mspa_opt_out_option_mode is None


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if "refused" not in v],
    ids=[_id(v) for v in VECTORS if "refused" not in v],
)
def test_every_truncation_is_refused_or_keeps_the_opt_outs(vector: dict[str, Any]) -> None:
    """A section cut short anywhere is refused, or (cut inside the encoder's padding or at
    the sub-section) keeps every core opt-out: truncation never silently drops one."""
    section_id, section = vector["section_id"], vector["section"]
    whole = decode(encode_gpp({section_id: section}))
    assert isinstance(whole, GppString)
    core_opt_outs = {k for k, where in whole.opt_outs().items() if not where.endswith("GPC")}
    for end in range(1, len(section)):
        cut = section[:end].rstrip(".")
        if not cut:
            continue
        result = decode(encode_gpp({section_id: cut}))
        if isinstance(result, SignalError):
            continue
        assert core_opt_outs <= set(result.opt_outs()), cut
