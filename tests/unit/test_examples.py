"""The worked example configs under examples/configs/ stay valid.

Operators copy them, so each must pass `gateway validate` as shipped, with only
GATEWAY_SECRET set (destinations without credentials keep their events queued).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.config.yaml_source import read_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "configs"
#: the configs an operator would pass to --config; other YAML files are included parts
CONFIGS = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*/gateway.yaml"))
ENV = {"GATEWAY_SECRET": "test-secret-0123456789abcdef"}


def test_there_are_examples_to_copy() -> None:
    """At least a plain, a strict and a split example are shipped."""
    names = {str(path.relative_to(EXAMPLES)) for path in CONFIGS}
    assert {"webhook_to_warehouse.yaml", "eu_only_strict.yaml", "split/gateway.yaml"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_validates_with_only_gateway_secret_set(config: Path) -> None:
    """`gateway validate` accepts the example in an environment with no other GATEWAY_* set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | ENV
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--config", str(config.relative_to(ROOT))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout == f"{config.relative_to(ROOT)}: ok\n"


def test_every_yaml_file_is_an_example_or_included_by_one() -> None:
    """No part file sits there unvalidated: each is a config or reached by an include."""
    reached: set[Path] = set()

    def walk(path: Path) -> None:
        reached.add(path)
        data = read_yaml(path.read_text(encoding="utf-8"), str(path), ENV).data
        for name in data.get("include", []) if isinstance(data, dict) else []:
            walk((path.parent / name).resolve())

    for config in CONFIGS:
        walk(config.resolve())
    assert sorted(p.resolve() for p in EXAMPLES.rglob("*.yaml")) == sorted(reached)


def test_split_example_gathers_destinations_from_its_parts() -> None:
    """The split example's destinations, each in its own file, end up side by side."""
    config = load_config(str(EXAMPLES / "split" / "gateway.yaml"), env=ENV)
    assert sorted(config.destinations) == ["meta", "warehouse"]
    assert config.destinations["meta"].requires == ["advertising"]
    assert "analytics" in config.consent.purposes


def test_webhook_example_wires_its_variables() -> None:
    """The warehouse URL and signing secret come from the variables its header names."""
    env = ENV | {
        "GATEWAY_WAREHOUSE_URL": "https://collector.example/in",
        "GATEWAY_WAREHOUSE_SECRET": "s" * 32,
    }
    hook = load_config(str(EXAMPLES / "webhook_to_warehouse.yaml"), env=env).destinations[
        "warehouse"
    ]
    assert hook.url == "https://collector.example/in"
    assert hook.secret.get_secret_value() == "s" * 32
