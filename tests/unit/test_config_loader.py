"""``load_config`` and ``gateway validate``: a valid Config, or every problem with its place.

Each test writes a small config into a temporary directory (the working directory, so
problems print with short names) and loads it through the public interface. A problem
prints as ``FILE:LINE: field.path: message`` and never contains the offending value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from destinations import REGISTRY
from gateway.cli import main
from gateway.config.loader import load_config
from gateway.config.models import Config
from gateway.errors import ConfigError

SECRET = "test-secret-0123456789abcdef"
ENV = {"GATEWAY_SECRET": SECRET}

BASE = """\
version: 1
identity:
  secret: ${GATEWAY_SECRET}
  cookie:
    requires: [analytics]
consent:
  purposes:
    analytics:
      signals:
        categories: [analytics]
    advertising:
      signals:
        categories: [advertising]
destinations:
  meta:
    type: meta_capi
    requires: [advertising]
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = "gateway.yaml") -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return name


def load(text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(text), env={**ENV, **(env or {})})


def problems(text: str, env: dict[str, str] | None = None, file: str | None = None) -> list[str]:
    """The printed problems of loading ``text`` (or ``file``, when other files were written)."""
    with pytest.raises(ConfigError) as info:
        load_config(file or write(text), env={**ENV, **(env or {})})
    return [str(p) for p in info.value.problems]


def with_lines(*extra: str) -> str:
    """BASE with ``extra`` lines appended (BASE ends at line 17, inside destinations.meta)."""
    return BASE + "".join(line + "\n" for line in extra)


def with_regions(*lines: str) -> str:
    """BASE with consent.regions holding ``lines`` (``regions:`` is line 14)."""
    block = "".join(f"    {line}\n" for line in lines)
    return BASE.replace("destinations:\n", f"  regions:\n{block}destinations:\n")


# --- a valid config --------------------------------------------------------------------------


def test_valid_config_loads_with_defaults_filled_in() -> None:
    """A minimal valid config loads; what it leaves out takes the documented defaults."""
    config = load(BASE)
    assert config.identity.secret.get_secret_value() == SECRET
    assert config.destinations["meta"].type == "meta_capi"
    assert config.destinations["meta"].requires == ["advertising"]
    assert config.server.max_body_bytes == 65_536
    assert config.consent.regions.default == "opt_in"


# --- an interpolated plain scalar takes the type of its field ---------------------------------


def test_interpolated_number_in_an_int_field_is_an_int() -> None:
    """max_body_bytes: ${X} with X=70000 is the integer 70000."""
    config = load(BASE + "server:\n  max_body_bytes: ${X}\n", {"X": "70000"})
    assert config.server.max_body_bytes == 70000


def test_interpolated_digits_in_a_string_field_stay_a_string() -> None:
    """pixel_id: ${ID} with ID=123 is the string "123" (an id, not a number)."""
    text = with_lines("    pixel_id: ${ID}")
    assert load(text, {"ID": "0123"}).destinations["meta"].pixel_id == "0123"


def test_empty_interpolation_in_an_optional_field_is_null() -> None:
    """An empty value for an optional field is null, not the empty string."""
    text = BASE.replace("  cookie:\n", "  cookie:\n    domain: ${DOMAIN:-}\n")
    text += "pii:\n  default_country: ${COUNTRY}\n"
    config = load(text, {"COUNTRY": ""})
    assert config.identity.cookie.domain is None
    assert config.pii.default_country is None


def test_interpolated_values_take_bool_float_literal_and_secret_types() -> None:
    """${...} becomes a boolean, a float, a literal choice or a secret as its field needs."""
    text = BASE.replace("  cookie:\n", "  cookie:\n    secure: ${SECURE}\n")
    text = text.replace("    type: meta_capi\n", "    type: ${TYPE}\n    access_token: ${TOKEN}\n")
    text += "    retry:\n      initial_backoff_secs: ${BACKOFF}\n"
    text += "logging:\n  decisions: ${DECISIONS:-false}\n"
    env = {"SECURE": "false", "TYPE": "meta_capi", "TOKEN": "12345", "BACKOFF": "0.5"}
    config = load(text, env)
    meta = config.destinations["meta"]
    assert config.identity.cookie.secure is False
    assert config.logging.decisions is False
    assert meta.type == "meta_capi"
    assert meta.retry.initial_backoff_secs == 0.5
    assert meta.access_token == SecretStr("12345")


def test_quoted_interpolation_stays_a_string() -> None:
    """A quoted "${X}" is a string, so it fails a number field whatever X holds."""
    text = BASE + 'server:\n  max_body_bytes: "${X}"\n'
    assert problems(text, {"X": "70000"}) == [
        "gateway.yaml:19: server.max_body_bytes: must be a whole number; remove the quotes"
    ]


def test_interpolated_yaml_1_1_boolean_is_not_a_boolean() -> None:
    """An interpolated 'no' is the string it is: a boolean field refuses it."""
    text = BASE.replace("  cookie:\n", "  cookie:\n    secure: ${SECURE}\n")
    assert problems(text, {"SECURE": "no"}) == [
        "gateway.yaml:5: identity.cookie.secure: must be true or false"
        " (YAML 1.2: yes, no, on and off are strings)"
    ]


def test_norway_in_a_region_list_is_a_region() -> None:
    """A region list containing NO (unquoted) keeps the region code "NO"."""
    config = load(with_regions("opt_in: [SE, NO]"))
    assert config.consent.regions.opt_in == ["SE", "NO"]


# --- environment variables -----------------------------------------------------------------


def test_missing_variable_is_one_problem_naming_it() -> None:
    """An unset variable without default is exactly one problem, naming the variable."""
    with pytest.raises(ConfigError) as info:
        load_config(write(BASE), env={})
    assert [str(p) for p in info.value.problems] == [
        "gateway.yaml:3: identity.secret: environment variable GATEWAY_SECRET is not set"
        " and has no default"
    ]


def test_malformed_interpolation_is_a_problem() -> None:
    """A ${ that is not closed is a problem at its line, with the expected forms."""
    text = with_lines("    pixel_id: ${ID")
    assert problems(text) == [
        "gateway.yaml:18: destinations.meta.pixel_id: malformed ${...}: missing closing brace"
    ]


# --- unknown keys and types ----------------------------------------------------------------


def test_unknown_key_suggests_the_close_one_at_its_line() -> None:
    """A misspelt key is refused at its line with 'did you mean'; its intended key is not
    also reported as missing."""
    text = BASE.replace("  secret: ${GATEWAY_SECRET}\n", "  secrte: ${GATEWAY_SECRET}\n")
    text += "    acess_token: x\n"
    assert problems(text) == [
        "gateway.yaml:3: identity.secrte: unknown key; did you mean 'secret'?",
        "gateway.yaml:18: destinations.meta.acess_token: unknown key; did you mean 'access_token'?",
    ]


def test_unknown_key_without_close_match_lists_the_allowed_keys() -> None:
    """With nothing close, the allowed keys are listed instead."""
    assert problems(with_lines("logging:", "  colour: true")) == [
        "gateway.yaml:19: logging.colour: unknown key; expected one of: decisions, level"
    ]


def test_unknown_destination_type_lists_the_registered_types() -> None:
    """An unknown type names every registered adapter type and suggests the close one."""
    text = BASE.replace("type: meta_capi", "type: meta")
    known = ", ".join(sorted(REGISTRY))
    assert problems(text) == [
        f"gateway.yaml:16: destinations.meta.type: unknown destination type; expected one of:"
        f" {known}; did you mean 'meta_capi'?"
    ]


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["server:", '  max_body_bytes: "65536"'],
            "gateway.yaml:19: server.max_body_bytes: must be a whole number; remove the quotes",
        ),
        (
            ["server:", "  max_body_bytes: 10"],
            "gateway.yaml:19: server.max_body_bytes: must be greater than or equal to 1024",
        ),
        (
            ["server:", "  max_events_per_request: 101"],
            "gateway.yaml:19: server.max_events_per_request: must be less than or equal to 100",
        ),
        (
            ["server:", "  trusted_proxies: [10.0.0.0/8, proxy.example]"],
            "gateway.yaml:19: server.trusted_proxies[1]: must be an IP address or CIDR"
            " network (host names are not resolved)",
        ),
        (
            ["queue:", "  synchronous: off"],
            "gateway.yaml:19: queue.synchronous: must be one of: full, normal",
        ),
    ],
)
def test_wrong_values_are_refused_with_what_is_expected(lines: list[str], expected: str) -> None:
    """Wrong types and out-of-range numbers are refused at their line, saying what is allowed."""
    assert problems(with_lines(*lines)) == [expected]


def test_batch_above_the_platform_limit_is_refused_at_that_key() -> None:
    """batch.max_events above the adapter's limit is a problem at batch.max_events."""
    limit = REGISTRY["meta_capi"].max_batch_size
    text = with_lines("    batch:", f"      max_events: {limit + 1}")
    assert problems(text) == [
        f"gateway.yaml:19: destinations.meta.batch.max_events: is above this platform's limit"
        f" of {limit}"
    ]
    assert (
        load(with_lines("    batch:", f"      max_events: {limit}"))
        .destinations["meta"]
        .batch.max_events
        == limit
    )


def test_short_secrets_are_refused() -> None:
    """The identity secret and a webhook secret must have at least 16 characters."""
    text = BASE + "  hook:\n    type: webhook\n    requires: [analytics]\n    secret: ${HOOK}\n"
    assert problems(text, {"GATEWAY_SECRET": "fifteen-chars!!", "HOOK": "x" * 15}) == [
        "gateway.yaml:3: identity.secret: must be at least 16 characters (use a long random"
        " string)",
        "gateway.yaml:21: destinations.hook.secret: must be at least 16 characters",
    ]
    assert load(text, {"HOOK": "x" * 16}).destinations["hook"].type == "webhook"


# --- cross-references ------------------------------------------------------------------------


def test_requires_must_name_defined_purposes() -> None:
    """A purpose in requires that is not defined is refused, listing the defined ones."""
    text = BASE.replace("requires: [advertising]", "requires: [advertising, ads]")
    assert problems(text) == [
        "gateway.yaml:17: destinations.meta.requires[1]: unknown purpose; defined purposes:"
        " advertising, analytics"
    ]


@pytest.mark.parametrize("code", ["EU", "UK", "XX", "us-ca", "US-ZZ", "USA"])
def test_region_codes_must_be_iso_3166(code: str) -> None:
    """Regions are upper-case ISO 3166-1 alpha-2 or ISO 3166-2 codes ('us-ca' would never
    match the upper-case header a CDN sends)."""
    (problem,) = problems(with_regions(f"opt_in: [DE, {code}]"))
    assert problem.startswith(
        "gateway.yaml:15: consent.regions.opt_in[1]: not an ISO 3166-1 alpha-2 country or"
        " ISO 3166-2 subdivision code"
    )


def test_valid_region_codes_are_accepted() -> None:
    """Countries and subdivisions, including NO, are accepted under distinct regimes."""
    config = load(with_regions("opt_in: [DE, NO, US-CA]", "opt_out: [US]"))
    assert config.consent.regions.opt_in == ["DE", "NO", "US-CA"]


def test_a_region_under_two_regimes_is_refused() -> None:
    """A region listed under two regimes is refused at the second listing."""
    text = with_regions("opt_in: [DE, FR]", "none: [FR]")
    assert problems(text) == [
        "gateway.yaml:16: consent.regions.none[0]: region already listed under opt_in"
    ]


# --- every problem, sorted -------------------------------------------------------------------


def test_every_problem_is_reported_sorted_by_file_and_line() -> None:
    """Problems from reading, validation and cross-checks all come out, in file order."""
    text = with_regions("opt_in: [XX]", "default: strict")
    text = text.replace("version: 1", "version: 2")
    text = text.replace("requires: [advertising]", "requires: [advertsing]")
    text += "identity:\n  secret: again\n"
    assert problems(text) == [
        "gateway.yaml:1: version: must be 1",
        "gateway.yaml:15: consent.regions.opt_in[0]: not an ISO 3166-1 alpha-2 country or"
        " ISO 3166-2 subdivision code",
        "gateway.yaml:16: consent.regions.default: must be one of: opt_in, opt_out, none",
        "gateway.yaml:20: destinations.meta.requires[0]: unknown purpose; defined purposes:"
        " advertising, analytics",
        "gateway.yaml:21: identity: duplicate key (first defined on line 2)",
    ]


def test_config_error_prints_one_problem_per_line() -> None:
    """ConfigError's text is its problems, one FILE:LINE: path: message per line."""
    with pytest.raises(ConfigError) as info:
        load_config(write(BASE.replace("version: 1", "version: 2")), env={})
    assert str(info.value).splitlines() == [str(p) for p in info.value.problems]
    assert len(info.value.problems) == 2


def test_empty_and_missing_files_are_problems() -> None:
    """An empty file and a file that does not exist are each a problem, not a crash."""
    with pytest.raises(ConfigError) as empty:
        load_config(write("# nothing yet\n"), env=ENV)
    with pytest.raises(ConfigError) as missing:
        load_config("nope.yaml", env=ENV)
    assert [str(p) for p in empty.value.problems] == ["gateway.yaml:1: <root>: the config is empty"]
    assert [str(p) for p in missing.value.problems] == [
        "nope.yaml:1: <root>: cannot read file (no such file)"
    ]


# --- include ---------------------------------------------------------------------------------


def test_include_merges_files_relative_to_the_including_file() -> None:
    """include: lists paths relative to the file; mappings such as destinations merge by key."""
    write("include: [more.yaml]\n", "parts/destinations.yaml")
    write(
        "destinations:\n  hook:\n    type: webhook\n    requires: [analytics]\n",
        "parts/more.yaml",
    )
    config = load(BASE + "include: [parts/destinations.yaml]\n")
    assert sorted(config.destinations) == ["hook", "meta"]


def test_a_key_defined_in_two_files_is_a_problem_naming_the_first() -> None:
    """A setting given in two files is refused in the later one, naming the first place."""
    write("logging:\n  level: debug\n", "part.yaml")
    text = with_lines("include: [part.yaml]", "logging:", "  level: info")
    assert problems(text) == ["part.yaml:2: logging.level: already defined at gateway.yaml:20"]


def test_problems_in_an_included_file_carry_its_name() -> None:
    """A problem inside an included file is reported with that file's name and line."""
    write("\nlogging:\n  levle: info\n  decisions: ${NOPE}\n", "conf.d/logging.yaml")
    assert problems(with_lines("include: [conf.d/logging.yaml]")) == [
        "conf.d/logging.yaml:3: logging.levle: unknown key; did you mean 'level'?",
        "conf.d/logging.yaml:4: logging.decisions: environment variable NOPE is not set and"
        " has no default",
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"a.yaml": "include: [gateway.yaml]\n"},
            "a.yaml:1: include[0]: include cycle: the named file already includes this one",
        ),
        ({"a.yaml": "include: [a.yaml]\n"}, "a.yaml:1: include[0]: include cycle: a file cannot"),
        (
            {"a.yaml": "include: [b.yaml]\n", "b.yaml": "{}\n", "c.yaml": "include: [b.yaml]\n"},
            "c.yaml:1: include[0]: file is already included at a.yaml:1",
        ),
    ],
)
def test_include_cycles_and_repeats_are_problems(files: dict[str, str], expected: str) -> None:
    """Each file is read once: a cycle or a second include is a problem at its entry."""
    for name, text in files.items():
        write(text, name)
    includes = [name for name in ("a.yaml", "c.yaml") if name in files]
    (problem,) = problems(with_lines(f"include: [{', '.join(includes)}]"))
    assert problem.startswith(expected)


def test_an_unreadable_include_is_reported_where_it_is_named() -> None:
    """A missing included file is a problem at its include entry."""
    write("{}\n", "present.yaml")
    assert problems(with_lines("include:", "  - present.yaml", "  - absent.yaml")) == [
        "gateway.yaml:20: include[1]: cannot read included file (no such file)"
    ]


@pytest.mark.parametrize(
    ("include", "part", "expected"),
    [
        ("include: part.yaml", None, "gateway.yaml:18: include: must be a list of file paths"),
        (
            "include: [part.yaml]",
            "- a\n",
            "part.yaml:1: <root>: an included file must hold a mapping",
        ),
    ],
)
def test_include_shape_is_checked(include: str, part: str | None, expected: str) -> None:
    """include: is a list of paths, and each included file holds a mapping."""
    if part is not None:
        write(part, "part.yaml")
    assert problems(with_lines(include)) == [expected]


# --- secrets are never echoed ----------------------------------------------------------------

ACCESS_TOKEN = "EAAGcanaryAccessToken7f3a9c1d"
IDENTITY_SECRET = "identity-canary-5d1e8b2c4f7a"
WEBHOOK_SECRET = "whsec-canary-93be71d0aa42"
CANARIES = (ACCESS_TOKEN, IDENTITY_SECRET, WEBHOOK_SECRET)

LEAKY = {
    "secret_in_wrong_typed_fields": (
        BASE.replace("${GATEWAY_SECRET}", IDENTITY_SECRET)
        + f"server:\n  max_body_bytes: {ACCESS_TOKEN}\n  max_events_per_request: ${{HOOK}}\n",
        "server.max_body_bytes",
    ),
    "secret_as_destination_type": (
        BASE.replace("type: meta_capi", f"type: {ACCESS_TOKEN}"),
        "destinations.meta.type",
    ),
    "secret_in_pattern_and_choice_fields": (
        with_regions(f"default: {WEBHOOK_SECRET}", f"opt_in: [{IDENTITY_SECRET}]")
        + "    pixel_id: ${TOKEN}\n",
        "destinations.meta.pixel_id",
    ),
    "secret_in_urls_and_proxies": (
        BASE
        + f"    endpoint: https://graph.example/?access_token={ACCESS_TOKEN}\n"
        + "  hook:\n    type: webhook\n    requires: [analytics]\n"
        + f"    url: https://u:{WEBHOOK_SECRET}@hook.example/#x\n"
        + f"server:\n  trusted_proxies: [{IDENTITY_SECRET}]\n",
        "destinations.meta.endpoint",
    ),
    "secrets_too_short_or_duplicated": (
        BASE.replace("${GATEWAY_SECRET}", IDENTITY_SECRET[:12])
        + f"    access_token: {ACCESS_TOKEN}\n    access_token: {ACCESS_TOKEN}x\n"
        + "  hook:\n    type: webhook\n    requires: [analytics]\n"
        + f"    secret: {WEBHOOK_SECRET[:12]}\n",
        "identity.secret",
    ),
    "secret_in_a_bool_field_and_a_default": (
        BASE.replace("  cookie:\n", f"  cookie:\n    secure: {IDENTITY_SECRET}\n")
        + "    api_version: ${TOKEN}\n"
        + f"logging:\n  decisions: ${{NOT_SET:-{WEBHOOK_SECRET}}}\n",
        "identity.cookie.secure",
    ),
    "secret_on_a_line_with_a_syntax_error": (
        BASE + f'    access_token: "{ACCESS_TOKEN}\n    secret: {WEBHOOK_SECRET}: x\n',
        "invalid YAML",
    ),
    "secret_beside_a_missing_variable": (
        BASE + "    access_token: ${TOKEN}${MISSING}\n",
        "environment variable MISSING",
    ),
}


@pytest.mark.parametrize("case", sorted(LEAKY))
def test_no_secret_value_is_ever_echoed(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever is wrong, and wherever a secret sits, `gateway validate` never prints it."""
    text, reported = LEAKY[case]
    for name in ("GATEWAY_SECRET", "TOKEN", "HOOK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_SECRET", IDENTITY_SECRET)
    monkeypatch.setenv("TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("HOOK", WEBHOOK_SECRET)
    monkeypatch.delenv("MISSING", raising=False)
    monkeypatch.delenv("NOT_SET", raising=False)
    assert main(["validate", "--config", write(text)]) == 1
    out, err = capsys.readouterr()
    assert reported in out  # the problem about the secret's field was reported...
    for canary in CANARIES:  # ...without the secret, whole or in part
        assert canary[:12] not in out + err


# --- the CLI ---------------------------------------------------------------------------------


def test_validate_exits_0_and_says_ok_for_a_valid_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gateway validate` exits 0 and prints 'PATH: ok' for a valid config."""
    monkeypatch.setenv("GATEWAY_SECRET", SECRET)
    assert main(["validate", "--config", write(BASE)]) == 0
    assert capsys.readouterr() == ("gateway.yaml: ok\n", "")


def test_validate_exits_1_and_prints_every_problem_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gateway validate` exits 1 and prints each problem on its own stdout line."""
    monkeypatch.setenv("GATEWAY_SECRET", SECRET)
    text = BASE.replace("version: 1", "version: 3") + "    enabled: maybe\n"
    assert main(["validate", "--config", write(text)]) == 1
    assert capsys.readouterr() == (
        "gateway.yaml:1: version: must be 1\n"
        "gateway.yaml:18: destinations.meta.enabled: must be true or false"
        " (YAML 1.2: yes, no, on and off are strings)\n",
        "",
    )
