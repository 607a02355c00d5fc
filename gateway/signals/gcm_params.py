"""Google Consent Mode network parameters ``gcs`` and ``gcd``, as they arrive on pixel hits.

Reference: consent.md §4.3 (with §4.1 for the consent types and §6 for the vectors).
**Google does not document either parameter.** Both tables below are community
reverse-engineering (Simo Ahava / Markus Baersch, Adrienne Vermorel, Anowave), so the gateway
should prefer the CMP's explicit consent-mode object (``gateway.signals.gcm``) and use these for
logging, explain output and as a fallback. Community write-ups also disagree in places (one
reads ``l`` as "default denied"); this module follows consent.md's table exactly.

``gcs=G1xy``
    ``G1`` is constant; x is ad_storage, y is analytics_storage; ``1`` granted, ``0`` denied.
    Anything else (including ``-``, which the reference does not define) is a ``SignalError``:
    guessing at an undefined code could only ever grant by mistake.

``gcd=11<ad_storage>1<analytics_storage>1<ad_user_data>1<ad_personalization>5``
    One letter per consent type, in that order, separated by digits. Each letter places the
    type on two axes, the ``default`` command and the ``update`` command::

        default \\ update   none  denied  granted
        not set              l     m       n
        denied               p     q       r
        granted              t     u       v

    Effective state = update if present, else default, else "not set" (absent from
    ``GcmReading.values``). Newer hits use other separator digits and append extra letters
    (``13l3l3l3l1l1``); the reference's advice is to read the first four letters by position and
    ignore the digits, which is what this does.

Failing closed, two ways:

* A string whose *shape* is wrong (not ASCII letters and digits, letters not separated by
  digits, fewer than four letters, implausibly long) is a ``SignalError``: nothing in it can be
  located with confidence.
* A well-shaped string with a letter outside the table is still useful for the other types, so
  that one type is read as ``denied`` and the problem is listed in ``GcmReading.problems``.

Problems and reasons never repeat the parameter's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from gateway.signals.errors import SignalError
from gateway.signals.gcm import GcmReading, GcmType, GcmValue

GCS_STANDARD: Final = "gcs"
GCD_STANDARD: Final = "gcd"

# Positional order of the types each parameter carries (consent.md §4.3).
GCS_TYPES: Final[tuple[GcmType, ...]] = ("ad_storage", "analytics_storage")
GCD_TYPES: Final[tuple[GcmType, ...]] = (
    "ad_storage",
    "analytics_storage",
    "ad_user_data",
    "ad_personalization",
)

_GCS_DIGITS: Final[Mapping[str, GcmValue]] = {"1": "granted", "0": "denied"}

# letter -> (default, update); None = that command did not set the type.
GCD_LETTERS: Final[Mapping[str, tuple[GcmValue | None, GcmValue | None]]] = {
    "l": (None, None),
    "m": (None, "denied"),
    "n": (None, "granted"),
    "p": ("denied", None),
    "q": ("denied", "denied"),
    "r": ("denied", "granted"),
    "t": ("granted", None),
    "u": ("granted", "denied"),
    "v": ("granted", "granted"),
}

# Observed values are 10-12 characters; the cap only keeps junk out of the regex and the logs.
_GCD_MAX_LENGTH: Final = 64
# Explicit ASCII classes: ``\d`` and ``str.isalpha`` would also accept non-ASCII digits/letters.
_GCD_CHARSET: Final = re.compile(r"[0-9A-Za-z]+")
_GCD_SHAPE: Final = re.compile(r"[0-9]+(?:[A-Za-z][0-9]+)+")


@dataclass(frozen=True, slots=True)
class GcdSignal:
    """One consent type's letter in a ``gcd`` value, split into its two axes."""

    letter: str
    default: GcmValue | None
    update: GcmValue | None
    recognised: bool

    @property
    def effective(self) -> GcmValue | None:
        """Update if present, else default; None = not set; unrecognised letters read denied."""
        if not self.recognised:
            return "denied"
        return self.update if self.update is not None else self.default


@dataclass(frozen=True, slots=True)
class GcdDetail:
    """A decoded ``gcd`` value with the default/update detail kept for explain output."""

    signals: Mapping[str, GcdSignal]
    problems: tuple[str, ...] = ()

    @property
    def consent_mode_active(self) -> bool:
        """False when all four letters are ``l``: the page set no consent-mode state at all."""
        return any(signal.letter != "l" for signal in self.signals.values())

    def reading(self) -> GcmReading:
        """The effective state per type, in the shape ``gateway.signals.gcm`` produces."""
        values: dict[str, GcmValue] = {}
        for name, signal in self.signals.items():
            effective = signal.effective
            if effective is not None:
                values[name] = effective
        return GcmReading(values, self.problems)


def decode_gcs(gcs: str) -> GcmReading | SignalError:
    """Decode ``gcs=G1xy`` into ad_storage (x) and analytics_storage (y); never raises."""
    if not isinstance(gcs, str):
        # Values arrive from query strings and JSON; a non-string must not raise further down.
        return SignalError(GCS_STANDARD, "gcs value is not a string")
    if len(gcs) != 4:
        return SignalError(GCS_STANDARD, "gcs must be exactly 4 characters")
    if not gcs.startswith("G1"):
        return SignalError(GCS_STANDARD, "gcs does not start with the constant G1")
    values: dict[str, GcmValue] = {}
    for name, digit in zip(GCS_TYPES, gcs[2:], strict=True):
        value = _GCS_DIGITS.get(digit)
        if value is None:
            return SignalError(GCS_STANDARD, f"gcs {name} position is not 0 or 1")
        values[name] = value
    return GcmReading(values)


def decode_gcd_detail(gcd: str) -> GcdDetail | SignalError:
    """Decode a ``gcd`` value keeping each type's letter, default and update; never raises."""
    if not isinstance(gcd, str):
        return SignalError(GCD_STANDARD, "gcd value is not a string")
    if not gcd:
        return SignalError(GCD_STANDARD, "gcd is empty")
    if len(gcd) > _GCD_MAX_LENGTH:
        return SignalError(GCD_STANDARD, f"gcd is longer than {_GCD_MAX_LENGTH} characters")
    if _GCD_CHARSET.fullmatch(gcd) is None:
        return SignalError(GCD_STANDARD, "gcd has characters other than ASCII letters and digits")
    if _GCD_SHAPE.fullmatch(gcd) is None:
        # Adjacent letters or a missing leading/trailing digit make "one letter per type,
        # by position" ambiguous, so nothing is read from such a value.
        return SignalError(GCD_STANDARD, "gcd is not letters separated by digits")
    letters = [char for char in gcd if not char.isdigit()]
    if len(letters) < len(GCD_TYPES):
        return SignalError(GCD_STANDARD, "gcd carries fewer than four consent letters")
    signals: dict[str, GcdSignal] = {}
    problems: list[str] = []
    # Letters after the fourth appear on current hits and are undocumented: ignored by design.
    for name, letter in zip(GCD_TYPES, letters, strict=False):
        axes = GCD_LETTERS.get(letter)
        if axes is None:
            signals[name] = GcdSignal(letter, None, None, recognised=False)
            problems.append(f"{name}: unrecognised gcd letter, read as denied")
        else:
            signals[name] = GcdSignal(letter, axes[0], axes[1], recognised=True)
    return GcdDetail(signals, tuple(problems))


def decode_gcd(gcd: str) -> GcmReading | SignalError:
    """Decode a ``gcd`` value into the effective state of the four v2 types; never raises.

    A type that neither the default nor an update set is absent from ``values``; a type whose
    letter is not in the table is ``denied`` and reported in ``problems``.
    """
    detail = decode_gcd_detail(gcd)
    if isinstance(detail, SignalError):
        return detail
    return detail.reading()
