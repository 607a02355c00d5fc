"""Hashing recipes: which normalization rule each PII field gets before SHA-256, per platform.

Every recipe first trims and lowercases the value. A 64-hex result is taken as already hashed
and passed through; 32-hex (MD5-like) values are ordinary input. Values that are empty after
normalization are dropped, never hashed.

META decisions (destinations.md §1.3, §6.2-6.4), byte-for-byte parity with Meta's Python SDK
(``facebook-business``) unless noted:

- email: trim, lowercase, must look like ``x@y.z`` (the SDK's loose regex); no gmail rule.
- phone: E.164 digits without ``+``. Differs from the SDK where libphonenumber knows better:
  valid numbers are canonicalised, so trunk zeros go (``+44 020…`` → ``4420…``), dots and
  extensions are accepted, and the visitor's country adds a missing calling code (Meta's doc
  example ``(650)555-1212`` → ``16505551212``). Other input gets the SDK's clean-up (symbols
  and leading zeros removed), capped at E.164's 15 digits.
- first_name, last_name: trim and lowercase only. Meta's docs ask for no punctuation but show
  no expected hash, so SDK parity wins and ``o'neil``/``mary-jane`` keep theirs.
- city, region: delete digits, ``.``, whitespace, ``-`` and parentheses; state names are not
  mapped to codes.
- postal_code: delete whitespace, keep the part before the first ``-``.
- country: ISO 3166-1 alpha-2; names, alpha-3 codes and ``uk`` are also resolved (Meta's doc
  example ``United States`` → ``us``) where the SDK raises.
- external_id: trimmed, lowercased and hashed as ``Normalize.normalize_field`` does; the SDK's
  ``UserData`` sends it raw, but no raw PII may leave for an ad platform.
- All fields: "" after normalization is dropped (the SDK sends the hash of the empty string)
  and MD5-like input is normalized like any other text (the SDK forwards it as a hash).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, NamedTuple

from gateway.pii.hashing import is_sha256_hex, sha256_hex
from gateway.pii.normalize import (
    Normalizer,
    normalize_country,
    normalize_country_upper,
    normalize_e164,
    normalize_email,
    normalize_google_email,
    normalize_google_postal_code,
    normalize_letters,
    normalize_phone,
    normalize_place,
    normalize_postal_code,
    normalize_text,
    normalize_trimmed,
)

HashAction = Literal["hashed", "passed_prehashed", "normalized", "dropped"]


class PiiField(StrEnum):
    """The gateway event's ``user.*`` fields that may carry personal data."""

    EMAIL = "email"
    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    CITY = "city"
    REGION = "region"
    POSTAL_CODE = "postal_code"
    COUNTRY = "country"
    EXTERNAL_ID = "external_id"


class HashedValue(NamedTuple):
    """Outcome of applying a recipe to one raw value.

    ``reason`` is drawn from a fixed vocabulary so it can be logged: it never echoes the input.
    """

    value: str | None
    action: HashAction
    reason: str


_HASHED_REASONS = {field: f"sha256 of normalized {field.value}" for field in PiiField}
_PLAIN_REASONS = {
    field: f"normalized {field.value}, unhashed as the platform documents" for field in PiiField
}
_EMPTY = HashedValue(None, "dropped", "empty after normalization")
_NOT_UNICODE = HashedValue(None, "dropped", "not valid unicode text")
_INVALID_REASONS: Mapping[PiiField, str] = MappingProxyType(
    {
        PiiField.EMAIL: "not an email address",
        PiiField.PHONE: "not a phone number",
        PiiField.COUNTRY: "not an ISO 3166-1 country",
    }
)


@dataclass(frozen=True, slots=True)
class Recipe:
    """A platform's hashing recipe: the normalization rule for each PII field.

    Values are trimmed and lowercased before their rule, except the ``keep_case`` fields,
    which are only trimmed.
    """

    name: str
    normalizers: Mapping[PiiField, Normalizer]
    keep_case: frozenset[PiiField] = frozenset()

    @property
    def rule(self) -> str:
        """The rule id remarks and metrics name this recipe by (``pii.meta``)."""
        return f"pii.{self.name}"

    def apply(
        self, field: PiiField, raw: str, *, country: str | None = None, hashed: bool = True
    ) -> HashedValue:
        """Normalize and hash ``raw`` as ``field``; never raises for any text input.

        ``country`` is the visitor's raw country hint (or a configured default); only the
        phone rule uses it, to resolve national numbers. With ``hashed=False`` the
        normalized value itself is returned (GA4's address parts, which Google documents
        as unhashed). Raises KeyError if the recipe has no rule for ``field``.
        """
        normalize = self.normalizers[field]
        cleaned = raw.strip()
        if field not in self.keep_case:
            cleaned = cleaned.lower()
        if not cleaned:
            return _EMPTY
        if not cleaned.isascii() and not _is_utf8_encodable(cleaned):
            return _NOT_UNICODE
        if hashed and len(cleaned) == 64 and is_sha256_hex(cleaned.lower()):
            return HashedValue(cleaned.lower(), "passed_prehashed", "already a sha256 hex digest")
        normalized = normalize(cleaned, country=country)
        if normalized is None:
            return HashedValue(None, "dropped", _INVALID_REASONS.get(field, "invalid value"))
        if not normalized:
            return _EMPTY
        if not hashed:
            return HashedValue(normalized, "normalized", _PLAIN_REASONS[field])
        return HashedValue(sha256_hex(normalized), "hashed", _HASHED_REASONS[field])


def _is_utf8_encodable(text: str) -> bool:
    # JSON may carry lone surrogates ("\ud800"); they cannot be hashed as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _country_code(value: str, *, country: str | None = None) -> str | None:
    # The country field is itself the country, so the hint does not apply.
    return normalize_country(value)


META = Recipe(
    name="meta",
    normalizers=MappingProxyType(
        {
            PiiField.EMAIL: normalize_email,
            PiiField.PHONE: normalize_phone,
            PiiField.FIRST_NAME: normalize_text,
            PiiField.LAST_NAME: normalize_text,
            PiiField.CITY: normalize_place,
            PiiField.REGION: normalize_place,
            PiiField.POSTAL_CODE: normalize_postal_code,
            PiiField.COUNTRY: _country_code,
            PiiField.EXTERNAL_ID: normalize_text,
        }
    ),
)
"""Meta Conversions API ``user_data`` recipe (see the module docstring for the decisions)."""

GA4 = Recipe(
    name="ga4",
    normalizers=MappingProxyType(
        {
            PiiField.EMAIL: normalize_google_email,
            PiiField.PHONE: normalize_e164,
            PiiField.FIRST_NAME: normalize_letters,
            PiiField.LAST_NAME: normalize_letters,
            PiiField.CITY: normalize_letters,
            PiiField.REGION: normalize_letters,
            PiiField.POSTAL_CODE: normalize_google_postal_code,
            PiiField.COUNTRY: normalize_country_upper,
            PiiField.EXTERNAL_ID: normalize_text,
        }
    ),
)
"""GA4 Measurement Protocol ``user_data`` recipe (destinations.md §2.4).

Google's rules: emails lose whitespace and, at gmail.com / googlemail.com, the dots of
the local part; phones are E.164 with ``+``; names, city and region lose digits and
symbols. City, region, postal code and country are sent normalized but unhashed, as
Google documents; the adapter asks for that with ``normalized(GA4)``. ``external_id``
becomes GA4's ``user_id`` as its SHA-256, so a CRM id never leaves raw.
"""

TIKTOK = Recipe(
    name="tiktok",
    normalizers=MappingProxyType(
        {
            PiiField.EMAIL: normalize_email,
            PiiField.PHONE: normalize_e164,
            PiiField.EXTERNAL_ID: normalize_trimmed,
        }
    ),
    keep_case=frozenset({PiiField.EXTERNAL_ID}),
)
"""TikTok Events API ``user`` recipe (destinations.md §3.2-3.3).

Email is trimmed and lowercased (TikTok's own template); phone is E.164 with ``+`` (what
Segment and Amperity send; TikTok's template leaves formatting to the caller);
``external_id`` is only trimmed, its case kept, as TikTok's template does. TikTok
documents no other user fields, so the recipe has no rule for them.
"""
