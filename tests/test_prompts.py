"""Prompt files in every supported format, and gh-models' loading rules (FORMAT.md §2)."""

from __future__ import annotations

import pytest

from promptreview.errors import ConfigError
from promptreview.prompts import parse_prompt


def test_text_template_is_one_user_message_after_the_suite_system() -> None:
    p = parse_prompt("Hi {{ name }}\n", "prompts/a.md.j2", system="Be kind.")
    assert (p.format, p.substitution) == ("text", "jinja")
    assert [(m.role, m.content) for m in p.messages] == [("system", "Be kind."), ("user", "Hi {{ name }}\n")]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("chat.yaml", "- role: System\n  content: rules\n- {role: user, content: '{{ q }}'}\n"),
        (
            "chat.json",
            '{"messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "{{ q }}"}]}',
        ),
    ],
)
def test_chat_files_in_yaml_and_json(path: str, text: str) -> None:
    p = parse_prompt(text, path)
    assert p.format == "chat"
    assert [(m.role, m.content) for m in p.messages] == [("system", "rules"), ("user", "{{ q }}")]


def test_chat_file_errors_point_at_the_message() -> None:
    with pytest.raises(
        ConfigError, match=r"^chat.yaml:3 \(messages\[1\]\.role\): unknown message role: 'robot'"
    ):
        parse_prompt("- {role: user, content: a}\n-\n  role: robot\n  content: b\n", "chat.yaml")
    with pytest.raises(ConfigError, match=r"^chat.json:2: invalid JSON"):
        parse_prompt('[\n  {"role": }\n]', "chat.json")


GH = """name: 123
model: openai/gpt-4o
modelParameters: {maxTokens: 100.0, temperature: 0.5, max_tokens: 9, topP: 1}
responseFormat: json_object
messages:
  - role: USER
    content: "{{input}}"
testData:
  - {input: yes, expected: 'on'}
evaluators:
  - {name: check, string: {contains: x}}
  - {name: check, llm: {modelId: m, prompt: p, choices: []}}
  - {name: b, uses: github/fluency}
"""


def test_github_models_file_is_read_as_gh_models_reads_it() -> None:
    p = parse_prompt(GH, "x.prompt.yml")
    assert (p.format, p.substitution, p.name, p.model) == ("gh-models", "gh-models", "123", "openai/gpt-4o")
    assert dict(p.params) == {
        "max_tokens": 100,
        "temperature": 0.5,
        "top_p": 1.0,
        "response_format": {"type": "json_object"},
    }
    assert [(m.role, m.content) for m in p.messages] == [("user", "{{input}}")]
    (case,) = p.cases
    assert (case.id, dict(case.vars), case.expected) == ("#1", {"input": "yes", "expected": "on"}, "on")
    assert [(m.kind, m.name) for m in p.metrics] == [
        ("gh-string", "check"),
        ("gh-llm", "check (2)"),
        ("gh-builtin", "b"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modelParameters: {maxTokens: 100.0,": 'modelParameters: {maxTokens: "100",'}, "must be a number"),
        (
            {"responseFormat: json_object": "responseFormat: xml"},
            "invalid responseFormat: xml. Must be 'text', 'json_object', or 'json_schema'",
        ),
        (
            {"responseFormat: json_object": "responseFormat: json_schema"},
            "jsonSchema is required when responseFormat is 'json_schema'",
        ),
        ({"responseFormat: json_object": "jsonSchema: {name: x}"}, "jsonSchema must be a JSON string"),
        ({"model: openai/gpt-4o": "model: {name: gpt-4}"}, "expected a string, got a mapping"),
        ({"  - {input: yes, expected: 'on'}": "  - just text"}, "each testData item must be a mapping"),
    ],
)
def test_github_models_load_errors(change: dict[str, str], message: str) -> None:
    text = GH
    for old, new in change.items():
        assert old in text
        text = text.replace(old, new)
    with pytest.raises(ConfigError, match=r"^x\.prompt\.yml:\d+") as err:
        parse_prompt(text, "x.prompt.yml")
    assert message in str(err.value)
