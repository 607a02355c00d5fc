"""Build IAB GPP strings for tests, bit by bit, from the spec.

Written from consent.md §2.1-§2.3 (GPP core, section ids, US sections), independently of
``gateway.signals.gpp``, so tests can build strings that no vector covers.

* ``encode_gpp({section id: section})``: a whole GPP string, the header listing the ids and
  the sections in id order. A section is ``UsNat`` (7), ``UsCa`` (8), ``UsVa`` (9), or
  already-encoded text: a TC string for tcfeuv2 (2, see ``tests.support.tcf_encode``), a US
  Privacy string for uspv1 (6), anything for other ids.
* ``UsNat`` / ``UsCa`` / ``UsVa``: the US sections' fields by their spec names (snake case),
  with defaults meaning "every notice given, no opt-out, MSPA covered in service-provider
  mode"; ``gpc`` adds the GPC sub-section (usnat and usca only, as in the spec).
* ``header``, ``fibonacci``, ``us_core``, ``gpc_subsection``, ``base64url``: the encodings
  below them, to build malformed strings.

Values are written as given: only a value that does not fit its field raises ``ValueError``.
Opt-out codes (SaleOptOut, SharingOptOut, TargetedAdvertisingOptOut) are 0 = not applicable,
1 = opted out, 2 = did not opt out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "ALPHABET",
    "Section",
    "UsCa",
    "UsNat",
    "UsVa",
    "base64url",
    "encode_gpp",
    "fibonacci",
    "gpc_subsection",
    "header",
    "us_core",
]

ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""base64url, the alphabet of GPP headers and sections (written without ``=`` padding)."""

_HEADER_TYPE = 3
_HEADER_VERSION = 1
_GPC_SUBSECTION_TYPE = 1


def base64url(bits: str) -> str:
    """Bits right-padded with zeros to a multiple of 6, one base64url character per 6."""
    bits += "0" * (-len(bits) % 6)
    return "".join(ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def _uint(value: int, width: int) -> str:
    if not 0 <= value < 1 << width:
        raise ValueError(f"{value} does not fit in {width} bits")
    return format(value, f"0{width}b")


def fibonacci(number: int) -> str:
    """Fibonacci code of ``number`` >= 1: Zeckendorf bits for 1, 2, 3, 5, ... (least
    significant first), then a closing 1."""
    if number < 1:
        raise ValueError("Fibonacci coding starts at 1")
    weights = [1, 2]
    while weights[-1] <= number:
        weights.append(weights[-1] + weights[-2])
    bits = ["0"] * len(weights)
    for index in reversed(range(len(weights))):
        if weights[index] <= number:
            bits[index] = "1"
            number -= weights[index]
    return "".join(bits).rstrip("0") + "1"


def header(section_ids: Iterable[int]) -> str:
    """The header: Type(6) = 3, Version(6) = 1, then the ids as a Range(Fibonacci).

    Range(Fibonacci): Int(12) count, then per item a group bit, the Fibonacci-coded offset
    from the previous item's last id and, for a group of consecutive ids, its Fibonacci
    length. Ids are sorted and deduplicated; consecutive ids become groups.
    """
    groups: list[tuple[int, int]] = []
    for section_id in sorted(set(section_ids)):
        if groups and section_id == groups[-1][1] + 1:
            groups[-1] = (groups[-1][0], section_id)
        else:
            groups.append((section_id, section_id))
    bits = _uint(_HEADER_TYPE, 6) + _uint(_HEADER_VERSION, 6) + _uint(len(groups), 12)
    last = 0
    for start, end in groups:
        offset = fibonacci(start - last)
        bits += f"0{offset}" if start == end else f"1{offset}{fibonacci(end - start)}"
        last = end
    return base64url(bits)


def us_core(version: int, values: Sequence[int]) -> str:
    """A US section's core segment: Version Int(6), then each value as an Int(2)."""
    return base64url(_uint(version, 6) + "".join(_uint(value, 2) for value in values))


def gpc_subsection(gpc: bool) -> str:
    """The GPC sub-section: SubsectionType Int(2) = 1, then Gpc Bool (``Y`` / ``Q``)."""
    return base64url(_uint(_GPC_SUBSECTION_TYPE, 2) + ("1" if gpc else "0"))


def _with_gpc(core: str, gpc: bool | None) -> str:
    return core if gpc is None else f"{core}.{gpc_subsection(gpc)}"


@dataclass(frozen=True, kw_only=True, slots=True)
class UsNat:
    """Section 7, usnat, in the v1 (12 sensitive-data, 2 known-child entries) or v2 (16, 3)
    layout, chosen by ``version``; the lists default to zeros of the version's length and
    are written as given otherwise. ``gpc``: ``None`` writes no GPC sub-section.

    Example: ``UsNat(sale_opt_out=1, gpc=True).encode() == "BVVaAAAAAZ.Y"``.
    """

    section_id: ClassVar[int] = 7

    version: int = 1
    sharing_notice: int = 1
    sale_opt_out_notice: int = 1
    sharing_opt_out_notice: int = 1
    targeted_advertising_opt_out_notice: int = 1
    sensitive_data_processing_opt_out_notice: int = 1
    sensitive_data_limit_use_notice: int = 1
    sale_opt_out: int = 2
    sharing_opt_out: int = 2
    targeted_advertising_opt_out: int = 2
    sensitive_data_processing: Sequence[int] | None = None
    known_child_sensitive_data_consents: Sequence[int] | None = None
    personal_data_consents: int = 0
    mspa_covered_transaction: int = 1
    mspa_opt_out_option_mode: int = 2
    mspa_service_provider_mode: int = 1
    gpc: bool | None = None

    def encode(self) -> str:
        """The section text: core, then ``.`` and the GPC sub-section if ``gpc`` is set."""
        v2 = self.version == 2
        sensitive = self.sensitive_data_processing
        child = self.known_child_sensitive_data_consents
        values = [
            self.sharing_notice,
            self.sale_opt_out_notice,
            self.sharing_opt_out_notice,
            self.targeted_advertising_opt_out_notice,
            self.sensitive_data_processing_opt_out_notice,
            self.sensitive_data_limit_use_notice,
            self.sale_opt_out,
            self.sharing_opt_out,
            self.targeted_advertising_opt_out,
            *((0,) * (16 if v2 else 12) if sensitive is None else sensitive),
            *((0,) * (3 if v2 else 2) if child is None else child),
            self.personal_data_consents,
            self.mspa_covered_transaction,
            self.mspa_opt_out_option_mode,
            self.mspa_service_provider_mode,
        ]
        return _with_gpc(us_core(self.version, values), self.gpc)


@dataclass(frozen=True, kw_only=True, slots=True)
class UsCa:
    """Section 8, usca (v1): 9 sensitive-data entries (opt-outs here, 1 = opted out) and 2
    known-child entries. ``gpc``: ``None`` writes no GPC sub-section.

    Example: ``UsCa(sharing_opt_out=1).encode() == "BVkAAABk"``.
    """

    section_id: ClassVar[int] = 8

    version: int = 1
    sale_opt_out_notice: int = 1
    sharing_opt_out_notice: int = 1
    sensitive_data_limit_use_notice: int = 1
    sale_opt_out: int = 2
    sharing_opt_out: int = 2
    sensitive_data_processing: Sequence[int] = (0,) * 9
    known_child_sensitive_data_consents: Sequence[int] = (0, 0)
    personal_data_consents: int = 0
    mspa_covered_transaction: int = 1
    mspa_opt_out_option_mode: int = 2
    mspa_service_provider_mode: int = 1
    gpc: bool | None = None

    def encode(self) -> str:
        """The section text: core, then ``.`` and the GPC sub-section if ``gpc`` is set."""
        values = [
            self.sale_opt_out_notice,
            self.sharing_opt_out_notice,
            self.sensitive_data_limit_use_notice,
            self.sale_opt_out,
            self.sharing_opt_out,
            *self.sensitive_data_processing,
            *self.known_child_sensitive_data_consents,
            self.personal_data_consents,
            self.mspa_covered_transaction,
            self.mspa_opt_out_option_mode,
            self.mspa_service_provider_mode,
        ]
        return _with_gpc(us_core(self.version, values), self.gpc)


@dataclass(frozen=True, kw_only=True, slots=True)
class UsVa:
    """Section 9, usva (v1): 8 sensitive-data entries and a single known-child Int(2). Its
    layout has no GPC sub-section.

    Example: ``UsVa(targeted_advertising_opt_out=1).encode() == "BVkAABk"``.
    """

    section_id: ClassVar[int] = 9

    version: int = 1
    sharing_notice: int = 1
    sale_opt_out_notice: int = 1
    targeted_advertising_opt_out_notice: int = 1
    sale_opt_out: int = 2
    targeted_advertising_opt_out: int = 2
    sensitive_data_processing: Sequence[int] = (0,) * 8
    known_child_sensitive_data_consents: int = 0
    mspa_covered_transaction: int = 1
    mspa_opt_out_option_mode: int = 2
    mspa_service_provider_mode: int = 1

    def encode(self) -> str:
        """The section text (core only)."""
        values = [
            self.sharing_notice,
            self.sale_opt_out_notice,
            self.targeted_advertising_opt_out_notice,
            self.sale_opt_out,
            self.targeted_advertising_opt_out,
            *self.sensitive_data_processing,
            self.known_child_sensitive_data_consents,
            self.mspa_covered_transaction,
            self.mspa_opt_out_option_mode,
            self.mspa_service_provider_mode,
        ]
        return us_core(self.version, values)


Section = str | UsNat | UsCa | UsVa
"""A section for ``encode_gpp``: a builder, or its text as it goes between the ``~``."""


def encode_gpp(sections: Mapping[int, Section]) -> str:
    """A GPP string: the header for ``sections``' ids, then each section, in id order.

    A builder must sit under its own id (``UsNat`` under 7 ...); text is written as given.

    Example::

        encode_gpp({2: tc_string, 6: "1YNN", 7: UsNat(sale_opt_out=1, gpc=True)})
    """
    parts = [header(sections)]
    for section_id in sorted(sections):
        section = sections[section_id]
        if isinstance(section, str):
            parts.append(section)
            continue
        if section.section_id != section_id:
            raise ValueError(f"{type(section).__name__} is section {section.section_id}")
        parts.append(section.encode())
    return "~".join(parts)
