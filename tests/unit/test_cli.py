"""The gateway command: explain shows verdicts, reasons and the exact payload, with
secrets masked; it sends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from tests.support.configs import SECRET, TOKEN, base_config, write_config
from tests.support.events import RAW_MARKERS, purchase

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "gateway.yaml"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path / "gateway.yaml", base_config(tmp_path / "q.db"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(purchase(event_id="evt-1")))
    return config, event


def test_explain_shows_verdict_reasons_and_masked_payload(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Per destination: the verdict, the rules behind it, the governance remarks and the
    exact request, with the access token masked and PII hashed."""
    config, event = files
    code = main(
        [
            "explain",
            "--config",
            str(config),
            "--event",
            str(event),
            "--header",
            "CF-IPCountry: US",
            "--header",
            "User-Agent: UA/1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "destination meta (meta_capi): SEND" in out
    assert "rule destinations.meta.requires" in out
    assert "user.email: hash" in out
    assert "access_token=***" in out and TOKEN not in out
    assert '"event_id": "evt-1"' in out
    for marker in RAW_MARKERS:
        assert marker not in out


def test_explain_withheld_in_opt_in_region(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without consent in an opt-in region: WITHHOLD with the purpose that is missing."""
    config, event = files
    event.write_text(json.dumps(purchase(consent={})))
    assert (
        main(
            [
                "explain",
                "--config",
                str(config),
                "--event",
                str(event),
                "--json",
                "--header",
                "CF-IPCountry: DE",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    meta = result["events"][0]["destinations"]["meta"]
    assert meta["verdict"] == "withhold" and "requests" not in meta
    assert meta["decisions"][0]["reason"] == "purpose advertising not granted"


def test_explain_refuses_a_bad_event(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad event file is reported field by field, exit 1."""
    config, event = files
    event.write_text(json.dumps({"event": 3}))
    assert main(["explain", "--config", str(config), "--event", str(event)]) == 1
    assert "event: Input should be a valid string" in capsys.readouterr().err


def test_explain_reports_missing_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped config without Meta credentials: the payload is shown, with a note
    that events are queued, not sent."""
    event = tmp_path / "e.json"
    event.write_text(json.dumps(purchase()))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GATEWAY_SECRET", "s" * 32)
        for name in ("GATEWAY_META_PIXEL_ID", "GATEWAY_META_ACCESS_TOKEN"):
            mp.delenv(name, raising=False)
        code = main(
            [
                "explain",
                "--config",
                str(ROOT / "config/gateway.yaml"),
                "--event",
                str(event),
                "--header",
                "CF-IPCountry: US",
                "--header",
                "User-Agent: UA",
            ]
        )
    assert code == 0
    assert "credentials missing (pixel_id, access_token)" in capsys.readouterr().out


@pytest.mark.parametrize("header", ["CF-IPCountry", "CF-IPCountry: Ü\u4e2d"])
def test_explain_refuses_a_malformed_header(
    files: tuple[Path, Path], header: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header without a colon, or with non-ASCII text, is a usage error (exit 2)."""
    config, event = files
    assert (
        main(["explain", "--config", str(config), "--event", str(event), "--header", header]) == 2
    )
    assert "expected 'Name: value'" in capsys.readouterr().err


def test_explain_shows_decoded_signals_and_the_restricted_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped policy, a Californian with GPC and a US Privacy opt-out: explain prints
    the decoded signals (never the raw string), each purpose's deciding rules, and Meta's
    limited-data-use verdict with data_processing_options in the payload."""
    monkeypatch.setenv("GATEWAY_SECRET", SECRET)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(purchase(event_id="evt-2", consent={"usp": "1YYN"})))
    code = main(
        [
            "explain",
            "--config",
            str(ROOT / "config" / "gateway.yaml"),
            "--event",
            str(event),
            "--header",
            "CF-IPCountry: US",
            "--header",
            "CF-Region-Code: CA",
            "--header",
            "Sec-GPC: 1",
            "--header",
            "User-Agent: UA/1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert '"usp":{"applies":true,"opted_out":true,"source":"consent.usp","valid":true}' in out
    assert "1YYN" not in out
    assert "rule consent.purposes.advertising.signals.usp" in out
    assert "rule consent.purposes.advertising.signals.gpc" in out
    assert "SEND_RESTRICTED [ad_user_data, limited_data_use]" in out
    assert '"data_processing_options": [' in out and '"LDU"' in out
    assert '"em"' not in out


def test_explain_shows_each_governance_rule_at_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shipped config: the scrubbing rule that dropped a query parameter, the
    tracking-plan flag, and each destination's network rule, by rule id, never a value."""
    monkeypatch.setenv("GATEWAY_SECRET", SECRET)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            purchase(
                page={"url": "https://shop.example/done?email=jane%40example.com&utm_source=x"},
                properties={"value": 10.0, "currency": "EUR"},
            )
        )
    )
    code = main(
        [
            "explain",
            "--config",
            str(SHIPPED),
            "--event",
            str(event),
            "--header",
            "CF-IPCountry: DE",
            "--header",
            "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "page.url: drop (personal data in text; rule governance.scrub.query_params)" in out
    assert (
        "properties.transaction_id: flag (required property missing; rule "
        "governance.tracking_plan.events.purchase.properties.transaction_id.required)"
    ) in out
    assert "context.ip: drop (ip none; rule destinations.meta.network.overrides[0].ip)" in out
    assert (
        "context.ip: truncate (IPv4 to /24, IPv6 to /48; rule destinations.ga4.network.ip)"
    ) in out
    assert "jane" not in out
