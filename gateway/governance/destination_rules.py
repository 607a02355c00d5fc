"""One destination's governance settings, compiled: event filter, field allow-list,
property edits and network minimization, each change a remark naming its config path.

They only narrow: the adapter's ``FIELDS`` is applied after them (``pipeline.govern``),
so nothing here can make a field leave that the adapter does not declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from destinations.base import DestinationSettings
from destinations.policy import FieldList, IpMode, LocationMode, UserAgentMode
from gateway.decisions import Decision
from gateway.governance.agents import truncate_ip, user_agent_family

#: user fields that place a visitor within a town: sent only under ``location: precise``
PRECISE_LOCATION = ("city", "postal_code")
#: the rest of the visitor's place: dropped too under ``location: none``
COARSE_LOCATION = (("user", "region"), ("user", "country"), ("context", "region"))


@dataclass(frozen=True, slots=True)
class Allowed:
    """A compiled field list: exact ``(section, key)`` pairs and whole sections."""

    rule: str
    pairs: frozenset[tuple[str, str]]
    sections: frozenset[str]

    def permits(self, section: str, key: str) -> bool:
        """Whether the list lets ``section.key`` leave (top-level and consent always do)."""
        if section in ("", "consent"):
            return True
        return section in self.sections or (section, key) in self.pairs


@dataclass(frozen=True, slots=True)
class Network:
    """The network rules in force for one event, and the config path of each."""

    ip: IpMode
    ip_rule: str
    user_agent: UserAgentMode
    user_agent_rule: str
    location: LocationMode
    location_rule: str


def _allowed(rule: str, fields: FieldList) -> Allowed | None:
    if fields == "all":
        return None
    pairs: set[tuple[str, str]] = set()
    sections: set[str] = set()
    for path in fields:
        section, _, key = path.partition(".")
        if key == "*":
            sections.add(section)
        else:
            pairs.add((section, key))
    return Allowed(rule, frozenset(pairs), frozenset(sections))


class DestinationRules:
    """The compiled governance settings of one destination."""

    def __init__(self, name: str, settings: DestinationSettings) -> None:
        self.name = name
        self.kind = settings.kind
        events = settings.events
        self._allow = frozenset(events.allow) if events.allow is not None else None
        self._deny = frozenset(events.deny)
        base = f"destinations.{name}"
        self._default: Allowed | None = None
        self._per_event: dict[str, Allowed | None] = {}
        if settings.fields is not None:
            self._default = _allowed(f"{base}.fields.default", settings.fields.default)
            self._per_event = {
                event: _allowed(f"{base}.fields.events.{event}", fields)
                for event, fields in settings.fields.events.items()
            }
        self.renames = dict(settings.properties.rename)
        self.constants = dict(settings.properties.add)
        net = settings.network
        self._network = Network(
            net.ip,
            f"{base}.network.ip",
            net.user_agent,
            f"{base}.network.user_agent",
            net.location,
            f"{base}.network.location",
        )
        self._overrides = [
            (frozenset(o.regions), frozenset(o.regimes), o, f"{base}.network.overrides[{i}]")
            for i, o in enumerate(net.overrides)
        ]

    def skip(self, event_name: str) -> Decision | None:
        """Why the destination's event filter keeps ``event_name`` from it, if it does."""
        subject = f"destination:{self.name}"
        if self._allow is not None and event_name not in self._allow:
            return Decision(
                "route",
                subject,
                "skip",
                f"destinations.{self.name}.events.allow",
                "event not in the allow list",
                self.name,
            )
        if event_name in self._deny:
            return Decision(
                "route",
                subject,
                "skip",
                f"destinations.{self.name}.events.deny",
                "event in the deny list",
                self.name,
            )
        return None

    def allowed(self, event_name: str) -> Allowed | None:
        """The field list for ``event_name``; None when every declared field may leave."""
        return self._per_event.get(event_name, self._default)

    def network(self, region: str | None, regime: str) -> Network:
        """The network rules for a visitor in ``region`` under ``regime``: the first
        override matching the region (as itself or its country) or regime, key by key."""
        net = self._network
        if not self._overrides:
            return net
        codes = () if region is None else (region, region.split("-", 1)[0])
        for regions, regimes, o, rule in self._overrides:
            if regime in regimes or any(code in regions for code in codes):
                return Network(
                    o.ip or net.ip,
                    f"{rule}.ip" if o.ip else net.ip_rule,
                    o.user_agent or net.user_agent,
                    f"{rule}.user_agent" if o.user_agent else net.user_agent_rule,
                    o.location or net.location,
                    f"{rule}.location" if o.location else net.location_rule,
                )
        return net

    def narrow(
        self,
        source: dict[str, dict[str, Any]],
        region: str | None,
        remarks: list[Decision],
    ) -> dict[str, dict[str, Any]]:
        """``source`` with the property edits and network rules applied (sections copied
        only when they change); a remark for each change."""
        out = source
        props = source.get("properties")
        if props is not None and (self.renames or self.constants):
            out = {**out, "properties": self._edited(props, remarks)}
        net = self.network(region, str(source.get("consent", {}).get("regime")))
        if net.ip == "raw" and net.user_agent == "raw" and net.location == "precise":
            return out  # the common case of an ad platform outside opt-in regions
        context = source.get("context") or {}
        changed = dict(context)
        self._ip(changed, net, remarks)
        self._user_agent(changed, net, remarks)
        user = source.get("user") or {}
        kept_user = dict(user)
        if net.location != "precise":
            for key in PRECISE_LOCATION:
                self._drop(
                    kept_user, "user", key, net.location_rule, f"location {net.location}", remarks
                )
        if net.location == "none":
            for section, key in COARSE_LOCATION:
                self._drop(
                    kept_user if section == "user" else changed,
                    section,
                    key,
                    net.location_rule,
                    "location none",
                    remarks,
                )
        if changed != context:
            out = {**out, "context": changed}
        if kept_user != user:
            out = {**out, "user": kept_user}
        return out

    def _edited(self, props: dict[str, Any], remarks: list[Decision]) -> dict[str, Any]:
        edited = dict(props)
        base = f"destinations.{self.name}.properties"
        for old, new in self.renames.items():
            if old in edited:
                edited[new] = edited.pop(old)
                remarks.append(
                    Decision(
                        "govern",
                        f"properties.{old}",
                        "rename",
                        f"{base}.rename.{old}",
                        f"renamed to {new}",
                        self.name,
                    )
                )
        for key, value in self.constants.items():
            edited[key] = value
            remarks.append(
                Decision(
                    "govern",
                    f"properties.{key}",
                    "add",
                    f"{base}.add.{key}",
                    "constant added",
                    self.name,
                )
            )
        return edited

    def _ip(self, context: dict[str, Any], net: Network, remarks: list[Decision]) -> None:
        ip = context.get("ip")
        if ip is None or net.ip == "raw":
            return
        if net.ip == "truncate" and (truncated := truncate_ip(ip)) is not None:
            if truncated == ip:
                return
            context["ip"] = truncated
            remarks.append(
                Decision(
                    "govern",
                    "context.ip",
                    "truncate",
                    net.ip_rule,
                    "IPv4 to /24, IPv6 to /48",
                    self.name,
                )
            )
            return
        self._drop(context, "context", "ip", net.ip_rule, f"ip {net.ip}", remarks)

    def _user_agent(self, context: dict[str, Any], net: Network, remarks: list[Decision]) -> None:
        agent = context.get("user_agent")
        if agent is None or net.user_agent == "raw":
            return
        if net.user_agent == "family":
            context["user_agent"] = user_agent_family(agent)
            remarks.append(
                Decision(
                    "govern",
                    "context.user_agent",
                    "reduce",
                    net.user_agent_rule,
                    "browser and OS family only",
                    self.name,
                )
            )
            return
        self._drop(
            context, "context", "user_agent", net.user_agent_rule, "user_agent none", remarks
        )

    def _drop(
        self,
        values: dict[str, Any],
        section: str,
        key: str,
        rule: str,
        reason: str,
        remarks: list[Decision],
    ) -> None:
        if values.pop(key, None) is not None:
            remarks.append(Decision("govern", f"{section}.{key}", "drop", rule, reason, self.name))
