"""`gateway validate` on configs that must be refused, compared with its exact output.

Each ``bad/<case>.yaml`` is checked by the real CLI in a subprocess, from the repository
root, with only ``GATEWAY_SECRET`` set among the ``GATEWAY_*`` variables; the run must
exit 1 and print exactly ``bad/<case>.expected`` (every problem as
``FILE:LINE: field.path: message``). Files that a case includes live in ``bad/<case>.d/``.

The wording is tested verbatim because operators read it (as opentelemetry-collector's
``otelcol/unmarshaler_test.go`` does). After changing a message, regenerate and READ the
diff before committing it::

    for f in tests/config/bad/*.yaml; do
      env $(env | grep -o '^GATEWAY_[A-Za-z0-9_]*' | sed 's/^/-u /') \\
        GATEWAY_SECRET=test-secret-0123456789abcdef \\
        .venv/bin/gateway validate --config "$f" > "${f%.yaml}.expected"
    done
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).resolve().parent / "bad"
GOOD = Path(__file__).resolve().parent / "good"
SECRET = "test-secret-0123456789abcdef"

#: what each case shows; a case without a behaviour here (or the reverse) fails the suite
BEHAVIOURS = {
    "governance_field_policy": "A destination's field list may only name fields its adapter "
    "declares (the line of each other one, with what it declares); `all` is written out; a "
    "list keeps what the platform refuses events without, and no network rule drops Meta's "
    "user agent; network overrides name real regions and something to match; fields.default "
    "is required.",
    "governance_rules": "Governance patterns must compile as RE2 (linear time, so no "
    "look-behind); rule ids are unique; a rule matches something; the tracking plan's bounds "
    "are ordered and its handlings a closed list.",
    "duplicate_key": "A key given twice in one mapping is refused at the second occurrence, "
    "naming the line of the first (PyYAML would silently keep the last).",
    "no_in_a_bool_field_is_a_string": "YAML 1.2 booleans only: NO is the string 'NO' (fine in "
    "a region list), so in a true/false field it is an error, not false.",
    "yes_on_off_are_strings": "yes, on and off are strings too; only true and false are booleans.",
    "unknown_key_did_you_mean": "An unknown key is refused at its line with the closest allowed "
    "key; the key it meant is not also reported as missing.",
    "unknown_key_lists_allowed_keys": "An unknown key with no close match lists the allowed keys.",
    "missing_env_var": "A ${NAME} whose variable is unset and has no default is a problem naming "
    "the variable (each one in a scalar), never an empty string; defaults apply.",
    "malformed_interpolation": "A ${ without its brace, an empty or invalid name, the ${NAME-x} "
    "shell form and a nested default are problems; $$ is a literal $.",
    "interpolated_value_takes_the_field_type": "An unquoted ${...} takes its field's type, so "
    "'64k' or 'yes' fails a number or boolean field; a quoted one is always a string.",
    "unknown_destination_type": "An unknown destination type lists the known types, with "
    "did-you-mean only when one is close; a missing type is required.",
    "wrong_types": "Nothing is coerced: a quoted number, a scalar for a list or a mapping, a "
    "fraction for a whole number, a number for a string are each refused with a hint.",
    "queue_and_delivery_faults": "A Redis queue is refused without its URL; circuit "
    "cool-downs must be ordered; an event age limit is at least a minute, and GA4's at most "
    "its 72-hour back-dating limit.",
    "numbers_out_of_range": "Numbers outside their bounds are refused with the bound; "
    "infinity is not a number of seconds.",
    "unknown_purpose_in_requires": "requires may only name defined purposes, including the "
    "cookie's default requirement.",
    "consent_signals_and_restrictions": "Consent signals are bounded (TCF purposes 1-24, a "
    "closed list of GPP opt-outs, booleans for usp); restrictions name defined purposes, real "
    "regions and only modes the platform has.",
    "invalid_region_codes": "Regions are ISO 3166-1 alpha-2 or ISO 3166-2 codes in upper case "
    "(EU, UK, USA are not); pii.default_country must be a real country.",
    "region_under_two_regimes": "A region listed under two regimes (or twice) is refused.",
    "bad_trusted_proxies": "trusted_proxies entries must be IP addresses or CIDR networks.",
    "short_secrets": "The identity secret and a webhook secret shorter than 16 characters are "
    "refused, without showing them.",
    "batch_above_platform_limit": "batch.max_events above the platform's limit is refused at "
    "that key, with the limit.",
    "bad_endpoint_urls": "A base URL override must be http(s) with a host; a webhook URL carries "
    "no query (where a token would leak into logs).",
    "include_key_defined_twice": "Included files merge into the config; a setting defined in two "
    "files is refused in the later file, naming the first location.",
    "include_cycle": "Including a file into itself, back into an including file, or twice, is "
    "refused at the include entry.",
    "include_problems_name_the_included_file": "Problems inside an included file carry its name "
    "and line; an include that cannot be read is reported at its entry.",
    "every_problem_reported_in_file_order": "Every problem is reported in one run, sorted by "
    "file and line, whichever check found it.",
    "invalid_yaml": "A YAML syntax error is reported at its line with what the parser expected.",
    "interpolation_inside_flow_collection": "A ${...} inside [ ] or { } must be quoted; the "
    "syntax error says so.",
    "empty_config": "A file without settings is refused.",
    "top_level_not_a_mapping": "The file must hold a mapping of settings.",
    "missing_required_settings": "Absent required settings are reported at the mapping that "
    "should hold them.",
    "invalid_names": "Purpose and destination names are snake_case; header and cookie names "
    "must be HTTP tokens.",
    "yaml_tags_not_supported": "YAML tags are refused, except !!str which keeps a value a string.",
}

CASES = sorted(path.stem for path in BAD.glob("*.yaml"))
GOOD_CASES = sorted(path.stem for path in GOOD.glob("*.yaml"))


def clean_env() -> dict[str, str]:
    """The environment with every GATEWAY_* variable removed but a fixed GATEWAY_SECRET."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_SECRET"] = SECRET
    return env


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    """Run ``gateway validate`` as an operator would, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "validate", "--config", str(config.relative_to(ROOT))],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[Path, Future[subprocess.CompletedProcess[str]]]]:
    """Every case's run, started together (a few at a time) so the module stays fast."""
    configs = [BAD / f"{case}.yaml" for case in CASES] + [GOOD / f"{c}.yaml" for c in GOOD_CASES]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        yield {config: pool.submit(validate, config) for config in configs}


def test_every_case_states_its_behaviour() -> None:
    """Each bad case has a stated behaviour and an expected output, and each behaviour a case."""
    assert len(CASES) >= 16
    assert GOOD_CASES != []
    assert set(CASES) == set(BEHAVIOURS)
    missing = [case for case in CASES if not (BAD / f"{case}.expected").is_file()]
    assert missing == []


@pytest.mark.parametrize("case", CASES)
def test_bad_config_is_refused_with_exact_problems(case: str, runs: dict) -> None:
    """`gateway validate` exits 1 and prints exactly the expected problems (see BEHAVIOURS)."""
    result = runs[BAD / f"{case}.yaml"].result()
    expected = (BAD / f"{case}.expected").read_text(encoding="utf-8")
    assert result.returncode == 1, f"{case}: {BEHAVIOURS.get(case)}\n{result.stderr}"
    assert result.stdout == expected, f"{case}: {BEHAVIOURS.get(case)}"
    assert result.stderr == ""


@pytest.mark.parametrize("case", GOOD_CASES)
def test_good_config_is_accepted(case: str, runs: dict) -> None:
    """The configs under good/ (edge cases that must keep working) validate: exit 0, 'ok'."""
    config = GOOD / f"{case}.yaml"
    result = runs[config].result()
    assert (result.returncode, result.stdout) == (0, f"{config.relative_to(ROOT)}: ok\n")
