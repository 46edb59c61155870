"""promptreview.yml parsing: typed values, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptreview.config import load_config, parse_config
from promptreview.errors import ConfigError
from promptreview.revision import Revision
from repo_builder import RepoBuilder

HEAD = "version: 1\nsuites:\n  s:\n    prompt: p.md\n    cases: c.yaml\n"


def test_metric_spellings_and_defaults() -> None:
    text = HEAD + (
        "    metrics:\n"
        "      - is-json\n"
        '      - contains: "{{ vars.x }}"\n'
        "      - similar: {threshold: 0.9, gate: false}\n"
        "      - type: max-length\n        max: 40\n        name: short\n"
        "    compare: {criteria: be brief}\n"
        "    gate: {margin: 0.1, on-inconclusive: fail, min_pass_rate: 0.5}\n"
    )
    (suite,) = parse_config(text, "promptreview.yml").suites
    assert [(m.kind, m.name, m.gate, dict(m.args)) for m in suite.metrics] == [
        ("is-json", "is-json", True, {}),
        ("contains", "contains", True, {"value": "{{ vars.x }}"}),
        ("similar", "similar", False, {"threshold": 0.9}),
        ("max-length", "short", True, {"max": 40}),
    ]
    assert suite.compare_criteria == "be brief" and suite.compare
    assert (suite.gate.margin, suite.gate.on_inconclusive, suite.gate.min_pass_rate) == (0.1, "fail", 0.5)
    assert suite.model is None and suite.judge == "openai/gpt-4.1" and suite.samples == 1


@pytest.mark.parametrize(
    ("tail", "where", "words"),
    [
        ("    gate: {on_inconclusive: maybe}\n", "promptreview.yml:6", "on_inconclusive must be"),
        ("    metrics:\n      - containz: x\n", "promptreview.yml:7", "did you mean"),
        ("    metrics:\n      - regex: '(a+)+'\n", "promptreview.yml:7", "regex"),
        ("    samples: 0\n", "promptreview.yml:6", "whole number from 1 to 50"),
        ("    gate:\n      margin: 0.1\n      confidence: 0.99\n", "promptreview.yml:8",
         "only 0.95 is supported"),
        ("    promtp: x\n", "promptreview.yml:6", "did you mean `prompt`"),
        ("    metrics:\n      - is-json\n      - is-json\n", "promptreview.yml:8", "two metrics are named"),
    ],
)
def test_errors_name_file_line_and_field(tail: str, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(HEAD + tail, "promptreview.yml")
    assert str(err.value).startswith(where), str(err.value)
    assert words in str(err.value)


def test_paths_must_stay_in_the_repository() -> None:
    with pytest.raises(ConfigError, match="must stay inside the repository"):
        parse_config(HEAD.replace("p.md", "../../etc/passwd"), "promptreview.yml")


def test_unsupported_version_and_broken_yaml() -> None:
    with pytest.raises(ConfigError, match="unsupported version 2"):
        parse_config("version: 2\n", "promptreview.yml")
    with pytest.raises(ConfigError, match=r"^promptreview.yml:4: invalid YAML.*starts at line 3"):
        parse_config("version: 1\nsuites:\n  s: [unclosed\n", "promptreview.yml")


def test_github_models_files_are_suites_without_any_config(tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "r")
    repo.commit(
        {"a/x.prompt.yml": "messages: []\n", "b.prompt.yaml": "messages: []\n", "notes.yml": "x: 1\n"}
    )
    config = load_config(Revision.at(repo.path, "HEAD"))
    assert config.path is None
    assert [(s.name, s.implicit) for s in config.suites] == [
        ("a/x.prompt.yml", True),
        ("b.prompt.yaml", True),
    ]


def test_configured_prompt_files_are_not_discovered_twice(tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "r")
    conf = "version: 1\nsuites:\n  triage:\n    prompt: t.prompt.yml\n"
    repo.commit(
        {"promptreview.yml": conf, "t.prompt.yml": "messages: []\n", "u.prompt.yml": "messages: []\n"}
    )
    config = load_config(Revision.at(repo.path, "HEAD"))
    assert [s.name for s in config.suites] == ["triage", "u.prompt.yml"]


def test_the_confidence_the_verdict_uses_is_accepted() -> None:
    config = parse_config(HEAD + "    gate: {confidence: 0.95}\n", "promptreview.yml")
    assert all(s.gate.confidence == 0.95 for s in config.suites)
