"""Read every consent signal of one event into one typed bundle, before any vote.

Each standard is decoded by its module under ``gateway.signals``; a signal that cannot
be read stays in the bundle as its ``SignalError`` so that the readers can apply the
stricter reading and say why. Embedded signals are unpacked here: the TC string of a
GPP ``tcfeuv2`` section and the US Privacy string of its ``uspv1`` section are read
like their stand-alone forms when the event does not carry those itself. Consent-mode
state from the explicit object and from the pixel parameters ``gcs``/``gcd`` is merged
type by type, a denial anywhere winning.

``describe`` turns the bundle into what may be shown and recorded: decoded booleans and
lists, never a raw consent string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.signals import gcm, gcm_params, gpp, tcf, usp
from gateway.signals.errors import SignalError
from gateway.signals.gcm import GcmValue

#: TCF 2.3 made the DisclosedVendors segment mandatory from this day on
DISCLOSED_VENDORS_REQUIRED_AFTER = datetime(2026, 2, 28, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ConsentInputs:
    """The decoded signals of one event; ``None`` where the event carried no such signal."""

    categories: Mapping[str, bool]
    gcm: Mapping[str, GcmValue]
    gpc: bool
    tcf: tcf.TcString | SignalError | None
    tcf_source: str
    gpp: gpp.GppString | SignalError | None
    usp: usp.UsPrivacy | SignalError | None
    usp_source: str
    #: (signal, problem) pairs worth a decision record: read strictly, never silently
    problems: tuple[tuple[str, str], ...]


def read_inputs(
    categories: tuple[tuple[str, bool], ...],
    gcm_object: tuple[tuple[str, str], ...],
    gcs: str | None,
    gcd: str | None,
    gpc: bool,
    tc_string: str | None,
    gpp_string: str | None,
    gpp_sid: tuple[int, ...] | None,
    usp_string: str | None,
) -> ConsentInputs:
    """Decode every signal the event carries (pure; the consent stage memoizes it)."""
    problems: list[tuple[str, str]] = []
    reading = gcm.decode(dict(gcm_object))
    problems += [("consent.gcm", p) for p in reading.problems]
    states: dict[str, GcmValue] = dict(reading.values)
    for name, raw, decode, types in (
        ("consent.gcs", gcs, gcm_params.decode_gcs, gcm_params.GCS_TYPES),
        ("consent.gcd", gcd, gcm_params.decode_gcd, gcm_params.GCD_TYPES),
    ):
        if raw is None:
            continue
        result = decode(raw)
        if isinstance(result, SignalError):
            # unreadable: every type it could have carried is read as denied
            problems.append((name, f"{result.reason}: its consent types read as denied"))
            values: Mapping[str, GcmValue] = dict.fromkeys(types, "denied")
        else:
            problems += [(name, p) for p in result.problems]
            values = result.values
        for kind, value in values.items():
            if value == "denied" or kind not in states:
                states[kind] = value

    gpp_result: gpp.GppString | SignalError | None = None
    if gpp_string is not None:
        gpp_result = gpp.decode(gpp_string, gpp_sid)
        if isinstance(gpp_result, SignalError):
            problems.append(("consent.gpp", gpp_result.reason))
        else:
            problems += [("consent.gpp", p) for p in gpp_result.problems]
    embedded = gpp_result if isinstance(gpp_result, gpp.GppString) else None

    tcf_result: tcf.TcString | SignalError | None = None
    tcf_source = "consent.tcf"
    if tc_string is None and embedded is not None and embedded.applicable_tcfeuv2 is not None:
        tc_string, tcf_source = embedded.applicable_tcfeuv2, "consent.gpp section tcfeuv2"
    if tc_string is not None:
        tcf_result = tcf.decode(
            tc_string, require_disclosed_vendors_after=DISCLOSED_VENDORS_REQUIRED_AFTER
        )
        if isinstance(tcf_result, SignalError):
            problems.append((tcf_source, tcf_result.reason))

    usp_result: usp.UsPrivacy | SignalError | None = None
    usp_source = "consent.usp"
    if usp_string is not None:
        usp_result = usp.decode(usp_string)
        if isinstance(usp_result, SignalError):
            problems.append((usp_source, usp_result.reason))
    elif embedded is not None and embedded.applicable_uspv1 is not None:
        usp_result, usp_source = embedded.applicable_uspv1, "consent.gpp section uspv1"

    return ConsentInputs(
        categories=dict(categories),
        gcm=states,
        gpc=gpc,
        tcf=tcf_result,
        tcf_source=tcf_source,
        gpp=gpp_result,
        usp=usp_result,
        usp_source=usp_source,
        problems=tuple(problems),
    )


def describe(inputs: ConsentInputs, vendor_ids: tuple[int, ...] = ()) -> dict[str, Any]:
    """The decoded signals as JSON-ready data for explain and the consent record.

    Only what was decided on: purposes, opt-out flags, the vendors the config names. No
    raw string, and no full vendor list (it would fingerprint the visitor's CMP choices).
    """
    out: dict[str, Any] = {"gpc": inputs.gpc}
    if inputs.categories:
        out["categories"] = dict(sorted(inputs.categories.items()))
    if inputs.gcm:
        out["gcm"] = dict(sorted(inputs.gcm.items()))
    if isinstance(inputs.tcf, SignalError):
        out["tcf"] = {"valid": False, "source": inputs.tcf_source, "reason": inputs.tcf.reason}
    elif inputs.tcf is not None:
        tc = inputs.tcf
        out["tcf"] = {
            "valid": True,
            "source": inputs.tcf_source,
            "policy_version": tc.tcf_policy_version,
            "cmp_id": tc.cmp_id,
            "created": tc.created.date().isoformat(),
            "purpose_consents": sorted(tc.purpose_consents),
            "vendor_consents": {str(v): v in tc.vendor_consents for v in vendor_ids},
        }
    if isinstance(inputs.gpp, SignalError):
        out["gpp"] = {"valid": False, "reason": inputs.gpp.reason}
    elif inputs.gpp is not None:
        out["gpp"] = {
            "valid": True,
            "sections": list(inputs.gpp.section_ids),
            "applicable": list(inputs.gpp.applicable_ids),
            "opt_outs": sorted(inputs.gpp.opt_outs()),
        }
    if isinstance(inputs.usp, SignalError):
        out["usp"] = {"valid": False, "source": inputs.usp_source, "reason": inputs.usp.reason}
    elif inputs.usp is not None:
        out["usp"] = {
            "valid": True,
            "source": inputs.usp_source,
            "applies": inputs.usp.applies,
            "opted_out": inputs.usp.opted_out,
        }
    return out
