"""``promptreview judge-check``: the judge measured against human labels, against a hand
computation, and the suite-level ``judge: {labels}`` figure in the PR comment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_harness import run_cli
from data_helpers import block, example_pr, example_repo, good_wins_judge
from promptreview.data.labels import cohen_kappa
from servers.openai_server import OpenAIServer

pytestmark = pytest.mark.usefixtures("cli_env")

# Human preference vs what the GOOD-rule judge will say (hand-worked):
#   human: a  b  b  tie a   tie
#   judge: a  b  a  tie tie tie   (pair 6: the judge says "A" in both orders -> orders disagree -> tie)
# observed agreement 4/6; human a2 b2 tie2, judge a2 b1 tie3: p_e = (2*2 + 2*1 + 2*3) / 36 = 1/3;
# kappa = (2/3 - 1/3) / (1 - 1/3) = 0.5; position consistency 5/6.
PAIRS = [
    {"id": "p1", "task": "Refund?", "a": "GOOD: within 30 days", "b": "no idea", "preference": "a"},
    {"id": "p2", "task": "Reset?", "a": "dunno", "b": "GOOD: use the link", "preference": "b"},
    {"id": "p3", "task": "Export?", "a": "GOOD but long", "b": "short", "preference": "b"},
    {"id": "p4", "task": "Hours?", "a": "9-5", "b": "nine to five", "preference": "tie"},
    {"id": "p5", "task": "Plan?", "a": "GOOD one", "b": "GOOD two", "preference": "a"},
    {"id": "p6", "task": "BIASED question", "a": "x", "b": "y", "preference": "tie"},
]


def labels_text() -> str:
    return "".join(json.dumps(p) + "\n" for p in PAIRS)


@pytest.fixture
def judge_server() -> OpenAIServer:
    with OpenAIServer(responder=good_wins_judge) as srv:
        yield srv  # type: ignore[misc]


def test_hand_computed_kappa() -> None:
    human = ["a", "b", "b", "tie", "a", "tie"]
    judge = ["a", "b", "a", "tie", "tie", "tie"]
    assert cohen_kappa(human, judge) == pytest.approx(0.5)
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0
    assert cohen_kappa([], []) is None


def test_judge_check_reports_agreement_kappa_and_disagreements(
    tmp_path: Path, judge_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path, {"evals/labels.jsonl": labels_text()}).path
    out = tmp_path / "jc.json"
    res = run_cli(capsys, "judge-check", "--repo", str(repo), "--base-url", judge_server.base_url,
                  "--json", str(out), "--cache", str(tmp_path / "cache.sqlite"))
    assert res.code == 0, res.err
    assert ("judge agrees with your labels 67% (n=6, 4 of 6); Cohen's kappa 0.50; "
            "position consistency 83%") in res.out
    assert "p3 (evals/labels.jsonl:3): you said b, the judge a: A by the GOOD rule" in res.out
    assert "p5 (evals/labels.jsonl:5): you said a, the judge tie" in res.out
    data = json.loads(out.read_text())
    assert data["kappa"] == pytest.approx(0.5) and data["agree"] == 4
    assert judge_server.count() == 12  # every pair in both orders
    # A second run is answered from the cache: no new judge calls.
    run_cli(capsys, "judge-check", "--repo", str(repo), "--base-url", judge_server.base_url,
            "--cache", str(tmp_path / "cache.sqlite"))
    assert judge_server.count() == 12


def test_bad_labels_file_is_one_line(
    tmp_path: Path, judge_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = '{"task": "t", "a": "x", "b": "y", "preference": "c"}\n'
    repo = example_repo(tmp_path, {"evals/labels.jsonl": bad})
    res = run_cli(capsys, "judge-check", "--repo", str(repo.path), "--base-url", judge_server.base_url)
    assert res.code == 2
    assert "evals/labels.jsonl:1 (preference): `preference` must be a, b or tie" in res.err
    res = run_cli(capsys, "judge-check", "--repo", str(repo.path), "--labels", "nope.jsonl",
                  "--base-url", judge_server.base_url)
    assert res.code == 2 and "labels file not found: nope.jsonl" in res.err


def test_suite_judge_labels_show_in_the_pr_comment(
    tmp_path: Path, judge_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = "    judge: {model: openai/gpt-4.1, labels: evals/labels.jsonl}\n"
    repo = example_pr(tmp_path, config, {"evals/labels.jsonl": labels_text()}).path
    comment = tmp_path / "comment.md"
    res = run_cli(capsys, "compare", "--repo", str(repo), "--base", "main", "--head", "feature",
                  "--markdown", str(comment), "--base-url", judge_server.base_url,
                  "--cache", str(tmp_path / "cache.sqlite"))
    assert res.code in (0, 1, 3), res.err
    text = comment.read_text().replace("\\", "")
    assert ("Judge agrees with your labels 67% (n=6; Cohen's kappa 0.50; "
            "<code>evals/labels.jsonl</code>)") in text


def mumbling_judge(body: dict[str, Any]) -> str | None:
    """The GOOD-rule judge, except that a task saying MUMBLE gets prose with no verdict in it, on the
    retry too (the retry's last message asks again, so look for the task in every message)."""
    msgs = body.get("messages", [])
    if any("MUMBLE" in block(str(m.get("content", "")), "TASK") for m in msgs):
        return "Both answers have their merits; it depends on what the customer wants."
    return good_wins_judge(body)


MUMBLED = {"id": "p7", "task": "MUMBLE question", "a": "GOOD x", "b": "y", "preference": "a"}


@pytest.mark.parametrize(
    ("pairs", "code", "expected"),
    [
        ([*PAIRS[:2], MUMBLED], 0,
         ["judge agrees with your labels 100% (n=2, 2 of 2); Cohen's kappa 1.00; position consistency 100%",
          "judge gave no usable answer (1 of 3 pairs: p7); left out of agreement and position consistency"]),
        ([MUMBLED], 1, ["judge gave no usable answer (1 of 1 pair: p7)"]),
    ],
)
def test_a_judge_with_no_usable_answer_is_not_called_inconsistent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pairs: list[dict[str, str]], code: int,
    expected: list[str],
) -> None:
    repo = example_repo(tmp_path, {"evals/labels.jsonl": "".join(json.dumps(p) + "\n" for p in pairs)}).path
    out = tmp_path / "jc.json"
    with OpenAIServer(responder=mumbling_judge) as server:
        res = run_cli(capsys, "judge-check", "--repo", str(repo), "--base-url", server.base_url,
                      "--json", str(out), "--cache", str(tmp_path / "cache.sqlite"))
    print(res.out)
    assert res.code == code, res.err
    for line in expected:
        assert line in res.out
    assert "consistency 0%" not in res.out and "agrees with your labels 0%" not in res.out
    data = json.loads(out.read_text())
    assert data["unusable"] == 1 and data["n"] == len(pairs) - 1


def test_suite_judge_labels_with_no_usable_answer_say_so_in_the_pr_comment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = "    judge: {model: openai/gpt-4.1, labels: evals/labels.jsonl}\n"
    labels = "".join(json.dumps(p) + "\n" for p in (*PAIRS[:2], MUMBLED))
    repo = example_pr(tmp_path, config, {"evals/labels.jsonl": labels}).path
    comment = tmp_path / "comment.md"
    with OpenAIServer(responder=mumbling_judge) as server:
        res = run_cli(capsys, "compare", "--repo", str(repo), "--base", "main", "--head", "feature",
                      "--markdown", str(comment), "--base-url", server.base_url,
                      "--cache", str(tmp_path / "cache.sqlite"))
    assert res.code in (0, 1, 3), res.err
    text = comment.read_text().replace("\\", "")
    assert ("Judge agrees with your labels 100% (n=2; Cohen's kappa 1.00; <code>evals/labels.jsonl</code>); "
            "the judge gave no usable answer for 1 of 3 pairs, left out.") in text


def test_max_calls_counts_the_label_pairs(
    tmp_path: Path, judge_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The labels figure judges six pairs in both orders: twelve calls the budget must see
    before any call is made, not discover afterwards."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "labelled").mkdir()
    plain = example_pr(tmp_path / "plain").path
    out = tmp_path / "plain.json"
    res = run_cli(capsys, "compare", "--repo", str(plain), "--base", "main", "--head", "feature",
                  "--json", str(out), "--base-url", judge_server.base_url, "--no-cache")
    assert res.code in (0, 1, 3), res.err
    review_calls = json.loads(out.read_text())["usage"]["planned_calls"]
    plain_calls = judge_server.count()

    config = "    judge: {model: openai/gpt-4.1, labels: evals/labels.jsonl}\n"
    repo = example_pr(tmp_path / "labelled", config, {"evals/labels.jsonl": labels_text()}).path
    before = judge_server.count()
    args = ("compare", "--repo", str(repo), "--base", "main", "--head", "feature",
            "--base-url", judge_server.base_url, "--no-cache")
    refused = run_cli(capsys, *args, "--max-calls", str(review_calls + 11))
    assert refused.code == 2
    assert f"this review would make about {review_calls + 12} model calls" in refused.err
    assert judge_server.count() == before  # refused before any call
    ran = run_cli(capsys, *args, "--max-calls", str(review_calls + 12), "--json", str(tmp_path / "l.json"))
    assert ran.code in (0, 1, 3), ran.err
    assert judge_server.count() - before == plain_calls + 12  # the same review, plus the labels
    assert json.loads((tmp_path / "l.json").read_text())["usage"]["planned_calls"] == review_calls + 12
