"""Tests for gateway.governance.destination_rules: one destination's compiled governance
settings (event filter, field list, property edits, network minimization)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from destinations.meta_capi import MetaCapi
from gateway.decisions import Decision
from gateway.governance.destination_rules import Allowed, DestinationRules, Network

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
BASE = "destinations.meta"


def rules(**keys: Any) -> DestinationRules:
    """Compiled rules of a ``meta`` destination with these governance keys."""
    settings = MetaCapi.Settings.model_validate(
        {"type": "meta_capi", "requires": ["advertising"], **keys}
    )
    return DestinationRules("meta", settings)


def source(
    *,
    context: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    regime: str = "opt_in",
) -> dict[str, dict[str, Any]]:
    """A governed source as ``pipeline.govern.source_fields`` builds it."""
    return {
        "": {"event": "purchase", "event_id": "e-1", "timestamp_ms": 1, "received_ms": 2},
        "page": {"url": "https://shop.example/done"},
        "user": {} if user is None else user,
        "ids": {"client_id": "GW1.abc"},
        "context": {} if context is None else context,
        "properties": {} if properties is None else properties,
        "consent": {"regime": regime},
    }


def remark(subject: str, action: str, rule: str, reason: str) -> Decision:
    return Decision("govern", subject, action, rule, reason, "meta")


# -- event filter ------------------------------------------------------------------------


def test_no_event_filter_skips_nothing() -> None:
    """Without ``events`` every event goes."""
    assert rules().skip("purchase") is None


def test_allow_list_skips_other_events_with_its_rule() -> None:
    """An event outside ``events.allow`` is skipped, naming the allow list."""
    r = rules(events={"allow": ["purchase", "lead"]})
    assert r.skip("purchase") is None
    assert r.skip("lead") is None
    assert r.skip("page_view") == Decision(
        "route",
        "destination:meta",
        "skip",
        f"{BASE}.events.allow",
        "event not in the allow list",
        "meta",
    )


def test_deny_list_skips_its_events_with_its_rule() -> None:
    """An event in ``events.deny`` is skipped, naming the deny list."""
    r = rules(events={"deny": ["page_view"]})
    assert r.skip("purchase") is None
    assert r.skip("page_view") == Decision(
        "route",
        "destination:meta",
        "skip",
        f"{BASE}.events.deny",
        "event in the deny list",
        "meta",
    )


def test_deny_wins_over_allow_and_allow_is_checked_first() -> None:
    """An event both allowed and denied is skipped by the deny list; an event in neither
    is skipped by the allow list."""
    r = rules(events={"allow": ["purchase"], "deny": ["purchase"]})
    denied = r.skip("purchase")
    assert denied is not None and denied.rule == f"{BASE}.events.deny"
    other = r.skip("lead")
    assert other is not None and other.rule == f"{BASE}.events.allow"


def test_empty_allow_list_skips_everything() -> None:
    """``allow: []`` is a list: nothing is in it."""
    skipped = rules(events={"allow": []}).skip("purchase")
    assert skipped is not None and skipped.rule == f"{BASE}.events.allow"


# -- field lists -------------------------------------------------------------------------


def test_no_fields_key_allows_everything_declared() -> None:
    """Without ``fields`` there is no list: None for every event."""
    assert rules().allowed("purchase") is None


def test_default_and_per_event_lists() -> None:
    """A per-event list replaces the default for that event only; ``all`` is None."""
    r = rules(
        fields={
            "default": ["user.email", "properties.*"],
            "events": {"purchase": ["ids.fbp"], "lead": "all"},
        }
    )
    assert r.allowed("page_view") == Allowed(
        f"{BASE}.fields.default",
        frozenset({("user", "email")}),
        frozenset({"properties"}),
    )
    assert r.allowed("purchase") == Allowed(
        f"{BASE}.fields.events.purchase", frozenset({("ids", "fbp")}), frozenset()
    )
    assert r.allowed("lead") is None


def test_default_all_with_a_narrow_event() -> None:
    """``default: all`` lets everything leave except where an event names its own list."""
    r = rules(fields={"default": "all", "events": {"purchase": []}})
    assert r.allowed("page_view") is None
    assert r.allowed("purchase") == Allowed(
        f"{BASE}.fields.events.purchase", frozenset(), frozenset()
    )


def test_permits_sections_pairs_top_level_and_consent() -> None:
    """Whole sections by ``*``, exact pairs, and always the top level and consent."""
    allowed = Allowed(
        "r", frozenset({("user", "email"), ("ids", "fbp")}), frozenset({"properties"})
    )
    assert allowed.permits("user", "email") is True
    assert allowed.permits("ids", "fbp") is True
    assert allowed.permits("properties", "value") is True
    assert allowed.permits("properties", "anything_else") is True
    assert allowed.permits("", "event_id") is True
    assert allowed.permits("consent", "purposes") is True
    assert allowed.permits("user", "phone") is False
    assert allowed.permits("ids", "fbc") is False
    assert allowed.permits("context", "ip") is False
    assert allowed.permits("page", "url") is False


def test_empty_list_permits_only_top_level_and_consent() -> None:
    """``[]`` sends no optional field at all."""
    allowed = rules(fields={"default": []}).allowed("purchase")
    assert allowed is not None
    assert allowed.permits("", "event") is True
    assert allowed.permits("consent", "regime") is True
    assert allowed.permits("user", "email") is False
    assert allowed.permits("properties", "value") is False


# -- network: which rules apply ------------------------------------------------------------


def test_network_defaults_without_overrides() -> None:
    """The destination's own keys (defaults raw/raw/coarse), named by their paths."""
    expected = Network(
        "raw",
        f"{BASE}.network.ip",
        "raw",
        f"{BASE}.network.user_agent",
        "coarse",
        f"{BASE}.network.location",
    )
    r = rules()
    assert r.network("DE", "opt_in") == expected
    assert r.network(None, "none") == expected


OVERRIDES: dict[str, Any] = {
    "ip": "raw",
    "user_agent": "family",
    "location": "precise",
    "overrides": [
        {"regions": ["DE", "FR"], "ip": "truncate"},
        {"regions": ["US"], "ip": "none", "location": "none"},
        {"regimes": ["opt_out"], "user_agent": "none"},
        {"regions": ["US-TX"], "ip": "truncate"},
    ],
}


@pytest.fixture(scope="module")
def overridden() -> DestinationRules:
    return rules(network=OVERRIDES)


def test_override_by_region_code_falls_back_key_by_key(overridden: DestinationRules) -> None:
    """The override's ``ip`` applies with its rule; the rest stay the destination's."""
    assert overridden.network("FR", "opt_in") == Network(
        "truncate",
        f"{BASE}.network.overrides[0].ip",
        "family",
        f"{BASE}.network.user_agent",
        "precise",
        f"{BASE}.network.location",
    )


def test_override_by_country_of_a_subdivision(overridden: DestinationRules) -> None:
    """US-CA matches an override listing US."""
    assert overridden.network("US-CA", "opt_out") == Network(
        "none",
        f"{BASE}.network.overrides[1].ip",
        "family",
        f"{BASE}.network.user_agent",
        "none",
        f"{BASE}.network.overrides[1].location",
    )


def test_first_matching_override_wins(overridden: DestinationRules) -> None:
    """US-TX matches overrides 1 (its country), 2 (its regime) and 3 (itself): 1 wins."""
    net = overridden.network("US-TX", "opt_out")
    assert (net.ip, net.ip_rule) == ("none", f"{BASE}.network.overrides[1].ip")
    assert net.user_agent_rule == f"{BASE}.network.user_agent"


def test_override_by_regime(overridden: DestinationRules) -> None:
    """A region no override lists, under a listed regime."""
    assert overridden.network("CA", "opt_out") == Network(
        "raw",
        f"{BASE}.network.ip",
        "none",
        f"{BASE}.network.overrides[2].user_agent",
        "precise",
        f"{BASE}.network.location",
    )
    assert overridden.network(None, "opt_out").user_agent == "none"


def test_no_matching_override_keeps_the_destination_keys(overridden: DestinationRules) -> None:
    """Neither region nor regime listed: the destination's own rules."""
    assert overridden.network("CA", "opt_in") == Network(
        "raw",
        f"{BASE}.network.ip",
        "family",
        f"{BASE}.network.user_agent",
        "precise",
        f"{BASE}.network.location",
    )
    assert overridden.network(None, "none").ip_rule == f"{BASE}.network.ip"


def test_a_subdivision_override_does_not_cover_its_country() -> None:
    """An override for US-CA does not apply to a visitor known only as US."""
    r = rules(network={"overrides": [{"regions": ["US-CA"], "ip": "none"}]})
    assert r.network("US", "opt_out").ip == "raw"
    assert r.network("US-CA", "opt_out").ip == "none"


# -- narrow: network -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
    ],
)
def test_ip_truncate(ip: str, truncated: str) -> None:
    """IPv4 to /24, IPv6 to /48, with a remark naming the rule and not the address."""
    r = rules(network={"ip": "truncate"})
    src = source(context={"ip": ip, "user_agent": UA, "region": "DE"})
    remarks: list[Decision] = []
    out = r.narrow(src, "DE", remarks)
    assert out["context"] == {"ip": truncated, "user_agent": UA, "region": "DE"}
    assert remarks == [
        remark("context.ip", "truncate", f"{BASE}.network.ip", "IPv4 to /24, IPv6 to /48")
    ]
    assert ip not in str(remarks) and truncated not in str(remarks)


def test_ip_truncate_drops_what_is_not_an_address() -> None:
    """A value that is not an IP cannot be truncated: it is dropped."""
    r = rules(network={"ip": "truncate"})
    remarks: list[Decision] = []
    out = r.narrow(source(context={"ip": "unknown"}), None, remarks)
    assert out["context"] == {}
    assert remarks == [remark("context.ip", "drop", f"{BASE}.network.ip", "ip truncate")]


@pytest.mark.parametrize("ip", ["203.0.113.77", "2001:db8:abcd:12::1"])
def test_ip_none_drops_it(ip: str) -> None:
    r = rules(network={"ip": "none"})
    remarks: list[Decision] = []
    out = r.narrow(source(context={"ip": ip, "region": "DE"}), "DE", remarks)
    assert out["context"] == {"region": "DE"}
    assert remarks == [remark("context.ip", "drop", f"{BASE}.network.ip", "ip none")]


def test_raw_network_with_coarse_location_changes_nothing() -> None:
    """The defaults keep IP, agent, region and country: the same source object, no remark."""
    src = source(
        context={"ip": "203.0.113.77", "user_agent": UA, "region": "DE"},
        user={"email": "a@b.example", "region": "Bavaria", "country": "DE"},
    )
    remarks: list[Decision] = []
    assert rules().narrow(src, "DE", remarks) is src
    assert remarks == []


def test_user_agent_family() -> None:
    r = rules(network={"user_agent": "family"})
    remarks: list[Decision] = []
    out = r.narrow(source(context={"user_agent": UA}), None, remarks)
    assert out["context"] == {"user_agent": "Firefox (Linux)"}
    assert remarks == [
        remark(
            "context.user_agent",
            "reduce",
            f"{BASE}.network.user_agent",
            "browser and OS family only",
        )
    ]


def test_user_agent_none() -> None:
    r = rules(network={"user_agent": "none"})
    remarks: list[Decision] = []
    out = r.narrow(source(context={"ip": "203.0.113.77", "user_agent": UA}), None, remarks)
    assert out["context"] == {"ip": "203.0.113.77"}
    assert remarks == [
        remark("context.user_agent", "drop", f"{BASE}.network.user_agent", "user_agent none")
    ]


PLACE_USER = {
    "email": "a@b.example",
    "city": "Menlo Park",
    "postal_code": "94025",
    "region": "California",
    "country": "US",
}
PLACE_CONTEXT = {"ip": "203.0.113.77", "region": "US-CA"}


def test_location_precise_keeps_everything() -> None:
    src = source(user=dict(PLACE_USER), context=dict(PLACE_CONTEXT))
    remarks: list[Decision] = []
    assert rules(network={"location": "precise"}).narrow(src, "US-CA", remarks) is src
    assert remarks == []


def test_location_coarse_drops_city_and_postal_code() -> None:
    """The default: region and country stay, city and postal code go."""
    src = source(user=dict(PLACE_USER), context=dict(PLACE_CONTEXT))
    remarks: list[Decision] = []
    out = rules().narrow(src, "US-CA", remarks)
    assert out["user"] == {"email": "a@b.example", "region": "California", "country": "US"}
    assert out["context"] is src["context"]
    rule = f"{BASE}.network.location"
    assert remarks == [
        remark("user.city", "drop", rule, "location coarse"),
        remark("user.postal_code", "drop", rule, "location coarse"),
    ]


def test_location_none_drops_the_whole_place() -> None:
    """Also user.region, user.country and context.region."""
    src = source(user=dict(PLACE_USER), context=dict(PLACE_CONTEXT))
    remarks: list[Decision] = []
    out = rules(network={"location": "none"}).narrow(src, "US-CA", remarks)
    assert out["user"] == {"email": "a@b.example"}
    assert out["context"] == {"ip": "203.0.113.77"}
    rule = f"{BASE}.network.location"
    assert remarks == [
        remark(path, "drop", rule, "location none")
        for path in (
            "user.city",
            "user.postal_code",
            "user.region",
            "user.country",
            "context.region",
        )
    ]


def test_absent_fields_make_no_remark() -> None:
    """Rules over fields the event lacks change nothing."""
    r = rules(network={"ip": "none", "user_agent": "none", "location": "none"})
    src = source(user={"email": "a@b.example"})
    remarks: list[Decision] = []
    assert r.narrow(src, None, remarks) is src
    assert remarks == []


def test_narrow_follows_region_and_regime_overrides() -> None:
    """The region argument and the source's consent regime select the override."""
    r = rules(
        network={
            "overrides": [
                {"regions": ["US"], "ip": "truncate"},
                {"regimes": ["opt_in"], "ip": "none"},
            ]
        }
    )
    ctx = {"ip": "203.0.113.77"}
    us: list[Decision] = []
    assert r.narrow(source(context=dict(ctx)), "US-CA", us)["context"] == {"ip": "203.0.113.0"}
    assert us == [
        remark(
            "context.ip",
            "truncate",
            f"{BASE}.network.overrides[0].ip",
            "IPv4 to /24, IPv6 to /48",
        )
    ]
    de: list[Decision] = []
    assert r.narrow(source(context=dict(ctx), regime="opt_in"), "DE", de)["context"] == {}
    assert de == [remark("context.ip", "drop", f"{BASE}.network.overrides[1].ip", "ip none")]
    other: list[Decision] = []
    src = source(context=dict(ctx), regime="none")
    assert r.narrow(src, "BR", other) is src
    assert other == []


# -- narrow: property edits ----------------------------------------------------------------


def test_renames_and_constants() -> None:
    """Renamed keys move with their values, constants are set; a remark each, no values."""
    r = rules(
        properties={
            "rename": {"value": "amount", "missing": "never_there"},
            "add": {"source": "gateway", "version": 2, "test": False},
        }
    )
    props = {"value": 129.9, "currency": "EUR"}
    src = source(properties=props)
    remarks: list[Decision] = []
    out = r.narrow(src, None, remarks)
    assert out["properties"] == {
        "currency": "EUR",
        "amount": 129.9,
        "source": "gateway",
        "version": 2,
        "test": False,
    }
    base = f"{BASE}.properties"
    assert remarks == [
        remark("properties.value", "rename", f"{base}.rename.value", "renamed to amount"),
        remark("properties.source", "add", f"{base}.add.source", "constant added"),
        remark("properties.version", "add", f"{base}.add.version", "constant added"),
        remark("properties.test", "add", f"{base}.add.test", "constant added"),
    ]
    assert "129.9" not in str(remarks) and "gateway" not in str(remarks)
    assert props == {"value": 129.9, "currency": "EUR"}


def test_a_constant_overwrites_a_sent_property() -> None:
    r = rules(properties={"add": {"currency": "USD"}})
    remarks: list[Decision] = []
    out = r.narrow(source(properties={"currency": "EUR"}), None, remarks)
    assert out["properties"] == {"currency": "USD"}
    assert [d.subject for d in remarks] == ["properties.currency"]


# -- narrow: what it leaves alone ----------------------------------------------------------


def test_narrow_never_mutates_and_keeps_unchanged_sections() -> None:
    """Only changed sections are copied; the input and its sections are left as they were."""
    r = rules(
        properties={"rename": {"value": "amount"}},
        network={"ip": "truncate", "user_agent": "family", "location": "none"},
    )
    src = source(
        context={"ip": "203.0.113.77", "user_agent": UA, "region": "US-CA"},
        user=dict(PLACE_USER),
        properties={"value": 1.5},
    )
    before = copy.deepcopy(src)
    remarks: list[Decision] = []
    out = r.narrow(src, "US-CA", remarks)
    assert src == before
    assert out is not src
    for section in ("", "page", "ids", "consent"):
        assert out[section] is src[section]
    assert out["context"] == {"ip": "203.0.113.0", "user_agent": "Firefox (Linux)"}
    assert out["user"] == {"email": "a@b.example"}
    assert out["properties"] == {"amount": 1.5}
    assert [(d.subject, d.action) for d in remarks] == [
        ("properties.value", "rename"),
        ("context.ip", "truncate"),
        ("context.user_agent", "reduce"),
        ("user.city", "drop"),
        ("user.postal_code", "drop"),
        ("user.region", "drop"),
        ("user.country", "drop"),
        ("context.region", "drop"),
    ]
    secrets = ("203.0.113", "Firefox", "Menlo Park", "94025", "California", "US-CA", "1.5")
    assert not any(s in str(d) for d in remarks for s in secrets)


def test_only_the_changed_section_is_replaced() -> None:
    """A network change leaves user and properties as the very same objects."""
    src = source(context={"ip": "203.0.113.77"}, user={"email": "a@b.example"}, properties={"v": 1})
    out = rules(network={"ip": "none"}).narrow(src, None, [])
    assert out["context"] == {}
    assert out["user"] is src["user"] and out["properties"] is src["properties"]
