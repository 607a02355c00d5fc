"""IAB Global Privacy Platform (GPP): the ``gpp=`` string and its ``gpp_sid=`` section ids.

Layout sources, all as summarised in ``../shared/reference/consent.md``:

* String and header, §2.1 [GPP-CORE]: ``header~section~section…``, sections in the order the
  header lists them. The header is Type Int(6) = 3, Version Int(6) = 1, then a
  Range(Fibonacci) of section ids: Int(12) count, per item a group bit, a Fibonacci offset
  from the last id seen and, for a group, a Fibonacci length.
* Section ids and API prefixes, §2.2 [GPP-SEC].
* usnat (7), §2.3 [GPP-USNAT]: Version Int(6), then Int(2) fields; v1 has 12
  sensitive-data and 2 known-child entries, v2 16 and 3. The layout is chosen by length, as
  the reference library does (§2.3 "Layout quirk", §6.3 D6): a Version 2 core of 60 or 66
  bits is read with the v1 layout and zero-extended to 16 / 3 entries.
* US states 8-27 (usca ... usri): version 1, the only one of each, in the field order of
  iabgpp-es 3.2.0's ``Us<State>CoreSegment`` (``_STATE_LAYOUTS``); usca and usva are also
  §2.3's "State sections differ". Most states share one shape (notices, sale and
  targeted-advertising opt-outs, sensitive data, known child, MSPA); Maryland, Indiana,
  Kentucky and Rhode Island put the MSPA fields first with a single mode; Utah, Florida
  and Virginia have no GPC sub-section; Indiana, Kentucky and Rhode Island carry their
  sensitive data in an untyped sub-section instead. Every vector of
  ``tests/vectors/gpp_state_vectors.json`` (from the library's tests) decodes to the
  library's values, but for the one with a field value 3, which is refused (below).
* uspv1 (6): the four characters of a US Privacy string, §3, read by the same rules as
  ``gateway.signals.usp``.
* tcfeuv2 (2): the TC string, unchanged; it is handed over as text for
  ``gateway.signals.tcf.decode``, which this module does not duplicate.

Every other section (Canadian TCF, ids not assigned yet, a version no layout exists for)
is kept as an ``UndecodedSection`` and reported; it grants nothing.

Strictness, and why:

* Never a partial result: a defect in the header or in any section this module reads makes
  the whole string a ``SignalError``. One CMP wrote the string; a defect anywhere casts doubt
  on the rest, and a partial reading could drop exactly the section that carried an opt-out.
* The header's section count must equal the number of ``~`` parts and no part may be empty.
* Encoding: base64url without padding; ``=``, ``+``, ``/`` and whitespace are rejected. After
  the last field of a header, section or sub-section only encoder padding may follow: fewer
  than 24 bits in all (the vectors carry up to 9: ``DBABMA`` 8, ``.QA`` 9), and every whole
  character of it zero. That catches a layout read from the wrong number of bits, such as a
  usnat v2 core cut to 66 bits and so read as v1. The bits left over in the character that
  holds the last field are ignored, whatever they are: they carry no field, and the LiveRamp
  fixture ``CVVVVVVVVVVW`` sets them.
* Int(2) values must be 0-2; 3 is undefined in every field and rejected. MspaCoveredTransaction
  0 (outside the spec's 1 / 2) is accepted, as iabconsent does, and read as "not covered"
  (§6.3 D8).
* GPC sub-section: at most one, of SubsectionType 1, and only where the layout has one (usva
  has none). A section without it reads GPC false, as the LiveRamp fixtures do.
* A known section in a version this module has no layout for is undecoded, not an error: it
  cannot be read, but it does not make the others unreadable.
* Size: more than 65,536 characters is refused, and the header's id list may not name more
  sections than the string has parts, so a short header cannot expand into millions of ids.

How the consent stage should read the result:

* ``SignalError``: a GPP string was sent and could not be read. US regimes are opt-out, so
  reading it as "no signal" would fail open; in an opt-out region treat it as an opt-out.
* ``GppString.us_opt_out()`` folds the applicable US sections into one deny-beats-grant bit
  (consent.md §7.1 ``us_sale_optout``, minus the request's own ``Sec-GPC`` header, which
  ``gateway.signals.gpc`` reads). An applicable US section that could not be decoded counts
  as an opt-out, since it may carry one.

Known limits of the format (not of this decoder), shown by the truncation tests:

* A string cut so that a section's whole GPC sub-section is gone is indistinguishable from
  one written without it, and reads GPC false (the section's other opt-outs are kept).
* A usnat v2 core cut to 60 bits (or to 66 ending in a zero character) is, by the length
  rule, read with the v1 layout: its opt-out fields are unaffected, its known-child,
  sensitive-data and MSPA fields are read from other bits.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from gateway.signals import usp
from gateway.signals.errors import SignalError
from gateway.signals.usp import UsPrivacy

OptOutKind = Literal["sale", "sharing", "targeted_advertising", "known_child"]

_STANDARD = "gpp"
_MAX_CHARS = 65_536
_PADDING_BITS = 24
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_TYPE = 3
_HEADER_VERSION = 1
# A Fibonacci code of 32 bits already reaches ids in the millions, far beyond any assigned.
_FIB_MAX_BITS = 32
_MAX_APPLICABLE = 64
_USP_FLAGS = frozenset("YN-")
_GPC_SUBSECTION_TYPE = 1
# Ids from here up are US sections (7 usnat, 8-27 states) or not assigned yet; an applicable
# one this module cannot read may carry an opt-out.
_FIRST_US_ID = 7
_COUNT_MISMATCH = "number of sections does not match the header"
_AD_OPT_OUTS: tuple[OptOutKind, ...] = ("sale", "sharing", "targeted_advertising")
_ALL_OPT_OUTS: tuple[OptOutKind, ...] = (*_AD_OPT_OUTS, "known_child")
# For a header read alone: the Int(12) count's maximum; 27 ids are assigned.
_MAX_HEADER_IDS = 4095

PREFIXES: Mapping[int, str] = {
    1: "tcfeuv1",
    2: "tcfeuv2",
    5: "tcfcav1",
    6: "uspv1",
    7: "usnat",
    8: "usca",
    9: "usva",
    10: "usco",
    11: "usut",
    12: "usct",
    13: "usfl",
    14: "usmt",
    15: "usor",
    16: "ustx",
    17: "usde",
    18: "usia",
    19: "usne",
    20: "usnh",
    21: "usnj",
    22: "ustn",
    23: "usmn",
    24: "usmd",
    25: "usin",
    26: "usky",
    27: "usri",
}
"""GPP section id -> API prefix (consent.md §2.2); 3 (header) and 4 (reserved) have none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UsSection:
    """A decoded US section (usnat 7, or a state 8-27): spec fields plus derived booleans.

    Fields are the spec's, in snake case, with the raw Int(2) codes (0 = not applicable,
    1 / 2 as the spec defines per field). A field the section's layout lacks is ``None``.
    The three opt-out codes carry a ``_code`` suffix because their plain names are the
    derived booleans the consent stage reads.

    ``sensitive_data_processing`` is in the section's own category order (usnat 16 after
    zero-extending v1's 12; usca 9, where values are opt-outs; usva 8; the other states
    their own count, Maryland none). ``known_child_sensitive_data_consents`` is usnat 3
    (v1 zero-extended from 2), usca 2, and a 1-tuple where a state has a single Int(2).
    Maryland, Indiana, Kentucky and Rhode Island have one ``mspa_mode`` instead of the two
    MSPA mode fields. ``gpc_present`` tells a GPC sub-section reading false from no
    sub-section at all.
    """

    section_id: int
    prefix: str
    version: int
    sharing_notice: int | None = None
    processing_notice: int | None = None
    sale_opt_out_notice: int
    sharing_opt_out_notice: int | None = None
    targeted_advertising_opt_out_notice: int | None = None
    sensitive_data_processing_opt_out_notice: int | None = None
    sensitive_data_limit_use_notice: int | None = None
    sale_opt_out_code: int
    sharing_opt_out_code: int | None = None
    targeted_advertising_opt_out_code: int | None = None
    sensitive_data_processing: tuple[int, ...]
    known_child_sensitive_data_consents: tuple[int, ...]
    personal_data_consents: int | None = None
    additional_data_processing_consent: int | None = None
    mspa_covered_transaction: int
    mspa_opt_out_option_mode: int | None = None
    mspa_service_provider_mode: int | None = None
    mspa_mode: int | None = None
    gpc: bool = False
    gpc_present: bool = False

    @property
    def sale_opt_out(self) -> bool:
        """Opted out of sale: SaleOptOut is 1, or its notice was not provided (2).

        Sources differ on a missing notice: consent.md §2.3 glosses SaleOptOut 0 as "notice
        N/A or not provided", while iabgpp-es refuses to encode notice 2 with anything but
        SaleOptOut 1. A visitor who was never told of the right to opt out cannot be taken
        to have declined it, so notice 2 reads as opted out whatever the code says: deny
        beats grant. 0 with a notice of 0 or 1 is not an opt-out: the business does not sell,
        so there is nothing to opt out of (consent.md §7.1 counts only 1).
        """
        return self.sale_opt_out_code == 1 or self.sale_opt_out_notice == 2

    @property
    def sharing_opt_out(self) -> bool:
        """Opted out of sharing (CA: cross-context behavioural ads); False where undefined."""
        return self.sharing_opt_out_code == 1 or self.sharing_opt_out_notice == 2

    @property
    def targeted_advertising_opt_out(self) -> bool:
        """Opted out of targeted advertising; False where the layout has no such field."""
        return (
            self.targeted_advertising_opt_out_code == 1
            or self.targeted_advertising_opt_out_notice == 2
        )

    @property
    def opt_out(self) -> bool:
        """Any opt-out this section expresses: sale, sharing, targeted ads, or GPC."""
        return (
            self.sale_opt_out
            or self.sharing_opt_out
            or self.targeted_advertising_opt_out
            or self.gpc
        )

    @property
    def known_child(self) -> bool:
        """A known child whose data may not be processed: any known-child entry is 1.

        consent.md §7.1 ``child_block``: 1 = known child, no consent; 2 = consent given;
        0 = not applicable.
        """
        return 1 in self.known_child_sensitive_data_consents

    @property
    def sensitive_consent(self) -> tuple[bool, ...]:
        """Per category (section order), whether its data may be processed: value 2 only.

        2 is consent (usnat, usva) or "did not opt out" (usca); 1 is the refusal and 0 "not
        applicable" is not a grant either (consent.md §7.1 ``sensitive_ok``).
        """
        return tuple(value == 2 for value in self.sensitive_data_processing)

    @property
    def mspa_covered(self) -> bool:
        """The transaction is covered by the MSPA: 1 only (0 is out of spec, read as no)."""
        return self.mspa_covered_transaction == 1


@dataclass(frozen=True, slots=True)
class UndecodedSection:
    """A section kept but not read: no layout for its id or version. It grants nothing.

    ``raw`` is the section as sent; it stays out of ``repr`` so it cannot reach a log line
    by accident.
    """

    section_id: int
    prefix: str | None
    reason: str
    raw: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class GppSections:
    """A set of sections of one GPP string: all present, or the applicable ones."""

    ids: tuple[int, ...]
    tcfeuv2: str | None = field(default=None, repr=False)
    """The raw TC string of section 2, for ``gateway.signals.tcf.decode``; not validated here."""
    uspv1: UsPrivacy | None = None
    us: tuple[UsSection, ...] = ()
    undecoded: tuple[UndecodedSection, ...] = ()

    def us_section(self, key: int | str) -> UsSection | None:
        """The decoded US section with this id or API prefix (``7`` or ``"usnat"``), if any."""
        for section in self.us:
            if key == section.section_id or key == section.prefix:
                return section
        return None

    @property
    def gpc(self) -> bool:
        """Any US section's GPC sub-section is true."""
        return any(section.gpc for section in self.us)

    @property
    def known_child(self) -> bool:
        """Any US section marks a known child without consent."""
        return any(section.known_child for section in self.us)

    def opt_outs(self) -> dict[OptOutKind, str]:
        """Each opt-out these sections express -> where, first found (value-free text).

        * ``sale``: SaleOptOut (see ``UsSection.sale_opt_out``) or uspv1 ``Y``;
        * ``sharing`` / ``targeted_advertising``: the matching US section fields;
        * a true GPC sub-section counts as all three: GPP calls it "an opt out of sale
          under CCPA", the GPC spec "do not sell or share", and Colorado takes it as the
          universal opt-out of sale and targeted advertising (consent.md §5);
        * ``known_child``: any known-child entry 1 (consent.md §7.1 ``child_block``);
        * a US section (id 7 or higher) that could not be decoded counts as every kind:
          deny beats grant, and an unread section may carry any of them.
        """
        found: dict[OptOutKind, str] = {}
        if self.uspv1 is not None and self.uspv1.opted_out:
            found["sale"] = "section uspv1"
        for section in self.us:
            where = f"section {section.prefix}"
            hits: list[OptOutKind] = []
            if section.sale_opt_out:
                hits.append("sale")
            if section.sharing_opt_out:
                hits.append("sharing")
            if section.targeted_advertising_opt_out:
                hits.append("targeted_advertising")
            if section.known_child:
                hits.append("known_child")
            for kind in hits:
                found.setdefault(kind, where)
            if section.gpc:
                for kind in _AD_OPT_OUTS:
                    found.setdefault(kind, f"{where} GPC")
        for unread in self.undecoded:
            if unread.section_id >= _FIRST_US_ID:
                where = f"section {unread.prefix or unread.section_id} (not decoded)"
                for kind in _ALL_OPT_OUTS:
                    found.setdefault(kind, where)
        return found

    def us_opt_out(self) -> bool:
        """Whether these sections opt the visitor out of sale, sharing or targeted ads.

        True if a US section opts out (sale, sharing, targeted advertising or GPC), the
        uspv1 string says ``Y``, or a US section (id 7 or higher) could not be decoded:
        deny beats grant, and an unread section may carry a denial. ``opt_outs`` says which.
        """
        found = self.opt_outs()
        return any(kind in found for kind in _AD_OPT_OUTS)


@dataclass(frozen=True, slots=True)
class GppString:
    """A fully read GPP string.

    ``present`` holds every section in the string, ``applicable`` those in force for this
    event (see ``decode`` for how ``applicable_sections`` selects them). ``problems`` are
    value-free notes about the selection, for the decision record.
    """

    present: GppSections
    applicable: GppSections
    problems: tuple[str, ...] = ()

    @property
    def section_ids(self) -> tuple[int, ...]:
        """The header's section ids, ascending."""
        return self.present.ids

    @property
    def tcfeuv2(self) -> str | None:
        """The raw TC string of section 2, if present."""
        return self.present.tcfeuv2

    @property
    def uspv1(self) -> UsPrivacy | None:
        """Section 6, if present."""
        return self.present.uspv1

    @property
    def us_sections(self) -> tuple[UsSection, ...]:
        """The decoded usnat / usca / usva sections, in header order."""
        return self.present.us

    @property
    def undecoded(self) -> tuple[UndecodedSection, ...]:
        """The sections kept but not read."""
        return self.present.undecoded

    @property
    def applicable_ids(self) -> tuple[int, ...]:
        """The ids of the sections in force, ascending."""
        return self.applicable.ids

    @property
    def applicable_tcfeuv2(self) -> str | None:
        """The raw TC string of section 2 if it is in force, for ``gateway.signals.tcf``."""
        return self.applicable.tcfeuv2

    @property
    def applicable_uspv1(self) -> UsPrivacy | None:
        """Section 6 if it is in force."""
        return self.applicable.uspv1

    def opt_outs(self, *, all_present: bool = False) -> dict[OptOutKind, str]:
        """``GppSections.opt_outs`` over the applicable sections, or all with ``all_present``."""
        return (self.present if all_present else self.applicable).opt_outs()

    def us_opt_out(self, *, all_present: bool = False) -> bool:
        """``GppSections.us_opt_out`` over the applicable sections, or all with ``all_present``."""
        return (self.present if all_present else self.applicable).us_opt_out()


class _Malformed(Exception):
    """Unwinds a parse with a value-free reason; never escapes ``decode``."""


def decode(
    gpp_string: str, applicable_sections: Iterable[int] | None = None
) -> GppString | SignalError:
    """Decode a GPP string; never raises, never returns a partial result.

    ``applicable_sections`` is the CMP's ``applicableSections`` / the ``gpp_sid`` ids, as
    ints. The CMP API spec (consent.md §2.4) gives -1 as "no section applies" and 0 as the
    placeholder a stub sends before the CMP has loaded. So:

    * ``None``: every present section applies;
    * ``[-1]``: none applies (the gateway's own geo may still place the visitor under a law);
    * ids that are all present in the string: exactly those apply;
    * anything else (0, -1 mixed with ids, other negatives, non-ints, an empty list, an id
      missing from the string): the selection cannot be trusted, every present section
      applies, and a note says why. Widening is the strict direction for opt-outs, and a
      TC string only ever grants what the visitor chose.
    """
    if not isinstance(gpp_string, str):
        return _error("GPP string is not text")
    if not gpp_string:
        return _error("GPP string is empty")
    if len(gpp_string) > _MAX_CHARS:
        return _error("GPP string is too long")
    try:
        present = _decode_sections(gpp_string)
    except _Malformed as problem:
        return _error(str(problem))
    chosen, problems = _applicable_ids(present.ids, applicable_sections)
    applicable = present if chosen is None else _restrict(present, chosen)
    return GppString(present, applicable, problems)


def decode_header(header: str) -> tuple[int, ...] | SignalError:
    """The section ids a GPP header (the part before the first ``~``) lists; never raises.

    Reads the header alone, so the section count is not checked against any sections.
    """
    if not isinstance(header, str):
        return _error("GPP header is not text")
    if len(header) > _MAX_CHARS:
        return _error("GPP string is too long")
    try:
        return _header_ids(header, _MAX_HEADER_IDS, "GPP header lists too many sections")
    except _Malformed as problem:
        return _error(str(problem))


def _error(reason: str) -> SignalError:
    return SignalError(_STANDARD, reason)


def _to_int(text: str, what: str) -> tuple[int, int]:
    """A base64url text as one int and its size in bits (6 per character)."""
    if not text:
        raise _Malformed(f"{what} is empty")
    if not _BASE64URL.fullmatch(text):
        raise _Malformed(f"{what} is not base64url")
    # Filling with 'A' (six zero bits) to a multiple of 4 characters lets the C decoder take
    # any length; the filler is shifted off again.
    fill = -len(text) % 4
    raw = base64.urlsafe_b64decode(text + "A" * fill)
    return int.from_bytes(raw, "big") >> (6 * fill), 6 * len(text)


def _check_padding(bits: int, size: int, used: int, what: str) -> None:
    """After the last field only encoder padding may follow (see the module docstring)."""
    # Bits left in the character that holds the last field are ignored; whole characters
    # after it must be zero.
    whole = size - -(-used // 6) * 6
    if size - used >= _PADDING_BITS or bits & ((1 << whole) - 1):
        raise _Malformed(f"{what} is longer than its fields")


def _header_ids(header: str, limit: int, too_many: str) -> tuple[int, ...]:
    """Type, Version and the Range(Fibonacci) of section ids; more than ``limit`` is an error."""
    value, size = _to_int(header, "GPP header")
    if size < 24:
        raise _Malformed("GPP header is truncated")
    # The Fibonacci codes are found by searching for their "11" terminator, which is one C
    # call on a '0'/'1' string; the header is a few dozen bits.
    bits = format(value, "b").zfill(size)
    if int(bits[0:6], 2) != _HEADER_TYPE:
        raise _Malformed("not a GPP string: header type is not 3")
    if int(bits[6:12], 2) != _HEADER_VERSION:
        raise _Malformed("unsupported GPP header version")
    count = int(bits[12:24], 2)
    pos = 24
    ids: list[int] = []
    last = 0
    for _ in range(count):
        if pos >= size:
            raise _Malformed("GPP header is truncated")
        is_group = bits[pos] == "1"
        offset, pos = _fibonacci(bits, pos + 1)
        start = last + offset
        if is_group:
            length, pos = _fibonacci(bits, pos)
            last = start + length
        else:
            last = start
        # Checked before expanding, so a long group costs nothing.
        if len(ids) + (last - start + 1) > limit:
            raise _Malformed(too_many)
        ids.extend(range(start, last + 1))
    _check_padding(value, size, pos, "GPP header")
    return tuple(ids)


def _fibonacci(bits: str, pos: int) -> tuple[int, int]:
    """One Fibonacci-coded integer at ``pos``; returns it and the position after it."""
    # Zeckendorf codes never hold two adjacent ones, so the first "11" ends the code.
    end = bits.find("11", pos)
    if end < 0:
        raise _Malformed("GPP header is truncated")
    if end + 1 - pos > _FIB_MAX_BITS:
        raise _Malformed("GPP header has an out-of-range section id")
    code = bits[pos : end + 1]
    return sum(_FIB_WEIGHTS[i] for i, bit in enumerate(code) if bit == "1"), end + 2


def _fibonacci_weights(count: int) -> tuple[int, ...]:
    """Zeckendorf weights F(2), F(3), ... = 1, 2, 3, 5, 8, ..., least significant first."""
    weights = [1, 2]
    while len(weights) < count:
        weights.append(weights[-1] + weights[-2])
    return tuple(weights[:count])


_FIB_WEIGHTS = _fibonacci_weights(_FIB_MAX_BITS)


def _decode_sections(text: str) -> GppSections:
    header, *parts = text.split("~")
    ids = _header_ids(header, len(parts), _COUNT_MISMATCH)
    if len(ids) != len(parts):
        raise _Malformed(_COUNT_MISMATCH)
    tcfeuv2: str | None = None
    uspv1: UsPrivacy | None = None
    us: list[UsSection] = []
    undecoded: list[UndecodedSection] = []
    for section_id, part in zip(ids, parts, strict=True):
        if not part:
            raise _Malformed("a GPP section is empty")
        if section_id == 2:
            _check_tc_string(part)
            tcfeuv2 = part
        elif section_id == 6:
            uspv1 = _uspv1(part)
        elif section_id == 7 or section_id in _STATE_LAYOUTS:
            read = _us_section(section_id, part)
            if isinstance(read, UsSection):
                us.append(read)
            else:
                undecoded.append(read)
        else:
            prefix = PREFIXES.get(section_id)
            reason = "no layout for this section" if prefix else "unknown section id"
            undecoded.append(UndecodedSection(section_id, prefix, reason, part))
    return GppSections(ids, tcfeuv2, uspv1, tuple(us), tuple(undecoded))


def _check_tc_string(text: str) -> None:
    """Section 2 is read by ``gateway.signals.tcf``; here only its alphabet is checked."""
    if not all(_BASE64URL.fullmatch(segment) for segment in text.split(".")):
        raise _Malformed("tcfeuv2 section is not a base64url TC string")


def _uspv1(text: str) -> UsPrivacy:
    """Section 6, read by ``gateway.signals.usp`` (one set of rules for both forms)."""
    result = usp.decode(text)
    if isinstance(result, SignalError):
        raise _Malformed(f"uspv1 section: {result.reason}")
    return result


def _values(bits: int, size: int, count: int, what: str, *, skip: int = 6) -> Sequence[int]:
    """The ``count`` Int(2) fields after the first ``skip`` bits (the Int(6) Version of a
    core); each must be 0-2."""
    used = skip + 2 * count
    if used > size:
        raise _Malformed(f"{what} is truncated")
    _check_padding(bits, size, used, what)
    chunk = (bits >> (size - used)) & ((1 << (2 * count)) - 1)
    values = [(chunk >> shift) & 3 for shift in range(2 * count - 2, -2, -2)]
    if 3 in values:
        raise _Malformed(f"{what} has a field value outside 0-2")
    return values


def _usnat(version: int, bits: int, size: int, gpc: bool, gpc_present: bool) -> UsSection:
    # The length rule (§2.3, §6.3 D6): old encoders wrote v2 strings in the v1 layout, padded
    # to 60 or 66 bits; the reference library reads those by length, so must we.
    if version == 1 or size in (60, 66):
        n_sensitive, n_child = 12, 2
    else:
        n_sensitive, n_child = 16, 3
    v = _values(bits, size, 13 + n_sensitive + n_child, "usnat section")
    child = 9 + n_sensitive
    rest = child + n_child
    sensitive = tuple(v[9:child])
    known_child = tuple(v[child:rest])
    if version == 2:
        sensitive += (0,) * (16 - n_sensitive)
        known_child += (0,) * (3 - n_child)
    return UsSection(
        section_id=7,
        prefix="usnat",
        version=version,
        sharing_notice=v[0],
        sale_opt_out_notice=v[1],
        sharing_opt_out_notice=v[2],
        targeted_advertising_opt_out_notice=v[3],
        sensitive_data_processing_opt_out_notice=v[4],
        sensitive_data_limit_use_notice=v[5],
        sale_opt_out_code=v[6],
        sharing_opt_out_code=v[7],
        targeted_advertising_opt_out_code=v[8],
        sensitive_data_processing=sensitive,
        known_child_sensitive_data_consents=known_child,
        personal_data_consents=v[rest],
        mspa_covered_transaction=v[rest + 1],
        mspa_opt_out_option_mode=v[rest + 2],
        mspa_service_provider_mode=v[rest + 3],
        gpc=gpc,
        gpc_present=gpc_present,
    )


#: a state section's core after its Int(6) version: (UsSection field, Int(2) count) in
#: order; the two list fields are tuples whatever their count
_Fields = tuple[tuple[str, int], ...]
_LIST_FIELDS = frozenset({"sensitive_data_processing", "known_child_sensitive_data_consents"})
_MSPA = (
    ("mspa_covered_transaction", 1),
    ("mspa_opt_out_option_mode", 1),
    ("mspa_service_provider_mode", 1),
)


def _state(
    notice: str,
    n_sensitive: int,
    n_child: int,
    *,
    additional: bool = False,
    sdp_notice: bool = False,
) -> _Fields:
    """The shape most state sections share: a first notice, sale and targeted-advertising
    notices and opt-outs, sensitive data, known child, an optional extra consent, MSPA."""
    return (
        (notice, 1),
        ("sale_opt_out_notice", 1),
        ("targeted_advertising_opt_out_notice", 1),
        *((("sensitive_data_processing_opt_out_notice", 1),) if sdp_notice else ()),
        ("sale_opt_out_code", 1),
        ("targeted_advertising_opt_out_code", 1),
        ("sensitive_data_processing", n_sensitive),
        ("known_child_sensitive_data_consents", n_child),
        *((("additional_data_processing_consent", 1),) if additional else ()),
        *_MSPA,
    )


#: the MSPA-first shape of Maryland (24) and Indiana, Kentucky, Rhode Island (25-27)
def _mspa_first(*, known_child: bool) -> _Fields:
    return (
        ("mspa_covered_transaction", 1),
        ("mspa_mode", 1),
        ("processing_notice", 1),
        ("sale_opt_out_notice", 1),
        ("targeted_advertising_opt_out_notice", 1),
        ("sale_opt_out_code", 1),
        ("targeted_advertising_opt_out_code", 1),
        *((("known_child_sensitive_data_consents", 1),) if known_child else ()),
        ("additional_data_processing_consent", 1),
    )


SubSection = Literal["gpc", "sensitive", None]
_TX_SHAPE = _state("processing_notice", 8, 1, additional=True)

#: section id -> (core fields, what its one sub-section is). Layouts of version 1, the only
#: version of each, as iabgpp-es 3.2.0 reads them (``Us<State>CoreSegment.ts``; see
#: ``tests/vectors/gpp_state_vectors.json`` for the sources and vectors)
_STATE_LAYOUTS: Mapping[int, tuple[_Fields, SubSection]] = {
    8: (
        (
            ("sale_opt_out_notice", 1),
            ("sharing_opt_out_notice", 1),
            ("sensitive_data_limit_use_notice", 1),
            ("sale_opt_out_code", 1),
            ("sharing_opt_out_code", 1),
            ("sensitive_data_processing", 9),
            ("known_child_sensitive_data_consents", 2),
            ("personal_data_consents", 1),
            *_MSPA,
        ),
        "gpc",
    ),
    9: (_state("sharing_notice", 8, 1), None),
    10: (_state("sharing_notice", 7, 1), "gpc"),
    11: (_state("sharing_notice", 8, 1, sdp_notice=True), None),
    12: (_state("sharing_notice", 8, 3), "gpc"),
    13: (_state("processing_notice", 8, 3, additional=True), None),
    14: (_state("sharing_notice", 8, 3, additional=True), "gpc"),
    15: (_state("processing_notice", 11, 3, additional=True), "gpc"),
    16: (_TX_SHAPE, "gpc"),
    17: (_state("processing_notice", 9, 5, additional=True), "gpc"),
    18: (_state("processing_notice", 8, 1, sdp_notice=True), "gpc"),
    19: (_TX_SHAPE, "gpc"),
    20: (_state("processing_notice", 8, 3, additional=True), "gpc"),
    21: (_state("processing_notice", 10, 5, additional=True), "gpc"),
    22: (_TX_SHAPE, "gpc"),
    23: (_TX_SHAPE, "gpc"),
    24: (_mspa_first(known_child=False), "gpc"),
    25: (_mspa_first(known_child=True), "sensitive"),
    26: (_mspa_first(known_child=True), "sensitive"),
    27: (_mspa_first(known_child=True), "sensitive"),
}
#: Indiana, Kentucky, Rhode Island: the sub-section is 8 sensitive-data Int(2), untyped
_SENSITIVE_SUBSECTION = 8


def _state_section(
    section_id: int, version: int, bits: int, size: int, subsections: list[str]
) -> UsSection:
    prefix = PREFIXES[section_id]
    fields, subsection = _STATE_LAYOUTS[section_id]
    values = iter(_values(bits, size, sum(n for _, n in fields), f"{prefix} section"))
    read: dict[str, Any] = {}
    for name, count in fields:
        chunk = tuple(islice(values, count))
        read[name] = chunk if name in _LIST_FIELDS else chunk[0]
    read.setdefault("known_child_sensitive_data_consents", ())
    gpc, gpc_present = False, False
    if subsection == "sensitive":
        read["sensitive_data_processing"] = _sensitive_subsection(subsections, prefix)
    else:
        gpc, gpc_present = _gpc(subsections, prefix, subsection == "gpc")
    read.setdefault("sensitive_data_processing", ())
    return UsSection(
        section_id=section_id,
        prefix=prefix,
        version=version,
        gpc=gpc,
        gpc_present=gpc_present,
        **read,
    )


def _sensitive_subsection(subsections: list[str], prefix: str) -> tuple[int, ...]:
    """Indiana, Kentucky and Rhode Island carry sensitive data in an untyped sub-section;
    without one every category reads 0 (not applicable), as iabgpp-es reads it."""
    if not subsections:
        return (0,) * _SENSITIVE_SUBSECTION
    if len(subsections) > 1:
        raise _Malformed(f"{prefix} section has more than one sub-section")
    bits, size = _to_int(subsections[0], f"{prefix} sub-section")
    return tuple(_values(bits, size, _SENSITIVE_SUBSECTION, f"{prefix} sub-section", skip=0))


_VERSIONS: Mapping[int, frozenset[int]] = {7: frozenset({1, 2})}


def _us_section(section_id: int, text: str) -> UsSection | UndecodedSection:
    prefix = PREFIXES[section_id]
    core, *subsections = text.split(".")
    bits, size = _to_int(core, f"{prefix} section")
    version = bits >> (size - 6)
    if version not in _VERSIONS.get(section_id, frozenset({1})):
        return UndecodedSection(section_id, prefix, f"no layout for this {prefix} version", text)
    if section_id == 7:
        gpc, gpc_present = _gpc(subsections, prefix, True)
        return _usnat(version, bits, size, gpc, gpc_present)
    return _state_section(section_id, version, bits, size, subsections)


def _gpc(subsections: list[str], prefix: str, allowed: bool) -> tuple[bool, bool]:
    """The GPC sub-section: SubsectionType Int(2) = 1, then Gpc (1 = true)."""
    if not subsections:
        return False, False
    what = f"{prefix} sub-section"
    if not allowed:
        raise _Malformed(f"{prefix} section has a sub-section its layout does not define")
    if len(subsections) > 1:
        raise _Malformed(f"{prefix} section has more than one sub-section")
    bits, size = _to_int(subsections[0], what)
    if bits >> (size - 2) != _GPC_SUBSECTION_TYPE:
        raise _Malformed(f"{what} is not a GPC sub-section")
    _check_padding(bits, size, 3, what)
    return bool((bits >> (size - 3)) & 1), True


def _applicable_ids(
    present: tuple[int, ...], applicable_sections: Iterable[int] | None
) -> tuple[frozenset[int] | None, tuple[str, ...]]:
    """The ids in force, ``None`` for "every present section"; plus notes on why."""
    if applicable_sections is None:
        return None, ()
    try:
        listed = list(islice(iter(applicable_sections), _MAX_APPLICABLE + 1))
    except TypeError:
        return None, ("applicable sections are not a list of ids; all present sections apply",)
    if not listed or len(listed) > _MAX_APPLICABLE:
        return None, ("applicable sections list is empty or too long; all present sections apply",)
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in listed):
        return None, ("applicable sections are not all integers; all present sections apply",)
    ids = frozenset(listed)
    if 0 in ids:
        return None, ("applicable sections are not known yet (0); all present sections apply",)
    if -1 in ids:
        if len(ids) == 1:
            return frozenset(), ()
        return None, ("applicable sections mix -1 with section ids; all present sections apply",)
    if min(ids) < 0:
        return None, ("applicable sections include an invalid id; all present sections apply",)
    if not ids <= frozenset(present):
        return None, (
            "an applicable section is missing from the GPP string; all present sections apply",
        )
    return ids, ()


def _restrict(present: GppSections, ids: frozenset[int]) -> GppSections:
    return GppSections(
        ids=tuple(section_id for section_id in present.ids if section_id in ids),
        tcfeuv2=present.tcfeuv2 if 2 in ids else None,
        uspv1=present.uspv1 if 6 in ids else None,
        us=tuple(section for section in present.us if section.section_id in ids),
        undecoded=tuple(section for section in present.undecoded if section.section_id in ids),
    )
