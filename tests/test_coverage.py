"""``promptreview coverage`` end to end (real CLI, example repo, loopback embeddings), and the
suite-level ``coverage: {inputs: PATH}`` figure in the PR comment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_harness import run_cli
from data_helpers import example_pr, example_repo, openai_record, write_jsonl
from servers.openai_server import OpenAIServer

pytestmark = pytest.mark.usefixtures("cli_env")

PRINTER = [  # the planted uncovered cluster: nothing in the suite is about printers
    ("Acme Drive", "How do I install the printer driver on Linux?"),
    ("Acme Drive", "How do I install the printer driver on Linux Mint?"),
    ("Acme Cloud", "How do I install the printer driver on Ubuntu Linux?"),
    ("Acme Drive", "Install the printer driver on Linux, how?"),
]


def production_log(tmp_path: Path) -> Path:
    covered = [
        openai_record("Acme Cloud", "How do I export all my data?"),
        openai_record("Acme Mail", "I forgot my password, how do I reset it?"),
        openai_record("Acme Cloud", "How do I cancel my subscription?"),
    ] * 4  # 12 covered inputs, exact repeats of cases
    planted = [openai_record(p, q) for p, q in PRINTER] * 2  # 8 inputs in one cluster
    lone = [openai_record("Acme API", "Webhook signature verification fails with HMAC mismatch")]
    return write_jsonl(tmp_path / "prod.jsonl", covered + planted + lone)


def test_coverage_finds_the_planted_cluster(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    out = tmp_path / "coverage.json"
    res = run_cli(capsys, "coverage", "support-answers", "--inputs", str(production_log(tmp_path)),
                  "--repo", str(repo), "--base-url", fake_openai.base_url, "--json", str(out),
                  "--cache", str(tmp_path / "cache.sqlite"))
    assert res.code == 0, res.err
    assert "coverage: 57% of 21 production input(s) in prod.jsonl have a case within similarity 0.80" in (
        res.out
    )
    assert "compared as variables" in res.out
    data = json.loads(out.read_text())
    assert data["total"] == 21 and data["covered"] == 12
    first, second = data["clusters"][:2]
    assert first["size"] == 8
    assert "printer driver" in first["example"]
    assert second["size"] == 1 and "Webhook" in second["example"]
    assert "1. 8 input(s), e.g." in res.out


def test_coverage_bad_radius_is_one_line(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    res = run_cli(capsys, "coverage", "support-answers", "--inputs", str(production_log(tmp_path)),
                  "--repo", str(repo), "--base-url", fake_openai.base_url, "--radius", "3")
    assert res.code == 2 and "--radius is a cosine similarity" in res.err


def test_suite_coverage_shows_in_the_pr_comment(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    log = production_log(tmp_path)
    repo = example_pr(tmp_path, "    coverage: {inputs: evals/prod.jsonl}\n",
                      {"evals/prod.jsonl": log.read_text()}).path
    comment = tmp_path / "comment.md"
    res = run_cli(capsys, "compare", "--repo", str(repo), "--base", "main", "--head", "feature",
                  "--markdown", str(comment), "--base-url", fake_openai.base_url,
                  "--cache", str(tmp_path / "cache.sqlite"))
    assert res.code in (0, 1, 3), res.err
    text = comment.read_text().replace("\\", "")  # drop the Markdown escapes
    assert ("Coverage: 57% of 21 production inputs (<code>evals/prod.jsonl</code>) have a case within "
            "similarity 0.80; the largest uncovered cluster has 8, e.g. <code>product: Acme Drive question: "
            "How do I install the printer driver on Linux?</code>") in text


def test_bad_coverage_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = example_pr(tmp_path, "    coverage: {inputs: ../outside.jsonl}\n").path
    res = run_cli(capsys, "validate", "--repo", str(repo))
    assert res.code == 2
    assert "promptreview.yml" in res.err and "suites.support-answers.coverage" in res.err
