"""The one error type every consent decoder returns instead of raising."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SignalError:
    """A signal that could not be read; it grants nothing.

    ``reason`` is a short, value-free sentence fit for a decision record and a log line:
    it never repeats the raw signal, which may itself identify a visitor.
    """

    standard: str
    reason: str
