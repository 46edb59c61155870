"""Attacks on and semantics of the untrusted-YAML loader (DESIGN.md §10, FORMAT.md §2)."""

from __future__ import annotations

import copy
import json
import math
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptreview import safe_yaml
from promptreview.errors import ConfigError
from promptreview.safe_yaml import YamlList, YamlMap, line_of, load_yaml

PARSERS = [pytest.param(yaml.SafeLoader, id="python")]
if hasattr(yaml, "CSafeLoader"):
    PARSERS.append(pytest.param(yaml.CSafeLoader, id="libyaml"))


@pytest.fixture(params=PARSERS, autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs against both PyYAML parsers: the guarantees must not depend on which."""
    monkeypatch.setattr(safe_yaml, "_LOADER", request.param)
    yield


def fails(text: str | bytes, **limits: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "cases.yaml", **limits)
    error = info.value
    assert error.location is not None and error.location.file == "cases.yaml"
    assert "Traceback" not in str(error)
    return error


# --- scalars: YAML 1.2 core schema, like gh-models' yaml.v3 ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        ("Yes", "Yes"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("tRUE", "tRUE"),
        ("null", None),
        ("Null", None),
        ("~", None),
        ("", None),
        ("010", 10),
        ("-42", -42),
        ("+7", 7),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", "0b101"),
        ("1_000", "1_000"),
        ("0X1F", "0X1F"),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("-2.5E-3", -0.0025),
        ("2024-01-01", "2024-01-01"),
        ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
        ("12:30", "12:30"),
        ("hello world", "hello world"),
        ("9" * 5000, "9" * 5000),  # past Python's int-parsing guard: kept as text
    ],
)
def test_plain_scalars_follow_yaml_1_2_core(text: str, expected: object) -> None:
    value = load_yaml(f"v: {text}\n", "f.yml")["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_special_floats() -> None:
    data = load_yaml("a: .inf\nb: -.Inf\nc: +.INF\nd: .nan\n", "f.yml")
    assert data["a"] == math.inf and data["b"] == -math.inf and data["c"] == math.inf
    assert math.isnan(data["d"])


def test_quoted_and_block_scalars_are_strings() -> None:
    data = load_yaml("a: '1'\nb: \"true\"\nc: |\n  yes\nd: >\n  10\n", "f.yml")
    assert data == {"a": "1", "b": "true", "c": "yes\n", "d": "10\n"}


def test_standard_tags_are_honoured() -> None:
    data = load_yaml(
        "a: !!str 1\nb: !!int '12'\nc: !!float 1\nd: !!null ''\ne: ! 12\nf: !!map {x: 1}\n", "f.yml"
    )
    assert data == {"a": "1", "b": 12, "c": 1.0, "d": None, "e": "12", "f": {"x": 1}}
    assert type(data["c"]) is float


def test_a_standard_tag_on_the_wrong_value_is_an_error() -> None:
    error = fails("a: 1\nb: !!bool yes\n")
    assert error.location.line == 2 and "'yes' is not a valid !!bool value" in error.message


def test_keys_are_strings() -> None:
    assert load_yaml("1: a\ntrue: b\nnull: c\n'x': d\n", "f.yml") == {
        "1": "a",
        "true": "b",
        "null": "c",
        "x": "d",
    }


def test_results_are_plain_python_values() -> None:
    data = load_yaml("s: x\ni: 1\nf: 1.5\nb: true\nn: null\nl: [1]\nm: {k: v}\n", "f.yml")
    assert [type(data[k]) for k in "sifbn"] == [str, int, float, bool, type(None)]
    assert isinstance(data, dict) and isinstance(data["l"], list) and isinstance(data["m"], dict)


def test_empty_documents_are_none() -> None:
    assert load_yaml("", "f.yml") is None
    assert load_yaml("# only a comment\n", "f.yml") is None


def test_bytes_with_bom_and_utf16() -> None:
    assert load_yaml(b"\xef\xbb\xbfa: 1\n", "f.yml") == {"a": 1}
    assert load_yaml("a: é\n".encode("utf-16"), "f.yml") == {"a": "é"}


def test_invalid_utf8_names_the_line() -> None:
    error = fails(b"a: 1\nb: \xff\n")
    assert error.location.line == 2 and "UTF-8" in error.message


# --- line numbers ---------------------------------------------------------------------------------


DOC = """\
name: demo
cases:
  - id: one
    vars: {product: widget}
  - id: two
    vars:
      product: gadget
"""


def test_maps_and_lists_remember_their_lines() -> None:
    data = load_yaml(DOC, "f.yml")
    assert isinstance(data, YamlMap) and isinstance(data["cases"], YamlList)
    assert data.line == 1 and data.key_line("cases") == 2
    cases = data["cases"]
    assert (
        cases.line == 3 and cases.item_line(0) == 3 and cases.item_line(1) == 5 and cases.item_line(-1) == 5
    )
    assert cases[1]["vars"].line == 7 and cases[1].key_line("vars") == 6
    with pytest.raises(KeyError):
        data.key_line("missing")
    with pytest.raises(IndexError):
        cases.item_line(2)


def test_line_of_never_raises() -> None:
    data = load_yaml(DOC, "f.yml")
    assert line_of(data) == 1
    assert line_of(data, "cases") == 2
    assert line_of(data["cases"], 1) == 5
    assert line_of(data, "nope", default=99) == 99
    assert line_of(data["cases"], 7) is None
    assert line_of({"a": 1}, "a") is None
    assert line_of("scalar", default=3) == 3


def test_maps_and_lists_behave_like_plain_containers() -> None:
    data = load_yaml(DOC, "f.yml")
    plain = {
        "name": "demo",
        "cases": [{"id": "one", "vars": {"product": "widget"}}, {"id": "two", "vars": {"product": "gadget"}}],
    }
    assert data == plain and plain == data
    assert json.loads(json.dumps(data)) == plain
    for clone in (pickle.loads(pickle.dumps(data)), copy.deepcopy(data), copy.copy(data)):
        assert clone == plain and clone.key_line("cases") == 2
    data["added"] = 1
    assert data.key_line("added") == 1  # keys added later report the mapping's own line


# --- attacks --------------------------------------------------------------------------------------


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    start = time.perf_counter()
    error = fails(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1
    assert error.location.line == 1 and "anchors (&a) are not allowed" in error.message


def test_aliases_are_refused_even_without_anchors() -> None:
    error = fails("a: 1\nb: *nothing\n")
    assert error.location.line == 2 and "aliases (*nothing) are not allowed" in error.message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="flow-lists"),
        pytest.param("{a: " * 100_000 + "1" + "}" * 100_000, id="flow-mappings"),
        pytest.param("- " * 100_000 + "x\n", id="block-lists"),
        pytest.param("[" * 100_000, id="unclosed"),
    ],
)
def test_100k_deep_nesting_is_refused_without_recursion(text: str) -> None:
    start = time.perf_counter()
    error = fails(text)
    assert time.perf_counter() - start < 2
    assert error.message == "nesting is deeper than 50 levels"


def test_depth_limit_is_exact() -> None:
    assert load_yaml("[" * 50 + "]" * 50, "f.yml", max_depth=50) is not None
    assert fails("[" * 51 + "]" * 51, max_depth=50).message == "nesting is deeper than 50 levels"
    deep_map = "".join("  " * i + f"k{i}:\n" for i in range(5)) + "  " * 5 + "v\n"
    assert fails(deep_map, max_depth=4).location.line == 5


def test_duplicate_keys_are_reported_like_gh_models() -> None:
    error = fails("a: 1\nb: 2\na: 3\n")
    assert error.message == 'mapping key "a" already defined at line 1'
    assert error.location.line == 3


def test_duplicate_keys_in_nested_and_flow_mappings() -> None:
    assert fails("outer:\n  x: 1\n  y: 2\n  x: 3\n").message == 'mapping key "x" already defined at line 2'
    assert fails("{k: 1, k: 2}").message == 'mapping key "k" already defined at line 1'
    assert fails("1: a\n'1': b\n").message == 'mapping key "1" already defined at line 1'
    assert load_yaml("a: {x: 1}\nb: {x: 2}\n", "f.yml") == {"a": {"x": 1}, "b": {"x": 2}}


def test_huge_file_is_refused_before_parsing() -> None:
    big = "a: " + "x" * 3_000_000 + "\n"
    assert "too large" in fails(big).message
    assert "too large" in fails(big.encode()).message
    assert "too large" in fails("é" * 600_000, max_bytes=1_000_000).message  # counted in UTF-8 bytes
    assert load_yaml("a: 1\n", "f.yml", max_bytes=5) == {"a": 1}


def test_too_many_nodes_is_refused() -> None:
    error = fails("[" + "1," * 1000 + "]", max_nodes=500)
    assert "too many values" in error.message


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['touch {marker}']\n",
        "a: !!python/object/apply:subprocess.check_output [['touch', '{marker}']]\n",
        "a: !!python/object/new:os.system ['touch {marker}']\n",
        "a: !!python/name:os.system\n",
        "- !!python/object:builtins.object {{}}\n",
        "a: !custom thing\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!timestamp 2024-01-01\n",
        "a: !!set {{x: null}}\n",
        "a: !!omap [x: 1]\n",
    ],
)
def test_unsafe_and_non_standard_tags_are_refused(text: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    error = fails(text.format(marker=marker))
    assert "is not allowed" in error.message
    assert not marker.exists()


@pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "{[1]: 2}\n", "? {a: 1}\n: x\n", "a:\n  ? - x\n  : y\n"])
def test_complex_keys_are_refused(text: str) -> None:
    assert "mapping keys must be plain values" in fails(text).message


def test_merge_keys_are_refused() -> None:
    assert "merge keys" in fails("a:\n  <<: {x: 1}\n  y: 2\n").message


def test_several_documents_are_refused() -> None:
    error = fails("a: 1\n---\nb: 2\n")
    assert error.location.line == 2 and "only one YAML document" in error.message


def test_syntax_errors_give_line_and_column() -> None:
    error = fails("a: 1\nb: c: d\n")
    assert error.location.line == 2
    assert error.message.startswith("invalid YAML: ") and "(line 2, column 5)" in error.message


def test_unclosed_flow_names_where_it_started() -> None:
    error = fails("a: [1, 2\nb: 3\n")
    assert error.message.startswith("invalid YAML: ")
    assert error.location.line is not None


def test_control_characters_are_refused_with_a_line() -> None:
    error = fails("a: 1\nb: \x01\n")
    assert error.location.line == 2 and "U+0001" in error.message


def test_both_parsers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC + "flags: [yes, no, true, ~, 0o7, 1e2, '3']\nblock: |\n  line\n"
    results = []
    for loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        monkeypatch.setattr(safe_yaml, "_LOADER", loader)
        data = load_yaml(text, "f.yml")
        results.append((json.dumps(data), data["flags"].line, data["cases"].item_line(1)))
    assert results[0] == results[1]


def test_a_lone_surrogate_is_a_clear_error_naming_the_line() -> None:
    from promptreview.errors import ConfigError
    from promptreview.safe_yaml import load_yaml

    with pytest.raises(ConfigError) as caught:
        load_yaml("a: 1\nb: x\ud800y\n", "cases.yaml")
    message = "cases.yaml:2: invalid text: a lone UTF-16 surrogate (U+D800) is not a character"
    assert str(caught.value) == message
