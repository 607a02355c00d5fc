"""The GA4 hashing recipe (``gateway.pii.GA4``) as vectors.

Google's Measurement Protocol rules, from /work/shared/reference/destinations.md §2.4:
trim and lowercase everything; email: remove all spaces, and at gmail.com and
googlemail.com the dots before the ``@`` (the plus-tag rule of the newer Data Manager API
is *not* applied: the MP page names only dots); phone: E.164 with its ``+``; first and last
name, city and region: remove digits and symbols; postal code: remove ``.`` and ``~``;
country: ISO 3166-1 alpha-2 (Google's sample sends ``US``). City, region, postal code and
country are sent normalized but unhashed (``hashed=False``), the rest as SHA-256.

Every expected hash is computed here with hashlib from the expected normalized text; the
two hashes the reference prints for GA4 (§6.3: the gmail plus-tag email and
``+16505551212``) are asserted literally, as are §6.3 hashes whose normalized text the
GA4 rule happens to share with Meta's.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destinations.ga4_mp import Ga4Mp
from gateway.pii import GA4, PiiField

EMAIL = PiiField.EMAIL
PHONE = PiiField.PHONE
FIRST = PiiField.FIRST_NAME
LAST = PiiField.LAST_NAME
CITY = PiiField.CITY
REGION = PiiField.REGION
POSTAL = PiiField.POSTAL_CODE
COUNTRY = PiiField.COUNTRY
EXTERNAL = PiiField.EXTERNAL_ID

#: fields GA4 takes as SHA-256 (§2.4; external_id becomes ``user_id`` as its hash)
HASHED_FIELDS = (EMAIL, PHONE, FIRST, LAST, EXTERNAL)
#: address parts GA4 takes normalized but unhashed (§2.4)
PLAIN_FIELDS = (CITY, REGION, POSTAL, COUNTRY)


def sha256(text: str) -> str:
    """An independent SHA-256 of the UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# (field, raw input, country hint, expected normalized text)
HASHED_VECTORS: list[tuple[PiiField, str, str | None, str]] = [
    # email: lowercase, trim; gmail.com / googlemail.com lose the local part's dots
    (EMAIL, "JOHN.DOE+promo@GMAIL.com", None, "johndoe+promo@gmail.com"),
    (EMAIL, "John.Doe@GMail.Com", None, "johndoe@gmail.com"),
    (EMAIL, "j.o.h.n.doe@googlemail.com", None, "johndoe@googlemail.com"),
    (EMAIL, "  Jane.Doe@Gmail.com\n", None, "janedoe@gmail.com"),
    # the plus-tag stays (the MP page names only dots, §2.4)
    (EMAIL, "jane.doe+shopping@gmail.com", None, "janedoe+shopping@gmail.com"),
    (EMAIL, "Jane.Doe+News@GoogleMail.com", None, "janedoe+news@googlemail.com"),
    # other domains keep their dots and plus-tags, whatever their case
    (EMAIL, "John.Doe@Example.COM", None, "john.doe@example.com"),
    (EMAIL, "First.Last+Tag@Outlook.com", None, "first.last+tag@outlook.com"),
    (EMAIL, "john.doe@gmail.com.au", None, "john.doe@gmail.com.au"),
    (EMAIL, "john.doe@mail.gmail.com", None, "john.doe@mail.gmail.com"),
    # every space goes, inner ones too
    (EMAIL, "john doe @ example.com", None, "johndoe@example.com"),
    (EMAIL, "Jo\thn.Do e@gmail.com", None, "johndoe@gmail.com"),
    # phone: E.164 with its +
    (PHONE, "+16505551212", None, "+16505551212"),
    (PHONE, "+1 (650) 555-1212", None, "+16505551212"),
    (PHONE, "+1.650.555.1212", None, "+16505551212"),
    (PHONE, "+1-650-555-1212", "DE", "+16505551212"),
    # a national number gets its calling code from the country hint
    (PHONE, "(650) 555-1212", "US", "+16505551212"),
    (PHONE, "650-555-1212", "United States", "+16505551212"),
    (PHONE, "020 7946 0958", "GB", "+442079460958"),
    (PHONE, "030 1234567", "DE", "+49301234567"),
    # "00" is the international call prefix
    (PHONE, "00 1 650 555 1212", None, "+16505551212"),
    (PHONE, "0044 20 7946 0958", None, "+442079460958"),
    # a trunk zero after the calling code is not part of the E.164 number
    (PHONE, "+44 020 7946 0958", None, "+442079460958"),
    (PHONE, "+49 (0)30 1234567", None, "+49301234567"),
    # names: digits and symbols removed, lowercase, trim; letters with accents kept
    (FIRST, "O'Neil", None, "oneil"),
    (FIRST, "  Mary-Jane ", None, "maryjane"),
    (FIRST, "Valéry", None, "valéry"),
    (FIRST, "JOSÉ", None, "josé"),
    (FIRST, "R2-D2", None, "rd"),
    (FIRST, "Anne Marie", None, "anne marie"),
    (FIRST, "정", None, "정"),
    (LAST, "Smith Jr.", None, "smith jr"),
    (LAST, "STRAßE", None, "straße"),
    (LAST, "O'Brien-Smith 3rd", None, "obriensmith rd"),
    # external id (GA4's user_id): trimmed, lowercased, hashed
    (EXTERNAL, " CRM-Customer-88421 ", None, "crm-customer-88421"),
]

PLAIN_VECTORS: list[tuple[PiiField, str, str]] = [
    # city and region: digits and symbols removed, lowercase, trim (inner spaces stay)
    (CITY, "St. Louis", "st louis"),
    (CITY, "San Francisco", "san francisco"),
    (CITY, "Saint-Étienne", "saintétienne"),
    (CITY, "Winston-Salem 27101", "winstonsalem"),
    (CITY, "  MENLO PARK ", "menlo park"),
    (REGION, "California", "california"),  # Google's sample value
    (REGION, "CA", "ca"),
    (REGION, "N.Y.", "ny"),
    (REGION, "Île-de-France", "îledefrance"),
    # postal code: "." and "~" removed, trim; ZIP+4 kept
    (POSTAL, "94025-1234", "94025-1234"),
    (POSTAL, "94025", "94025"),
    (POSTAL, " 94025. ", "94025"),
    (POSTAL, "~94.025~", "94025"),
    (POSTAL, "01234", "01234"),
    (POSTAL, "SW1A 1AA", "sw1a 1aa"),
    # country: ISO 3166-1 alpha-2, upper case as Google's sample; names and codes resolved
    (COUNTRY, "US", "US"),
    (COUNTRY, "us", "US"),
    (COUNTRY, "u.s.", "US"),
    (COUNTRY, "United States", "US"),
    (COUNTRY, "usa", "US"),
    (COUNTRY, "840", "US"),
    (COUNTRY, "uk", "GB"),
    (COUNTRY, "Germany", "DE"),
    (COUNTRY, "de ", "DE"),
]


@pytest.mark.parametrize(("field", "raw", "country", "normalized"), HASHED_VECTORS)
def test_hashed_fields(field: PiiField, raw: str, country: str | None, normalized: str) -> None:
    """The value GA4 gets is the SHA-256 of Google's normalized form (§2.4)."""
    result = GA4.apply(field, raw, country=country)
    assert (result.value, result.action) == (sha256(normalized), "hashed")
    # the normalized text itself, for a readable failure
    assert GA4.apply(field, raw, country=country, hashed=False).value == normalized


@pytest.mark.parametrize(("field", "raw", "normalized"), PLAIN_VECTORS)
def test_unhashed_address_parts(field: PiiField, raw: str, normalized: str) -> None:
    """City, region, postal code and country are sent normalized, unhashed (§2.4)."""
    result = GA4.apply(field, raw, hashed=False)
    assert (result.value, result.action) == (normalized, "normalized")
    assert GA4.apply(field, raw).value == sha256(normalized)


def test_reference_gmail_plus_tag_hash() -> None:
    """§6.3: under the GA4 MP rule ``JOHN.DOE+promo@GMAIL.com`` hashes
    ``johndoe+promo@gmail.com`` → ``4dfee298…4b64`` (not the Data Manager rule's
    ``johndoe@gmail.com`` → ``06a240d1…80c3``)."""
    value = GA4.apply(EMAIL, "JOHN.DOE+promo@GMAIL.com").value
    assert value is not None
    assert value.startswith("4dfee298") and value.endswith("4b64")
    assert value == sha256("johndoe+promo@gmail.com")
    data_manager = GA4.apply(EMAIL, "John.Doe@gmail.com").value
    assert data_manager is not None
    assert data_manager.startswith("06a240d1") and data_manager.endswith("80c3")
    assert value != data_manager


def test_reference_phone_hash() -> None:
    """§6.3: GA4 and TikTok hash ``+16505551212`` to ``1e231c66…fbc8``; Meta's digits
    without ``+`` give a different hash."""
    expected = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"
    for raw, country in (
        ("+16505551212", None),
        ("+1 (650) 555-1212", None),
        ("(650) 555-1212", "US"),
    ):
        assert GA4.apply(PHONE, raw, country=country).value == expected
    assert expected != sha256("16505551212")


def test_reference_country_is_sent_unhashed() -> None:
    """§6.3: GA4 sends country ``US`` unhashed, where Meta sends ``sha256("us")``."""
    assert GA4.apply(COUNTRY, "US", hashed=False).value == "US"
    assert GA4.apply(COUNTRY, "United States", hashed=False).value == "US"


@pytest.mark.parametrize(
    ("field", "raw", "digest"),
    [
        # §6.3 hashes whose normalized text the GA4 rule shares with Meta's SDK
        (
            EMAIL,
            "  John.Doe@Example.COM ",
            "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f",
        ),
        (FIRST, "Valéry", "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
        (FIRST, "JOSÉ", "d994e1d001886fe5b45b1267bd1fa2b752ac50742579bd3dad7b2a2aa0ed6866"),
        (FIRST, "İlkay", "b4d5b0e830c7b9996c52c8b9620468537d42dff131ab5bc4f4dd7a11409e1dc9"),
        (CITY, "Saint-Étienne", "bb35a91d6f2bd7ba807fdd240cc838bdd3b20fe1a6fdedba60d941fbe8d5c10f"),
        (
            CITY,
            "Winston-Salem 27101",
            "9e54909cf7a66751ffbdfb4f79635e6d36de413d76f86c5ef42cb8b697662751",
        ),
        (REGION, "CA", "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"),
        (REGION, "California", "7e8eea5cc60980270c9ceb75ce8c087d48d726110fd3d17921f774eefd8e18d8"),
        (REGION, "N.Y.", "1b06e2003f8420d6fa42badd8f77ec0f706b976b7a48b13c567dc5a559681683"),
    ],
)
def test_reference_hashes_shared_with_meta(field: PiiField, raw: str, digest: str) -> None:
    """Where Google's rule and Meta's SDK normalize to the same text, the §6.3 hash is the
    GA4 hash too (a cross-check of the hashing itself, independent of this file)."""
    assert GA4.apply(field, raw).value == digest


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        (EMAIL, "not-an-email", "not an email address"),
        (EMAIL, "...@gmail.com", "not an email address"),
        (EMAIL, "john@localhost", "not an email address"),
        (PHONE, "call me", "not a phone number"),
        (PHONE, "12", "not a phone number"),
        (FIRST, "1234", "empty after normalization"),
        (LAST, "--", "empty after normalization"),
        (CITY, "12345", "empty after normalization"),
        (POSTAL, "~.~", "empty after normalization"),
        (EMAIL, "   ", "empty after normalization"),
        # pycountry resolves English names and codes only: the German name is not known
        (COUNTRY, "Deutschland", "not an ISO 3166-1 country"),
        (COUNTRY, "Narnia", "not an ISO 3166-1 country"),
    ],
)
def test_invalid_or_empty_values_are_dropped(field: PiiField, raw: str, reason: str) -> None:
    """A value that is not one, or is empty once normalized, is dropped with a reason;
    the hash of the empty string is never sent (§6.4)."""
    for hashed in (True, False):
        result = GA4.apply(field, raw, hashed=hashed)
        assert (result.value, result.action, result.reason) == (None, "dropped", reason)


@pytest.mark.parametrize(
    "raw",
    [
        "(650) 555-1212",  # would become +6505551212: +65 is Singapore
        "020 7946 0958",  # would become +2079460958: +20 is Egypt
        "555-1212",  # would become +5551212: +55 is Brazil
    ],
)
def test_national_number_without_country_is_dropped(raw: str) -> None:
    """Without a calling code or a country hint the number cannot be written in E.164
    (§2.4: ``+16505551212``); prefixing ``+`` to the national digits makes it another
    country's number, so it is dropped as ``not a phone number``."""
    result = GA4.apply(PHONE, raw)
    assert (result.value, result.action) == (None, "dropped")


def test_country_hint_applies_to_phone_only() -> None:
    """The visitor's country resolves national phone numbers; it never changes the
    country field itself."""
    assert GA4.apply(COUNTRY, "DE", country="US", hashed=False).value == "DE"
    for hint in ("DE", "de", "Germany", "DEU"):
        assert GA4.apply(PHONE, "030 1234567", country=hint, hashed=False).value == ("+49301234567")
    # a number with its calling code ignores the hint
    assert GA4.apply(PHONE, "+1 650 555 1212", country="DE", hashed=False).value == ("+16505551212")


def test_prehashed_values_pass_through_hashed_fields_only() -> None:
    """A 64-hex value is taken as already hashed for hashed fields (lowercased); an
    unhashed address part is never taken for a hash."""
    digest = sha256("janedoe@gmail.com")
    result = GA4.apply(EMAIL, digest.upper())
    assert (result.value, result.action) == (digest, "passed_prehashed")
    zeros = "0" * 64
    plain = GA4.apply(POSTAL, zeros, hashed=False)
    assert (plain.value, plain.action) == (zeros, "normalized")


def test_adapter_sends_address_parts_unhashed_and_the_rest_hashed() -> None:
    """The adapter asks the GA4 recipe for exactly this split: ``normalized`` for city,
    region, postal code and country, ``hashed`` for the rest (§2.4)."""
    for field in HASHED_FIELDS:
        rule = Ga4Mp.FIELDS[f"user.{field.value}"]
        assert (rule.treatment, rule.recipe) == ("hashed", GA4)
    for field in PLAIN_FIELDS:
        rule = Ga4Mp.FIELDS[f"user.{field.value}"]
        assert (rule.treatment, rule.recipe) == ("normalized", GA4)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(list(PiiField)), raw=st.text(max_size=40))
def test_hash_is_always_the_sha256_of_the_normalized_text(field: PiiField, raw: str) -> None:
    """For any text, the recipe never raises; what it sends hashed is either a passed-through
    64-hex digest or the SHA-256 of exactly what it would send unhashed."""
    plain = GA4.apply(field, raw, hashed=False)
    hashed = GA4.apply(field, raw)
    if hashed.action == "passed_prehashed":
        assert hashed.value == raw.strip().lower()
        return
    assert hashed.action in ("hashed", "dropped")
    if hashed.action == "hashed":
        assert plain.value
        assert hashed.value == sha256(plain.value)
    else:
        assert hashed.value is None and plain.value is None
