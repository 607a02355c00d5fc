"""The shipped config/gateway.yaml keeps the promises CONTRACT.md makes about it.

It validates with GATEWAY_SECRET set and nothing else, defines the purposes analytics
and advertising, sends to Meta (``meta``, type ``meta_capi``, requiring advertising) with
credentials and base URL from the documented variables, and reads the region from
CF-IPCountry then CF-Region-Code. The committed JSON Schema matches the models.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.loader import load_config
from gateway.config.models import Config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "gateway.yaml"
SCHEMA = ROOT / "config" / "gateway.schema.json"
SECRET = "test-secret-0123456789abcdef"


def shipped(env: dict[str, str]) -> Config:
    return load_config(str(SHIPPED), env=env)


def test_validates_with_only_gateway_secret_set() -> None:
    """With GATEWAY_SECRET and no other variable, the shipped config is valid."""
    config = shipped({"GATEWAY_SECRET": SECRET})
    assert config.identity.secret.get_secret_value() == SECRET


def test_gateway_validate_accepts_it_in_a_clean_environment() -> None:
    """`gateway validate --config config/gateway.yaml` exits 0 with only GATEWAY_SECRET set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_SECRET"] = SECRET
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--config", "config/gateway.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "config/gateway.yaml: ok\n")


def test_without_gateway_secret_the_one_problem_names_it() -> None:
    """Without GATEWAY_SECRET the config is refused, and the problem names the variable."""
    with pytest.raises(ConfigError) as info:
        shipped({})
    (problem,) = info.value.problems
    assert problem.path == "identity.secret"
    assert "GATEWAY_SECRET" in problem.message


def test_defines_the_purposes_analytics_and_advertising() -> None:
    """The consent purposes analytics and advertising are defined."""
    purposes = shipped({"GATEWAY_SECRET": SECRET}).consent.purposes
    assert {"analytics", "advertising"} <= set(purposes)


def test_meta_is_a_meta_capi_destination_requiring_advertising() -> None:
    """Destination meta has type meta_capi and requires advertising."""
    meta = shipped({"GATEWAY_SECRET": SECRET}).destinations["meta"]
    assert meta.type == "meta_capi"
    assert meta.requires == ["advertising"]


def test_meta_credentials_and_endpoint_come_from_the_documented_variables() -> None:
    """GATEWAY_META_PIXEL_ID, _ACCESS_TOKEN and _ENDPOINT set pixel, token and base URL."""
    meta = shipped(
        {
            "GATEWAY_SECRET": SECRET,
            "GATEWAY_META_PIXEL_ID": "0987654321",
            "GATEWAY_META_ACCESS_TOKEN": "EAAtest-token",
            "GATEWAY_META_ENDPOINT": "http://127.0.0.1:8999/prefix",
        }
    ).destinations["meta"]
    assert meta.pixel_id == "0987654321"
    assert meta.access_token.get_secret_value() == "EAAtest-token"
    assert meta.endpoint == "http://127.0.0.1:8999/prefix"


def test_meta_without_credentials_is_valid_and_targets_the_real_platform() -> None:
    """Unset Meta variables leave empty credentials (kept queued, not an error) and the
    platform's real base URL."""
    meta = shipped({"GATEWAY_SECRET": SECRET}).destinations["meta"]
    assert meta.pixel_id == ""
    assert meta.access_token.get_secret_value() == ""
    assert meta.endpoint == "https://graph.facebook.com"


def test_region_comes_from_cf_ipcountry_then_cf_region_code() -> None:
    """The country header is CF-IPCountry and the subdivision header CF-Region-Code, first."""
    headers = shipped({"GATEWAY_SECRET": SECRET}).server.region_headers
    assert headers.country[0] == "CF-IPCountry"
    assert headers.subdivision[0] == "CF-Region-Code"


def test_norway_is_an_opt_in_region() -> None:
    """Norway (the YAML 1.1 'NO' trap) is listed as the region NO under opt_in."""
    assert "NO" in shipped({"GATEWAY_SECRET": SECRET}).consent.regions.opt_in


def test_committed_json_schema_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    """config/gateway.schema.json equals `gateway schema` output."""
    assert main(["schema"]) == 0
    generated = capsys.readouterr().out
    committed = SCHEMA.read_text(encoding="utf-8")
    assert committed == generated, "config/gateway.schema.json is stale: run `make schema`"
