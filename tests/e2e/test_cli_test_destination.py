"""``gateway test-destination``: the real command, the shipped config, fake platforms on
loopback. Each platform's test path is used (Meta and TikTok ``test_event_code``, GA4's
validation server), its answer is printed with the classification, and the exit code
says whether the platform accepted the event. Secrets never reach the output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from tests.support.fake_platform import Answer, FakePlatform

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "config" / "gateway.yaml")
META_TOKEN = "EAAtest-destination-token-0001"
GA4_SECRET = "ga4-api-secret-do-not-print"
TIKTOK_TOKEN = "tiktok-token-do-not-print-0001"
SECRETS = (META_TOKEN, GA4_SECRET, TIKTOK_TOKEN)

EVENT: dict[str, Any] = {
    "event": "purchase",
    "event_id": "check-0001",
    "page": {"url": "https://shop.example/checkout/done"},
    "user": {"email": "Jane.Doe@Example.com", "phone": "+1 (650) 555-1212", "country": "US"},
    "ids": {"fbp": "fb.1.1790000000000.123", "ttp": "ttp-cookie-1"},
    "consent": {"categories": {"analytics": True, "advertising": True}},
    "properties": {"value": 42.5, "currency": "EUR", "transaction_id": "T-1"},
}
HEADERS = ["--header", "CF-IPCountry: US", "--header", "User-Agent: Mozilla/5.0 (check)"]


@pytest.fixture
def platforms(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakePlatform]]:
    fakes = {name: FakePlatform().start() for name in ("meta", "ga4", "tiktok")}
    fakes["ga4"].default = Answer(200, {"validationMessages": []})
    fakes["tiktok"].default = Answer(200, {"code": 0, "message": "OK", "request_id": "r"})
    env = {
        "GATEWAY_SECRET": "check-secret-0123456789abcdef",
        "GATEWAY_META_PIXEL_ID": "1234567890",
        "GATEWAY_META_ACCESS_TOKEN": META_TOKEN,
        "GATEWAY_META_ENDPOINT": fakes["meta"].url,
        "GATEWAY_GA4_MEASUREMENT_ID": "G-CHECK1234",
        "GATEWAY_GA4_API_SECRET": GA4_SECRET,
        "GATEWAY_GA4_ENDPOINT": fakes["ga4"].url,
        "GATEWAY_TIKTOK_PIXEL_CODE": "CCHECK0001",
        "GATEWAY_TIKTOK_ACCESS_TOKEN": TIKTOK_TOKEN,
        "GATEWAY_TIKTOK_ENDPOINT": fakes["tiktok"].url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GATEWAY_META_TEST_EVENT_CODE", raising=False)
    monkeypatch.delenv("GATEWAY_TIKTOK_TEST_EVENT_CODE", raising=False)
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
def event_file(tmp_path: Path) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(EVENT))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["test-destination", *args])
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out and secret not in err
    return code, out, err


def test_ga4_goes_to_the_validation_server(
    platforms: dict[str, FakePlatform], event_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """GA4's test path is ``/debug/mp/collect``; an empty ``validationMessages`` is OK."""
    code, out, _ = run(capsys, "ga4", "--config", CONFIG, "--event", event_file, *HEADERS)
    assert code == 0, out
    [received] = platforms["ga4"].received
    assert received.path == "/debug/mp/collect"
    assert received.json()["validation_behavior"] == "ENFORCE_RECOMMENDATIONS"
    assert received.json()["events"][0]["name"] == "purchase"
    assert "records nothing" in out
    assert '"validationMessages": []' in out
    assert "outcome: OK" in out and out.endswith("OK\n")


def test_ga4_validation_messages_fail_the_check(
    platforms: dict[str, FakePlatform], event_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A validation message is printed, and the command exits 1."""
    message = {
        "fieldPath": "events",
        "description": "Event at index: [0] has invalid name [_x].",
        "validationCode": "NAME_INVALID",
    }
    platforms["ga4"].script.append(Answer(200, {"validationMessages": [message]}))
    code, out, _ = run(capsys, "ga4", "--config", CONFIG, "--event", event_file, *HEADERS)
    assert code == 1
    assert "NAME_INVALID" in out and "outcome: PERMANENT" in out and out.endswith("FAILED\n")


def test_meta_needs_a_test_event_code(
    platforms: dict[str, FakePlatform], event_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Meta has no dry run: without a code the command refuses and says where to get one;
    with one, it is sent top-level and Meta's answer is printed."""
    code, _, err = run(capsys, "meta", "--config", CONFIG, "--event", event_file, *HEADERS)
    assert code == 1
    assert "--test-event-code" in err and platforms["meta"].received == []

    code, out, _ = run(
        capsys,
        "meta",
        "--config",
        CONFIG,
        "--event",
        event_file,
        "--test-event-code",
        "TEST4242",
        *HEADERS,
    )
    assert code == 0, out
    [received] = platforms["meta"].received
    body = received.json()
    assert body["test_event_code"] == "TEST4242"
    assert body["data"][0]["event_name"] == "Purchase"
    assert body["data"][0]["event_id"] == "check-0001"
    assert received.query["access_token"] == [META_TOKEN]
    assert "access_token=***" in out
    assert '"events_received": 1' in out


def test_tiktok_error_code_is_reported(
    platforms: dict[str, FakePlatform], event_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """TikTok's HTTP 200 with a non-zero code is shown as the failure it is."""
    platforms["tiktok"].script.append(
        Answer(200, {"code": 40105, "message": "Access token is incorrect or has been revoked."})
    )
    code, out, _ = run(
        capsys,
        "tiktok",
        "--config",
        CONFIG,
        "--event",
        event_file,
        "--test-event-code",
        "TEST777",
        *HEADERS,
    )
    assert code == 1
    [received] = platforms["tiktok"].received
    assert received.headers["access-token"] == TIKTOK_TOKEN
    assert received.json()["test_event_code"] == "TEST777"
    assert "TikTok code 40105" in out and "outcome: PERMANENT" in out


def test_withheld_event_is_not_sent(
    platforms: dict[str, FakePlatform], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Consent applies: a German visitor without a grant is not sent, and the command
    names the rules that decided it."""
    path = tmp_path / "no-consent.json"
    path.write_text(json.dumps({**EVENT, "consent": {}}))
    code, _, err = run(
        capsys, "ga4", "--config", CONFIG, "--event", str(path), "--header", "CF-IPCountry: DE"
    )
    assert code == 1
    assert "not sent (withhold)" in err and "consent.regions.opt_in" in err
    assert platforms["ga4"].received == []


def test_unknown_destination_and_missing_credentials(
    platforms: dict[str, FakePlatform],
    event_file: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unknown name lists the configured ones; empty credentials are named."""
    code, _, err = run(capsys, "snapchat", "--config", CONFIG, "--event", event_file)
    assert code == 1 and "it has: ga4, meta, tiktok" in err
    monkeypatch.setenv("GATEWAY_GA4_API_SECRET", "")
    code, _, err = run(capsys, "ga4", "--config", CONFIG, "--event", event_file)
    assert code == 1 and "credentials missing (api_secret)" in err


def test_json_output(
    platforms: dict[str, FakePlatform], event_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` prints the same report as data."""
    code, out, _ = run(capsys, "ga4", "--config", CONFIG, "--event", event_file, "--json", *HEADERS)
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["verdict"] in ("send", "send_restricted")
    [exchange] = report["exchanges"]
    assert exchange["status"] == 200 and exchange["answer"] == {"validationMessages": []}
    assert "api_secret=***" in exchange["request"]["url"]
