"""Governance cross-references pydantic cannot check: field allow-lists against what each
adapter declares, RE2 patterns that must compile, region codes, unique rule ids."""

from __future__ import annotations

from typing import Any

from destinations import REGISTRY
from destinations.base import HttpDestination
from gateway.config.region_codes import region_code_problem
from gateway.config.yaml_source import Path
from gateway.governance.patterns import compile_pattern


def governance_problems(data: dict[str, Any]) -> list[tuple[Path, str]]:
    """Problems in ``governance:`` and in each destination's governance keys."""
    problems: list[tuple[Path, str]] = []
    for name, dest in _mapping(data.get("destinations")).items():
        dest = _mapping(dest)
        adapter = REGISTRY.get(str(dest.get("type")))
        base: Path = ("destinations", name)
        fields = _mapping(dest.get("fields"))
        if adapter is not None:
            lists = [(("fields", "default"), fields.get("default"))]
            lists += [
                (("fields", "events", event), paths)
                for event, paths in _mapping(fields.get("events")).items()
            ]
            for where, paths in lists:
                for i, path in enumerate(paths if isinstance(paths, list) else ()):
                    if isinstance(path, str) and (message := _undeclared(adapter, path)):
                        problems.append(((*base, *where, i), message))
                if isinstance(paths, list) and (missing := _required_missing(adapter, paths)):
                    problems.append(
                        (
                            (*base, *where),
                            f"{adapter.type} refuses events without "
                            f"{', '.join(missing)}: list them",
                        )
                    )
            if "context.user_agent" in adapter.REQUIRED_FIELDS:
                problems += _user_agent_removed(adapter.type, base, dest.get("network"))
        overrides = _mapping(dest.get("network")).get("overrides")
        for i, override in enumerate(overrides if isinstance(overrides, list) else ()):
            codes = _mapping(override).get("regions")
            for j, code in enumerate(codes if isinstance(codes, list) else ()):
                if isinstance(code, str) and (message := region_code_problem(code)):
                    problems.append(((*base, "network", "overrides", i, "regions", j), message))
    governance = _mapping(data.get("governance"))
    scrub = _mapping(governance.get("scrub"))
    problems += _unique_ids(("governance", "scrub", "patterns"), scrub.get("patterns"))
    problems += _unique_ids(("governance", "sensitive_pages"), governance.get("sensitive_pages"))
    patterns = scrub.get("patterns")
    for i, pattern in enumerate(patterns if isinstance(patterns, list) else ()):
        regex = _mapping(pattern).get("regex")
        problems += _regex_problem(("governance", "scrub", "patterns", i, "regex"), regex)
    agents = _mapping(governance.get("bots")).get("user_agents")
    for i, regex in enumerate(agents if isinstance(agents, list) else ()):
        problems += _regex_problem(("governance", "bots", "user_agents", i), regex)
    events = _mapping(_mapping(governance.get("tracking_plan")).get("events"))
    for event, plan in events.items():
        for prop, spec in _mapping(_mapping(plan).get("properties")).items():
            spec = _mapping(spec)
            low, high = spec.get("min"), spec.get("max")
            if _number(low) and _number(high) and low > high:
                path = ("governance", "tracking_plan", "events", event, "properties", prop, "max")
                problems.append((path, "is below min"))
    return problems


def _undeclared(adapter: type[HttpDestination], path: str) -> str | None:
    """Why ``path`` cannot be allowed for ``adapter``, if it cannot."""
    section, _, key = path.partition(".")
    sendable = sorted(p for p, rule in adapter.FIELDS.items() if rule.treatment != "never")
    in_section = [p for p in sendable if p.startswith(f"{section}.")]
    if key == "*" and in_section:
        return None
    if path in sendable or f"{section}.*" in sendable:
        return None
    declared = ", ".join(in_section) or f"no {section} field"
    return (
        f"{adapter.type} does not send {path}: a policy can only narrow what the adapter "
        f"declares ({declared})"
    )


def _required_missing(adapter: type[HttpDestination], paths: list[Any]) -> list[str]:
    listed = {p for p in paths if isinstance(p, str)}
    return sorted(
        f
        for f in adapter.REQUIRED_FIELDS
        if f not in listed and f"{f.split('.')[0]}.*" not in listed
    )


def _user_agent_removed(kind: str, base: Path, network: Any) -> list[tuple[Path, str]]:
    """A network rule that drops the user agent for an adapter whose platform needs it."""
    network = _mapping(network)
    message = f"{kind} refuses events without a user agent: use raw or family"
    problems: list[tuple[Path, str]] = []
    if network.get("user_agent") == "none":
        problems.append(((*base, "network", "user_agent"), message))
    overrides = network.get("overrides")
    for i, override in enumerate(overrides if isinstance(overrides, list) else ()):
        if _mapping(override).get("user_agent") == "none":
            problems.append(((*base, "network", "overrides", i, "user_agent"), message))
    return problems


def _unique_ids(path: Path, rules: Any) -> list[tuple[Path, str]]:
    seen: set[str] = set()
    problems: list[tuple[Path, str]] = []
    for i, rule in enumerate(rules if isinstance(rules, list) else ()):
        rule_id = _mapping(rule).get("id")
        if isinstance(rule_id, str):
            if rule_id in seen:
                problems.append(((*path, i, "id"), "id already used by an earlier rule"))
            seen.add(rule_id)
    return problems


def _regex_problem(path: Path, regex: Any) -> list[tuple[Path, str]]:
    if not isinstance(regex, str):
        return []
    try:
        compile_pattern(regex)
    except ValueError as err:
        return [(path, f"not a valid RE2 pattern: {err}")]
    return []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
