"""Declarative consent scenarios (``tests/cases/*.yaml``): their schema, loading and helpers.

A scenario names a visitor (region as the CDN reports it, ``Sec-GPC``, the consent object
of the event) and, per destination, what must leave: the verdict, the restrictions in
force, and paths that must be present, absent or equal in what the destination received.
``tests/cases/README.md`` describes the format; ``tests/e2e/test_consent_cases.py`` runs
the scenarios end to end against the shipped policy (``config/gateway.yaml``).

Files are read with the gateway's own YAML reader (YAML 1.2: ``NO`` is Norway, duplicate
keys are errors) and validated with models that refuse unknown keys, so a typo can never
silently weaken a scenario.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.config.loader import load_config
from gateway.config.models import Config
from gateway.config.yaml_source import read_yaml
from tests.support import gpp_encode, tcf_encode
from tests.support.configs import merged

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "config" / "gateway.yaml"
CASES_DIR = REPO / "tests" / "cases"

Verdict = Literal["send", "send_restricted", "withhold"]
Restriction = Literal["ad_user_data", "ad_personalization", "limited_data_use"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- consent signals ------------------------------------------------------------------


class PubRestrictionSpec(_Strict):
    """A TCF publisher restriction: for ``purpose``, ``type`` (0 purpose not allowed,
    1 consent required, 2 legitimate interest required) applies to ``vendors``."""

    purpose: int = Field(ge=1, le=24)
    type: Literal[0, 1, 2]
    vendors: list[int] = Field(min_length=1)


class TcfSpec(_Strict):
    """A TC string to build with ``tests/support/tcf_encode.encode_tc_string``.

    Defaults give a valid TCF 2.2/2.3 string made now: policy version 5, service-specific,
    a DisclosedVendors segment listing the vendors with consent. ``disclosed_vendors``
    lists others; ``disclosed_vendors: null`` leaves the segment out.
    """

    purposes: list[int] = []
    vendors: list[int] = []
    purpose_li: list[int] = []
    policy_version: int = Field(5, ge=0, le=63)
    created: date | None = None
    disclosed_vendors: list[int] | None = None
    pub_restrictions: list[PubRestrictionSpec] = []

    def encode(self) -> str:
        kwargs: dict[str, Any] = {}
        if "disclosed_vendors" in self.model_fields_set:
            kwargs["disclosed_vendors"] = self.disclosed_vendors
        if self.created is not None:
            kwargs["created"] = datetime.combine(self.created, time(12), tzinfo=UTC)
        return tcf_encode.encode_tc_string(
            purposes=self.purposes,
            vendors=self.vendors,
            purpose_li=self.purpose_li,
            policy_version=self.policy_version,
            pub_restrictions=[(r.purpose, r.type, r.vendors) for r in self.pub_restrictions],
            **kwargs,
        )


_US_SECTIONS: dict[str, type[gpp_encode.UsNat | gpp_encode.UsCa | gpp_encode.UsVa]] = {
    "usnat": gpp_encode.UsNat,
    "usca": gpp_encode.UsCa,
    "usva": gpp_encode.UsVa,
}


class GppSpec(_Strict):
    """A GPP string to build with ``tests/support/gpp_encode.encode_gpp``, one key per section.

    ``usnat`` / ``usca`` / ``usva`` take the section's fields by their spec names in snake
    case (``sale_opt_out: 1``); left out, a field means "notice given, not opted out".
    Opt-out codes: 0 not applicable, 1 opted out, 2 did not opt out. ``tcfeuv2`` is a TC
    string described like ``consent.tcf``; ``uspv1`` a US Privacy string (``1YNN``).
    ``encoded`` gives other sections as they are sent, by section id (a US state section
    from ``tests/vectors/gpp_state_vectors.json``, such as usco ``BVWSSVg``).
    """

    tcfeuv2: TcfSpec | None = None
    uspv1: str | None = None
    usnat: dict[str, Any] | None = None
    usca: dict[str, Any] | None = None
    usva: dict[str, Any] | None = None
    encoded: dict[int, str] | None = None

    @model_validator(mode="after")
    def _sections(self) -> GppSpec:
        if not self.model_fields_set:
            raise ValueError("name at least one section")
        for name, builder in _US_SECTIONS.items():
            fields = getattr(self, name)
            if fields is not None:
                try:
                    builder(**fields)
                except TypeError as err:
                    raise ValueError(f"{name}: {err}") from None
        return self

    def encode(self) -> str:
        sections: dict[int, gpp_encode.Section] = {}
        if self.tcfeuv2 is not None:
            sections[2] = self.tcfeuv2.encode()
        if self.uspv1 is not None:
            sections[6] = self.uspv1
        for name, builder in _US_SECTIONS.items():
            if (fields := getattr(self, name)) is not None:
                sections[builder.section_id] = builder(**fields)
        sections.update(self.encoded or {})
        return gpp_encode.encode_gpp(sections)


class ConsentSpec(_Strict):
    """The event's ``consent`` object, with TC and GPP strings described, not pasted."""

    categories: dict[str, bool] | None = None
    gcm: dict[str, str] | None = None
    gcs: str | None = None
    gcd: str | None = None
    tcf: TcfSpec | None = None
    tcf_raw: str | None = None
    gpp: GppSpec | None = None
    gpp_raw: str | None = None
    gpp_sid: list[int] | None = None
    usp: str | None = None

    @model_validator(mode="after")
    def _one_form_each(self) -> ConsentSpec:
        for built, raw in (("tcf", "tcf_raw"), ("gpp", "gpp_raw")):
            if getattr(self, built) is not None and getattr(self, raw) is not None:
                raise ValueError(f"give {built} or {raw}, not both")
        return self

    def build(self) -> dict[str, Any]:
        """The event's ``consent`` object, strings encoded."""
        out: dict[str, Any] = {}
        for key in ("categories", "gcm", "gcs", "gcd", "gpp_sid", "usp"):
            if (value := getattr(self, key)) is not None:
                out[key] = value
        if self.tcf is not None:
            out["tcf"] = self.tcf.encode()
        elif self.tcf_raw is not None:
            out["tcf"] = self.tcf_raw
        if self.gpp is not None:
            out["gpp"] = self.gpp.encode()
        elif self.gpp_raw is not None:
            out["gpp"] = self.gpp_raw
        return out


# -- expectations ---------------------------------------------------------------------


class Expectation(_Strict):
    """What one destination must get.

    ``has`` / ``lacks`` / ``equals`` are dotted paths into what the destination received
    for the event: for Meta the ``data[]`` entry (``user_data.em``), for a webhook the
    governed event (``consent.purposes.ad_user_data``).
    """

    verdict: Verdict
    restrictions: list[Restriction] = []
    #: governance scenarios: false when a governance rule keeps the event from a
    #: destination that consent allows (default: it arrives unless withheld)
    delivered: bool | None = None
    #: governance scenarios: a substring of the dead-letter reason the event must get
    dead_letter: str | None = None
    has: list[str] = []
    lacks: list[str] = []
    equals: dict[str, Any] = {}

    @property
    def arrives(self) -> bool:
        """Whether exactly one event must arrive at the destination."""
        if self.delivered is not None:
            return self.delivered
        return self.verdict != "withhold" and self.dead_letter is None

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        if self.verdict == "send_restricted" and not self.restrictions:
            raise ValueError("send_restricted: name the restrictions in force")
        if self.verdict != "send_restricted" and self.restrictions:
            raise ValueError(f"{self.verdict}: restrictions apply only to send_restricted")
        if not self.arrives and (self.has or self.lacks or self.equals):
            raise ValueError("nothing arrives, so has/lacks/equals cannot apply")
        if self.delivered and self.verdict == "withhold":
            raise ValueError("withhold: nothing can be delivered")
        return self


class Counted(_Strict):
    """A metric series the scenario's event must have moved by ``by``."""

    metric: str = Field(pattern=r"^gateway_[a-z_]+$")
    labels: dict[str, str] = {}
    by: float = 1


class Scenario(_Strict):
    """One visitor, one event, and what each destination must receive."""

    name: str = Field(min_length=1)
    why: str = Field(min_length=20)
    #: what the CDN reports: ``DE`` (CF-IPCountry), ``US-CA`` (CF-IPCountry US and
    #: CF-Region-Code CA), or null for no region header at all
    region: str | None
    gpc: bool = False
    #: ``collect``: a purchase with PII POSTed to /collect; ``pixel``: GET /p.gif page_view
    via: Literal["collect", "pixel"] = "collect"
    consent: ConsentSpec = ConsentSpec()
    #: the request's User-Agent (default: a desktop browser's)
    user_agent: str | None = None
    #: more request headers (``Sec-Purpose: prefetch`` ...)
    headers: dict[str, str] = {}
    #: keys merged into the event (``page``, ``properties``, ``event``), replacing them
    event: dict[str, Any] = {}
    #: merged into the shipped config (mappings merged key by key, the rest replaced):
    #: for rules the shipped config only shows as comments
    config: dict[str, Any] = {}
    #: the regime the region puts the visitor in (checked on the consent record)
    regime: Literal["opt_in", "opt_out", "none"] | None = None
    expect: dict[str, Expectation] = {}
    #: metric series the event must move
    counted: list[Counted] = []
    #: text that must appear in no request any destination received (case-sensitive)
    absent_text: list[str] = []
    #: problems ``gateway validate`` must report for the ``config`` overlay, as
    #: ``field.path: message`` (each at the line of that key); nothing is sent then
    refused: list[str] = []
    #: set only when the gateway disagrees and a human must decide (the reason says why)
    xfail: str | None = None

    @model_validator(mode="after")
    def _refused_or_sent(self) -> Scenario:
        if self.refused and (self.expect or self.regime is not None):
            raise ValueError("a refused config sends nothing: no regime, no expect")
        if not self.refused and (not self.expect or self.regime is None):
            raise ValueError("give regime and expect (or refused)")
        return self

    @model_validator(mode="after")
    def _pixel_signals(self) -> Scenario:
        if self.via == "pixel":
            extra = self.consent.model_fields_set - {"gcs", "gcd", "categories"}
            if extra:
                raise ValueError(f"a pixel hit carries only gcs, gcd and categories, not {extra}")
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; raise ``ValueError`` naming every problem."""
    source = read_yaml(path.read_text(encoding="utf-8"), str(path), {})
    if source.problems:
        raise ValueError(
            "\n".join(f"{p.file}:{p.line}: {p.path}: {p.message}" for p in source.problems)
        )
    try:
        return Scenario.model_validate(source.data)
    except ValidationError as err:
        raise ValueError(f"{path}: {err}") from err


def scenario_files(directory: Path = CASES_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


# -- what arrived ---------------------------------------------------------------------

_MISSING = object()


def lookup(data: Any, path: str) -> Any:
    """The value at dotted ``path`` (list indices as numbers), or ``MISSING``."""
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def present(data: Any, path: str) -> bool:
    return lookup(data, path) is not _MISSING


def request_headers(scenario: Scenario, user_agent: str, client_ip: str) -> dict[str, str]:
    """The request headers a scenario's visitor sends through the CDN: ``user_agent``
    unless the scenario names one (an empty one sends none), the region headers, GPC."""
    headers = {"X-Forwarded-For": client_ip, **scenario.headers}
    agent = user_agent if scenario.user_agent is None else scenario.user_agent
    if agent:
        headers["User-Agent"] = agent
    if scenario.region is not None:
        country, _, subdivision = scenario.region.partition("-")
        headers["CF-IPCountry"] = country
        if subdivision:
            headers["CF-Region-Code"] = subdivision
    if scenario.gpc:
        headers["Sec-GPC"] = "1"
    return headers


def verdict_problems(name: str, expected: Expectation, verdict: Mapping[str, Any]) -> list[str]:
    """How the consent record's ``verdict`` for ``name`` differs from ``expected``."""
    problems = []
    if verdict["action"] != expected.verdict:
        problems.append(f"{name}: verdict {verdict['action']}, expected {expected.verdict}")
    if sorted(verdict.get("restrictions", [])) != sorted(expected.restrictions):
        problems.append(
            f"{name}: restrictions {verdict.get('restrictions', [])},"
            f" expected {expected.restrictions}"
        )
    return problems


def received_problems(
    name: str, expected: Expectation, got: list[Any], raw_markers: tuple[str, ...]
) -> list[str]:
    """How what ``name`` received (``got``: one entry per event) differs from ``expected``:
    nothing unless it ``arrives``, else exactly one event with no raw PII marker and the
    listed paths present, absent and equal. The body is added when anything differs."""
    if not expected.arrives:
        return [f"{name}: {len(got)} event(s) arrived, expected none"] if got else []
    if len(got) != 1:
        return [f"{name}: expected one event to arrive, got {len(got)}"]
    (sent,) = got
    body = json.dumps(sent)
    problems = [f"{name}: raw PII {m!r} left" for m in raw_markers if m in body]
    problems += [f"{name}: {p} is missing" for p in expected.has if not present(sent, p)]
    problems += [f"{name}: {p} is present" for p in expected.lacks if present(sent, p)]
    for path, value in expected.equals.items():
        if (actual := lookup(sent, path)) != value:
            problems.append(f"{name}: {path} is {actual!r}, expected {value!r}")
    return [*problems, f"{name} received: {body}"] if problems else []


# -- the shipped config, pointed at test endpoints --------------------------------------


def derived_config(
    directory: Path,
    *,
    queue_path: Path,
    extra_destinations: Mapping[str, Mapping[str, Any]],
    max_wait_ms: int = 0,
    overlay: Mapping[str, Any] | None = None,
) -> Path:
    """The shipped config as written, except: the queue in ``queue_path``, every
    destination's ``batch.max_wait_ms`` set to ``max_wait_ms``, ``extra_destinations``
    added, and ``overlay`` merged in (``tests.support.configs.merged``: null deletes).
    Interpolation (``${...}``) is left for the loader, as in production."""
    data = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    if overlay:
        data = merged(data, dict(overlay))
    data["queue"]["path"] = str(queue_path)
    for name, settings in extra_destinations.items():
        if name in data["destinations"]:
            raise ValueError(f"the shipped config already has a destination {name!r}")
        data["destinations"][name] = dict(settings)
    for settings in data["destinations"].values():
        settings["batch"] = {**settings.get("batch", {}), "max_wait_ms": max_wait_ms}
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def same_policy(shipped: Config, derived: Config, added: set[str]) -> list[str]:
    """Differences between two configs outside what ``derived_config`` changes (the queue
    path, batching, the added destinations); empty when the policy is the shipped one."""

    def cut(config: Config, drop: set[str]) -> dict[str, Any]:
        data = config.model_dump(mode="json", round_trip=True)
        data["queue"].pop("path")
        for name in drop:
            data["destinations"].pop(name)
        for settings in data["destinations"].values():
            settings.pop("batch")
        return data

    left, right = cut(shipped, set()), cut(derived, added)
    return [key for key in sorted(set(left) | set(right)) if left.get(key) != right.get(key)]


def load(path: Path, env: Mapping[str, str]) -> Config:
    return load_config(str(path), env=env)
