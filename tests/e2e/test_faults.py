"""Delivery under platform faults, end to end over real HTTP.

The gateway (served by uvicorn in a thread) delivers to fake platforms that answer 5xx,
throttle with ``Retry-After``, answer too late and refuse connections, scripted in that
order. What the fake finally received is checked exactly: every accepted event arrives,
once, in a request answered 2xx in time; an event is sent again only after a request
carrying it timed out (the platform may have processed it: at-least-once); nothing is
dead-lettered. A destination that hangs slows neither ingestion nor another destination.
Each test runs on both queue backends, SQLite and Redis.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import redis

from tests.e2e.conftest import Gateway
from tests.support.configs import PIXEL, merged
from tests.support.events import US_BROWSER, purchase
from tests.support.fake_platform import Answer, FakePlatform, Received

META_PATH = f"/v26.0/{PIXEL}/events"
READ_SECS = 0.5
RETRY_AFTER_SECS = 1


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def metrics(gw: Gateway) -> dict[str, float]:
    """``/metrics`` as ``{'name{labels}': value}``."""
    values: dict[str, float] = {}
    for line in gw.client().get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


def drained(gw: Gateway, destination: str) -> dict[str, float] | None:
    """The metrics once ``destination``'s queue is empty (acks come after the answer);
    None while it is not."""
    values = metrics(gw)
    empty = values.get(f'gateway_queue_depth{{destination="{destination}"}}', 0) == 0
    return values if empty else None


def arrived(fake: FakePlatform) -> list[Received]:
    """What ``fake`` received so far, in order of arrival."""
    return sorted(list(fake.received), key=lambda r: r.at)


def retry_settings(read_secs: float = READ_SECS) -> dict[str, Any]:
    return {
        "retry": {"max_attempts": 100, "initial_backoff_secs": 0.05, "max_backoff_secs": 0.2},
        "timeout": {"connect_secs": 0.5, "read_secs": read_secs},
        "circuit": {"cooldown_secs": 0.3, "max_cooldown_secs": 0.6},
    }


@pytest.fixture(params=["sqlite", "redis"])
def queue(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Config overrides for each queue backend: every fault test runs on both."""
    if request.param == "sqlite":
        return {}
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    return {"queue": {"backend": "redis", "url": url, "prefix": prefix}}


def test_scripted_faults_deliver_every_event_once_in_time(
    gateway_factory: Callable[..., AbstractContextManager[Gateway]],
    fake: FakePlatform,
    queue: dict[str, Any],
) -> None:
    """500, 503, 429 with Retry-After, a timeout, ~1 s of refused connections, recovery:
    every accepted event reaches Meta, nothing is lost, dead-lettered or invented."""
    fake.script.extend(
        [
            Answer(500, {"error": {"message": "internal", "code": 1}}),
            Answer(503, {"error": {"message": "unavailable", "code": 2}}),
            Answer(429, {"error": {"message": "slow down", "code": 4}}, retry_after=1),
            # processed, but answered after the gateway's read timeout; from its arrival
            # the platform refuses connections for 1.5 s (about 1 s after the timeout)
            Answer(200, delay_secs=2 * READ_SECS + 0.2, pause_secs=3 * READ_SECS),
        ]
    )
    first = [purchase() for _ in range(20)]
    during_outage = [purchase() for _ in range(10)]
    overrides = merged({"destinations": {"meta": retry_settings()}}, queue)
    with gateway_factory(overrides) as gw, gw.client() as c:
        # one request: the twenty are queued together and leased as one batch throughout
        response = c.post("/collect", json={"events": first}, headers=US_BROWSER)
        assert response.status_code == 204
        wait_for(lambda: fake.paused, 10, "the fake platform refuses connections")
        for event in during_outage:
            response = c.post("/collect", json=event, headers=US_BROWSER)
            assert response.status_code == 204, "ingestion must not depend on the platform"
        accepted = {e["event_id"] for e in first + during_outage}
        wait_for(lambda: fake.delivered_ids() >= accepted, 12, "every event delivered")
        values = wait_for(lambda: drained(gw, "meta"), 5, "the queue drained")
    received = arrived(fake)

    # the script was answered in order, and everything after it was answered 200 in time
    assert [r.status for r in received[:4]] == [500, 503, 429, 200]
    timed_out = received[3]
    assert timed_out.client_gone, "the gateway gave up waiting for the late answer"
    assert timed_out.answered_after_secs >= READ_SECS
    assert all(r.ok for r in received[4:]), [(r.status, r.client_gone) for r in received]
    assert fake.pauses == 1 and not fake.paused

    # nothing else arrives: only Meta requests, only accepted events, no id twice in a body
    assert {r.path for r in received} == {META_PATH}
    for request in received:
        ids = request.event_ids()
        assert ids, "a request without events"
        assert len(ids) == len(set(ids)), "an event twice in one request"
        assert set(ids) <= accepted, "an event nobody sent"

    # every accepted event is in exactly one request answered 2xx in time; any other 2xx
    # request carrying it came earlier and timed out (the only allowed duplicate)
    answered_2xx: dict[str, list[Received]] = defaultdict(list)
    for request in received:
        if 200 <= request.status < 300:
            for event_id in request.event_ids():
                answered_2xx[event_id].append(request)
    assert set(answered_2xx) == accepted
    for event_id, requests in answered_2xx.items():
        in_time = [r for r in requests if r.ok]
        assert len(in_time) == 1, f"{event_id} delivered {len(in_time)} times in time"
        late = [r for r in requests if not r.ok]
        assert all(r.client_gone and r.at < in_time[0].at for r in late), event_id
    duplicated = {i for i, rs in answered_2xx.items() if len(rs) > 1}
    assert duplicated == set(timed_out.event_ids()) == {e["event_id"] for e in first}

    # Retry-After is a floor: nothing came back sooner than asked after the 429
    throttled = received[2]
    after = received[3]
    assert after.at - throttled.answered_at >= RETRY_AFTER_SECS, after.at - throttled.answered_at
    throttled_ids = set(throttled.event_ids())
    for request in received[3:]:
        if throttled_ids & set(request.event_ids()):
            assert request.at - throttled.answered_at >= RETRY_AFTER_SECS

    # refused connections are retried attempts the fake never saw
    retried = values.get('gateway_delivery_requests_total{destination="meta",outcome="retry"}', 0)
    failures_seen = sum(1 for r in received if not r.ok)
    assert retried > failures_seen, "no attempt was refused while the platform was down"
    assert values.get('gateway_dead_letters{destination="meta"}', 0) == 0
    assert (
        values.get('gateway_deliveries_total{destination="meta",outcome="dead_lettered"}', 0) == 0
    )
    delivered = values.get('gateway_deliveries_total{destination="meta",outcome="delivered"}')
    assert delivered == len(accepted)


def test_a_hanging_destination_slows_neither_ingestion_nor_another_destination(
    gateway_factory: Callable[..., AbstractContextManager[Gateway]],
    fake: FakePlatform,
    queue: dict[str, Any],
) -> None:
    """Meta answers every request long after the read timeout; a webhook to a healthy
    receiver still gets each event promptly, and POST /collect still answers 204 fast,
    while Meta's events stay queued (not dead-lettered)."""
    hang_read_secs = 2.0
    fake.default = Answer(200, delay_secs=4 * hang_read_secs)
    healthy = FakePlatform().start()
    try:
        webhook = {
            "type": "webhook",
            "requires": ["analytics"],
            "url": f"{healthy.url}/hook",
            "secret": "webhook-secret-0123456789",
            "batch": {"max_events": 500, "max_wait_ms": 20},
            **retry_settings(),
        }
        overrides = merged(
            {"destinations": {"meta": retry_settings(hang_read_secs), "warehouse": webhook}},
            queue,
        )
        with gateway_factory(overrides) as gw, gw.client() as c:
            first = purchase()
            assert c.post("/collect", json=first, headers=US_BROWSER).status_code == 204
            wait_for(lambda: fake.stats()["in_flight"], 5, "Meta is hanging")
            posted: dict[str, float] = {}
            slowest = 0.0
            for _ in range(30):
                event = purchase()
                started = time.monotonic()
                response = c.post("/collect", json=event, headers=US_BROWSER)
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code == 204
                posted[event["event_id"]] = started
                time.sleep(0.02)
            wait_for(
                lambda: healthy.delivered_ids() >= set(posted),
                10,
                "every event delivered to the webhook",
            )
            # each event reached the healthy receiver well within Meta's read timeout:
            # nothing waited behind a hanging Meta request
            first_arrival = {}
            for request in arrived(healthy):
                for event_id in request.event_ids():
                    first_arrival.setdefault(event_id, request.at)
            lag = max(first_arrival[i] - posted[i] for i in posted)
            assert lag < hang_read_secs * 0.75, f"an event took {lag:.2f} s to reach the webhook"
            assert slowest < 1.0, f"POST /collect took {slowest:.2f} s"
            values = wait_for(lambda: drained(gw, "warehouse"), 5, "the webhook's queue drained")
            meta_stats = fake.stats()
    finally:
        healthy.stop()

    assert all(r.ok for r in healthy.received)
    assert healthy.delivered_ids() == set(healthy.event_ids()) == {first["event_id"], *posted}
    # Meta got nothing in time, and keeps every event queued for later
    assert fake.delivered_ids() == set()
    assert meta_stats["requests"] + meta_stats["in_flight"] >= 1
    assert values.get('gateway_queue_depth{destination="meta"}') == len(posted) + 1
    assert sum(v for k, v in values.items() if k.startswith("gateway_dead_letters")) == 0


def test_a_full_queue_store_is_answered_503_and_recovers(
    gateway_factory: Callable[..., AbstractContextManager[Gateway]],
    fake: FakePlatform,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """A Redis at its memory limit (the shared store's "disk full") refuses writes: POST
    /collect answers 503 with Retry-After, counted as queue_unavailable, never a 500 and
    never a 204 for an event not stored; /readyz says so; once Redis has room again,
    events are accepted and every accepted one is delivered."""
    admin = redis.Redis.from_url(redis_url)
    overrides = {"queue": {"backend": "redis", "url": redis_url, "prefix": redis_prefix}}
    with gateway_factory(overrides) as gw, gw.client() as c:
        accepted = [purchase()]
        assert c.post("/collect", json=accepted[0], headers=US_BROWSER).status_code == 204
        saved = admin.config_get("maxmemory*")
        try:
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
            refused = c.post("/collect", json=purchase(), headers=US_BROWSER)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert c.get("/readyz").status_code == 503
        finally:
            admin.config_set("maxmemory", saved["maxmemory"])
            admin.config_set("maxmemory-policy", saved["maxmemory-policy"])
            admin.close()
        counted = metrics(gw)
        assert (
            counted['gateway_events_refused_total{endpoint="collect",reason="queue_unavailable"}']
            == 1
        )
        accepted.append(purchase())
        assert c.post("/collect", json=accepted[1], headers=US_BROWSER).status_code == 204
        wait_for(lambda: drained(gw, "meta"), 10, "the queue drains")
    assert sorted(fake.event_ids()) == sorted(e["event_id"] for e in accepted)
