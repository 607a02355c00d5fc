"""The ``TIKTOK`` hashing recipe (``gateway.pii.recipes.TIKTOK``) as explicit vectors.

Facts are from /work/shared/reference/destinations.md: §3.2 (``user`` takes hashed
``email``, ``phone`` and ``external_id``), §3.3 (TikTok's own GTM template: email trim +
lowercase; external_id trim only, case kept; a 64-hex value is skipped as already hashed;
phone as E.164 *with* ``+``, per Segment and Amperity), §6.3 (the cross-platform phone
line: TikTok hashes ``+16505551212`` to ``1e231c66…fbc8``) and §7.7 (no gmail rule
outside Google). Every expected hash below is computed here with ``hashlib`` from the
expected normalized text; the only literal hash is the reference's own phone line.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.pii import TIKTOK, PiiField

#: reference §6.3: "GA4/TikTok ``+16505551212`` → 1e231c66…fbc8"
REFERENCE_PHONE_SHA256 = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"
#: reference §6.3: Meta's hash of the same number without ``+`` (``16505551212``)
META_PHONE_SHA256 = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


def sha256(text: str) -> str:
    """An independent SHA-256 hex digest (hashlib over UTF-8), not the gateway's helper."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check(field: PiiField, raw: str, normalized: str, country: str | None = None) -> None:
    """``raw`` normalizes to ``normalized`` and is sent as its SHA-256."""
    plain = TIKTOK.apply(field, raw, country=country, hashed=False)
    assert (plain.value, plain.action) == (normalized, "normalized")
    result = TIKTOK.apply(field, raw, country=country)
    assert (result.value, result.action) == (sha256(normalized), "hashed")
    assert result.reason == f"sha256 of normalized {field.value}"


# --- the reference's literal line ----------------------------------------------------------


def test_reference_phone_hash_is_reproduced_literally() -> None:
    """§6.3: TikTok's hash of ``+16505551212`` is ``1e231c66…fbc8`` (E.164 with ``+``), and
    it is not Meta's hash of the same number (§7.7: phone hashing differs by platform)."""
    assert sha256("+16505551212") == REFERENCE_PHONE_SHA256
    result = TIKTOK.apply(PiiField.PHONE, "+1 (650) 555-1212")
    assert result.value == REFERENCE_PHONE_SHA256
    assert result.value != META_PHONE_SHA256


# --- email: trim + lowercase only ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("  John.Doe@Example.COM ", "john.doe@example.com"),
        # no gmail rule (§7.7): dots and plus-tags are kept at gmail.com too
        ("JOHN.DOE+promo@GMAIL.com", "john.doe+promo@gmail.com"),
        ("j.o.h.n@googlemail.com", "j.o.h.n@googlemail.com"),
        ("John_Smith@gmail.com", "john_smith@gmail.com"),
        ("\tUser+Tag@Sub.Example.ORG\n", "user+tag@sub.example.org"),
        # no IDNA or accent folding, as in TikTok's template (lowercase only)
        (" Jöhn@Exämple.de", "jöhn@exämple.de"),
    ],
    ids=["case-and-spaces", "gmail-dots-plus", "googlemail-dots", "underscore", "tabs", "unicode"],
)
def test_email_is_trimmed_and_lowercased_only(raw: str, normalized: str) -> None:
    """§3.3: TikTok's GTM template trims and lowercases the email, nothing else."""
    check(PiiField.EMAIL, raw, normalized)


def test_email_hashes_match_the_reference_lines_meta_shares() -> None:
    """§6.3's email hashes (trim + lowercase, no gmail rule) are the same for TikTok, whose
    email rule is the same: ``836f82db…577f`` and ``80f9126e…32a2``."""
    assert TIKTOK.apply(PiiField.EMAIL, "  John.Doe@Example.COM ").value == (
        "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"
    )
    assert TIKTOK.apply(PiiField.EMAIL, "JOHN.DOE+promo@GMAIL.com").value == (
        "80f9126efd0446cb338c54ea6fe3d4af8fa3fe93db0024b14150441550e632a2"
    )


@pytest.mark.parametrize("raw", ["not-an-email", "jane@localhost", "@example.com"])
def test_text_that_is_not_an_email_is_dropped(raw: str) -> None:
    """A value without ``x@y.z`` shape is dropped with a fixed reason, never hashed."""
    result = TIKTOK.apply(PiiField.EMAIL, raw)
    assert (result.value, result.action, result.reason) == (
        None,
        "dropped",
        "not an email address",
    )


def test_md5_like_email_is_not_taken_as_a_hash() -> None:
    """Only 64-hex values pass as already hashed (§3.3: TikTok's template skips
    ``^[A-Fa-f0-9]{64}$``); a 32-hex value is ordinary input, and not an email."""
    result = TIKTOK.apply(PiiField.EMAIL, "D41D8CD98F00B204E9800998ECF8427E")
    assert (result.value, result.action) == (None, "dropped")


# --- phone: E.164 with "+" -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "normalized"),
    [
        ("+1 (650) 555-1212", None, "+16505551212"),
        ("+16505551212", None, "+16505551212"),
        ("+1.650.555.1212", None, "+16505551212"),
        # national number: the visitor's country adds the calling code
        ("(650) 555-1212", "US", "+16505551212"),
        ("650-555-1212", "United States", "+16505551212"),
        ("1-650-555-1212 ext 5", "US", "+16505551212"),
        # "00" international prefix
        ("00 1 650 555 1212", None, "+16505551212"),
        ("0044 20 7946 0958", None, "+442079460958"),
        # trunk zeros are not part of E.164
        ("+44 020 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+49 (0)30 1234567", None, "+49301234567"),
    ],
    ids=[
        "intl-formatted",
        "e164",
        "dots",
        "national-US-hint",
        "national-country-name-hint",
        "extension-dropped",
        "00-prefix",
        "00-prefix-UK",
        "trunk-zero-UK",
        "national-GB-hint",
        "trunk-zero-DE",
    ],
)
def test_phone_is_e164_with_plus(raw: str, country: str | None, normalized: str) -> None:
    """§3.3: TikTok 2.0 takes the phone as E.164 with ``+``; calling code from the number,
    the ``00`` prefix or the country hint; trunk zeros and extensions removed."""
    check(PiiField.PHONE, raw, normalized, country)


@pytest.mark.parametrize(
    "raw",
    ["(650) 555-1212", "020 7946 0958", "0001 650 555 1212"],
    ids=["US-national", "UK-national", "0001-prefix"],
)
def test_national_phone_without_a_country_hint_is_dropped(raw: str) -> None:
    """Without a calling code or a country hint a national number cannot be put in E.164:
    a bare ``+`` on its digits would name another country (``+6505551212`` is Singapore),
    so it is dropped, never hashed wrong. The govern stage passes the visitor's country
    whenever it is known, which resolves it (see the hint cases above)."""
    result = TIKTOK.apply(PiiField.PHONE, raw)
    assert (result.value, result.action, result.reason) == (None, "dropped", "not a phone number")


@pytest.mark.parametrize("raw", ["call me", "12", "n/a"])
def test_text_that_is_not_a_phone_is_dropped(raw: str) -> None:
    """Text that is no phone number is dropped with a fixed reason."""
    result = TIKTOK.apply(PiiField.PHONE, raw, country="US")
    assert (result.value, result.action, result.reason) == (None, "dropped", "not a phone number")


# --- external_id: trimmed only, case kept --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("  User-ABC-123 ", "User-ABC-123"),
        ("CRM-Customer-88421", "CRM-Customer-88421"),
        ("abc", "abc"),
        ("İlkay", "İlkay"),
        # a 32-hex value is an ordinary id: hashed, its case kept
        ("D41D8CD98F00B204E9800998ECF8427E", "D41D8CD98F00B204E9800998ECF8427E"),
    ],
    ids=["trimmed-case-kept", "mixed-case", "lower", "non-ascii-upper", "md5-like"],
)
def test_external_id_is_only_trimmed(raw: str, normalized: str) -> None:
    """§3.3: TikTok's template trims ``external_id`` and does **not** lowercase it (Meta's
    recipe would hash ``user-abc-123``)."""
    check(PiiField.EXTERNAL_ID, raw, normalized)


def test_external_id_hash_differs_from_metas_lowercased_one() -> None:
    """§6.3's Meta ``normalize_field`` hash of ``User-ABC-123`` (``25b4a3ce…913c``, of the
    lowercased id) is not what TikTok gets: TikTok keeps the case."""
    result = TIKTOK.apply(PiiField.EXTERNAL_ID, "  User-ABC-123 ")
    assert result.value == sha256("User-ABC-123")
    assert result.value != "25b4a3ce57a106a35cf1ce9bf9dd33f043f504eeea52e1a35327ed4f9a60913c"


# --- already hashed, empty, invalid --------------------------------------------------------

DIGEST = sha256("jane.doe@example.com")


@pytest.mark.parametrize("field", [PiiField.EMAIL, PiiField.PHONE, PiiField.EXTERNAL_ID])
@pytest.mark.parametrize(
    "raw", [DIGEST, DIGEST.upper(), f"  {DIGEST.upper()} "], ids=["lower", "upper", "padded"]
)
def test_sha256_hex_is_passed_through_lowercased(field: PiiField, raw: str) -> None:
    """§3.3: a value that already is a SHA-256 hex digest is not hashed again; it is passed
    through in lowercase (also for ``external_id``, whose case is otherwise kept)."""
    result = TIKTOK.apply(field, raw)
    assert (result.value, result.action) == (DIGEST, "passed_prehashed")
    assert result.reason == "already a sha256 hex digest"


@pytest.mark.parametrize("field", [PiiField.EMAIL, PiiField.PHONE, PiiField.EXTERNAL_ID])
@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_empty_values_are_dropped_never_hashed(field: PiiField, raw: str) -> None:
    """An empty value is dropped: the hash of "" (``e3b0c442…``) is never sent."""
    result = TIKTOK.apply(field, raw)
    assert (result.value, result.action, result.reason) == (
        None,
        "dropped",
        "empty after normalization",
    )


@pytest.mark.parametrize("field", [PiiField.EMAIL, PiiField.EXTERNAL_ID])
def test_text_that_is_not_unicode_is_dropped(field: PiiField) -> None:
    """A lone surrogate (JSON allows ``\\ud800``) cannot be hashed as UTF-8: dropped."""
    result = TIKTOK.apply(field, "ab\ud800@example.com")
    assert (result.value, result.action) == (None, "dropped")


# --- fields TikTok does not take -----------------------------------------------------------

UNSUPPORTED = [
    PiiField.FIRST_NAME,
    PiiField.LAST_NAME,
    PiiField.CITY,
    PiiField.REGION,
    PiiField.POSTAL_CODE,
    PiiField.COUNTRY,
]


def test_recipe_has_rules_for_email_phone_and_external_id_only() -> None:
    """§3.2: TikTok documents hashed ``email``, ``phone`` and ``external_id``; the newer
    name and address fields are unverified (Segment/RudderStack only), so no rule."""
    assert set(TIKTOK.normalizers) == {PiiField.EMAIL, PiiField.PHONE, PiiField.EXTERNAL_ID}
    assert TIKTOK.keep_case == frozenset({PiiField.EXTERNAL_ID})
    assert TIKTOK.name == "tiktok"


@pytest.mark.parametrize("field", UNSUPPORTED, ids=[f.value for f in UNSUPPORTED])
def test_fields_tiktok_does_not_take_raise_key_error(field: PiiField) -> None:
    """``Recipe.apply`` raises KeyError for a field the recipe has no rule for (its
    documented behaviour); the adapter's ``FIELDS`` never declares these, so the govern
    stage drops them before the recipe is asked."""
    with pytest.raises(KeyError):
        TIKTOK.apply(field, "Zebulon")


# --- properties ----------------------------------------------------------------------------

_HEX64 = frozenset("0123456789abcdef")


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from([PiiField.EMAIL, PiiField.PHONE, PiiField.EXTERNAL_ID]),
    raw=st.text(max_size=40),
    country=st.sampled_from([None, "US", "GB", "de", "nowhere"]),
)
def test_any_text_gives_a_digest_or_a_drop(field: PiiField, raw: str, country: str | None) -> None:
    """For any text the recipe never raises and never lets anything but a lowercase
    64-hex digest out: raw PII cannot leave through it."""
    result = TIKTOK.apply(field, raw, country=country)
    if result.value is None:
        assert result.action == "dropped"
    else:
        assert len(result.value) == 64 and set(result.value) <= _HEX64


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_any_email_hashes_as_its_trimmed_lowercase_form(email: str) -> None:
    """Whatever the address, TikTok gets SHA-256 of ``email.strip().lower()``."""
    assert TIKTOK.apply(PiiField.EMAIL, f" {email.upper()} ").value == sha256(email.lower())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_external_id_hashes_as_its_trimmed_form(raw: str) -> None:
    """Whatever the id (not itself a 64-hex digest), TikTok gets SHA-256 of ``raw.strip()``
    with its case kept."""
    trimmed = raw.strip()
    result = TIKTOK.apply(PiiField.EXTERNAL_ID, raw)
    if not trimmed:
        assert result.value is None
    else:
        assert result.value == sha256(trimmed)
