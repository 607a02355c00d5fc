"""The config file's schema: what operators may write, with defaults and limits.

Every model refuses unknown keys and coerces nothing (``"8080"`` is not a port). The
``destinations`` entries are a union discriminated by ``type``, built from the adapter
registry, so each adapter's own ``Settings`` validates its section.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Field, SecretStr, ValidationInfo, field_validator

from destinations import REGISTRY
from destinations.base import StrictModel
from gateway.config.governance import GovernanceConfig
from gateway.signals.gcm import GcmType

Regime = Literal["opt_in", "opt_out", "none"]

_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
_COOKIE_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class RegionHeaders(StrictModel):
    """Request headers carrying the visitor's region, in order of precedence."""

    country: list[Annotated[str, Field(pattern=_HEADER_NAME)]] = ["CF-IPCountry"]
    subdivision: list[Annotated[str, Field(pattern=_HEADER_NAME)]] = ["CF-Region-Code"]


def _network(entry: str) -> str:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError as err:
        raise ValueError(
            "must be an IP address or CIDR network (host names are not resolved)"
        ) from err
    return entry


class ServerConfig(StrictModel):
    """The HTTP edge."""

    max_body_bytes: int = Field(65_536, ge=1024, le=10 * 1024 * 1024)
    max_events_per_request: int = Field(100, ge=1, le=100)
    #: on SIGTERM: how long in-flight requests, then in-flight deliveries, may take to
    #: finish; what is still queued stays queued for the next start
    shutdown_grace_secs: float = Field(10.0, ge=0, le=300)
    trusted_proxies: list[Annotated[str, AfterValidator(_network)]] = []
    region_headers: RegionHeaders = RegionHeaders()


class CookieConfig(StrictModel):
    """The first-party client-id cookie the gateway sets itself."""

    name: str = Field("gw_id", pattern=_COOKIE_NAME)
    domain: str | None = Field(None, pattern=r"^\.?[A-Za-z0-9.-]+$")
    max_age_days: int = Field(395, ge=1, le=400)
    secure: bool = True
    requires: list[str] = ["analytics"]


class IdentityConfig(StrictModel):
    """Visitor identity: the cookie and the key that signs it."""

    secret: SecretStr
    cookie: CookieConfig = CookieConfig()

    @field_validator("secret")
    @classmethod
    def _secret_length(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (use a long random string)")
        return value


class TcfSignal(StrictModel):
    """What a valid TC string must hold to grant a purpose: consent for every one of these
    TCF purposes (and, for a destination with a ``tcf_vendor_id``, for that vendor)."""

    purposes: Annotated[list[Annotated[int, Field(ge=1, le=24)]], Field(min_length=1)]


GppOptOut = Literal["sale", "sharing", "targeted_advertising", "known_child"]


class PurposeSignals(StrictModel):
    """Which signals grant a purpose, and which withdraw it.

    ``categories``, ``gcm`` and ``tcf`` can grant or deny; ``gpp``, ``usp`` and ``gpc`` are
    opt-outs: they can only deny.
    """

    categories: list[Annotated[str, Field(min_length=1, max_length=64)]] = []
    gcm: list[GcmType] = []
    tcf: TcfSignal | None = None
    gpp: list[GppOptOut] = []
    usp: bool = False
    gpc: bool = False


class Purpose(StrictModel):
    """A named reason for processing, such as ``analytics`` or ``advertising``."""

    description: str = ""
    signals: PurposeSignals


class Regions(StrictModel):
    """Which consent regime applies where (ISO 3166-1 countries, ISO 3166-2 subdivisions)."""

    opt_in: list[str] = []
    opt_out: list[str] = []
    none: list[str] = []
    default: Regime = "opt_in"


class ConsentRecords(StrictModel):
    """The append-only record of consent decisions (``gateway consent-log`` reads it)."""

    enabled: bool = True
    #: records older than this are purged (hourly)
    retention_days: int = Field(395, ge=1, le=3650)


class ConsentConfig(StrictModel):
    """Purposes, regional regimes, and the record of decisions."""

    purposes: dict[Annotated[str, Field(pattern=_NAME)], Purpose]
    regions: Regions = Regions()
    records: ConsentRecords = ConsentRecords()


class PiiConfig(StrictModel):
    """PII normalization settings."""

    default_country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")


class QueueConfig(StrictModel):
    """The durable queue between the request path and delivery: an embedded SQLite file
    (one gateway process), or Redis Streams shared by any number of gateway processes."""

    backend: Literal["sqlite", "redis"] = "sqlite"
    #: sqlite: the queue file
    path: str = "var/queue.db"
    #: redis: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS)
    url: SecretStr | None = Field(None, validate_default=True)
    #: redis: the key prefix; every gateway sharing one queue uses the same
    prefix: str = Field("gateway", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    #: redis: this process's consumer name, unique among running gateways; a stable one
    #: (the host or pod name) lets a restarted process resume its own leases at once,
    #: instead of after ``lease_secs``. Default: host name and process id.
    consumer: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    max_rows: int = Field(1_000_000, ge=1)
    max_bytes: int = Field(1 << 30, ge=1 << 16)
    synchronous: Literal["full", "normal"] = "full"
    lease_secs: int = Field(60, ge=5, le=3600)
    retry_after_secs: int = Field(5, ge=1, le=3600)

    @field_validator("url")
    @classmethod
    def _url_for_redis(cls, url: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("backend") != "redis":
            return url
        if url is None:
            raise ValueError("required when backend is redis")
        if not url.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url


class LoggingConfig(StrictModel):
    """Structured logs."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    decisions: bool = True


DestinationConfig = Annotated[
    Union[tuple(adapter.Settings for adapter in REGISTRY.values())],  # noqa: UP007
    Field(discriminator="type"),
]


class Config(StrictModel):
    """The whole config file."""

    version: Literal[1]
    server: ServerConfig = ServerConfig()
    identity: IdentityConfig
    consent: ConsentConfig
    pii: PiiConfig = PiiConfig()
    governance: GovernanceConfig = GovernanceConfig()
    queue: QueueConfig = QueueConfig()
    logging: LoggingConfig = LoggingConfig()
    destinations: dict[Annotated[str, Field(pattern=_NAME)], DestinationConfig]
