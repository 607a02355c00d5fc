"""Reading YAML as the gateway does: YAML 1.2 scalars, strict keys, per-scalar ${...}, lines.

``read_yaml`` is the layer under ``load_config``; these tests pin what it promises on its
own: values typed by the YAML 1.2 core schema (not PyYAML's YAML 1.1 rules), duplicate
keys refused, environment variables replaced inside one scalar at a time, and every
value's file and line kept for problems.
"""

from __future__ import annotations

import math

import pytest

from gateway.config.yaml_source import Interpolated, format_path, read_yaml, resolve_plain
from gateway.errors import Problem


def read(text: str, env: dict[str, str] | None = None):
    return read_yaml(text, "c.yaml", {} if env is None else env)


def messages(text: str, env: dict[str, str] | None = None) -> list[str]:
    return [str(p) for p in read(text, env).problems]


# --- YAML 1.2 core schema ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["NO", "No", "no", "yes", "Yes", "YES", "on", "On", "off", "OFF", "y", "n", "Y", "N"],
)
def test_yaml_1_1_booleans_are_strings(text: str) -> None:
    """NO, yes, on, off and friends are plain strings (PyYAML would read NO as False)."""
    assert read(f"v: {text}").data == {"v": text}


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False)],
)
def test_only_true_and_false_are_booleans(text: str, value: bool) -> None:
    """true and false (in the three YAML 1.2 spellings) are the only booleans."""
    assert read(f"v: {text}").data["v"] is value


def test_norway_in_a_region_list_stays_the_string_no() -> None:
    """The classic: a list of country codes containing NO keeps "NO", not False."""
    assert read("opt_in: [DE, NO, SE]").data == {"opt_in": ["DE", "NO", "SE"]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("~", None),
        ("null", None),
        ("", None),
        ("42", 42),
        ("-7", -7),
        ("012", 12),  # decimal in YAML 1.2, not octal
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("-.inf", -math.inf),
        ("1_000", "1_000"),  # YAML 1.1 digit separators are gone
        ("0b101", "0b101"),  # as are binary literals
        ("12:30", "12:30"),  # and sexagesimal numbers
        ("2024-01-01", "2024-01-01"),  # dates are not a core-schema type
    ],
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    """Plain scalars are null, int, float or else strings, by the YAML 1.2 core rules."""
    got = read(f"v: {text}").data["v"]
    assert got == value
    assert type(got) is type(value)


def test_nan_is_a_float() -> None:
    """.nan is the core schema's not-a-number (validation refuses it where it matters)."""
    assert math.isnan(resolve_plain(".nan"))


@pytest.mark.parametrize("text", ['"123"', "'true'", '"NO"', "'~'", "!!str 123", "!!str true"])
def test_quoted_and_str_tagged_scalars_stay_strings(text: str) -> None:
    """Quotes, or an explicit !!str tag, keep a value a string whatever it looks like."""
    value = read(f"v: {text}").data["v"]
    assert isinstance(value, str)
    assert value == text.split()[-1].strip("\"'")


def test_other_tags_are_refused() -> None:
    """Any tag but !!str is a problem at its line (no !!python/object surprises)."""
    source = read("a: 1\nb: !!binary aGVsbG8=\nc: !custom x\n")
    assert [str(p) for p in source.problems] == [
        "c.yaml:2: b: YAML tags are not supported (only !!str is); remove the tag",
        "c.yaml:3: c: YAML tags are not supported (only !!str is); remove the tag",
    ]


# --- keys ----------------------------------------------------------------------------------


def test_duplicate_key_is_a_problem_at_the_second_naming_the_first() -> None:
    """A key given twice is refused at the second one's line, naming the first one's line."""
    text = "server:\n  max_body_bytes: 1\n  other: 2\n  max_body_bytes: 3\n"
    assert messages(text) == [
        "c.yaml:4: server.max_body_bytes: duplicate key (first defined on line 2)"
    ]


def test_duplicate_keys_are_found_at_every_depth() -> None:
    """Duplicates are found at the top level and inside lists of mappings alike."""
    text = "a: 1\nl:\n  - {x: 1, x: 2}\na: 2\n"
    assert messages(text) == [
        "c.yaml:3: l[0].x: duplicate key (first defined on line 3)",
        "c.yaml:4: a: duplicate key (first defined on line 1)",
    ]


def test_a_mapping_as_key_is_refused() -> None:
    """Keys are names; a complex key is a problem."""
    assert messages("? [a, b]\n: 1\n") == ["c.yaml:1: <root>: mapping keys must be plain strings"]


# --- ${...} interpolation ------------------------------------------------------------------


def test_variable_is_replaced_inside_its_scalar() -> None:
    """${NAME} is replaced within the scalar, other text kept."""
    source = read("url: https://${HOST}:${PORT}/in\n", {"HOST": "h.example", "PORT": "8443"})
    assert source.data == {"url": "https://h.example:8443/in"}
    assert source.problems == []


def test_default_is_used_only_when_the_variable_is_unset() -> None:
    """${NAME:-default} gives the default when NAME is unset; a set but empty NAME stays empty."""
    text = "a: ${A:-fallback}\nb: ${B:-fallback}\nc: ${C:-}\n"
    assert read(text, {"B": ""}).data == {"a": "fallback", "b": "", "c": ""}


def test_double_dollar_is_a_literal_dollar() -> None:
    """$$ is one literal $, so $${X} is the text ${X}; a lone $ is left alone."""
    source = read('a: "costs $$5"\nb: $${X}\nc: pa$word\n')
    assert source.data == {"a": "costs $5", "b": "${X}", "c": "pa$word"}
    assert source.problems == []


def test_values_are_not_interpolated_again() -> None:
    """A variable's value is used as it is: a ${...} inside it is not expanded."""
    assert read("a: ${A}\n", {"A": "x${B}y", "B": "no"}).data == {"a": "x${B}y"}


def test_plain_interpolation_is_typed_later_and_quoted_stays_a_string() -> None:
    """An unquoted ${...} yields Interpolated (typed by its field later); a quoted one a str."""
    data = read('plain: ${N}\nquoted: "${N}"\n', {"N": "70000"}).data
    assert type(data["plain"]) is Interpolated
    assert data["plain"] == "70000"
    assert type(data["quoted"]) is str


def test_unset_variable_without_default_is_a_problem_naming_it() -> None:
    """An unset variable with no default is a problem naming it, never an empty string."""
    source = read("a:\n  b: x${MISSING}y\n")
    assert [str(p) for p in source.problems] == [
        "c.yaml:2: a.b: environment variable MISSING is not set and has no default"
    ]
    assert source.data == {"a": {"b": None}}
    assert ("a", "b") in source.unreadable


def test_each_unset_variable_in_a_scalar_is_reported() -> None:
    """Two unset variables in one scalar are two problems."""
    assert messages("a: ${ONE}-${TWO}\n") == [
        "c.yaml:1: a: environment variable ONE is not set and has no default",
        "c.yaml:1: a: environment variable TWO is not set and has no default",
    ]


def test_problems_never_show_the_values_of_other_variables() -> None:
    """When one variable is missing, the values of those that are set are not shown."""
    out = "\n".join(messages("a: ${TOKEN}${MISSING}\n", {"TOKEN": "tok-canary-1234"}))
    assert "MISSING" in out
    assert "tok-canary-1234" not in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${OPEN", "malformed ${...}: missing closing brace"),
        ("x ${A} ${OPEN", "malformed ${...}: missing closing brace"),
        ("${}", "malformed ${...}: expected ${NAME} or ${NAME:-default}"),
        ("${1A}", "malformed ${...}: expected ${NAME} or ${NAME:-default}"),
        ("${A-b}", "malformed ${...}: expected ${NAME} or ${NAME:-default}"),
        ("${A B}", "malformed ${...}: expected ${NAME} or ${NAME:-default}"),
        ("${A:-${B}}", "malformed ${...}: a default cannot hold another ${...}"),
    ],
)
def test_malformed_interpolation_is_a_problem(text: str, message: str) -> None:
    """A ${ that is not ${NAME} or ${NAME:-default} is a problem, not text passed through."""
    source = read(f"a: {text}\n", {"A": "1", "B": "2"})
    assert [str(p) for p in source.problems] == [f"c.yaml:1: a: {message}"]
    assert source.data == {"a": None}


def test_without_env_the_process_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """With env=None, variables come from os.environ."""
    monkeypatch.setenv("GATEWAY_TEST_YAML_SOURCE_VAR", "from-os")
    assert read_yaml("a: ${GATEWAY_TEST_YAML_SOURCE_VAR}", "c.yaml").data == {"a": "from-os"}


# --- where values came from ----------------------------------------------------------------


def test_every_value_keeps_its_file_and_line() -> None:
    """Each key and list item maps to the line it was written on."""
    source = read("# comment\nserver:\n  proxies:\n    - a\n    - b\n  port: 1\n")
    assert source.lines[("server",)] == ("c.yaml", 2)
    assert source.lines[("server", "proxies", 1)] == ("c.yaml", 5)
    assert source.lines[("server", "port")] == ("c.yaml", 6)


def test_a_missing_path_is_located_at_its_nearest_ancestor() -> None:
    """A problem about a key that is absent is placed at the mapping that should hold it."""
    source = read("a:\n  b:\n    c: 1\n")
    assert source.locate(("a", "b", "missing", "deeper")) == ("c.yaml", 2)
    assert source.make_problem(("a", "b", "x"), "is required") == Problem(
        "c.yaml", 2, "a.b.x", "is required"
    )


def test_paths_print_as_operators_write_them() -> None:
    """Keys join with dots, list indices in brackets; the empty path prints as <root>."""
    assert format_path(("destinations", "meta", "requires", 0)) == "destinations.meta.requires[0]"
    assert format_path(("a", 0, 1, "b")) == "a[0][1].b"
    assert str(Problem("c.yaml", 1, format_path(()), "the config is empty")) == (
        "c.yaml:1: <root>: the config is empty"
    )


# --- syntax errors -------------------------------------------------------------------------


def test_syntax_error_is_one_problem_at_its_line() -> None:
    """Invalid YAML is reported at the line the parser stopped, with what it expected."""
    source = read("a: 1\nb: [1, 2\nc: 3\n")
    assert source.data is None
    assert [str(p) for p in source.problems] == [
        "c.yaml:3: <root>: invalid YAML: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence started on line 2)"
    ]


def test_syntax_error_from_unquoted_interpolation_in_brackets_says_to_quote() -> None:
    """[${X}] is a YAML error (a plain scalar cannot hold "{" there); the message says why."""
    (problem,) = read("a: [${X}]\n", {"X": "1"}).problems
    assert problem.message.endswith("inside [ ] or { } put ${...} in quotes, or use block style")
    assert read('a: ["${X}"]\n', {"X": "1"}).data == {"a": ["1"]}


def test_tab_indentation_says_to_use_spaces() -> None:
    """A tab where YAML expects indentation is reported with the fix."""
    assert messages("a:\n\tb: 1\n") == [
        "c.yaml:2: <root>: invalid YAML: found character '\\t' that cannot start any token"
        " (while scanning for the next token); indent with spaces, not tabs"
    ]


def test_control_character_is_a_problem_at_its_line() -> None:
    """A character YAML forbids (a pasted control character) is a problem at its line."""
    assert messages('a: 1\nb: "x\x01"\n') == [
        "c.yaml:2: <root>: invalid YAML: a control character or other character YAML does not allow"
    ]


def test_syntax_error_never_quotes_the_line() -> None:
    """A syntax error on a line holding a secret does not show that secret."""
    out = "\n".join(messages('token: "sk-canary-9f8e7d6c5b\nnext: 1\n'))
    assert "invalid YAML" in out
    assert "canary" not in out


def test_empty_document_has_no_data_and_no_problem() -> None:
    """An empty (or comment-only) document reads as None; the loader decides it is empty."""
    source = read("# nothing\n")
    assert (source.data, source.problems) == (None, [])
