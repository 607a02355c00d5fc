"""The international-form phone fast path gives exactly what libphonenumber gives."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.pii.normalize import (
    _PHONE_SYMBOLS,
    _fallback_phone_digits,
    _international_digits,
    _valid_e164_digits,
)


def slow(text: str) -> str | None:
    compact = _PHONE_SYMBOLS.sub("", text)
    return _valid_e164_digits(text, None) or _fallback_phone_digits(compact)


def example_numbers() -> list[str]:
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                for fmt in (
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.E164,
                ):
                    out.append(phonenumbers.format_number(number, fmt))
    return sorted(set(out))


EXAMPLES = example_numbers()


def test_fast_path_covers_most_example_numbers() -> None:
    """The fast path is taken for most regions' example numbers (else it buys nothing)."""
    taken = [n for n in EXAMPLES if _international_digits(_PHONE_SYMBOLS.sub("", n))]
    assert len(taken) > len(EXAMPLES) * 0.6


@pytest.mark.parametrize("number", EXAMPLES)
def test_fast_path_matches_libphonenumber_on_every_example_number(number: str) -> None:
    """For every region's example numbers of every type, in international and E.164
    form, the fast path (when it answers) equals parse + format_number(E164)."""
    fast = _international_digits(_PHONE_SYMBOLS.sub("", number))
    if fast is not None:
        assert fast == slow(number)


@settings(max_examples=3000, deadline=None)
@given(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.lists(st.sampled_from([" ", "-", ".", "(", ")"]), max_size=4),
)
def test_fast_path_matches_libphonenumber_on_any_international_input(
    digits: str, separators: list[str]
) -> None:
    """Random international-form input, with separators sprinkled in: same answer."""
    text = digits
    for i, sep in enumerate(separators):
        cut = 2 + i * 2
        text = text[:cut] + sep + text[cut:]
    fast = _international_digits(_PHONE_SYMBOLS.sub("", text))
    if fast is not None:
        assert fast == slow(text)
