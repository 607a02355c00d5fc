"""Compile a validated ``Config`` once into the frozen ``Policy`` the request path reads.

Per-event code only looks things up: networks are parsed, region lists inverted into a
dict, adapters instantiated, here and nowhere else.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from types import MappingProxyType

import orjson

from destinations import REGISTRY
from destinations.base import HttpDestination
from gateway.config.models import Config, CookieConfig, Regime
from gateway.governance.destination_rules import DestinationRules
from gateway.governance.event_rules import Governance
from gateway.request_context import ContextRules

#: strictest first: an unknown region gets the first
REGIMES_BY_STRICTNESS: tuple[Regime, ...] = ("opt_in", "opt_out", "none")


@dataclass(frozen=True, slots=True)
class CompiledPurpose:
    """A purpose and the signals that decide it."""

    name: str
    categories: tuple[str, ...]
    gcm: tuple[str, ...]
    tcf: tuple[int, ...]
    gpp: tuple[str, ...]
    usp: bool
    gpc: bool


@dataclass(frozen=True, slots=True)
class ConsentTerms:
    """What one destination's verdict depends on, beside the purposes' signals."""

    requires: tuple[str, ...]
    tcf_vendor_id: int | None
    ad_user_data: tuple[str, ...]
    ad_personalization: tuple[str, ...]
    limited_data_use: frozenset[str]


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """Everything the pipeline needs, precomputed (hashed by identity: a reload makes a
    new policy, so results memoized per policy never outlive it)."""

    config: Config
    context_rules: ContextRules
    purposes: MappingProxyType[str, CompiledPurpose]
    regimes: MappingProxyType[str, Regime]
    default_regime: Regime
    destinations: MappingProxyType[str, HttpDestination]
    #: each destination's governance settings, compiled
    rules: MappingProxyType[str, DestinationRules]
    #: the ``governance:`` section, compiled (patterns, plan, bot list)
    governance: Governance
    terms: MappingProxyType[str, ConsentTerms]
    #: the TCF vendor ids the destinations name, None standing for "not a TCF vendor"
    vendor_ids: tuple[int | None, ...]
    cookie: CookieConfig
    storage_requires: tuple[str, ...]
    secret: bytes
    default_country: str | None
    log_decisions: bool
    #: identifies the config a decision was made under (in consent records)
    version: str

    def regime_for(self, region: str | None) -> tuple[Regime, str]:
        """The regime for ``region`` and the config rule that chose it.

        ``US-CA`` is looked up as itself, then as ``US``, then falls to the default; an
        unknown region gets the strictest regime.
        """
        if region is None:
            return REGIMES_BY_STRICTNESS[0], "unknown region: strictest regime"
        for code in (region, region.split("-", 1)[0]):
            if (regime := self.regimes.get(code)) is not None:
                return regime, f"consent.regions.{regime}"
        return self.default_regime, "consent.regions.default"


def compile_policy(config: Config) -> Policy:
    """Build the policy; ``config`` must come from ``load_config`` (already validated)."""
    server = config.server
    rules = ContextRules(
        trusted_proxies=tuple(
            ipaddress.ip_network(n, strict=False) for n in server.trusted_proxies
        ),
        country_headers=tuple(server.region_headers.country),
        subdivision_headers=tuple(server.region_headers.subdivision),
    )
    purposes = {
        name: CompiledPurpose(
            name,
            categories=tuple(p.signals.categories),
            gcm=tuple(p.signals.gcm),
            tcf=tuple(p.signals.tcf.purposes) if p.signals.tcf else (),
            gpp=tuple(p.signals.gpp),
            usp=p.signals.usp,
            gpc=p.signals.gpc,
        )
        for name, p in config.consent.purposes.items()
    }
    terms = {
        name: ConsentTerms(
            requires=tuple(s.requires),
            tcf_vendor_id=s.tcf_vendor_id,
            ad_user_data=tuple(s.restrictions.ad_user_data),
            ad_personalization=tuple(s.restrictions.ad_personalization),
            limited_data_use=frozenset(s.restrictions.limited_data_use),
        )
        for name, s in config.destinations.items()
    }
    regions = config.consent.regions
    regimes: dict[str, Regime] = {}
    for regime in REGIMES_BY_STRICTNESS:
        for code in getattr(regions, regime):
            regimes[code] = regime
    destinations = {
        name: REGISTRY[settings.type](name, settings)
        for name, settings in config.destinations.items()
    }
    return Policy(
        config=config,
        context_rules=rules,
        purposes=MappingProxyType(purposes),
        regimes=MappingProxyType(regimes),
        default_regime=regions.default,
        destinations=MappingProxyType(destinations),
        rules=MappingProxyType(
            {name: DestinationRules(name, s) for name, s in config.destinations.items()}
        ),
        governance=Governance(config.governance),
        terms=MappingProxyType(terms),
        vendor_ids=(None, *sorted({t.tcf_vendor_id for t in terms.values()} - {None})),
        cookie=config.identity.cookie,
        storage_requires=tuple(config.identity.cookie.requires),
        secret=config.identity.secret.get_secret_value().encode(),
        default_country=config.pii.default_country,
        log_decisions=config.logging.decisions,
        version=config_version(config),
    )


def config_version(config: Config) -> str:
    """A short digest of the config as loaded, secrets masked out: equal policies give
    equal versions, so a consent record names the policy that decided it."""
    canonical = orjson.dumps(
        config.model_dump(mode="json", round_trip=True), option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()[:12]
