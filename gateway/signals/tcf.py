"""IAB TCF v2.x: the TC string a CMP writes (``euconsent-v2`` / ``gdpr_consent``).

Layout from the IAB "Consent string and vendor list formats v2" spec as summarised in
``../shared/reference/consent.md`` §1.2-§1.4: a core segment (6-bit Version = 2, then the
fixed fields, the vendor consent and vendor LI sections and the publisher restrictions),
followed by optional ``.``-separated segments that open with a 3-bit SegmentType:
1 DisclosedVendors, 2 AllowedVendors, 3 PublisherTC, in any order.

The decoder is strict, because what it reads gates data: any string it cannot read
completely and unambiguously grants nothing (``SignalError``), never a partial result.

* Encoding: base64url *without* padding, as the spec and the reference encoder write it.
  ``=`` and the standard-alphabet ``+`` / ``/`` are rejected: a padded or re-encoded
  string is not one a CMP wrote, and the spec says strings are passed on unmodified.
  Any length is accepted (each character is 6 bits; the last may be partly padding).
* Truncated: a field that needs bits past the end of its segment is an error. Nothing
  past the end is ever read as a value (the PyPI ``iab-tcf`` package reads it as
  consent, consent.md §6.3 D1).
* Over-long: after a segment's last field, the bits left must all be zero. Encoders pad
  with zero bits (the reference one to a multiple of 24, others to a byte or a 6-bit
  boundary; one official GPP test vector even carries 57 zero bits after its PublisherTC
  fields), and zeros cannot be read as a grant. A one bit there is data this layout does
  not describe, so the string is rejected rather than half-understood.
* Values outside the spec's ranges are errors: Version other than 2, letters beyond
  ``Z``, vendor ranges outside ``1..MaxVendorId`` or ending before they start, bitfields
  shorter than MaxVendorId, publisher restrictions on purpose 0 or of the undefined
  type 3, empty / duplicate / unknown segments.
* Policy rules (§1.1, §1.6): IsServiceSpecific must be 1 (global scope is gone); policy
  version >= 4 (TCF 2.2) forbids LI for purposes 3-6; policy version < 4 is invalid on a
  string created on or after 2023-10-01. CmpId 0 and VendorListVersion 0 are accepted:
  §6.3 D4 would reject CmpId 0, but two vectors from the official GPP library carry it.
* DisclosedVendors, mandatory since TCF 2.3, is only required when the caller asks
  (``require_disclosed_vendors_after``): whether and from when to enforce it is the
  consent engine's policy, and most strings in circulation and all vectors predate 2.3.
* Size: strings longer than 65,536 characters, or expanding to more than 2**18 vendor ids
  in total, are refused, so a short string of wide ranges cannot make a request
  allocate millions of set entries.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import compress

from gateway.signals.errors import SignalError

__all__ = ["PubRestriction", "TcString", "decode"]

_STANDARD = "tcf"
_MAX_CHARS = 65_536
_MAX_VENDOR_IDS = 1 << 18
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# TCF-FMT §Managing conflicting string versions: policy < 4 invalid if created after 30 Sep 2023.
_POLICY_4_REQUIRED_FROM = datetime(2023, 10, 1, tzinfo=UTC)
# TCF 2.2 (policy version 4) removed legitimate interest as a basis for these purposes.
_CONSENT_ONLY_SINCE_POLICY_4 = frozenset({3, 4, 5, 6})
_DISCLOSED, _ALLOWED, _PUBLISHER = 1, 2, 3
_BIT_BYTES = bytes.maketrans(b"01", b"\x00\x01")
_NOT_ALLOWED, _REQUIRE_CONSENT, _REQUIRE_LI = 0, 1, 2


@dataclass(frozen=True, slots=True)
class PubRestriction:
    """A publisher restriction: for ``purpose``, ``type`` applies to ``vendors``.

    ``type`` 0 = purpose not allowed, 1 = consent required, 2 = legitimate interest
    required. Entries with the same purpose and type are merged into one.
    """

    purpose: int
    type: int
    vendors: frozenset[int]


@dataclass(frozen=True, slots=True)
class TcString:
    """A fully decoded, valid TC string. Id sets hold 1-based purpose/feature/vendor ids.

    ``disclosed_vendors``, ``allowed_vendors`` and the ``pub_*`` fields are ``None`` when
    their segment is absent, so "absent" and "present but empty" stay distinct.
    """

    version: int
    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    tcf_policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_optins: frozenset[int]
    purpose_consents: frozenset[int]
    purpose_li: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    max_vendor_id_consent: int
    vendor_consent_range_encoding: bool
    vendor_consents: frozenset[int]
    max_vendor_id_li: int
    vendor_li_range_encoding: bool
    vendor_li: frozenset[int]
    pub_restrictions: tuple[PubRestriction, ...]
    disclosed_vendors: frozenset[int] | None
    allowed_vendors: frozenset[int] | None
    pub_purpose_consents: frozenset[int] | None
    pub_purpose_li: frozenset[int] | None
    pub_num_custom_purposes: int | None
    pub_custom_purpose_consents: frozenset[int] | None
    pub_custom_purpose_li: frozenset[int] | None

    def purpose_allowed(self, purpose: int) -> bool:
        """Whether the user consented to ``purpose`` (its PurposesConsent bit).

        Only the consent bit: legitimate interest, PurposeOneTreatment and publisher
        restrictions are not folded in (see ``vendor_consented`` for the latter).
        """
        return purpose in self.purpose_consents

    def vendor_consented(self, vendor_id: int, purposes: Iterable[int]) -> bool:
        """Whether ``vendor_id`` may process for every one of ``purposes`` on consent.

        True only if the vendor's consent bit is set and, for each purpose, the purpose's
        consent bit is set and no publisher restriction listing this vendor for that
        purpose takes consent away. Restrictions are read as follows (consent.md §1.3):

        * type 0, purpose not allowed: the vendor may not process for it at all -> False;
        * type 1, consent required: consent is the basis this method checks, so the
          restriction changes nothing;
        * type 2, LI required: the publisher has moved the purpose to legitimate interest,
          so consent cannot be the basis -> False (this method never grants on LI).

        Not checked here, because it needs the Global Vendor List: that consent is a
        basis the vendor declared for the purpose (its default or a flexible one). A
        vendor registered for LI only on a purpose that a type-1 restriction moves to
        consent must not process; the caller with the GVL decides that.

        An empty ``purposes`` gives False: a grant must never come from an omission.
        """
        if vendor_id not in self.vendor_consents:
            return False
        asked = set(purposes)
        if not asked or not asked <= self.purpose_consents:
            return False
        return not any(
            restriction.type in (_NOT_ALLOWED, _REQUIRE_LI)
            and restriction.purpose in asked
            and vendor_id in restriction.vendors
            for restriction in self.pub_restrictions
        )


class _Malformed(Exception):
    """Unwinds a parse with a value-free reason; never escapes ``decode``."""


class _Budget:
    """How many more vendor ids this decode may still materialise into sets."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = _MAX_VENDOR_IDS

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise _Malformed("TC string lists too many vendor ids")


class _Reader:
    """Reads big-endian fields from one segment; reading past its end is an error.

    The decoded bytes become one ``int`` and then one string of '0'/'1' characters, so
    a field costs one slice and one ``int(…, 2)`` however long the segment is (shifting
    a big ``int`` per field would cost time in proportion to the whole segment), and a
    bitfield's set bits are picked out in C, with no Python object per bit.
    """

    __slots__ = ("_bits", "_pos", "_size")

    def __init__(self, segment: str) -> None:
        if not _BASE64URL.fullmatch(segment):
            raise _Malformed("TC string is not base64url")
        # Filling with 'A' (six zero bits) to a multiple of 4 characters lets the C
        # decoder take any length; the filler lies past ``_size`` and is never read.
        raw = base64.urlsafe_b64decode(segment + "A" * (-len(segment) % 4))
        self._size = 6 * len(segment)
        self._bits = format(int.from_bytes(raw, "big"), "b").zfill(8 * len(raw))
        self._pos = 0

    def _take(self, width: int) -> str:
        end = self._pos + width
        if end > self._size:
            raise _Malformed("TC string is truncated")
        chunk = self._bits[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, width: int) -> int:
        return int(self._take(width), 2)

    def flag(self) -> bool:
        return self._take(1) == "1"

    def ids(self, width: int) -> frozenset[int]:
        """A bitfield of ``width`` bits; bit i (from the left) set means id i + 1."""
        # '0'/'1' become bytes 0/1 so ``compress`` picks the ids of set bits in C.
        flags = self._take(width).encode("ascii").translate(_BIT_BYTES)
        return frozenset(compress(range(1, width + 1), flags))

    def letters(self) -> str:
        """Two 6-bit letters, 0 = 'A' ... 25 = 'Z'."""
        first, second = self.uint(6), self.uint(6)
        if first > 25 or second > 25:
            raise _Malformed("TC string has a letter code outside A-Z")
        return chr(65 + first) + chr(65 + second)

    def timestamp(self) -> datetime:
        return _EPOCH + timedelta(milliseconds=100 * self.uint(36))

    def end(self) -> None:
        """Reject a one bit after the last field: zero bits are the encoder's padding."""
        if "1" in self._bits[self._pos : self._size]:
            raise _Malformed("TC string segment is longer than its content")


def _ranges(reader: _Reader, budget: _Budget, max_id: int | None) -> frozenset[int]:
    """NumEntries(12) range entries; ids must lie in ``1..max_id`` (``None``: 1..65535)."""
    limit = 0xFFFF if max_id is None else max_id
    spans = []
    for _ in range(reader.uint(12)):
        is_range = reader.flag()
        start = reader.uint(16)
        stop = reader.uint(16) if is_range else start
        if start < 1 or stop > limit:
            raise _Malformed("TC string has a vendor range outside its bounds")
        if stop < start:
            raise _Malformed("TC string has a vendor range that ends before it starts")
        spans.append((start, stop))
    # Merging overlaps first means repeated or nested ranges cost nothing extra: only
    # distinct ids are charged to the budget and materialised.
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, stop in spans:
        if merged and start <= merged[-1][1] + 1:
            if stop > merged[-1][1]:
                merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    budget.spend(sum(stop - start + 1 for start, stop in merged))
    ids: set[int] = set()
    for start, stop in merged:
        ids.update(range(start, stop + 1))
    return frozenset(ids)


def _vendors(reader: _Reader, budget: _Budget) -> tuple[int, bool, frozenset[int]]:
    """MaxVendorId(16), IsRangeEncoding(1), then a bitfield or range entries."""
    max_id = reader.uint(16)
    is_range = reader.flag()
    if is_range:
        return max_id, True, _ranges(reader, budget, max_id)
    vendors = reader.ids(max_id)
    budget.spend(len(vendors))
    return max_id, False, vendors


def _restrictions(reader: _Reader, budget: _Budget) -> tuple[PubRestriction, ...]:
    """NumPubRestrictions(12) entries of PurposeId(6), RestrictionType(2), range entries."""
    merged: dict[tuple[int, int], frozenset[int]] = {}
    for _ in range(reader.uint(12)):
        purpose = reader.uint(6)
        kind = reader.uint(2)
        if purpose == 0:
            raise _Malformed("TC string has a publisher restriction without a purpose")
        if kind not in (_NOT_ALLOWED, _REQUIRE_CONSENT, _REQUIRE_LI):
            raise _Malformed("TC string has a publisher restriction of undefined type")
        vendors = _ranges(reader, budget, None)
        merged[purpose, kind] = merged.get((purpose, kind), frozenset()) | vendors
    return tuple(PubRestriction(p, k, v) for (p, k), v in merged.items())


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def decode(
    tc_string: str,
    *,
    require_disclosed_vendors_after: datetime | None = None,
    allow_global_scope: bool = False,
) -> TcString | SignalError:
    """Decode and validate a TC string; any defect gives a ``SignalError``, never a raise.

    ``require_disclosed_vendors_after``: if set, a string created after that moment
    (naive = UTC) must carry a DisclosedVendors segment (TCF 2.3). Off by default: when
    to enforce it is the consent engine's call.

    ``allow_global_scope``: accept IsServiceSpecific = 0. Global-scope strings have been
    invalid since September 2021; this exists to read historical strings and test
    vectors field by field, never to gate on.
    """
    if not isinstance(tc_string, str):
        return _error("TC string is not text")
    if not tc_string:
        return _error("TC string is empty")
    if len(tc_string) > _MAX_CHARS:
        return _error("TC string is too long")
    try:
        return _decode(tc_string, require_disclosed_vendors_after, allow_global_scope)
    except _Malformed as problem:
        return _error(str(problem))


def _decode(tc_string: str, disclosed_after: datetime | None, global_ok: bool) -> TcString:
    core, *others = tc_string.split(".")
    if not core or "" in others:
        raise _Malformed("TC string has an empty segment")
    budget = _Budget()
    r = _Reader(core)
    if r.uint(6) != 2:
        raise _Malformed("TC string is not version 2")
    created = r.timestamp()
    last_updated = r.timestamp()
    cmp_id, cmp_version, consent_screen = r.uint(12), r.uint(12), r.uint(6)
    consent_language = r.letters()
    vendor_list_version, tcf_policy_version = r.uint(12), r.uint(6)
    is_service_specific, use_non_standard_texts = r.flag(), r.flag()
    special_feature_optins = r.ids(12)
    purpose_consents, purpose_li = r.ids(24), r.ids(24)
    purpose_one_treatment = r.flag()
    publisher_cc = r.letters()
    max_consent, consent_ranged, vendor_consents = _vendors(r, budget)
    max_li, li_ranged, vendor_li = _vendors(r, budget)
    pub_restrictions = _restrictions(r, budget)
    r.end()

    segments: dict[int, _Reader] = {}
    for text in others:
        reader = _Reader(text)
        kind = reader.uint(3)
        if kind not in (_DISCLOSED, _ALLOWED, _PUBLISHER):
            raise _Malformed("TC string has a segment of unknown type")
        if kind in segments:
            raise _Malformed("TC string repeats a segment type")
        segments[kind] = reader
    disclosed = _vendor_segment(segments.get(_DISCLOSED), budget)
    allowed = _vendor_segment(segments.get(_ALLOWED), budget)
    pub_consents = pub_li = custom_consents = custom_li = None
    num_custom = None
    if (p := segments.get(_PUBLISHER)) is not None:
        pub_consents, pub_li = p.ids(24), p.ids(24)
        num_custom = p.uint(6)
        custom_consents, custom_li = p.ids(num_custom), p.ids(num_custom)
        p.end()

    if not is_service_specific and not global_ok:
        raise _Malformed("TC string is not service-specific (global scope is invalid)")
    if tcf_policy_version >= 4 and purpose_li & _CONSENT_ONLY_SINCE_POLICY_4:
        raise _Malformed("TC string for policy 4 or later sets LI for purposes 3-6")
    if tcf_policy_version < 4 and created >= _POLICY_4_REQUIRED_FROM:
        raise _Malformed("TC string from October 2023 or later has a policy version below 4")
    if disclosed is None and disclosed_after is not None and created > _as_utc(disclosed_after):
        raise _Malformed("TC string lacks the mandatory DisclosedVendors segment")

    return TcString(
        version=2,
        created=created,
        last_updated=last_updated,
        cmp_id=cmp_id,
        cmp_version=cmp_version,
        consent_screen=consent_screen,
        consent_language=consent_language,
        vendor_list_version=vendor_list_version,
        tcf_policy_version=tcf_policy_version,
        is_service_specific=is_service_specific,
        use_non_standard_texts=use_non_standard_texts,
        special_feature_optins=special_feature_optins,
        purpose_consents=purpose_consents,
        purpose_li=purpose_li,
        purpose_one_treatment=purpose_one_treatment,
        publisher_cc=publisher_cc,
        max_vendor_id_consent=max_consent,
        vendor_consent_range_encoding=consent_ranged,
        vendor_consents=vendor_consents,
        max_vendor_id_li=max_li,
        vendor_li_range_encoding=li_ranged,
        vendor_li=vendor_li,
        pub_restrictions=pub_restrictions,
        disclosed_vendors=disclosed,
        allowed_vendors=allowed,
        pub_purpose_consents=pub_consents,
        pub_purpose_li=pub_li,
        pub_num_custom_purposes=num_custom,
        pub_custom_purpose_consents=custom_consents,
        pub_custom_purpose_li=custom_li,
    )


def _vendor_segment(reader: _Reader | None, budget: _Budget) -> frozenset[int] | None:
    """The body of a DisclosedVendors / AllowedVendors segment, ``None`` if absent."""
    if reader is None:
        return None
    _, _, vendors = _vendors(reader, budget)
    reader.end()
    return vendors


def _error(reason: str) -> SignalError:
    return SignalError(standard=_STANDARD, reason=reason)
