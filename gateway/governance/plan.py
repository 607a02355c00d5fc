"""The tracking plan checker: does an event carry the properties the site promised?

A tracking plan catches broken instrumentation (a price sent as text, a missing
``transaction_id``) before destinations receive it, which is when it is still cheap to
notice. It runs on every event, so the plan is compiled once: every verdict the config can
produce (metric labels, reasons, dead-letter text) is built at compile time and ``check``
does only dict and set lookups. Labels are bounded by the config, never by the traffic, and
no reason quotes a value: properties may be personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.config.governance import EventPlan, Handling, PropertySpec, TrackingPlan

__all__ = ["CompiledPlan", "PlanResult", "Violation"]

#: the event label of an event the plan does not list: the name itself would be unbounded
UNKNOWN_EVENT = "unknown"
_DEAD_LETTER_PREFIX = "tracking plan: "


@dataclass(frozen=True, slots=True)
class Violation:
    """One way an event breaks the tracking plan; ``event`` and ``rule`` are metric labels."""

    event: str
    rule: str
    path: str
    handling: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    """The verdict on one event: its properties after stripping, what was wrong, and whether
    it must be dead-lettered (the reason, else None)."""

    properties: dict[str, Any]
    violations: tuple[Violation, ...]
    dead_letter: str | None


_NO_VIOLATIONS: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class _Verdict:
    """A violation with its consequences worked out at compile time."""

    violation: Violation
    #: the property to remove when the handling is ``strip``
    strip: str | None
    #: the dead-letter reason when the handling is ``dead_letter``
    dead_letter: str | None


def _verdict(event: str, rule: str, path: str, handling: Handling, reason: str) -> _Verdict:
    strip = path.removeprefix("properties.") if handling == "strip" else None
    dead = f"{_DEAD_LETTER_PREFIX}{event}.{path} {reason}" if handling == "dead_letter" else None
    return _Verdict(Violation(event, rule, path, handling, reason), strip, dead)


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but true is not a quantity
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # the event model types ``value`` as float, so an integral 2.0 is what an integer 2 becomes
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda value: isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


def _number_text(number: float) -> str:
    """``0`` rather than ``0.0`` for the bounds an operator wrote as integers."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


class _Property:
    """One planned property, every check and every verdict prepared."""

    __slots__ = (
        "bools",
        "max",
        "max_length",
        "min",
        "name",
        "numbers",
        "required",
        "strings",
        "too_long_array",
        "too_long_string",
        "type_ok",
        "type_verdict",
        "values_verdict",
    )

    def __init__(self, event: str, name: str, spec: PropertySpec, handling: Handling) -> None:
        path = f"properties.{name}"

        def verdict(check: str, reason: str, how: Handling = handling) -> _Verdict:
            return _verdict(event, f"{name}.{check}", path, how, reason)

        self.name = name
        # nothing to strip when the property is absent: report what really happens
        missing: Handling = "flag" if handling == "strip" else handling
        self.required = (
            verdict("required", "required property missing", missing) if spec.required else None
        )
        self.type_ok = _TYPE_CHECKS[spec.type] if spec.type is not None else None
        self.type_verdict = verdict("type", f"expected {spec.type}")
        # one set per kind: in a single set True would equal 1 and "1" would not equal 1.0
        allowed = spec.values or []
        self.bools = frozenset(v for v in allowed if isinstance(v, bool))
        self.numbers = frozenset(v for v in allowed if _is_number(v))
        self.strings = frozenset(v for v in allowed if isinstance(v, str))
        self.values_verdict = (
            verdict("values", "not one of the allowed values") if spec.values is not None else None
        )
        self.min: tuple[float, _Verdict] | None = None
        if spec.min is not None:
            self.min = (spec.min, verdict("min", f"below minimum {_number_text(spec.min)}"))
        self.max: tuple[float, _Verdict] | None = None
        if spec.max is not None:
            self.max = (spec.max, verdict("max", f"above maximum {_number_text(spec.max)}"))
        self.max_length = spec.max_length
        self.too_long_string = verdict("max_length", f"longer than {spec.max_length} characters")
        self.too_long_array = verdict("max_length", f"more than {spec.max_length} entries")

    def check(self, value: Any, found: list[_Verdict]) -> None:
        """Append the verdicts ``value`` earns (it is present and not None)."""
        if self.type_ok is not None and not self.type_ok(value):
            # the other checks assume the right type: one clear violation, not a cascade
            found.append(self.type_verdict)
            return
        if self.values_verdict is not None and not self._allowed(value):
            found.append(self.values_verdict)
        if _is_number(value):
            if self.min is not None and value < self.min[0]:
                found.append(self.min[1])
            if self.max is not None and value > self.max[0]:
                found.append(self.max[1])
        elif self.max_length is not None:
            if isinstance(value, str):
                if len(value) > self.max_length:
                    found.append(self.too_long_string)
            elif isinstance(value, list) and len(value) > self.max_length:
                found.append(self.too_long_array)

    def _allowed(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value in self.bools
        if isinstance(value, int | float):
            return value in self.numbers
        if isinstance(value, str):
            return value in self.strings
        return False


class _Event:
    """One planned event: its properties, and the names it accepts when others are refused."""

    __slots__ = ("additional_handling", "listed", "name", "properties", "trivial")

    def __init__(self, name: str, plan: EventPlan) -> None:
        self.name = name
        self.properties = tuple(
            _Property(name, prop, spec, spec.on_violation or plan.on_violation)
            for prop, spec in plan.properties.items()
        )
        self.listed = None if plan.additional_properties else frozenset(plan.properties)
        self.additional_handling: Handling = plan.on_violation
        self.trivial = not self.properties and self.listed is None

    def additional(self, prop: str) -> _Verdict:
        """The verdict on ``prop``, which the plan does not list (built per call: the name is
        the sender's, not the config's)."""
        return _verdict(
            self.name,
            "additional_properties",
            f"properties.{prop}",
            self.additional_handling,
            "property not in the tracking plan",
        )


class CompiledPlan:
    """A ``TrackingPlan`` ready to check events against."""

    __slots__ = ("_events", "_unknown")

    def __init__(self, events: dict[str, _Event], unknown: _Verdict | None) -> None:
        self._events = events
        self._unknown = unknown

    @classmethod
    def compile(cls, plan: TrackingPlan) -> CompiledPlan:
        """Prepare ``plan``: every label, reason and dead-letter text is built here."""
        events = {name: _Event(name, event_plan) for name, event_plan in plan.events.items()}
        unknown = None
        if plan.unknown_events != "pass":
            unknown = _Verdict(
                Violation(
                    UNKNOWN_EVENT,
                    "unknown_event",
                    "event",
                    plan.unknown_events,
                    "event not in the tracking plan",
                ),
                None,
                f"{_DEAD_LETTER_PREFIX}unknown event"
                if plan.unknown_events == "dead_letter"
                else None,
            )
        return cls(events, unknown)

    def check(self, event_name: str, properties: dict[str, Any]) -> PlanResult:
        """Check one event's properties (the plain dict of the governed source).

        Never mutates ``properties``: when nothing is stripped the result holds the same
        object, otherwise a copy without the stripped properties. All violations are
        reported; any ``dead_letter`` handling dead-letters the event.
        """
        event = self._events.get(event_name)
        if event is None:
            if self._unknown is None:
                return PlanResult(properties, _NO_VIOLATIONS, None)
            return PlanResult(properties, (self._unknown.violation,), self._unknown.dead_letter)
        if event.trivial:
            return PlanResult(properties, _NO_VIOLATIONS, None)
        found: list[_Verdict] = []
        for prop in event.properties:
            # the governed source drops nulls; a null that got through is as good as absent
            value = properties.get(prop.name)
            if value is None:
                if prop.required is not None:
                    found.append(prop.required)
            else:
                prop.check(value, found)
        if event.listed is not None:
            found.extend(event.additional(name) for name in properties if name not in event.listed)
        if not found:
            return PlanResult(properties, _NO_VIOLATIONS, None)
        return _result(properties, found)


def _result(properties: dict[str, Any], found: list[_Verdict]) -> PlanResult:
    violations = tuple(verdict.violation for verdict in found)
    dead_letter = next((v.dead_letter for v in found if v.dead_letter is not None), None)
    stripped = properties
    # a dead-lettered event is kept as it arrived, so that it can be replayed once the site
    # or the plan is fixed; stripping is for events that go on to destinations
    if dead_letter is None:
        strip = {verdict.strip for verdict in found if verdict.strip is not None}
        if strip:
            stripped = {k: v for k, v in properties.items() if k not in strip}
    return PlanResult(stripped, violations, dead_letter)
