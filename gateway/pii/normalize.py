"""Per-field normalization rules applied before hashing PII.

Each rule is a small pure function ``(value, *, country=None) -> str | None``: it trims and
lowercases the value itself (so it can be used on its own), applies its field-specific step and
returns the normalized text, or None when the value is not a valid instance of the field. A rule
may return "" when its step removes everything; callers must treat that as "nothing to send".
``country`` is a visitor country hint in any form ``normalize_country`` understands; only the
phone rule uses it.
"""

import re
from functools import lru_cache
from typing import Protocol

import phonenumbers
import pycountry

# Meta SDK's email check; deliberately loose (an inner space passes) to keep hash parity.
_EMAIL = re.compile(r".+@.+\..+")
# Meta SDK's city/state clean-up: digits, dots, whitespace, hyphens and parentheses go.
_PLACE_NOISE = re.compile(r"[0-9.\s\-()]")
_WHITESPACE = re.compile(r"\s")
_PHONE_SYMBOLS = re.compile(r"[\s\-().]")
# ASCII only: str.isdigit() would accept superscripts and non-Latin digits.
_PHONE_FALLBACK_DIGITS = re.compile(r"[0-9]{7,15}")
_NON_ASCII_LETTERS = re.compile(r"[^a-z]")
# Common in the wild but not an ISO 3166-1 code, so pycountry does not know it.
_COUNTRY_ALIASES = {"uk": "gb"}


class Normalizer(Protocol):
    """Signature shared by every per-field rule, so recipes can map fields to rules."""

    def __call__(self, value: str, *, country: str | None = None) -> str | None: ...


def normalize_text(value: str, *, country: str | None = None) -> str | None:
    """Trim and lowercase (Python ``str.lower``); used for names and external ids."""
    return value.strip().lower()


def normalize_email(value: str, *, country: str | None = None) -> str | None:
    """Trim and lowercase an email address; None unless it looks like ``x@y.z``."""
    text = value.strip().lower()
    return text if _EMAIL.fullmatch(text) else None


def normalize_place(value: str, *, country: str | None = None) -> str | None:
    """Trim, lowercase and delete digits, ``.``, whitespace, ``-`` and parentheses (city, state)."""
    return _PLACE_NOISE.sub("", value.strip().lower())


def normalize_postal_code(value: str, *, country: str | None = None) -> str | None:
    """Trim, lowercase, delete whitespace and keep the part before the first ``-``."""
    return _WHITESPACE.sub("", value.strip().lower()).split("-", 1)[0]


def normalize_phone(value: str, *, country: str | None = None) -> str | None:
    """Return the phone number as E.164 digits without ``+``, or None if it is not a number.

    Numbers libphonenumber accepts as valid (using ``country`` as the default region for
    national numbers) come out in canonical E.164, which drops trunk zeros and extensions.
    Anything else falls back to Meta SDK behaviour: symbols and leading zeros removed, and
    7 to 15 digits required.
    """
    text = value.strip().lower()
    compact = _PHONE_SYMBOLS.sub("", text)
    # "00" is the international call prefix in most of the world; libphonenumber only
    # understands it when the default region uses it, so make it explicit.
    candidate = "+" + compact[2:] if compact.startswith("00") else text
    return _valid_e164_digits(candidate, country) or _fallback_phone_digits(compact)


def _valid_e164_digits(text: str, country: str | None) -> str | None:
    region = normalize_country(country) if country else None
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def _fallback_phone_digits(compact: str) -> str | None:
    digits = compact.removeprefix("+").lstrip("0")
    return digits if _PHONE_FALLBACK_DIGITS.fullmatch(digits) else None


@lru_cache(maxsize=1024)
def normalize_country(value: str) -> str | None:
    """Return the lowercase ISO 3166-1 alpha-2 code for ``value``, or None.

    Codes are matched after dropping everything but ``a-z`` (``U.S.`` is ``us``, ``UK`` is
    ``gb``); otherwise pycountry's lookup resolves English names, alpha-3 and numeric codes
    (``United States``, ``usa``, ``840``).
    """
    stripped = value.strip()
    letters = _NON_ASCII_LETTERS.sub("", stripped.lower())
    letters = _COUNTRY_ALIASES.get(letters, letters)
    if len(letters) == 2 and pycountry.countries.get(alpha_2=letters) is not None:
        return letters
    try:
        return str(pycountry.countries.lookup(stripped).alpha_2).lower()
    except LookupError:
        return None
