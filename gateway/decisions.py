"""Decision records: what the pipeline did to an event, and why.

A ``Decision`` names a subject (a purpose, a destination or a field path), the action
taken, the rule that caused it (a config path or an adapter declaration) and a short
reason. It never carries the value it decided about: records are safe to log, to show
in ``gateway explain`` and to keep for audit. (A NamedTuple: an event makes dozens, and
tuples are the cheapest immutable record Python has.)
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Decision(NamedTuple):
    """One step of the pipeline's reasoning about one event."""

    stage: str
    subject: str
    action: str
    rule: str
    reason: str
    destination: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The record as a JSON object (``destination`` only when set)."""
        out = {
            "stage": self.stage,
            "subject": self.subject,
            "action": self.action,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.destination is not None:
            out["destination"] = self.destination
        return out

    def __str__(self) -> str:
        return f"[{self.stage}] {self.subject}: {self.action} ({self.reason}; rule {self.rule})"
