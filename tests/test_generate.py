"""``promptreview generate`` end to end against the loopback model, with scripted rule and test
answers: the cases it writes are valid (validate accepts them), near-duplicates are dropped, and
a .prompt.yml gets them in its testData."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_harness import run_cli
from data_helpers import compare_with_generated, example_repo
from promptreview.safe_yaml import load_yaml
from servers.openai_server import OpenAIServer

pytestmark = pytest.mark.usefixtures("cli_env")

RULES = {
    "intent": "answer support questions",
    "input_spec": "a product and a question",
    "rules": ["names the product"],
    "inverse_rules": ["does not name the product"],
}
TESTS = [
    {
        "vars": {"product": "Acme Drive", "question": "Can I share a folder with a guest?"},
        "rule": "names the product",
    },
    {
        "vars": {"product": "Acme Drive", "question": "Can I share a folder with a guest?"},
        "rule": "duplicate",
    },
    {"vars": {"product": "Acme Cloud", "question": "How do I export all my data?"}, "rule": "exists already"},
    {
        "vars": {"product": "Acme API", "question": "Is there a sandbox environment for testing?"},
        "rule": "does not name the product",
    },
]


def scripted(body: dict[str, Any]) -> str | None:
    system = next((m["content"] for m in body.get("messages", []) if m.get("role") == "system"), "")
    if "the way PromptPex does" in system:
        return json.dumps(RULES)
    if "You write test inputs" in system:
        return json.dumps({"tests": TESTS})
    return None


def test_generate_writes_valid_deduplicated_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = example_repo(tmp_path)
    repo = example.path
    out = repo / "evals" / "generated.yaml"
    with OpenAIServer(responder=scripted) as srv:
        dry = run_cli(
            capsys,
            "generate",
            "support-answers",
            "--count",
            "3",
            "--repo",
            str(repo),
            "--base-url",
            srv.base_url,
            "--dry-run",
        )
        assert dry.code == 0 and "plan: 2 generation call(s) to openai/gpt-4.1 for 3 case(s)" in dry.out
        assert "estimated cost $" in dry.out and not srv.requests
        assert "dry run: no model was called and nothing was written" in dry.out
        assert "new case(s)" not in dry.out and not out.exists()
        res = run_cli(
            capsys,
            "generate",
            "support-answers",
            "--count",
            "3",
            "--repo",
            str(repo),
            "--out",
            str(out),
            "--base-url",
            srv.base_url,
            "--cache",
            str(tmp_path / "c.sqlite"),
        )
    assert res.code == 0, res.err
    cases = load_yaml(out.read_text(), str(out))
    assert [c["vars"]["product"] for c in cases] == ["Acme Drive", "Acme API"]
    assert cases[0]["tags"] == ["generated"] and cases[0]["source"]["model"] == "openai/gpt-4.1"
    assert "2 new case(s); 2 near-duplicate(s) dropped; 2 generation call(s)" in res.out
    merged = repo / "evals" / "support.yaml"
    merged.write_text(merged.read_text() + out.read_text())
    assert run_cli(capsys, "validate", "--repo", str(repo)).code == 0
    report = compare_with_generated(capsys, example, {"evals/support.yaml": merged.read_text()}, tmp_path)
    (suite,) = [s for s in report["suites"] if s["name"] == "support-answers"]
    assert sorted(suite["case_changes"]["added"]) == sorted(c["id"] for c in cases)
    assert suite["added_cases"]["n"] == 2


def test_generate_into_a_prompt_yml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = example_repo(tmp_path).path
    target = repo / "prompts" / "triage.prompt.yml"
    before = target.read_text()
    tests = [{"vars": {"input": "The export button does nothing"}, "rule": "label only"}]

    def triage(body: dict[str, Any]) -> str | None:
        system = next((m["content"] for m in body.get("messages", []) if m.get("role") == "system"), "")
        if "the way PromptPex does" in system:
            return json.dumps({"rules": ["replies with one label"], "inverse_rules": []})
        if "You write test inputs" in system:
            return json.dumps({"tests": tests})
        return None

    with OpenAIServer(responder=triage) as srv:
        res = run_cli(
            capsys,
            "generate",
            "prompts/triage.prompt.yml",
            "--count",
            "1",
            "--repo",
            str(repo),
            "--out",
            str(target),
            "--base-url",
            srv.base_url,
            "--cache",
            str(tmp_path / "c.sqlite"),
        )
    assert res.code == 0, res.err
    after = target.read_text()
    assert "  - input: The export button does nothing" in after
    assert after.replace("  # generated by", "X").count("evaluators:") == before.count("evaluators:")
    assert run_cli(capsys, "validate", "--repo", str(repo)).code == 0
