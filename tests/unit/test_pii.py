"""Tests for gateway.pii: Meta normalization and hashing against the reference vectors.

tests/vectors/meta_normalization.json holds one object per reference example:
``field``, ``raw``, optional ``country`` (the visitor country hint), ``normalized`` and ``sha256``
(our output; null when dropped), ``sdk_sha256`` (what Meta's Python SDK sends; null when it raises
or sends the value unhashed), ``reference_sha256`` (the hash as printed in the source, ``…`` marking
an abbreviation; null when none is printed), ``source`` and ``deviation`` (why we differ from the
SDK, null when we do not).
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.pii import (
    META,
    PiiField,
    is_sha256_hex,
    normalize_country,
    normalize_phone,
    sha256_hex,
)

VECTORS_PATH = Path(__file__).resolve().parent.parent / "vectors" / "meta_normalization.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
SOURCE_TABLE = "destinations.md §6.3"
SOURCE_DOC = "destinations.md §1.3 (Meta doc example)"

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DIGEST = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
MD5_OF_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"

KNOWN_REASONS = frozenset(
    {f"sha256 of normalized {field.value}" for field in PiiField}
    | {
        "already a sha256 hex digest",
        "empty after normalization",
        "not valid unicode text",
        "not an email address",
        "not a phone number",
        "not an ISO 3166-1 country",
    }
)


def _vector_id(vector: dict[str, Any]) -> str:
    country = f"@{vector['country']}" if "country" in vector else ""
    doc = "-doc" if vector["source"] == SOURCE_DOC else ""
    return f"{vector['field']}:{vector['raw']!r}{country}{doc}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _abbreviates(printed: str, full: str | None) -> bool:
    if full is None:
        return False
    if "…" not in printed:
        return printed == full
    head, tail = printed.split("…")
    return full.startswith(head) and full.endswith(tail)


def _is_prehashed(raw: str) -> bool:
    cleaned = raw.strip().lower()
    return len(cleaned) == 64 and all(char in "0123456789abcdef" for char in cleaned)


vector_params = pytest.mark.parametrize("vector", VECTORS, ids=[_vector_id(v) for v in VECTORS])
PRINTED = [vector for vector in VECTORS if vector["reference_sha256"] is not None]


@vector_params
def test_vector_hash_is_recomputed_and_produced_by_meta_recipe(vector: dict[str, Any]) -> None:
    """The vector's sha256 is the hash of its normalized value, and META produces exactly it."""
    normalized = vector["normalized"]
    if normalized is None:
        expected, action = None, "dropped"
    elif _is_prehashed(vector["raw"]):
        expected, action = normalized, "passed_prehashed"
    else:
        expected, action = _hash(normalized), "hashed"
    assert vector["sha256"] == expected

    result = META.apply(PiiField(vector["field"]), vector["raw"], country=vector.get("country"))

    assert (result.value, result.action) == (expected, action)


@pytest.mark.parametrize("vector", PRINTED, ids=[_vector_id(v) for v in PRINTED])
def test_vector_matches_the_hash_printed_in_the_reference(vector: dict[str, Any]) -> None:
    """A hash printed in the reference (full or abbreviated) is our hash or the SDK's hash."""
    printed = vector["reference_sha256"]
    assert _abbreviates(printed, vector["sha256"]) or _abbreviates(printed, vector["sdk_sha256"])


@vector_params
def test_vector_documents_every_deviation_from_the_sdk(vector: dict[str, Any]) -> None:
    """A deviation reason is given exactly when our output differs from what the SDK sends."""
    differs = vector["sha256"] != vector["sdk_sha256"]
    assert (vector["deviation"] is not None) == differs
    assert vector["source"] in {SOURCE_TABLE, SOURCE_DOC}


def test_vectors_cover_every_field() -> None:
    """The vector file exercises all nine PII fields."""
    assert {vector["field"] for vector in VECTORS} == {field.value for field in PiiField}


def test_sha256_hex_is_lowercase_hex_of_utf8() -> None:
    """sha256_hex hashes the UTF-8 bytes and returns lowercase hex."""
    assert sha256_hex("") == EMPTY_SHA256
    assert sha256_hex("valéry") == _hash("valéry")
    assert is_sha256_hex(sha256_hex("anything"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (DIGEST, True),
        (DIGEST.upper(), False),
        (DIGEST[:-1], False),
        (DIGEST + "0", False),
        (MD5_OF_EMPTY, False),
        ("g" * 64, False),
        (f" {DIGEST}", False),
    ],
)
def test_is_sha256_hex_accepts_only_64_lowercase_hex(text: str, expected: bool) -> None:
    """Only exactly 64 lowercase hex characters count as a SHA-256 digest."""
    assert is_sha256_hex(text) is expected


def test_meta_recipe_covers_every_field() -> None:
    """META is named "meta" and has a rule for each of the nine fields."""
    assert META.name == "meta"
    assert set(META.normalizers) == set(PiiField)
    assert len(PiiField) == 9


@pytest.mark.parametrize("field", list(PiiField))
@pytest.mark.parametrize("raw", [DIGEST, DIGEST.upper(), f"  {DIGEST.upper()}\n"])
def test_prehashed_values_pass_through_lowercased(field: PiiField, raw: str) -> None:
    """A 64-hex value in any case is sent as the lowercase digest, not hashed again."""
    result = META.apply(field, raw)

    assert result.value == DIGEST
    assert result.action == "passed_prehashed"
    assert result.reason == "already a sha256 hex digest"


@pytest.mark.parametrize("raw", [MD5_OF_EMPTY, MD5_OF_EMPTY.upper()])
def test_md5_like_values_are_ordinary_input(raw: str) -> None:
    """32-hex values are hashed like any text, or rejected when invalid for the field."""
    assert META.apply(PiiField.EXTERNAL_ID, raw).value == _hash(MD5_OF_EMPTY)
    assert META.apply(PiiField.FIRST_NAME, raw).action == "hashed"
    assert META.apply(PiiField.EMAIL, raw).reason == "not an email address"
    assert META.apply(PiiField.PHONE, raw).reason == "not a phone number"


@pytest.mark.parametrize("field", list(PiiField))
@pytest.mark.parametrize("raw", ["", " ", "   ", "\t\n", "\u3000"])
def test_blank_values_are_dropped_not_hashed(field: PiiField, raw: str) -> None:
    """Blank input is dropped for every field; the empty string is never hashed."""
    result = META.apply(field, raw)

    assert result == META.apply(PiiField.CITY, "")
    assert result.value is None
    assert result.action == "dropped"
    assert result.reason == "empty after normalization"


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        (PiiField.CITY, "12345"),
        (PiiField.CITY, " (1) - 2. "),
        (PiiField.REGION, "..."),
        (PiiField.POSTAL_CODE, "-1234"),
    ],
)
def test_values_emptied_by_normalization_are_dropped(field: PiiField, raw: str) -> None:
    """When the field rule removes everything, the field is dropped instead of hashing ""."""
    result = META.apply(field, raw)

    assert result.value is None
    assert result.action == "dropped"
    assert result.reason == "empty after normalization"


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+1 (650) 555-1212", None, "16505551212"),
        ("(650)555-1212", None, "6505551212"),
        ("(650)555-1212", "US", "16505551212"),
        ("00 1 650 555 1212", None, "16505551212"),
        ("0001 650 555 1212", None, "16505551212"),
        ("+44 020 7946 0958", None, "442079460958"),
        ("020 7946 0958", "GB", "442079460958"),
        ("+1.650.555.1212", None, "16505551212"),
        ("1-650-555-1212 ext 5", "US", "16505551212"),
        ("555-1212", None, "5551212"),
        ("555-1212", "US", "5551212"),
        ("not a phone", None, None),
        ("not a phone", "US", None),
        ("123456", None, None),
        ("1234567890123456", None, None),
        ("١٢٣٤٥٦٧٨", None, None),
    ],
)
def test_normalize_phone(raw: str, country: str | None, expected: str | None) -> None:
    """Phones become E.164 digits without '+', with the SDK's digit clean-up as fallback."""
    assert normalize_phone(raw, country=country) == expected


@pytest.mark.parametrize("hint", ["US", " us ", "U.S.", "usa", "United States"])
def test_phone_country_hint_accepts_any_country_form(hint: str) -> None:
    """The country hint is normalized before it is used as libphonenumber's default region."""
    assert META.apply(PiiField.PHONE, "(650)555-1212", country=hint).value == _hash("16505551212")


@pytest.mark.parametrize("hint", [None, "", "zz", "Atlantis"])
def test_phone_without_usable_hint_keeps_national_digits(hint: str | None) -> None:
    """Without a usable country the SDK's behaviour applies: no calling code is invented."""
    assert META.apply(PiiField.PHONE, "(650)555-1212", country=hint).value == _hash("6505551212")


def test_country_hint_is_ignored_outside_phone() -> None:
    """Only the phone rule uses the hint; the country field is normalized from its own value."""
    assert META.apply(PiiField.COUNTRY, "DE", country="US").value == _hash("de")
    assert META.apply(PiiField.CITY, "Berlin", country="US").value == _hash("berlin")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US", "us"),
        ("u.s.", "us"),
        ("de ", "de"),
        ("United States", "us"),
        ("usa", "us"),
        ("USA", "us"),
        ("uk", "gb"),
        ("U.K.", "gb"),
        ("Germany", "de"),
        ("840", "us"),
        ("Deutschland", None),
        ("zz", None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalize_country(value: str, expected: str | None) -> None:
    """Countries resolve to lowercase ISO 3166-1 alpha-2 codes, or None."""
    assert normalize_country(value) == expected


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        (PiiField.EMAIL, "not-an-email", "not an email address"),
        (PiiField.PHONE, "not a phone", "not a phone number"),
        (PiiField.COUNTRY, "Deutschland", "not an ISO 3166-1 country"),
        (PiiField.EMAIL, "a\ud800@example.com", "not valid unicode text"),
    ],
)
def test_invalid_values_are_dropped_with_a_fixed_reason(
    field: PiiField, raw: str, reason: str
) -> None:
    """Invalid values are dropped with a reason from the fixed vocabulary."""
    result = META.apply(field, raw)

    assert (result.value, result.action, result.reason) == (None, "dropped", reason)


def test_hashed_reason_names_the_field() -> None:
    """A hashed value's reason says which rule produced it, never the value itself."""
    result = META.apply(PiiField.EMAIL, "John_Smith@gmail.com")

    assert result.reason == "sha256 of normalized email"


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
_PLAUSIBLE = st.one_of(
    st.emails(),
    st.from_regex(r"[+0]{0,3}[0-9 ()\-.]{4,20}( ext [0-9])?", fullmatch=True),
    st.sampled_from([DIGEST, DIGEST.upper(), MD5_OF_EMPTY, "United States", "12345", "   "]),
)
_COUNTRY_HINTS = st.one_of(st.none(), st.sampled_from(["US", "gb", "usa", "zz", ""]), _ANY_TEXT)


@settings(max_examples=400, deadline=None)
@given(
    field=st.sampled_from(list(PiiField)),
    raw=st.one_of(_ANY_TEXT, _PLAUSIBLE),
    country=_COUNTRY_HINTS,
)
def test_apply_is_total_and_never_echoes_the_input(
    field: PiiField, raw: str, country: str | None
) -> None:
    """For any text apply returns a digest or None, and a reason that cannot contain the input."""
    result = META.apply(field, raw, country=country)

    assert result.value is None or is_sha256_hex(result.value)
    assert (result.value is None) == (result.action == "dropped")
    assert result.value != EMPTY_SHA256 or _is_prehashed(raw)
    assert result.reason in KNOWN_REASONS
    # A short or vocabulary-word input (e.g. "email") can legitimately appear inside a reason.
    if len(raw) >= 4 and not any(raw in reason for reason in KNOWN_REASONS):
        assert raw not in result.reason
