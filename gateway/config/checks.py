"""Cross-references pydantic cannot check: purpose names, region codes, and (in
``governance_checks``) the governance rules."""

from __future__ import annotations

import re
from typing import Any

from destinations import REGISTRY
from gateway.config.governance_checks import governance_problems
from gateway.config.models import CookieConfig
from gateway.config.region_codes import is_region_code, region_code_problem
from gateway.config.yaml_source import Path


def semantic_problems(data: Any) -> list[tuple[Path, str]]:
    """Cross-references pydantic cannot check: purpose names, region codes.

    Works on the data as written (not the validated model) so that these problems are
    reported together with any others; values of the wrong type are skipped here because
    validation reports them.
    """
    problems: list[tuple[Path, str]] = []
    if not isinstance(data, dict):
        return problems
    consent = _mapping(data.get("consent"))
    purposes = consent.get("purposes")

    def check_purposes(path: Path, names: Any, note: str = "") -> None:
        if not isinstance(purposes, dict) or not isinstance(names, list):
            return
        defined = ", ".join(sorted(purposes)) or "none"
        for i, name in enumerate(names):
            if isinstance(name, str) and name not in purposes:
                problems.append(((*path, i), f"unknown purpose{note}; defined purposes: {defined}"))

    for name, dest in _mapping(data.get("destinations")).items():
        check_purposes(("destinations", name, "requires"), _mapping(dest).get("requires"))
        restrictions = _mapping(_mapping(dest).get("restrictions"))
        adapter = REGISTRY.get(str(_mapping(dest).get("type")))
        for kind in ("ad_user_data", "ad_personalization", "limited_data_use"):
            path = ("destinations", name, "restrictions", kind)
            if kind != "limited_data_use":
                check_purposes(path, restrictions.get(kind))
            # ad_user_data needs no platform mode: without it, no user data is sent
            unsupported = (
                adapter is not None
                and kind != "ad_user_data"
                and kind not in adapter.Settings.RESTRICTED_MODES
            )
            if restrictions.get(kind) and adapter is not None and unsupported:
                problems.append((path, f"{adapter.type} has no {kind} mode"))
        codes = restrictions.get("limited_data_use")
        for i, code in enumerate(codes if isinstance(codes, list) else ()):
            if isinstance(code, str) and (message := region_code_problem(code)):
                problems.append(
                    (("destinations", name, "restrictions", "limited_data_use", i), message)
                )
    cookie = _mapping(data.get("identity")).get("cookie", {})
    if isinstance(cookie, dict) and "requires" in cookie:
        check_purposes(("identity", "cookie", "requires"), cookie["requires"])
    elif isinstance(cookie, dict):
        default = CookieConfig.model_fields["requires"].default
        note = f" (the default of identity.cookie.requires is [{', '.join(default)}])"
        check_purposes(("identity", "cookie", "requires"), default, note)

    seen: dict[str, str] = {}
    regions = _mapping(consent.get("regions"))
    for regime in ("opt_in", "opt_out", "none"):
        codes = regions.get(regime)
        for i, code in enumerate(codes if isinstance(codes, list) else ()):
            path = ("consent", "regions", regime, i)
            if not isinstance(code, str):
                continue
            if message := region_code_problem(code):
                problems.append((path, message))
            elif code in seen:
                problems.append((path, f"region already listed under {seen[code]}"))
            else:
                seen[code] = regime
    country = _mapping(data.get("pii")).get("default_country")
    if (
        isinstance(country, str)
        and re.fullmatch(r"[A-Za-z]{2}", country)
        and not is_region_code(country.upper())
    ):
        problems.append((("pii", "default_country"), "not an ISO 3166-1 alpha-2 country code"))
    return problems + governance_problems(data)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
