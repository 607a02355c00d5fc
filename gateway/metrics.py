"""Prometheus metrics: ``gateway_`` names, ``_total`` counters, labels from bounded sets.

Labels hold destination names (from config), endpoint names, outcomes and reasons (from
fixed lists in the code), never values from requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class _QueueCollector(Collector):
    """Reads queue depth and dead letters from the store at scrape time."""

    def __init__(self) -> None:
        self.depth: Callable[[], Mapping[str, int]] = dict
        self.dead: Callable[[], Mapping[str, int]] = dict
        self.unconfigured: Callable[[], Mapping[str, int]] = dict
        #: SQLite's group commits; None for a store without them (Redis)
        self.commits: Callable[[], int] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        depth = GaugeMetricFamily(
            "gateway_queue_depth", "Events waiting for delivery", labels=["destination"]
        )
        for destination, n in sorted(self.depth().items()):
            depth.add_metric([destination], n)
        yield depth
        dead = GaugeMetricFamily(
            "gateway_dead_letters", "Events in the dead-letter store", labels=["destination"]
        )
        for destination, n in sorted(self.dead().items()):
            dead.add_metric([destination], n)
        yield dead
        configured = GaugeMetricFamily(
            "gateway_destination_configured",
            "1 when a destination has its credentials and is sent to, else 0",
            labels=["destination"],
        )
        for destination, ok in sorted(self.unconfigured().items()):
            configured.add_metric([destination], ok)
        yield configured
        if self.commits is not None:
            yield CounterMetricFamily(
                "gateway_queue_commits", "Queue transactions committed", value=self.commits()
            )


class _ChangesCollector(Collector):
    """``gateway_governance_changes_total`` from the tally the request path keeps."""

    def __init__(self, tally: Mapping[tuple[str, str, str], int]) -> None:
        self.tally = tally

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "gateway_governance_changes",
            "Changes the govern stage made to events (fields dropped, hashed, redacted, "
            "truncated ...), by destination (* for every destination), rule and action",
            labels=["destination", "rule", "action"],
        )
        for labels, n in sorted(self.tally.items()):
            family.add_metric(list(labels), n)
        yield family


class Metrics:
    """The gateway's metrics, on a registry of their own (tests create several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "gateway_events_received", "Events received", ["endpoint"], registry=r
        )
        self.accepted = Counter(
            "gateway_events_accepted",
            "Events durably queued (answered 204)",
            ["endpoint"],
            registry=r,
        )
        self.refused = Counter(
            "gateway_events_refused",
            "Requests refused, by reason",
            ["endpoint", "reason"],
            registry=r,
        )
        self.verdicts = Counter(
            "gateway_consent_verdicts",
            "Consent verdicts per destination",
            ["destination", "verdict"],
            registry=r,
        )
        self.deliveries = Counter(
            "gateway_deliveries",
            "Events settled by the delivery worker, by outcome",
            ["destination", "outcome"],
            registry=r,
        )
        self.requests = Counter(
            "gateway_delivery_requests",
            "Outbound requests to destinations, by outcome",
            ["destination", "outcome"],
            registry=r,
        )
        self.fitted = Counter(
            "gateway_delivery_fitted",
            "Changes an adapter made to fit a platform's limits (a name renamed, a value "
            "cut), by rule",
            ["destination", "rule"],
            registry=r,
        )
        self.filtered = Counter(
            "gateway_events_filtered",
            "Events the bot and junk filter kept from destinations (answered 204 and "
            "counted as accepted: a bot must not learn it was spotted), by reason",
            ["endpoint", "reason"],
            registry=r,
        )
        self.plan_violations = Counter(
            "gateway_tracking_plan_violations",
            "Tracking-plan violations, by event (as the plan names it, else unknown) and rule",
            ["event", "rule"],
            registry=r,
        )
        #: (destination, rule, action) -> changes the govern stage made; a plain dict the
        #: request path bumps (cheaper than a labelled counter per field), read at scrape
        self.changes: dict[tuple[str, str, str], int] = {}
        r.register(_ChangesCollector(self.changes))
        self.circuit_open = Gauge(
            "gateway_circuit_open",
            "1 while delivery to a destination is paused because it keeps failing (the "
            "circuit is open or probing), else 0",
            ["destination"],
            registry=r,
        )
        self.circuit_opened = Counter(
            "gateway_circuit_opened",
            "Times a destination's circuit opened (delivery paused after repeated failures)",
            ["destination"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "gateway_delivery_request_seconds",
            "Outbound request duration",
            ["destination"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.queue = _QueueCollector()
        r.register(self.queue)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def inc(self, metric: Counter, *labels: str, amount: float = 1) -> None:
        """``metric.labels(*labels).inc(amount)``, with the child looked up once."""
        key = (id(metric), labels)
        if (child := self._children.get(key)) is None:
            child = self._children[key] = metric.labels(*labels)
        child.inc(amount)
