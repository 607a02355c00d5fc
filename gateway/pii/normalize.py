"""Per-field normalization rules applied before hashing PII.

Each rule is a small pure function ``(value, *, country=None) -> str | None``: it trims and
lowercases the value itself (so it can be used on its own), applies its field-specific step and
returns the normalized text, or None when the value is not a valid instance of the field. A rule
may return "" when its step removes everything; callers must treat that as "nothing to send".
``country`` is a visitor country hint in any form ``normalize_country`` understands; only the
phone rule uses it.
"""

import re
import unicodedata
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
_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE
_INTERNATIONAL = re.compile(r"\+([1-9][0-9]{6,14})")
# Google's address rule: postal codes lose "." and "~" only.
_GOOGLE_POSTAL_NOISE = re.compile(r"[.~]")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


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

    Numbers libphonenumber parses to a possible full number (using ``country`` as the
    default region for national numbers) come out in canonical E.164, which drops trunk
    zeros and extensions. Possible, not valid: the length check is what tells a full
    number from a local one, and ``is_valid_number`` costs twenty times more per event
    for the same output on real input.
    Anything else falls back to Meta SDK behaviour: symbols and leading zeros removed, and
    7 to 15 digits required.
    """
    text = value.strip().lower()
    compact = _PHONE_SYMBOLS.sub("", text)
    # "00" is the international call prefix in most of the world; libphonenumber only
    # understands it when the default region uses it, so make it explicit.
    candidate = "+" + compact[2:] if compact.startswith("00") else text
    fast = _international_digits(_PHONE_SYMBOLS.sub("", candidate))
    if fast is not None:
        return fast
    return _valid_e164_digits(candidate, country) or _fallback_phone_digits(compact)


def _international_digits(compact: str) -> str | None:
    """E.164 digits for input already in international form, without calling ``parse``.

    Exactly what ``parse`` + ``format_number(E164)`` give (a property test holds them to
    it) when the calling code's metadata makes it simple: the national part cannot start
    with the prefix libphonenumber would strip, and its length is a possible full length.
    Otherwise None, and the caller takes the slow path. ``parse`` costs about 15 us per
    number; most checkouts submit this form.
    """
    match = _INTERNATIONAL.fullmatch(compact)
    if match is None:
        return None
    digits = match.group(1)
    for size in (1, 2, 3):
        rule = _calling_code_rule(digits[:size])
        if rule is None:
            continue
        prefix, lengths = rule
        national = digits[size:]
        if national.startswith(prefix or "0") or len(national) not in lengths:
            return None
        return digits
    return None


@lru_cache(maxsize=512)
def _calling_code_rule(code: str) -> tuple[str, frozenset[int]] | None:
    """For a calling code: the digits-only national prefix (or "") and the possible full
    lengths of its main region; None when the code is unknown or its prefix is a pattern."""
    if code.startswith("0") or int(code) not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        return None
    region = phonenumbers.region_code_for_country_code(int(code))
    if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        metadata = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(int(code))
    else:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing or metadata.national_prefix or ""
    if prefix and not prefix.isdigit():
        return None
    desc = metadata.general_desc
    lengths = frozenset(desc.possible_length) - frozenset(desc.possible_length_local_only or ())
    return prefix, lengths


def _valid_e164_digits(text: str, country: str | None) -> str | None:
    region = normalize_country(country) if country else None
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:
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


def normalize_trimmed(value: str, *, country: str | None = None) -> str | None:
    """Trim only, case kept (TikTok's ``external_id``: its own template does no more)."""
    return value.strip()


def normalize_google_email(value: str, *, country: str | None = None) -> str | None:
    """Google's rule: trim, lowercase, delete all whitespace, and for ``gmail.com`` and
    ``googlemail.com`` delete every ``.`` before the ``@``; None unless ``x@y.z``.

    The plus-tag rule of Google's newer Data Manager API is not applied: the Measurement
    Protocol page names only the dots (destinations.md §2.4).
    """
    text = _WHITESPACE.sub("", value.lower())
    if not _EMAIL.fullmatch(text):
        return None
    local, _, domain = text.rpartition("@")
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else None


def normalize_e164(value: str, *, country: str | None = None) -> str | None:
    """The phone number in E.164 with its ``+`` (Google, TikTok), or None.

    Unlike ``normalize_phone`` there is no digits-only fallback: a national number with
    no calling code and no ``country`` to supply one would get another country's code
    from a bare ``+`` (``(650) 555-1212`` as ``+6505551212``, Singapore).
    """
    text = value.strip().lower()
    compact = _PHONE_SYMBOLS.sub("", text)
    candidate = "+" + compact[2:] if compact.startswith("00") else text
    digits = _international_digits(_PHONE_SYMBOLS.sub("", candidate))
    if digits is None:
        digits = _valid_e164_digits(candidate, country)
    return None if digits is None else "+" + digits


def normalize_letters(value: str, *, country: str | None = None) -> str | None:
    """Google's rule for names, city and region: delete digits and symbols, lowercase, trim.

    Letters of any script (and their combining accents) and spaces are kept, so
    ``O'Neil`` is ``oneil`` and ``Saint-Étienne`` is ``saintétienne``.
    """
    kept = "".join(c for c in value.lower() if c.isspace() or unicodedata.category(c)[0] in "LM")
    # to the letter: inner spaces stay as they are, only the ends are trimmed
    return kept.strip()


def normalize_google_postal_code(value: str, *, country: str | None = None) -> str | None:
    """Google's rule for postal codes: delete ``.`` and ``~``, trim (ZIP+4 is kept)."""
    return _GOOGLE_POSTAL_NOISE.sub("", value).strip()


def normalize_country_upper(value: str, *, country: str | None = None) -> str | None:
    """ISO 3166-1 alpha-2 in upper case, as Google's samples send it (``US``), or None."""
    code = normalize_country(value)
    return None if code is None else code.upper()
