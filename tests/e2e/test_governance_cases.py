"""The governance scenarios of ``tests/cases/governance/*.yaml``, end to end.

The format is the consent scenarios' (``tests/cases/README.md``) with the keys
governance needs: the request's ``user_agent`` and ``headers``, ``event`` keys merged
into the purchase, a ``config`` overlay for rules the shipped config only shows as
comments, per destination ``delivered`` and ``dead_letter``, and ``counted`` metrics.

Each scenario gets its own gateway: the shipped config (plus its overlay) with all three
shipped destinations, Meta, GA4 and TikTok, pointed at fake platforms on loopback, so
what is checked is each platform's real wire format. Paths point, for Meta and TikTok,
into the ``data[]`` entry; for GA4 into the request body (``ip_override``,
``events.0.params.page_location``), one request per event.

Beyond the paths a scenario lists, every body is searched for the raw PII of the
purchase.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from gateway import consent_records, logs
from gateway.app import create_app
from gateway.consent_records import Query
from tests.support.configs import merged
from tests.support.consent_cases import (
    CASES_DIR,
    Scenario,
    derived_config,
    load,
    load_scenario,
    lookup,
    received_problems,
    request_headers,
    scenario_files,
    verdict_problems,
)
from tests.support.events import RAW_MARKERS, purchase
from tests.support.fake_platform import Answer, FakePlatform
from tests.support.server import serve

SECRET = "case-secret-0123456789abcdef"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CLIENT_IP = "203.0.113.77"
DRAIN_TIMEOUT_SECS = 10.0
FILES = scenario_files(CASES_DIR / "governance")
DESTINATIONS = ("meta", "ga4", "tiktok")
ENV = {
    "GATEWAY_SECRET": SECRET,
    "GATEWAY_META_PIXEL_ID": "1234567890",
    "GATEWAY_META_ACCESS_TOKEN": "EAAcasetoken-do-not-leak-123",
    "GATEWAY_GA4_MEASUREMENT_ID": "G-CASES0001",
    "GATEWAY_GA4_API_SECRET": "ga4-case-secret",
    "GATEWAY_TIKTOK_PIXEL_CODE": "CASESPIXEL01",
    "GATEWAY_TIKTOK_ACCESS_TOKEN": "tiktok-case-token",
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakePlatform]]:
    platforms = {name: FakePlatform().start() for name in DESTINATIONS}
    platforms["tiktok"].default = Answer(body={"code": 0, "message": "OK"})
    platforms["ga4"].default = Answer(status=204, body=None)
    try:
        yield platforms
    finally:
        for fake in platforms.values():
            fake.stop()


@dataclass
class Run:
    client: httpx.Client
    queue_path: str
    log: io.StringIO

    def decided(self, event_id: str) -> dict[str, Any]:
        """The event's record in the ``events_decided`` log lines."""
        for line in self.log.getvalue().splitlines():
            entry = orjson.loads(line)
            for record in entry.get("events", []) if entry["event"] == "events_decided" else []:
                if record["event_id"] == event_id:
                    return dict(record)
        raise AssertionError(f"no events_decided record for {event_id}")

    def metrics(self) -> str:
        return self.client.get("/metrics").text

    def series(self, metric: str, labels: dict[str, str]) -> float:
        """The value of the series of ``metric`` whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(metric + "{"):
                continue
            series, _, value = line.rpartition(" ")
            pairs = dict(
                part.split("=", 1) for part in series[len(metric) + 1 : -1].split(",") if part
            )
            if all(pairs.get(k) == f'"{v}"' for k, v in labels.items()):
                total += float(value)
        return total

    def drain(self) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECS
        while any(self.series("gateway_queue_depth", {"destination": d}) for d in DESTINATIONS):
            if time.monotonic() > deadline:
                raise AssertionError("queue not drained")
            time.sleep(0.01)


@pytest.fixture
def run_scenario(fakes: dict[str, FakePlatform], tmp_path: Path) -> Iterator[Any]:
    """Start a gateway for a scenario; yields a function that starts it."""
    stack: list[Any] = []

    def start(scenario: Scenario) -> Run:
        for fake in fakes.values():
            fake.received.clear()
        env = {
            **ENV,
            "GATEWAY_META_ENDPOINT": fakes["meta"].url,
            "GATEWAY_GA4_ENDPOINT": fakes["ga4"].url,
            "GATEWAY_TIKTOK_ENDPOINT": fakes["tiktok"].url,
        }
        queue_path = tmp_path / "queue.db"
        path = derived_config(
            tmp_path, queue_path=queue_path, extra_destinations={}, overlay=scenario.config
        )
        log = io.StringIO()
        logs.configure("info", stream=log)
        app = create_app(load(path, env), str(path))
        server = serve(app)
        url = server.__enter__()
        stack.append(server)
        client = httpx.Client(base_url=url, timeout=10)
        stack.append(client)
        return Run(client, str(queue_path), log)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


def _received(fake: FakePlatform, destination: str) -> list[dict[str, Any]]:
    bodies = [r.json() for r in fake.received if 200 <= r.status < 300 and r.body]
    if destination == "ga4":
        return bodies
    return [e for b in bodies for e in b.get("data", [])]


@pytest.mark.parametrize("file", FILES, ids=[f.stem for f in FILES])
def test_scenario(
    file: Path, run_scenario: Any, fakes: dict[str, FakePlatform], tmp_path: Path
) -> None:
    scenario = load_scenario(file)
    if scenario.refused:
        _assert_refused(scenario, tmp_path)
        return
    assert set(scenario.expect) == set(DESTINATIONS), (
        f"a scenario states what leaves for every destination: {DESTINATIONS}"
    )
    run = run_scenario(scenario)
    before = {i: run.series(c.metric, c.labels) for i, c in enumerate(scenario.counted)}
    # letters only: the log redaction masks runs of nine digits (phone-like), event ids too
    event_id = "gov-" + uuid.uuid4().hex[:16].translate(str.maketrans("0123456789", "ghijklmnop"))
    event = merged(purchase(event_id=event_id, consent=scenario.consent.build()), scenario.event)
    response = run.client.post(
        "/collect", json=event, headers=request_headers(scenario, BROWSER, CLIENT_IP)
    )
    assert response.status_code == 204, response.text
    run.drain()

    problems: list[str] = []
    records = list(consent_records.read(run.queue_path, Query(event_id=event_id)))
    assert len(records) == 1
    record = records[0]
    assert record["regime"] == scenario.regime, record
    with sqlite3.connect(run.queue_path) as conn:
        dead = dict(conn.execute("SELECT destination, reason FROM dead_letters").fetchall())
    for name, expected in sorted(scenario.expect.items()):
        problems += verdict_problems(name, expected, record["verdicts"][name])
        if expected.dead_letter is not None:
            reason = dead.get(name)
            if reason is None or expected.dead_letter not in reason:
                problems.append(f"{name}: dead letter {reason!r}, not {expected.dead_letter!r}")
        elif name in dead:
            problems.append(f"{name}: unexpectedly dead-lettered: {dead[name]}")
        got = _received(fakes[name], name)
        problems += received_problems(name, expected, got, RAW_MARKERS)
    # a destination consent allowed but a rule skipped is named in the decision log
    decided = run.decided(event_id)
    skipped = [n for n, e in scenario.expect.items() if e.verdict != "withhold" and not e.arrives]
    skipped = [n for n in skipped if scenario.expect[n].dead_letter is None]
    if skipped and not decided["skipped_by"]:
        problems.append(f"events_decided names no rule that skipped {skipped}: {decided}")
    if not skipped and decided["skipped_by"]:
        problems.append(f"events_decided names skips that did not happen: {decided}")
    raw = b"".join(r.body for fake in fakes.values() for r in fake.received)
    problems += [
        f"{text!r} reached a destination" for text in scenario.absent_text if text.encode() in raw
    ]
    for i, counted in enumerate(scenario.counted):
        moved = run.series(counted.metric, counted.labels) - before[i]
        if moved != counted.by:
            problems.append(f"{counted.metric}{counted.labels} moved by {moved}, not {counted.by}")
    assert not problems, "\n".join([scenario.name, *problems])


def _assert_refused(scenario: Scenario, tmp_path: Path) -> None:
    """``gateway validate`` refuses the overlaid config with each expected problem, at the
    line of the key it names."""
    path = derived_config(
        tmp_path, queue_path=tmp_path / "q.db", extra_destinations={}, overlay=scenario.config
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    text = path.read_text(encoding="utf-8")
    lines, data = text.splitlines(), yaml.safe_load(text)
    for expected in scenario.refused:
        field_path = expected.partition(": ")[0]
        found = [line for line in result.stdout.splitlines() if line.endswith(f": {expected}")]
        assert found, f"{expected!r} not in:\n{result.stdout}"
        number = int(found[0].removeprefix(f"{path}:").partition(":")[0])
        # the reported line holds the value the path names (the key, for a mapping)
        value = lookup(data, field_path.replace("[", ".").replace("]", ""))
        expected_text = value if isinstance(value, str) else field_path.rpartition(".")[2]
        assert expected_text in lines[number - 1], (
            f"line {number} ({lines[number - 1]!r}) is not where {field_path} is"
        )


def test_every_governance_file_is_valid() -> None:
    assert len(FILES) >= 8
    names = [load_scenario(f).name for f in FILES]
    assert len(set(names)) == len(names), "two scenarios share a name"
