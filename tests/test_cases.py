"""Cases from YAML, JSONL and CSV: the same values, and errors on the right line."""

from __future__ import annotations

import pytest

from promptreview.cases import parse_cases
from promptreview.errors import ConfigError


def test_yaml_long_and_short_forms() -> None:
    text = (
        "- id: refund\n  vars: {product: Cloud}\n  expected: 30 days\n"
        "  feedback: [be brief]\n  must_pass: true\n"
        "- product: Drive\n  label: billing\n  tags: smoke\n"
    )
    a, b = parse_cases(text, "evals/c.yaml")
    assert (a.id, dict(a.vars), a.expected, a.feedback, a.must_pass) == (
        "refund",
        {"product": "Cloud"},
        "30 days",
        ("be brief",),
        True,
    )
    assert (b.id, dict(b.vars), b.label, b.tags) == ("#2", {"product": "Drive"}, "billing", ("smoke",))
    assert (a.location.line, b.location.line) == (1, 6)  # type: ignore[union-attr]


def test_jsonl_and_csv_give_the_same_cases() -> None:
    jsonl = '{"id": "a", "vars": {"q": "hi"}, "expected": "hello"}\n\n{"id": "b", "q": "bye", "label": "x"}\n'
    csv = 'id,q,expected,label,feedback,must_pass\na,hi,hello,,,\nb,bye,,x,"be brief|cite policy",yes\n'
    from_jsonl = parse_cases(jsonl, "c.jsonl")
    from_csv = parse_cases(csv, "c.csv")
    assert [(c.id, dict(c.vars)) for c in from_jsonl] == [(c.id, dict(c.vars)) for c in from_csv]
    assert [c.location.line for c in from_jsonl] == [1, 3]  # type: ignore[union-attr]
    assert from_csv[1].feedback == ("be brief", "cite policy") and from_csv[1].must_pass
    assert from_csv[0].expected == "hello" and from_csv[0].label is None


@pytest.mark.parametrize(
    ("path", "text", "where", "words"),
    [
        ("c.jsonl", '{"id": "a"}\n{"id": }\n', "c.jsonl:2", "invalid JSON"),
        ("c.yaml", "- id: a\n- id: a\n", "c.yaml:2", "duplicate case id 'a' (first at line 1)"),
        ("c.yaml", "- vars: {x: 1}\n  colour: red\n", "c.yaml:2", "unknown key `colour` next to `vars`"),
        (
            "c.yaml",
            "- vars: {x: 1}\n  must_pass: sometimes\n",
            "c.yaml:2",
            "`must_pass` must be true or false",
        ),
        ("c.csv", "id,q\na,b,c\n", "c.csv:2", "more cells than the header"),
        ("c.yaml", "cases: 3\n", "c.yaml:1", "a cases file is a list"),
    ],
)
def test_errors_name_the_line(path: str, text: str, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_cases(text, path)
    assert str(err.value).startswith(where), str(err.value)
    assert words in str(err.value)


def test_duplicate_ids_name_the_case_in_jsonl_and_in_a_json_array() -> None:
    jsonl = '{"id": "a"}\n\n   \n{"id": "b"}\n{"id": "a"}\n'
    with pytest.raises(ConfigError) as err:
        parse_cases(jsonl, "c.jsonl")
    assert str(err.value).startswith("c.jsonl:5 (cases[2]): duplicate case id 'a' (first at line 1)")
    # A JSON array has no lines: the case's index is what finds it.
    with pytest.raises(ConfigError) as err:
        parse_cases('[{"id": "a"}, {"id": "a"}]', "c.json")
    assert "(cases[1])" in str(err.value)
    (first, _) = parse_cases('[{"id": "a"}, {"id": "b"}]', "c.json")
    assert str(first.location) == "c.json (cases[0])"


def test_too_many_jsonl_cases_is_refused_before_any_is_parsed() -> None:
    from promptreview.cases import MAX_CASES

    # The last line is not even JSON: the count is checked first, so a huge file costs no parse.
    text = '{"q": 1}\n' * MAX_CASES + "not json\n"
    with pytest.raises(ConfigError) as err:
        parse_cases(text, "big.jsonl")
    assert f"{MAX_CASES + 1} cases is more than the {MAX_CASES}" in str(err.value)
