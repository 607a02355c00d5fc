"""Tests for gateway.signals.usp: the consent.md §6 vectors of kind "usp", and properties.

The vectors are read from ``tests/vectors/consent_vectors.json`` by ``tests.support.vectors``;
``_check`` fails on any expected key it does not understand.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signals.errors import SignalError
from gateway.signals.usp import UsPrivacy, decode
from tests.support.vectors import consent_vectors, vector_ids

VECTORS = consent_vectors("usp")

# The valid strings, written from the spec text independently of the decoder: version 1, flags
# Y/N/-, and "-" in the opt-out position only as 1--- ("Opt-Out of Sale may never be unknown").
VALID = re.compile(r"1(?:[YN-][YN][YN-]|---)")

# Every reason the decoder may give. A fixed set proves no reason carries the input.
KNOWN_REASONS = frozenset(
    {
        "US Privacy value is not a string",
        "US Privacy string must be exactly 4 characters",
        "unsupported US Privacy version; only version 1 is specified",
        "notice flag is not one of Y, N, - (upper case)",
        "opt-out-of-sale flag is not one of Y, N, - (upper case)",
        "LSPA flag is not one of Y, N, - (upper case)",
        "opt-out of sale is '-' although the string says CCPA applies",
    }
)

# Vector keys and how to read each from a UsPrivacy; a key missing here fails the test.
FIELDS: dict[str, Callable[[UsPrivacy], object]] = {
    "Version": lambda usp: usp.version,
    "Notice": lambda usp: usp.notice,
    "OptOutSale": lambda usp: usp.opt_out_sale,
    "LspaCovered": lambda usp: usp.lspa,
    "ccpa_applies": lambda usp: usp.applies,
    "opted_out_of_sale": lambda usp: usp.opted_out,
}

# Vectors whose source decodes what we reject on purpose, with the key that makes the
# difference. 2YNY: iabgpp-es accepts any version digit; no USP v2 exists and the vector's own
# note says a gateway should treat unknown versions as unparseable.
REJECTED_BY_POLICY = {"2YNY": "Version"}


def _check(decoded: UsPrivacy | SignalError, expected: dict[str, Any]) -> None:
    unknown = set(expected) - set(FIELDS)
    assert not unknown, f"comparator does not understand {sorted(unknown)}"
    assert isinstance(decoded, UsPrivacy), decoded
    for key, want in expected.items():
        assert FIELDS[key](decoded) == want, key


@pytest.mark.parametrize("vector", VECTORS, ids=vector_ids(VECTORS))
def test_vector(vector: dict[str, Any]) -> None:
    """Each vector decodes to every value its source asserts, or is a documented rejection."""
    text, expected = vector["string"], vector["expected"]
    policy_key = REJECTED_BY_POLICY.get(text)
    if policy_key is None:
        _check(decode(text), expected)
        return
    assert "unknown versions as unparseable" in vector["note"]
    result = decode(text)
    assert isinstance(result, SignalError)
    assert result.standard == "usp"
    assert "version" in result.reason
    # Everything but the rejected key reads as the source says once the version is 1.
    rest = {key: value for key, value in expected.items() if key != policy_key}
    assert set(expected) - set(rest) == {policy_key}
    _check(decode("1" + text[1:]), rest)


def test_vectors_cover_the_kind() -> None:
    """The file holds all five "usp" vectors of consent.md §6.1."""
    assert len(VECTORS) == 5
    assert {vector["kind"] for vector in VECTORS} == {"usp"}


VALID_FLAGS = [
    flags
    for flags in itertools.product("YN-", repeat=3)
    if flags[1] != "-" or flags == ("-", "-", "-")
]


@pytest.mark.parametrize(
    ("flags", "applies", "opted_out"),
    [(flags, flags != ("-", "-", "-"), flags[1] == "Y") for flags in VALID_FLAGS],
    ids=["1" + "".join(flags) for flags in VALID_FLAGS],
)
def test_every_valid_string(flags: tuple[str, str, str], applies: bool, opted_out: bool) -> None:
    """All 19 valid strings decode field by field, with the derived booleans."""
    result = decode("1" + "".join(flags))
    assert result == UsPrivacy(1, *flags)  # type: ignore[arg-type]
    assert isinstance(result, UsPrivacy)
    assert result.applies is applies
    assert result.opted_out is opted_out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "US Privacy string must be exactly 4 characters"),
        ("1YN", "US Privacy string must be exactly 4 characters"),
        ("1YNNN", "US Privacy string must be exactly 4 characters"),
        ("1YNN ", "US Privacy string must be exactly 4 characters"),
        ("0YNN", "unsupported US Privacy version; only version 1 is specified"),
        ("\uff11YNN", "unsupported US Privacy version; only version 1 is specified"),
        ("1yNN", "notice flag is not one of Y, N, - (upper case)"),
        ("1YyN", "opt-out-of-sale flag is not one of Y, N, - (upper case)"),
        ("1YNn", "LSPA flag is not one of Y, N, - (upper case)"),
        ("1yyn", "notice flag is not one of Y, N, - (upper case)"),
        ("1Y-N", "opt-out of sale is '-' although the string says CCPA applies"),
        ("1--N", "opt-out of sale is '-' although the string says CCPA applies"),
        ("1N--", "opt-out of sale is '-' although the string says CCPA applies"),
    ],
)
def test_rejects(text: str, reason: str) -> None:
    """Malformed, lower-case and "unknown opt-out" strings are errors with a precise reason."""
    assert decode(text) == SignalError("usp", reason)


@pytest.mark.parametrize("value", [None, 1, b"1YNN", ["1", "Y", "N", "N"]])
def test_non_string_is_an_error(value: object) -> None:
    """A non-string from a JSON payload is reported, not raised."""
    assert decode(value) == SignalError("usp", "US Privacy value is not a string")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_and_reasons_are_fixed(text: str) -> None:
    """No text makes the decoder raise; every reason is one of the fixed sentences."""
    result = decode(text)
    assert isinstance(result, UsPrivacy | SignalError)
    if isinstance(result, SignalError):
        assert result.standard == "usp"
        assert result.reason in KNOWN_REASONS


@settings(max_examples=400, deadline=None)
@given(
    st.text(min_size=4, max_size=4) | st.text(alphabet="102YNyn- \u0131", min_size=4, max_size=4)
)
def test_four_characters_decode_exactly_when_valid(text: str) -> None:
    """A 4-character string decodes iff it matches the valid pattern, else it is an error."""
    result = decode(text)
    if VALID.fullmatch(text):
        assert result == UsPrivacy(1, text[1], text[2], text[3])  # type: ignore[arg-type]
    else:
        assert isinstance(result, SignalError)
