"""IAB US Privacy string (CCPA, version 1): ``us_privacy=1YNN``.

Reference: consent.md §3 [USP], quoting IAB Tech Lab's *U.S. Privacy String* v1 (final, Nov 2019,
"-" clarification Feb 2020). Four characters: specification version, explicit notice,
opt-out of sale, LSPA-covered transaction. ``1---`` means the publisher decided CCPA does not
apply. IAB deprecated the string on 31 Jan 2024 in favour of GPP (section 6 carries the same
four characters), but pages still send it.

Strictness, and why:

* Only version ``1`` is accepted. No other version is specified; the ``2YNY`` test vector
  (iabgpp-es accepts it) carries the note that a gateway should treat unknown versions as
  unparseable.
* Flags must be exactly ``Y``, ``N`` or ``-``. The spec gives the enum in upper case and says
  nothing about lower case, so ``1yyn`` is ambiguous input and is rejected rather than guessed
  at. Surrounding whitespace is not stripped for the same reason.
* ``-`` in the opt-out position is accepted only as ``1---``: the spec says "Opt-Out of Sale may
  never be unknown" when the law applies, so ``1Y-N`` is not a valid string.

How the consent stage should read the result (the decoder only reports):

* A ``SignalError`` means "a US Privacy string was present and could not be read". US regimes
  are opt-*out* (forwarding is allowed by default, consent.md §7.2), so reading an unreadable
  string as "no signal" would fail *open*: a mangled ``1YYN`` would let a sale through.
  In an opt-out region the stage should therefore treat a ``SignalError`` as an opt-out of sale
  (``us_sale_optout``) and record the reason. In an opt-in region it grants nothing either way.
* ``applies is False`` (``1---``) is the publisher's own view; the gateway's geo lookup may still
  place the visitor in an opt-out state, and then the stricter reading wins (consent.md §7.2,
  cross-cutting default 4, applied by analogy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from gateway.signals.errors import SignalError

UspFlag = Literal["Y", "N", "-"]

STANDARD: Final = "usp"
# A lookup rather than a membership test so the result is typed UspFlag without a cast.
_FLAGS: Final[dict[str, UspFlag]] = {"Y": "Y", "N": "N", "-": "-"}
_NOT_APPLICABLE: Final = "1---"


@dataclass(frozen=True, slots=True)
class UsPrivacy:
    """A valid version-1 US Privacy string, field by field."""

    version: int
    notice: UspFlag
    opt_out_sale: UspFlag
    lspa: UspFlag

    @property
    def applies(self) -> bool:
        """False only for ``1---``: the publisher determined CCPA does not apply."""
        return not (self.notice == self.opt_out_sale == self.lspa == "-")

    @property
    def opted_out(self) -> bool:
        """Whether the visitor opted out of the sale of their personal information."""
        return self.opt_out_sale == "Y"


def decode(usp: str) -> UsPrivacy | SignalError:
    """Decode a US Privacy string such as ``1YNN``; never raises.

    Returns ``SignalError(standard="usp", …)`` for anything that is not exactly a valid
    version-1 string; the reason names the failing position, never the value.
    """
    if not isinstance(usp, str):
        # Values arrive from JSON payloads; a number or null must not raise further down.
        return SignalError(STANDARD, "US Privacy value is not a string")
    if len(usp) != 4:
        return SignalError(STANDARD, "US Privacy string must be exactly 4 characters")
    if usp[0] != "1":
        return SignalError(STANDARD, "unsupported US Privacy version; only version 1 is specified")
    notice = _FLAGS.get(usp[1])
    if notice is None:
        return SignalError(STANDARD, "notice flag is not one of Y, N, - (upper case)")
    opt_out_sale = _FLAGS.get(usp[2])
    if opt_out_sale is None:
        return SignalError(STANDARD, "opt-out-of-sale flag is not one of Y, N, - (upper case)")
    lspa = _FLAGS.get(usp[3])
    if lspa is None:
        return SignalError(STANDARD, "LSPA flag is not one of Y, N, - (upper case)")
    if opt_out_sale == "-" and usp != _NOT_APPLICABLE:
        return SignalError(STANDARD, "opt-out of sale is '-' although the string says CCPA applies")
    return UsPrivacy(1, notice, opt_out_sale, lspa)
