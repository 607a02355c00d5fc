"""Tests for gateway.governance.plan: the tracking plan checker."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.config.governance import TrackingPlan
from gateway.governance.plan import CompiledPlan, PlanResult, Violation


def compiled(events: dict[str, Any], **plan: Any) -> CompiledPlan:
    """A plan compiled from the dict form the YAML loader hands to the models."""
    return CompiledPlan.compile(TrackingPlan.model_validate({"events": events, **plan}))


def one(prop: dict[str, Any], **event: Any) -> CompiledPlan:
    """A plan with one event ``e`` and one property ``p``."""
    return compiled({"e": {"properties": {"p": prop}, **event}})


def rules(result: PlanResult) -> list[str]:
    return [v.rule for v in result.violations]


# -- compile -----------------------------------------------------------------------------


def test_yaml_integers_are_accepted_where_floats_are_expected() -> None:
    plan = TrackingPlan.model_validate(
        {"events": {"purchase": {"properties": {"value": {"min": 0, "max": 10}}}}}
    )
    spec = plan.events["purchase"].properties["value"]
    assert spec.min == 0.0 and isinstance(spec.min, float)
    result = CompiledPlan.compile(plan).check("purchase", {"value": -1.0})
    assert result.violations[0].reason == "below minimum 0"


def test_empty_plan_passes_everything() -> None:
    props = {"a": 1}
    result = CompiledPlan.compile(TrackingPlan()).check("anything", props)
    assert result == PlanResult(props, (), None)
    assert result.properties is props


# -- unknown events ----------------------------------------------------------------------


def test_unknown_event_pass_is_the_fast_path() -> None:
    plan = compiled({"purchase": {}}, unknown_events="pass")
    props = {"x": 1}
    result = plan.check("signup", props)
    assert result.properties is props
    assert result.violations == ()
    assert result.dead_letter is None


def test_unknown_event_flag() -> None:
    props = {"x": 1}
    result = compiled({"purchase": {}}, unknown_events="flag").check("signup", props)
    assert result.violations == (
        Violation(
            event="unknown",
            rule="unknown_event",
            path="event",
            handling="flag",
            reason="event not in the tracking plan",
        ),
    )
    assert result.dead_letter is None
    assert result.properties is props


def test_unknown_event_dead_letter() -> None:
    result = compiled({"purchase": {}}, unknown_events="dead_letter").check("signup", {})
    (violation,) = result.violations
    assert (violation.event, violation.rule, violation.path, violation.handling) == (
        "unknown",
        "unknown_event",
        "event",
        "dead_letter",
    )
    assert result.dead_letter == "tracking plan: unknown event"


def test_listed_event_is_not_unknown() -> None:
    result = compiled({"purchase": {}}, unknown_events="dead_letter").check("purchase", {"a": 1})
    assert result.violations == ()
    assert result.dead_letter is None


# -- required ----------------------------------------------------------------------------


def test_required_missing() -> None:
    result = one({"required": True}).check("e", {})
    assert result.violations == (
        Violation("e", "p.required", "properties.p", "flag", "required property missing"),
    )


def test_required_present() -> None:
    assert one({"required": True}).check("e", {"p": "x"}).violations == ()


def test_required_null_counts_as_missing() -> None:
    assert rules(one({"required": True}).check("e", {"p": None})) == ["p.required"]


def test_optional_missing_is_fine() -> None:
    assert one({"type": "string", "min": 1.0}).check("e", {}).violations == ()


def test_required_missing_under_strip_is_reported_as_flag() -> None:
    props: dict[str, Any] = {"q": 1}
    result = one({"required": True}, on_violation="strip").check("e", props)
    assert result.violations[0].handling == "flag"
    assert result.properties is props


def test_required_missing_under_dead_letter() -> None:
    result = one({"required": True}, on_violation="dead_letter").check("e", {})
    assert result.dead_letter == "tracking plan: e.properties.p required property missing"


# -- type --------------------------------------------------------------------------------

TYPE_CASES: list[tuple[str, Any, bool]] = [
    ("string", "x", True),
    ("string", "", True),
    ("string", 1, False),
    ("string", ["x"], False),
    ("number", 1, True),
    ("number", 1.5, True),
    ("number", -0.0, True),
    ("number", True, False),
    ("number", False, False),
    ("number", "1", False),
    ("integer", 2, True),
    ("integer", 2.0, True),
    ("integer", -3.0, True),
    ("integer", 2.5, False),
    ("integer", True, False),
    ("integer", "2", False),
    ("boolean", True, True),
    ("boolean", False, True),
    ("boolean", 1, False),
    ("boolean", 0, False),
    ("boolean", "true", False),
    ("array", [], True),
    ("array", [1, "a"], True),
    ("array", {}, False),
    ("array", "ab", False),
    ("object", {}, True),
    ("object", {"a": 1}, True),
    ("object", [], False),
    ("object", "a", False),
]


@pytest.mark.parametrize(("kind", "value", "ok"), TYPE_CASES)
def test_type(kind: str, value: Any, ok: bool) -> None:
    result = one({"type": kind}).check("e", {"p": value})
    if ok:
        assert result.violations == ()
    else:
        assert result.violations == (
            Violation("e", "p.type", "properties.p", "flag", f"expected {kind}"),
        )


def test_type_failure_skips_the_other_checks() -> None:
    plan = one({"type": "number", "values": [1.0], "min": 5.0, "max_length": 1})
    assert rules(plan.check("e", {"p": "a long string"})) == ["p.type"]


# -- values ------------------------------------------------------------------------------


def test_values_strings() -> None:
    plan = one({"values": ["EUR", "USD"]})
    assert plan.check("e", {"p": "EUR"}).violations == ()
    assert plan.check("e", {"p": "GBP"}).violations == (
        Violation("e", "p.values", "properties.p", "flag", "not one of the allowed values"),
    )


def test_values_numbers_compare_numerically() -> None:
    plan = one({"values": [1, 2.5]})
    assert plan.check("e", {"p": 1.0}).violations == ()
    assert plan.check("e", {"p": 2.5}).violations == ()
    assert rules(plan.check("e", {"p": 3})) == ["p.values"]


@pytest.mark.parametrize(
    ("allowed", "value"),
    [([1], True), ([0], False), ([True], 1), ([False], 0), ([True], 1.0), ([1], "1")],
)
def test_values_are_type_aware(allowed: list[Any], value: Any) -> None:
    assert rules(one({"values": allowed}).check("e", {"p": value})) == ["p.values"]


def test_values_booleans() -> None:
    plan = one({"values": [True]})
    assert plan.check("e", {"p": True}).violations == ()
    assert rules(plan.check("e", {"p": False})) == ["p.values"]


def test_values_never_match_containers() -> None:
    plan = one({"values": ["a"]})
    assert rules(plan.check("e", {"p": ["a"]})) == ["p.values"]
    assert rules(plan.check("e", {"p": {"a": 1}})) == ["p.values"]


# -- min / max ---------------------------------------------------------------------------


def test_min_and_max_are_inclusive() -> None:
    plan = one({"type": "number", "min": 0.0, "max": 100.0})
    for ok in (0, 0.0, 50.5, 100, 100.0):
        assert plan.check("e", {"p": ok}).violations == ()
    assert plan.check("e", {"p": -0.01}).violations == (
        Violation("e", "p.min", "properties.p", "flag", "below minimum 0"),
    )
    assert plan.check("e", {"p": 100.5}).violations == (
        Violation("e", "p.max", "properties.p", "flag", "above maximum 100"),
    )


def test_fractional_bound_in_reason() -> None:
    result = one({"min": 0.5}).check("e", {"p": 0.25})
    assert result.violations[0].reason == "below minimum 0.5"


def test_min_max_ignore_non_numbers() -> None:
    plan = one({"min": 1.0, "max": 2.0})
    for value in ("zzz", True, False, [5], {"a": 9}):
        assert plan.check("e", {"p": value}).violations == (), value


# -- max_length --------------------------------------------------------------------------


def test_max_length_string_counts_characters() -> None:
    plan = one({"type": "string", "max_length": 3})
    assert plan.check("e", {"p": "äöü"}).violations == ()  # 6 bytes, 3 characters
    assert plan.check("e", {"p": "abcd"}).violations == (
        Violation("e", "p.max_length", "properties.p", "flag", "longer than 3 characters"),
    )


def test_max_length_array_counts_entries() -> None:
    plan = one({"max_length": 2})
    assert plan.check("e", {"p": [1, 2]}).violations == ()
    assert plan.check("e", {"p": [1, 2, 3]}).violations == (
        Violation("e", "p.max_length", "properties.p", "flag", "more than 2 entries"),
    )


def test_max_length_ignores_numbers_and_objects() -> None:
    plan = one({"max_length": 1})
    assert plan.check("e", {"p": 12345}).violations == ()
    assert plan.check("e", {"p": {"a": 1, "b": 2}}).violations == ()


# -- additional properties ---------------------------------------------------------------


def test_additional_properties_allowed_by_default() -> None:
    assert one({}).check("e", {"p": 1, "other": 2}).violations == ()


def test_additional_properties_false() -> None:
    plan = one({}, additional_properties=False)
    assert plan.check("e", {"p": 1}).violations == ()
    result = plan.check("e", {"p": 1, "x": 2, "y": 3})
    assert result.violations == (
        Violation(
            "e",
            "additional_properties",
            "properties.x",
            "flag",
            "property not in the tracking plan",
        ),
        Violation(
            "e",
            "additional_properties",
            "properties.y",
            "flag",
            "property not in the tracking plan",
        ),
    )


def test_additional_properties_use_the_event_handling_not_the_property_one() -> None:
    plan = compiled(
        {
            "e": {
                "on_violation": "strip",
                "additional_properties": False,
                "properties": {"p": {"on_violation": "dead_letter"}},
            }
        }
    )
    props = {"p": 1, "x": 2}
    result = plan.check("e", props)
    assert [v.handling for v in result.violations] == ["strip"]
    assert result.properties == {"p": 1}
    assert result.dead_letter is None


def test_additional_properties_dead_letter() -> None:
    plan = one({}, additional_properties=False, on_violation="dead_letter")
    result = plan.check("e", {"zz": 1})
    assert result.dead_letter == "tracking plan: e.properties.zz property not in the tracking plan"


# -- handling ----------------------------------------------------------------------------

PURCHASE = {
    "purchase": {
        "properties": {
            "value": {"type": "number", "required": True, "min": 0},
            "currency": {"type": "string", "values": ["EUR", "USD"]},
            "transaction_id": {"type": "string", "required": True},
        }
    }
}


def with_handling(handling: str, **prop_override: str) -> CompiledPlan:
    events = copy.deepcopy(PURCHASE)
    events["purchase"]["on_violation"] = handling  # type: ignore[assignment]
    for name, how in prop_override.items():
        events["purchase"]["properties"][name]["on_violation"] = how
    return compiled(events)


BAD = {"value": -5.0, "currency": "EUR", "transaction_id": "t1", "custom": "x"}


def test_flag_leaves_properties_untouched() -> None:
    props = dict(BAD)
    result = with_handling("flag").check("purchase", props)
    assert result.properties is props
    assert result.properties == BAD
    assert result.violations == (
        Violation("purchase", "value.min", "properties.value", "flag", "below minimum 0"),
    )
    assert result.dead_letter is None


def test_strip_removes_only_the_bad_property_and_copies() -> None:
    props = dict(BAD)
    result = with_handling("strip").check("purchase", props)
    assert result.properties == {"currency": "EUR", "transaction_id": "t1", "custom": "x"}
    assert result.properties is not props
    assert props == BAD  # the input is not mutated
    assert result.violations[0].handling == "strip"
    assert result.dead_letter is None


def test_strip_with_no_violation_returns_the_same_object() -> None:
    props = {"value": 5.0, "currency": "USD", "transaction_id": "t"}
    result = with_handling("strip").check("purchase", props)
    assert result.properties is props
    assert result.violations == ()


def test_strip_a_property_failing_several_checks() -> None:
    plan = one({"values": ["a"], "max_length": 1}, on_violation="strip")
    props = {"p": "bbb", "q": 1}
    result = plan.check("e", props)
    assert rules(result) == ["p.values", "p.max_length"]
    assert result.properties == {"q": 1}


def test_dead_letter_reason_names_the_rule_not_the_value() -> None:
    result = with_handling("dead_letter").check("purchase", dict(BAD))
    assert result.dead_letter == "tracking plan: purchase.properties.value below minimum 0"
    assert "-5" not in result.dead_letter
    assert result.violations[0].handling == "dead_letter"


def test_property_override_of_on_violation() -> None:
    plan = with_handling("flag", currency="strip")
    props = {"value": -1.0, "currency": "GBP", "transaction_id": "t"}
    result = plan.check("purchase", props)
    assert [(v.rule, v.handling) for v in result.violations] == [
        ("value.min", "flag"),
        ("currency.values", "strip"),
    ]
    assert result.properties == {"value": -1.0, "transaction_id": "t"}
    assert result.dead_letter is None


def test_property_override_to_dead_letter_under_a_strip_event() -> None:
    plan = with_handling("strip", transaction_id="dead_letter")
    result = plan.check("purchase", {"value": 1.0})
    assert result.dead_letter == (
        "tracking plan: purchase.properties.transaction_id required property missing"
    )


def test_all_violations_reported_and_dead_letter_wins() -> None:
    plan = with_handling("strip", currency="dead_letter")
    props = {"value": "9.99", "currency": "GBP", "transaction_id": 7}
    result = plan.check("purchase", props)
    assert [(v.rule, v.handling) for v in result.violations] == [
        ("value.type", "strip"),
        ("currency.values", "dead_letter"),
        ("transaction_id.type", "strip"),
    ]
    assert result.dead_letter == (
        "tracking plan: purchase.properties.currency not one of the allowed values"
    )
    # a dead-lettered event is kept as it arrived, for replay
    assert result.properties is props


def test_first_dead_letter_reason_wins() -> None:
    plan = with_handling("dead_letter")
    result = plan.check("purchase", {"value": -1.0, "currency": "GBP"})
    assert rules(result) == ["value.min", "currency.values", "transaction_id.required"]
    assert result.dead_letter == "tracking plan: purchase.properties.value below minimum 0"


# -- labels ------------------------------------------------------------------------------


def test_labels_are_bounded_by_the_config() -> None:
    plan = compiled(
        {
            "purchase": {
                "additional_properties": False,
                "properties": {
                    "value": {"type": "number", "min": 0},
                    "currency": {"values": ["EUR"]},
                    "items": {"type": "array", "max_length": 1},
                    "coupon": {"type": "string", "max": 1, "required": True},
                },
            }
        },
        unknown_events="flag",
    )
    result = plan.check(
        "purchase", {"value": -1.0, "currency": "X", "items": [{}, {}], "sender_chosen_name": 1}
    )
    assert [(v.event, v.rule, v.path) for v in result.violations] == [
        ("purchase", "value.min", "properties.value"),
        ("purchase", "currency.values", "properties.currency"),
        ("purchase", "items.max_length", "properties.items"),
        ("purchase", "coupon.required", "properties.coupon"),
        ("purchase", "additional_properties", "properties.sender_chosen_name"),
    ]
    unknown = plan.check("Sender Chosen Event", {})
    assert [(v.event, v.rule, v.path) for v in unknown.violations] == [
        ("unknown", "unknown_event", "event")
    ]


def test_properties_from_the_event_model() -> None:
    from gateway.event import Event

    event = Event.model_validate(
        {
            "event": "purchase",
            "properties": {
                "value": 3,
                "currency": "EUR",
                "transaction_id": "t1",
                "items": [{"item_id": "a", "quantity": 2}],
            },
        }
    )
    props = event.model_dump(exclude_none=True)["properties"]
    plan = compiled(
        {
            "purchase": {
                "additional_properties": False,
                "properties": {
                    "value": {"type": "integer", "min": 0},
                    "currency": {"type": "string", "values": ["EUR"]},
                    "transaction_id": {"type": "string", "required": True},
                    "items": {"type": "array", "max_length": 5},
                },
            }
        }
    )
    result = plan.check("purchase", props)
    assert result.violations == ()
    assert result.properties is props
