"""Tests for gateway.signals.gcm_params: consent.md §6 "gcs" and "gcd" vectors, and properties.

``GCS_VECTORS`` and ``GCD_VECTORS`` are read from ``tests/vectors/consent_vectors.json`` by
``tests.support.vectors``; the comparators fail on any expected key they do not understand.

The letter table is written below from consent.md §4.3 as a grid (rows: default, columns:
update), independently of the decoder's own mapping. Google does not document gcs or gcd.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.signals.errors import SignalError
from gateway.signals.gcm import GcmReading, GcmType, GcmValue
from gateway.signals.gcm_params import (
    GcdDetail,
    GcdSignal,
    decode_gcd,
    decode_gcd_detail,
    decode_gcs,
)
from tests.support.vectors import consent_vectors, vector_ids

GCS_TYPES: tuple[GcmType, ...] = ("ad_storage", "analytics_storage")
GCD_TYPES: tuple[GcmType, ...] = (
    "ad_storage",
    "analytics_storage",
    "ad_user_data",
    "ad_personalization",
)

# consent.md §4.3, row = default (not set / denied / granted), column = update (none / denied /
# granted).
_AXIS = (None, "denied", "granted")
_GRID = ("lmn", "pqr", "tuv")
TABLE: dict[str, tuple[str | None, str | None]] = {
    _GRID[row][column]: (_AXIS[row], _AXIS[column])
    for row, column in itertools.product(range(3), repeat=2)
}
# Letters whose effective state (update, else default) is granted.
GRANTING_LETTERS = frozenset(
    letter
    for letter, (default, update) in TABLE.items()
    if (update if update is not None else default) == "granted"
)

KNOWN_GCS_REASONS = frozenset(
    {
        "gcs value is not a string",
        "gcs must be exactly 4 characters",
        "gcs does not start with the constant G1",
        "gcs ad_storage position is not 0 or 1",
        "gcs analytics_storage position is not 0 or 1",
    }
)
KNOWN_GCD_REASONS = frozenset(
    {
        "gcd value is not a string",
        "gcd is empty",
        "gcd is longer than 64 characters",
        "gcd has characters other than ASCII letters and digits",
        "gcd is not letters separated by digits",
        "gcd carries fewer than four consent letters",
    }
)
KNOWN_GCD_PROBLEMS = frozenset(
    f"{name}: unrecognised gcd letter, read as denied" for name in GCD_TYPES
)

# --- the vectors ------------------------------------------------------------------------------

GCS_VECTORS = consent_vectors("gcs")
GCD_VECTORS = consent_vectors("gcd")


def _unset(value: str | None) -> str | None:
    """The file spells "no default" as "not_set" for l but as null for m and n."""
    return None if value == "not_set" else value


def _check_gcs(reading: GcmReading, expected: dict[str, Any]) -> None:
    unknown = set(expected) - set(GCS_TYPES)
    assert not unknown, f"comparator does not understand {sorted(unknown)}"
    assert dict(reading.values) == expected
    assert reading.problems == ()


def _check_signal(name: str, signal: GcdSignal, reading: GcmReading, want: dict[str, Any]) -> None:
    for key, value in want.items():
        if key == "letter":
            assert signal.letter == value, name
        elif key == "default":
            assert signal.default == _unset(value), name
        elif key == "update":
            assert signal.update == _unset(value), name
        elif key == "effective":
            assert signal.effective == _unset(value), name
            assert reading.values.get(name) == _unset(value), name
        else:
            pytest.fail(f"comparator does not understand {name}.{key}")


def _check_gcd(detail: GcdDetail, reading: GcmReading, expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        if key == "consent_mode_active":
            assert detail.consent_mode_active is want
        elif key in GCD_TYPES:
            _check_signal(key, detail.signals[key], reading, want)
        else:
            pytest.fail(f"comparator does not understand {key}")


@pytest.mark.parametrize("vector", GCS_VECTORS, ids=vector_ids(GCS_VECTORS))
def test_gcs_vector(vector: dict[str, Any]) -> None:
    """Each gcs vector decodes to the states its sources give."""
    reading = decode_gcs(vector["string"])
    assert isinstance(reading, GcmReading), reading
    _check_gcs(reading, vector["expected"])


@pytest.mark.parametrize("vector", GCD_VECTORS, ids=vector_ids(GCD_VECTORS))
def test_gcd_vector(vector: dict[str, Any]) -> None:
    """Each gcd vector decodes to the letter, axes and effective state its sources give."""
    detail = decode_gcd_detail(vector["string"])
    reading = decode_gcd(vector["string"])
    assert isinstance(detail, GcdDetail), detail
    assert isinstance(reading, GcmReading), reading
    assert reading == detail.reading()
    assert reading.problems == ()
    _check_gcd(detail, reading, vector["expected"])


def test_vectors_cover_the_kinds() -> None:
    """The file holds all 4 gcs and 10 gcd vectors of consent.md §6.1."""
    assert len(GCS_VECTORS) == 4
    assert len(GCD_VECTORS) == 10


# --- gcs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "gcs must be exactly 4 characters"),
        ("G11", "gcs must be exactly 4 characters"),
        ("G1111", "gcs must be exactly 4 characters"),
        ("G111 ", "gcs must be exactly 4 characters"),
        ("g111", "gcs does not start with the constant G1"),
        ("G211", "gcs does not start with the constant G1"),
        (" G11", "gcs does not start with the constant G1"),
        ("G1--", "gcs ad_storage position is not 0 or 1"),
        ("G1-1", "gcs ad_storage position is not 0 or 1"),
        ("G1\uff111", "gcs ad_storage position is not 0 or 1"),
        ("G12-", "gcs ad_storage position is not 0 or 1"),
        ("G10-", "gcs analytics_storage position is not 0 or 1"),
        ("G11x", "gcs analytics_storage position is not 0 or 1"),
    ],
)
def test_gcs_rejects(text: str, reason: str) -> None:
    """Anything but G1 followed by two 0/1 digits is an error, '-' included."""
    assert decode_gcs(text) == SignalError("gcs", reason)


@pytest.mark.parametrize("value", [None, 111, b"G111"])
def test_gcs_non_string_is_an_error(value: object) -> None:
    """A non-string is reported, not raised."""
    assert decode_gcs(value) == SignalError("gcs", "gcs value is not a string")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=8)
    | st.text(alphabet="G1 0-2\uff11x", min_size=4, max_size=4)
    | st.text(alphabet="01-2 x\uff11", min_size=2, max_size=2).map("G1".__add__)
)
def test_gcs_never_raises_and_never_grants_without_a_1(text: str) -> None:
    """No text raises; a decoded gcs grants a type only where its digit is '1'."""
    result = decode_gcs(text)
    if isinstance(result, SignalError):
        assert result.standard == "gcs"
        assert result.reason in KNOWN_GCS_REASONS
        return
    assert set(result.values) == set(GCS_TYPES)
    for name, digit in zip(GCS_TYPES, text[2:], strict=True):
        assert (result.values[name] == "granted") == (digit == "1")


# --- gcd --------------------------------------------------------------------------------------


def test_gcd_every_combination_of_table_letters() -> None:
    """All 9**4 well-formed strings decode per the §4.3 grid, with no problems."""
    for letters in itertools.product(TABLE, repeat=4):
        detail = decode_gcd_detail("11{}1{}1{}1{}5".format(*letters))
        assert isinstance(detail, GcdDetail)
        assert detail.problems == ()
        reading = detail.reading()
        for name, letter in zip(GCD_TYPES, letters, strict=True):
            default, update = TABLE[letter]
            signal = detail.signals[name]
            assert (signal.letter, signal.default, signal.update) == (letter, default, update)
            effective = update if update is not None else default
            assert reading.values.get(name) == effective
        assert detail.consent_mode_active is (letters != ("l", "l", "l", "l"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "gcd is empty"),
        ("1" * 65, "gcd is longer than 64 characters"),
        ("11p1p1p1p5 ", "gcd has characters other than ASCII letters and digits"),
        ("11p-1p1p1p5", "gcd has characters other than ASCII letters and digits"),
        ("\uff111p1p1p1p5", "gcd has characters other than ASCII letters and digits"),
        ("11\u00e91p1p1p5", "gcd has characters other than ASCII letters and digits"),
        ("11pp1p1p5", "gcd is not letters separated by digits"),
        ("p1p1p1p1", "gcd is not letters separated by digits"),
        ("11p1p1p1p", "gcd is not letters separated by digits"),
        ("12345", "gcd is not letters separated by digits"),
        ("11p1p1p5", "gcd carries fewer than four consent letters"),
    ],
)
def test_gcd_rejects_malformed_shapes(text: str, reason: str) -> None:
    """A value whose shape is wrong is an error from both entry points."""
    assert decode_gcd_detail(text) == SignalError("gcd", reason)
    assert decode_gcd(text) == SignalError("gcd", reason)


@pytest.mark.parametrize("value", [None, 11, b"11p1p1p1p5"])
def test_gcd_non_string_is_an_error(value: object) -> None:
    """A non-string is reported, not raised."""
    assert decode_gcd(value) == SignalError("gcd", "gcd value is not a string")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "values", "problems"),
    [
        (
            "11e1p1t1v5",
            {
                "ad_storage": "denied",
                "analytics_storage": "denied",
                "ad_user_data": "granted",
                "ad_personalization": "granted",
            },
            ("ad_storage: unrecognised gcd letter, read as denied",),
        ),
        (
            "11v1V1v1z5",
            {
                "ad_storage": "granted",
                "analytics_storage": "denied",
                "ad_user_data": "granted",
                "ad_personalization": "denied",
            },
            (
                "analytics_storage: unrecognised gcd letter, read as denied",
                "ad_personalization: unrecognised gcd letter, read as denied",
            ),
        ),
    ],
)
def test_gcd_unknown_letter_denies_that_type_and_is_reported(
    text: str, values: dict[str, GcmValue], problems: tuple[str, ...]
) -> None:
    """An unknown (or upper-case) letter reads denied for its type only, and is listed."""
    assert decode_gcd(text) == GcmReading(values, problems)
    detail = decode_gcd_detail(text)
    assert isinstance(detail, GcdDetail)
    unknown = [signal for signal in detail.signals.values() if not signal.recognised]
    assert [(s.default, s.update, s.effective) for s in unknown] == [(None, None, "denied")] * len(
        problems
    )
    assert detail.consent_mode_active


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("13t3t3t3t1v1", dict.fromkeys(GCD_TYPES, "granted")),
        ("13l3l3l3l1e1", {}),
        ("1111p22p333p4p55", dict.fromkeys(GCD_TYPES, "denied")),
        ("11l1l1l1l5", {}),
    ],
)
def test_gcd_ignores_separator_digits_and_trailing_letters(
    text: str, values: dict[str, GcmValue]
) -> None:
    """Only the first four letters count; digits of any width separate them."""
    assert decode_gcd(text) == GcmReading(values)


_LETTER = st.sampled_from(sorted(TABLE)) | st.characters()
_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=2)


@st.composite
def _gcd_like(draw: st.DrawFn) -> str:
    parts = [draw(_DIGITS)]
    for _ in range(draw(st.integers(min_value=3, max_value=6))):
        parts += [draw(_LETTER), draw(_DIGITS)]
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | _gcd_like())
def test_gcd_never_raises_and_never_grants_an_unknown_letter(text: str) -> None:
    """No text raises; a type is granted only when its letter is one of n, r, t, v."""
    detail = decode_gcd_detail(text)
    reading = decode_gcd(text)
    if isinstance(detail, SignalError):
        assert reading == detail
        assert detail.standard == "gcd"
        assert detail.reason in KNOWN_GCD_REASONS
        return
    assert reading == detail.reading()
    assert isinstance(reading, GcmReading)
    assert set(reading.problems) <= KNOWN_GCD_PROBLEMS
    letters = [char for char in text if not char.isdigit()]
    for name, letter in zip(GCD_TYPES, letters, strict=False):
        if reading.values.get(name) == "granted":
            assert letter in GRANTING_LETTERS
        if letter not in TABLE:
            assert reading.values[name] == "denied"
            assert f"{name}: unrecognised gcd letter, read as denied" in reading.problems
