"""``promptreview cases import`` end to end: real CLI, real git repo (the bundled example), the
loopback OpenAI server for embeddings. Asserts on what a user sees: the cases file written, the
order cases were chosen in, feedback carried over, personal data masked, the summary."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cli_harness import run_cli
from data_helpers import EXAMPLE, SYSTEM, example_repo, openai_record, support_user_message, write_jsonl
from promptreview.cases import parse_cases
from promptreview.data.records import record_from_json
from promptreview.safe_yaml import load_yaml
from servers.openai_server import OpenAIServer

pytestmark = pytest.mark.usefixtures("cli_env")

EXAMPLE_CASES = EXAMPLE / "evals" / "support.yaml"


def _import(capsys: pytest.CaptureFixture[str], repo: Path, server: OpenAIServer, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(
        capsys,
        "cases",
        "import",
        *args,
        "--repo",
        str(repo),
        "--base-url",
        server.base_url,
        "--cache",
        str(repo.parent / "cache.sqlite"),
    )


def _production_log(tmp_path: Path) -> Path:
    ordinary = [
        openai_record("Acme Cloud", "How do I export all my data?", "Settings > Data > Export.", thumbs="up"),
        openai_record("Acme Mail", "I forgot my password, how do I reset it?", "Use Forgot password."),
    ] * 5
    records = [
        *ordinary,
        openai_record(
            "Acme Cloud", "Is the refund instant?", "Yes.", score=2, comment="Wrong: refunds take 5 days"
        ),
        openai_record(
            "Acme Drive",
            "Why was I charged twice?",
            "No idea.",
            thumbs="down",
            comment="Useless. Write to me at jane.doe@example.com or +1 415-555-0134",
        ),
        openai_record("Acme API", "Which regions host the API?", "Everywhere.", grade=0.1),
        openai_record(
            "Acme Cloud", "Cancel my plan now", "Done!", accepted=False, comment="It did not cancel anything"
        ),
        # The planted outlier: nothing in the suite is about this.
        openai_record("Acme Drive", "Lighthouse telescope aquarium volcano migration", "Hmm."),
    ]
    return write_jsonl(tmp_path / "prod.jsonl", records)


def test_import_chooses_in_the_seed_order_writes_feedback_and_masks_pii(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    log = _production_log(tmp_path)
    out = repo / "evals" / "candidates.yaml"
    res = _import(
        capsys, repo, fake_openai, str(log), "--suite", "support-answers", "--limit", "5", "--out", str(out)
    )
    assert res.code == 0, res.err
    cases = load_yaml(out.read_text(), str(out))
    reasons = [c["source"]["reason"] for c in cases]
    # thumbs down / not accepted first (file order), then the annotator, then the grader, then outliers.
    assert reasons[:4] == ["thumbs down", "not accepted", "annotator score 0.25", "model grade 0.10"]
    assert reasons[4].startswith("outlier")
    assert cases[4]["vars"]["question"] == "Lighthouse telescope aquarium volcano migration"
    assert cases[0]["vars"] == {"product": "Acme Drive", "question": "Why was I charged twice?"}
    assert cases[0]["feedback"] == ["Useless. Write to me at [email] or [phone]"]
    assert cases[2]["feedback"] == ["Wrong: refunds take 5 days"]
    assert "jane.doe@example.com" not in out.read_text()
    assert "personal data found: 1 email, 1 phone; masked" in res.out
    assert "chose 5 candidate case(s): 2 user feedback, 1 annotator, 1 grader, 1 outlier" in res.out
    assert "read 15 record(s): 15 mapped" in res.out
    # The file is valid cases for the suite: the parser accepts it and the ids are unique.
    parsed = parse_cases(out.read_text(), "evals/candidates.yaml")
    assert [c.feedback for c in parsed][3] == ()
    # Embeddings went through the client: one batch for the cases, one for the sampled inputs.
    assert fake_openai.count("/embeddings") >= 1


def test_limit_cuts_after_the_feedback_buckets_and_keep_pii_keeps(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    log = _production_log(tmp_path)
    out = repo / "evals" / "c.yaml"
    res = _import(
        capsys,
        repo,
        fake_openai,
        str(log),
        "--suite",
        "support-answers",
        "--limit",
        "2",
        "--out",
        str(out),
        "--keep-pii",
    )
    assert res.code == 0, res.err
    cases = load_yaml(out.read_text(), str(out))
    assert [c["source"]["reason"] for c in cases] == ["thumbs down", "not accepted"]
    assert "jane.doe@example.com" in cases[0]["feedback"][0]
    assert "KEPT (--keep-pii)" in res.out
    assert fake_openai.count("/embeddings") == 0  # the feedback alone filled the limit: no model call


def test_appending_to_the_suite_cases_keeps_the_file_and_validate_accepts_it(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    cases_file = repo / "evals" / "support.yaml"
    before = cases_file.read_text()
    res = _import(
        capsys,
        repo,
        fake_openai,
        str(_production_log(tmp_path)),
        "--suite",
        "support-answers",
        "--limit",
        "3",
        "--out",
        str(cases_file),
    )
    assert res.code == 0, res.err
    after = cases_file.read_text()
    assert after.startswith(before)  # comments, order and quoting of the user's cases untouched
    assert "appended to" in res.out
    val = run_cli(capsys, "validate", "--repo", str(repo))
    assert val.code == 0, val.err
    assert len(parse_cases(after, "evals/support.yaml")) == len(parse_cases(before, "x.yaml")) + 3


def test_csv_with_column_mapping(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    log = tmp_path / "export.csv"
    with log.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ticket", "prod", "q", "rating", "notes", "judge"])
        w.writerow(["t1", "Acme Cloud", "How do I export all my data?", "up", "", "0.9"])
        w.writerow(["t2", "Acme Mail", "Can I add an alias?", "down", "Did not say how", ""])
        w.writerow(["t3", "Acme API", "Is there a sandbox key?", "", "", "0.2"])
        w.writerow(["t4", "Acme Drive", "Card 4111 1111 1111 1111 was declined", "down", "", ""])
    out = repo / "evals" / "c.yaml"
    res = _import(
        capsys,
        repo,
        fake_openai,
        str(log),
        "--suite",
        "support-answers",
        "--limit",
        "3",
        "--out",
        str(out),
        "--var",
        "product=prod",
        "--var",
        "question=q",
        "--field",
        "thumbs=rating",
        "--field",
        "comment=notes",
        "--field",
        "grade=judge",
        "--field",
        "id=ticket",
    )
    assert res.code == 0, res.err
    cases = load_yaml(out.read_text(), str(out))
    assert [c["source"]["record"] for c in cases] == ["t2", "t4", "t3"]
    assert cases[0]["feedback"] == ["Did not say how"]
    assert cases[1]["vars"]["question"] == "Card [card] was declined"
    assert "1 card; masked" in res.out


def test_records_that_do_not_match_the_template_are_reported(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    other = openai_record("Acme Cloud", "x")
    other["request"]["messages"][1]["content"] = "Translate this into French: hello"
    log = write_jsonl(
        tmp_path / "p.jsonl", [other, openai_record("Acme Cloud", "Where is my data?", thumbs="down")]
    )
    res = _import(capsys, repo, fake_openai, str(log), "--suite", "support-answers", "--dry-run")
    assert res.code == 0, res.err
    assert "2 record(s): 1 mapped to the suite's variables, 1 not" in res.out
    assert "p.jsonl:1: the user message does not match the template's fixed text" in res.out


def test_bad_input_is_one_line(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    log = tmp_path / "bad.jsonl"
    log.write_text('{"request": {}}\n{not json\n')
    res = _import(capsys, repo, fake_openai, str(log), "--suite", "support-answers")
    assert res.code == 2
    assert "bad.jsonl:2" in res.err and "not JSON" in res.err
    res = _import(capsys, repo, fake_openai, str(log), "--suite", "nope")
    assert res.code == 2 and "no suite named 'nope'" in res.err


def test_gh_models_suite_maps_its_placeholders(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = example_repo(tmp_path).path
    system = "Classify the ticket as bug, billing or question. Reply with the label only.\n"
    rec = {
        "request": {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": "My invoice shows the wrong VAT"},
            ]
        },
        "response": {"choices": [{"message": {"content": "question"}}]},
        "feedback": {"thumbs": "down"},
    }
    log = write_jsonl(tmp_path / "t.jsonl", [rec])
    res = _import(
        capsys,
        repo,
        fake_openai,
        str(log),
        "--suite",
        "prompts/triage.prompt.yml",
        "--limit",
        "1",
        "--out",
        str(repo / "prompts" / "triage.prompt.yml"),
    )
    assert res.code == 0, res.err
    text = (repo / "prompts" / "triage.prompt.yml").read_text()
    assert "  - input: My invoice shows the wrong VAT" in text
    assert "evaluators:" in text.split("My invoice")[1]  # appended inside testData, the rest kept
    assert run_cli(capsys, "validate", "--repo", str(repo)).code == 0


# --- the shapes other tools export ---------------------------------------------------------------


def test_langsmith_run_shape() -> None:
    run = {
        "id": "r1",
        "run_type": "llm",
        "tags": ["billing"],
        "inputs": {
            "messages": [
                [
                    {
                        "lc": 1,
                        "type": "constructor",
                        "id": ["langchain", "schema", "messages", "SystemMessage"],
                        "kwargs": {"content": SYSTEM},
                    },
                    {
                        "lc": 1,
                        "type": "constructor",
                        "id": ["langchain", "schema", "messages", "HumanMessage"],
                        "kwargs": {"content": support_user_message("Acme Cloud", "Refund?")},
                    },
                ]
            ]
        },
        "outputs": {"generations": [[{"text": "No.", "message": {"kwargs": {"content": "No."}}}]]},
        "feedback": [
            {"key": "user_score", "score": 0, "comment": "rude"},
            {"key": "correctness", "score": 0.2},
        ],
    }
    rec = record_from_json(run, 1)
    assert [r for r, _ in rec.messages] == ["system", "user"]
    assert rec.answer == "No."
    assert rec.feedback.thumbs_down and rec.feedback.grade == 0.2
    assert rec.feedback.comments == ("rude",)
    assert rec.tags == ("billing",)


def test_langfuse_generation_shape() -> None:
    obs = {
        "id": "o1",
        "type": "GENERATION",
        "model": "gpt-4o-mini",
        "input": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": support_user_message("Acme API", "Rate limit?")},
        ],
        "output": {"role": "assistant", "content": "100/min"},
        "scores": [
            {"name": "helpfulness", "value": 1, "source": "ANNOTATION", "comment": "wrong number"},
            {"name": "user-feedback", "value": 0, "source": "API"},
            {"name": "hallucination", "value": 0.9, "source": "EVAL"},
        ],
    }
    rec = record_from_json(obs, 1)
    assert rec.answer == "100/min"
    assert rec.feedback.score == 1.0  # 1 on a 0-1 scale: the annotator liked it
    assert rec.feedback.thumbs_down
    assert rec.feedback.comments == ("wrong number",)
    trace = {
        "id": "t1",
        "input": {"question": "x"},
        "output": "y",
        "observations": [obs],
        "scores": [{"name": "thumbs", "value": 0, "source": "API"}],
    }
    rec = record_from_json(trace, 2)
    assert rec.messages[0] == ("system", SYSTEM)
    assert rec.feedback.thumbs_down


def test_after_the_outliers_come_the_tags_the_suite_covers_least(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Step five of the order: with no feedback and no outlier left, candidates come round-robin
    from the tags the suite's cases cover least (security: none; account: one; billing: three)."""
    cases = (EXAMPLE_CASES.read_text()
             .replace("- id: refund-window\n", "- id: refund-window\n  tags: [billing]\n")
             .replace("- id: cancel-plan\n", "- id: cancel-plan\n  tags: [billing]\n")
             .replace("- id: invoice-address\n", "- id: invoice-address\n  tags: [billing]\n")
             .replace("- id: reset-password\n", "- id: reset-password\n  tags: [account]\n"))
    repo = example_repo(tmp_path, {"evals/support.yaml": cases}).path

    def tagged(product: str, question: str, tag: str) -> dict[str, object]:
        return {**openai_record(product, question), "tags": [tag]}

    log = write_jsonl(tmp_path / "prod.jsonl", [  # each near an existing case: none is an outlier
        tagged("Acme Cloud", "Can I still get a refund? I bought it 12 days ago.", "billing"),
        tagged("Acme Cloud", "How do I cancel my subscription today?", "billing"),
        tagged("Acme Mail", "I forgot my password, how do I reset it now?", "account"),
        tagged("Acme Mail", "How do I turn on two-factor authentication please?", "security"),
        tagged("Acme Cloud", "Can I change the address on my invoices now?", "billing"),
    ])
    out = repo / "evals" / "c.yaml"
    res = _import(capsys, repo, fake_openai, str(log), "--suite", "support-answers", "--limit", "3",
                  "--out", str(out), "--radius", "0.5")
    assert res.code == 0, res.err
    reasons = [c["source"]["reason"] for c in load_yaml(out.read_text(), str(out))]
    assert reasons == [
        "tag 'security' (0 existing case(s))",
        "tag 'account' (1 existing case(s))",
        "tag 'billing' (3 existing case(s))",
    ]
    assert "3 under-covered tag" in res.out
