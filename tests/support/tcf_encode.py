"""Build IAB TCF v2 TC strings for tests, bit by bit, from the spec.

Written from the "Consent string and vendor list formats v2" layout (consent.md §1.2-§1.4),
independently of ``gateway.signals.tcf``, so tests can build strings that no vector covers.

Layers, from the top:

* ``encode_tc_string``: a whole string (core segment, then optional segments). Its defaults
  give a valid TCF v2.2 string: version 2, policy version 5, IsServiceSpecific 1, created now,
  and a DisclosedVendors segment listing every vendor with consent or legitimate interest.
* ``core_segment``, ``disclosed_vendors_segment``, ``allowed_vendors_segment``,
  ``publisher_tc_segment``, ``segment``: one segment each, to assemble strings by hand (for
  example segments in another order, or repeated).
* ``uint``, ``bitfield``, ``range_entries``, ``vendor_section``, ``letters``, ``base64url``:
  the field encodings, as strings of ``0`` / ``1``, to build malformed strings.

Nothing here checks the policy rules (LI for purposes 3-6, policy version by date, global
scope): values are written as given, so invalid strings are as easy to build as valid ones.
Only a value that does not fit its field raises ``ValueError``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "ALLOWED_VENDORS",
    "ALPHABET",
    "CONSENTED",
    "DISCLOSED_VENDORS",
    "NOT_ALLOWED",
    "PUBLISHER_TC",
    "REQUIRE_CONSENT",
    "REQUIRE_LI",
    "Restriction",
    "Spans",
    "VendorIds",
    "allowed_vendors_segment",
    "base64url",
    "bitfield",
    "core_segment",
    "deciseconds",
    "disclosed_vendors_segment",
    "encode_tc_string",
    "letters",
    "publisher_tc_segment",
    "range_entries",
    "runs",
    "segment",
    "uint",
    "vendor_section",
]

ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""base64url, the alphabet of TC strings (written without ``=`` padding)."""

DISCLOSED_VENDORS: Final = 1
ALLOWED_VENDORS: Final = 2
PUBLISHER_TC: Final = 3
"""SegmentType values of the optional segments."""

NOT_ALLOWED: Final = 0
REQUIRE_CONSENT: Final = 1
REQUIRE_LI: Final = 2
"""RestrictionType values of a publisher restriction."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Spans:
    """Vendor ids written with range encoding, as exactly these ``(start, end)`` spans.

    Spans are written as given, unmerged and unchecked, so reversed, overlapping or
    out-of-bounds ranges can be built; a span with ``start == end`` is a single id.
    """

    spans: Sequence[tuple[int, int]]


VendorIds = Iterable[int] | Spans
"""Vendor ids: plain ids (a bitfield in a vendor section) or ``Spans`` (range encoding)."""

Restriction = tuple[int, int, VendorIds]
"""A publisher restriction: ``(purpose id, restriction type, vendor ids)``."""


class _Default(enum.Enum):
    CONSENTED = "consented"


CONSENTED: Final = _Default.CONSENTED
"""``encode_tc_string``'s default DisclosedVendors: every vendor with consent or LI."""


# --- field encodings ------------------------------------------------------------------------


def uint(value: int, width: int) -> str:
    """``value`` as ``width`` big-endian bits; ``ValueError`` if it does not fit."""
    if not 0 <= value < 1 << width:
        raise ValueError(f"{value} does not fit in {width} bits")
    return format(value, f"0{width}b")


def bitfield(ids: Iterable[int], width: int) -> str:
    """``width`` bits, bit i (from the left, 1-based) set when i is in ``ids``."""
    chosen = set(ids)
    outside = sorted(i for i in chosen if not 1 <= i <= width)
    if outside:
        raise ValueError(f"ids {outside} lie outside a {width}-bit field")
    return "".join("1" if i in chosen else "0" for i in range(1, width + 1))


def runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted distinct ``ids`` as ``(start, end)`` runs of consecutive ids."""
    spans: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if spans and i == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def range_entries(spans: Sequence[tuple[int, int]]) -> str:
    """NumEntries(12), then per span IsARange(1), StartOrOnlyVendorId(16), [EndVendorId(16)]."""
    out = uint(len(spans), 12)
    for start, end in spans:
        out += "0" + uint(start, 16) if start == end else "1" + uint(start, 16) + uint(end, 16)
    return out


def _ids(vendors: VendorIds) -> set[int]:
    if isinstance(vendors, Spans):
        return {i for start, end in vendors.spans for i in range(start, end + 1)}
    return set(vendors)


def vendor_section(vendors: VendorIds, *, max_id: int | None = None) -> str:
    """MaxVendorId(16), IsRangeEncoding(1), then a bitfield (plain ids) or range entries.

    ``max_id`` defaults to the highest id listed (0 when none).
    """
    if isinstance(vendors, Spans):
        top = max((end for _, end in vendors.spans), default=0) if max_id is None else max_id
        return uint(top, 16) + "1" + range_entries(vendors.spans)
    ids = set(vendors)
    top = max(ids, default=0) if max_id is None else max_id
    return uint(top, 16) + "0" + bitfield(ids, top)


def letters(text: str) -> str:
    """Two-letter codes, 6 bits per letter, ``A`` = 0 (codes above ``Z`` = 25 are written too)."""
    return "".join(uint(ord(char) - ord("A"), 6) for char in text)


def deciseconds(moment: datetime) -> int:
    """A Created / LastUpdated value: deciseconds since the epoch (naive = UTC), truncated."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return delta.days * 864_000 + delta.seconds * 10 + delta.microseconds // 100_000


def base64url(bits: str) -> str:
    """Bits right-padded with zeros to a multiple of 6, one base64url character per 6."""
    bits += "0" * (-len(bits) % 6)
    return "".join(ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


# --- segments -------------------------------------------------------------------------------


def _restriction_bits(restrictions: Iterable[Restriction]) -> str:
    entries = list(restrictions)
    out = uint(len(entries), 12)
    for purpose, kind, vendors in entries:
        spans = vendors.spans if isinstance(vendors, Spans) else runs(vendors)
        out += uint(purpose, 6) + uint(kind, 2) + range_entries(spans)
    return out


def core_segment(
    *,
    purposes: Iterable[int],
    vendors: VendorIds,
    created: datetime,
    last_updated: datetime | None = None,
    version: int = 2,
    cmp_id: int = 10,
    cmp_version: int = 1,
    consent_screen: int = 1,
    consent_language: str = "EN",
    vendor_list_version: int = 100,
    policy_version: int = 5,
    is_service_specific: bool = True,
    use_non_standard_texts: bool = False,
    special_features: Iterable[int] = (),
    purpose_li: Iterable[int] = (),
    purpose_one_treatment: bool = False,
    publisher_cc: str = "DE",
    vendor_li: VendorIds = (),
    pub_restrictions: Iterable[Restriction] = (),
    tail_bits: str | None = None,
) -> str:
    """The core segment, base64url.

    Fields in spec order; ``last_updated`` defaults to ``created``. ``tail_bits``, when
    given, replaces everything from the vendor consent section on (vendor consents, vendor
    LI, publisher restrictions) with those raw bits, to build malformed strings.
    """
    created_ds = deciseconds(created)
    updated_ds = created_ds if last_updated is None else deciseconds(last_updated)
    bits = (
        uint(version, 6)
        + uint(created_ds, 36)
        + uint(updated_ds, 36)
        + uint(cmp_id, 12)
        + uint(cmp_version, 12)
        + uint(consent_screen, 6)
        + letters(consent_language)
        + uint(vendor_list_version, 12)
        + uint(policy_version, 6)
        + ("1" if is_service_specific else "0")
        + ("1" if use_non_standard_texts else "0")
        + bitfield(special_features, 12)
        + bitfield(purposes, 24)
        + bitfield(purpose_li, 24)
        + ("1" if purpose_one_treatment else "0")
        + letters(publisher_cc)
    )
    if tail_bits is not None:
        return base64url(bits + tail_bits)
    bits += vendor_section(vendors) + vendor_section(vendor_li)
    return base64url(bits + _restriction_bits(pub_restrictions))


def segment(segment_type: int, body_bits: str) -> str:
    """An optional segment, base64url: SegmentType(3), then ``body_bits`` as given."""
    return base64url(uint(segment_type, 3) + body_bits)


def disclosed_vendors_segment(vendors: VendorIds, *, max_id: int | None = None) -> str:
    """A DisclosedVendors segment (type 1) listing ``vendors``."""
    return segment(DISCLOSED_VENDORS, vendor_section(vendors, max_id=max_id))


def allowed_vendors_segment(vendors: VendorIds, *, max_id: int | None = None) -> str:
    """An AllowedVendors segment (type 2) listing ``vendors``."""
    return segment(ALLOWED_VENDORS, vendor_section(vendors, max_id=max_id))


def publisher_tc_segment(
    *,
    purposes: Iterable[int] = (),
    purpose_li: Iterable[int] = (),
    custom_purposes: Iterable[int] = (),
    custom_purpose_li: Iterable[int] = (),
    num_custom_purposes: int | None = None,
) -> str:
    """A PublisherTC segment (type 3).

    PubPurposesConsent(24), PubPurposesLITransparency(24), NumCustomPurposes(6), then the
    custom purposes' consent and LI bitfields of that many bits. ``num_custom_purposes``
    defaults to the highest custom purpose id listed (0 when none).
    """
    custom = set(custom_purposes)
    custom_li = set(custom_purpose_li)
    count = (
        max(custom | custom_li, default=0) if num_custom_purposes is None else num_custom_purposes
    )
    body = (
        bitfield(purposes, 24)
        + bitfield(purpose_li, 24)
        + uint(count, 6)
        + bitfield(custom, count)
        + bitfield(custom_li, count)
    )
    return segment(PUBLISHER_TC, body)


# --- whole strings --------------------------------------------------------------------------


def encode_tc_string(
    *,
    purposes: Iterable[int],
    vendors: VendorIds,
    created: datetime | None = None,
    last_updated: datetime | None = None,
    policy_version: int = 5,
    purpose_li: Iterable[int] = (),
    vendor_li: VendorIds = (),
    pub_restrictions: Iterable[Restriction] = (),
    disclosed_vendors: VendorIds | _Default | None = CONSENTED,
    allowed_vendors: VendorIds | None = None,
    publisher_tc: str | None = None,
    special_features: Iterable[int] = (),
    purpose_one_treatment: bool = False,
    cmp_id: int = 10,
    cmp_version: int = 1,
    consent_screen: int = 1,
    consent_language: str = "EN",
    vendor_list_version: int = 100,
    publisher_cc: str = "DE",
    is_service_specific: bool = True,
    use_non_standard_texts: bool = False,
) -> str:
    """A TC string: the core segment, then DisclosedVendors, AllowedVendors, PublisherTC.

    ``purposes`` / ``purpose_li``: purpose ids (1-24) with consent / legitimate interest.
    ``vendors`` / ``vendor_li``: vendor ids with consent / LI, as a bitfield, or ``Spans``
    for range encoding. ``pub_restrictions``: ``(purpose, type, vendor ids)`` entries, type
    ``NOT_ALLOWED``, ``REQUIRE_CONSENT`` or ``REQUIRE_LI``.

    ``created`` defaults to now (the string stores deciseconds); ``last_updated`` to
    ``created``. ``disclosed_vendors``: ``CONSENTED`` (default) lists every vendor of
    ``vendors`` and ``vendor_li``, so the string passes a decoder that requires the TCF 2.3
    DisclosedVendors segment; ids or ``Spans`` list those; ``None`` leaves the segment out.
    ``allowed_vendors`` adds an AllowedVendors segment, ``publisher_tc`` a segment built by
    ``publisher_tc_segment``.

    Example::

        encode_tc_string(purposes={1, 2}, vendors={755}, purpose_li={2})
    """
    moment = datetime.now(UTC) if created is None else created
    # Read once: the ids are written in the core and, by default, in DisclosedVendors.
    vendors = vendors if isinstance(vendors, Spans) else frozenset(vendors)
    vendor_li = vendor_li if isinstance(vendor_li, Spans) else frozenset(vendor_li)
    parts = [
        core_segment(
            purposes=purposes,
            vendors=vendors,
            created=moment,
            last_updated=last_updated,
            cmp_id=cmp_id,
            cmp_version=cmp_version,
            consent_screen=consent_screen,
            consent_language=consent_language,
            vendor_list_version=vendor_list_version,
            policy_version=policy_version,
            is_service_specific=is_service_specific,
            use_non_standard_texts=use_non_standard_texts,
            special_features=special_features,
            purpose_li=purpose_li,
            purpose_one_treatment=purpose_one_treatment,
            publisher_cc=publisher_cc,
            vendor_li=vendor_li,
            pub_restrictions=pub_restrictions,
        )
    ]
    if isinstance(disclosed_vendors, _Default):
        parts.append(disclosed_vendors_segment(_ids(vendors) | _ids(vendor_li)))
    elif disclosed_vendors is not None:
        parts.append(disclosed_vendors_segment(disclosed_vendors))
    if allowed_vendors is not None:
        parts.append(allowed_vendors_segment(allowed_vendors))
    if publisher_tc is not None:
        parts.append(publisher_tc)
    return ".".join(parts)
