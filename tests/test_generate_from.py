"""``promptreview generate --from FILES`` end to end against the loopback model, with a scripted
model that writes one question/answer pair per passage it is sent: the cases are grounded in
the documents (passage, file and lines recorded), near-duplicates are dropped, the user's files
keep every line when the cases are appended, and ``validate`` and ``compare`` accept the result
on the bundled example and on a GitHub Models ``.prompt.yml`` from the fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cli_harness import run_cli
from data_helpers import block, compare_with_generated, example_repo
from promptreview.data.documents import file_passages
from promptreview.safe_yaml import load_yaml
from repo_builder import RepoBuilder
from servers.openai_server import OpenAIServer

pytestmark = pytest.mark.usefixtures("cli_env")

FIXTURES = Path(__file__).parent / "fixtures" / "gh-models" / "examples"

HELP_MD = """\
---
title: Acme Cloud help
---
# Acme Cloud help

## Exporting data

To export all your data, open Settings > Data > Export and choose CSV or JSON. We email you a
download link when the export is ready.

```
# this is a shell comment, not a heading
curl https://acme.example/export
```

## Refunds

Refunds are available within 30 days of purchase. Open Settings > Billing > Request refund; the
money is back on your card within 5 business days.

## Refund timing

Refunds are available within 30 days of purchase. Open Settings > Billing > Request refund; the
money is back on your card within 5 business days, as the Refunds section says.
"""

DRIVE_HTML = """\
<!doctype html>
<html><head><title>Acme Drive</title><style>p { color: red }</style>
<script>var banner = "<p>Sharing is disabled</p>";</script></head>
<body><nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
<main>
<h1>Acme Drive</h1>
<h2>Guest sharing</h2>
<p>Share a folder with a guest from the folder&rsquo;s <b>Share</b> menu: guests can view
and comment but not delete files &amp; folders.</p>
<div hidden>Internal: guest sharing costs us money.</div>
<h2>Storage</h2>
<ul><li>The free plan includes 15&nbsp;GB of storage.</li><li>Pro raises it to 2&nbsp;TB.</li></ul>
</main>
<footer>Copyright Acme</footer>
</body></html>
"""

# What the scripted model answers for a passage, by a phrase the passage contains:
# (question, answer, product). The refund pair comes twice (two passages say the same thing),
# the export pair repeats the bundled example's export-data case.
PAIRS = {
    "export all your data": (
        "How do I export all my data?",
        "Open Settings > Data > Export and choose CSV or JSON; a download link is emailed to you.",
        "Acme Cloud",
    ),
    "Refunds are available": (
        "How long do I have to ask for a refund, and when is the money back?",
        "Refunds are available within 30 days of purchase; the money is back within 5 business days.",
        "Acme Cloud",
    ),
    "Share a folder with a guest": (
        "Can a guest I share a folder with delete my files?",
        "No: guests can view and comment but not delete files and folders.",
        "Acme Drive",
    ),
    "free plan includes": (
        "How much storage comes with the free plan, and with Pro?",
        "The free plan includes 15 GB of storage; Pro raises it to 2 TB.",
        "Acme Drive",
    ),
    "machine learning": (
        "What does a model learn from in machine learning?",
        "Machine learning systems learn patterns from data instead of being explicitly programmed.",
        None,
    ),
    "supervised": (
        "What does supervised learning train on?",
        "Supervised learning trains on labelled examples: inputs paired with the right outputs.",
        None,
    ),
}


def doc_model(body: dict[str, Any]) -> str | None:
    """Answers the documents prompt with the requested number of pairs per passage: its facts
    (by the phrases in PAIRS) in turn, repeated when more questions are asked than it has."""
    msgs = body.get("messages", [])
    system = next((m["content"] for m in msgs if m.get("role") == "system"), "")
    if "from documents" not in system:
        return None
    user = msgs[-1]["content"]
    pairs = []
    for pid, n in re.findall(r"^- (P\d+): (\d+) question", user, re.M):
        text = block(user, f"PASSAGE {pid}")
        found = [v for phrase, v in PAIRS.items() if phrase.lower() in text.lower()]
        for k in range(int(n) if found else 0):  # the passage's facts in turn, then again
            question, answer, product = found[k % len(found)]
            pair: dict[str, Any] = {"passage": pid, "question": question, "answer": answer}
            if product:
                pair["vars"] = {"product": product}
            pairs.append(pair)
    return json.dumps({"pairs": pairs})


def _generate(capsys: pytest.CaptureFixture[str], repo: Path, srv: OpenAIServer, *args: str) -> Any:
    return run_cli(
        capsys,
        "generate",
        *args,
        "--repo",
        str(repo),
        "--base-url",
        srv.base_url,
        "--cache",
        str(repo.parent / "gen.sqlite"),
    )


def test_generate_from_documents_on_the_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = example_repo(tmp_path, {"docs/help.md": HELP_MD, "docs/drive.html": DRIVE_HTML})
    cases_file = repo.path / "evals" / "support.yaml"
    before = cases_file.read_text()
    with OpenAIServer(responder=doc_model) as srv:
        dry = _generate(
            capsys,
            repo.path,
            srv,
            "support-answers",
            "--from",
            str(repo.path / "docs"),
            "--count",
            "6",
            "--dry-run",
        )
        assert dry.code == 0, dry.err
        assert (
            "plan: 1 generation call(s) to openai/gpt-4.1 for 6 case(s) from 3 of 3 passage(s) in 2 file(s)"
            in dry.out
        )
        assert "questions go into `question`" in dry.out and "estimated cost $" in dry.out
        assert "dry run: no model was called and nothing was written" in dry.out
        assert "new case(s)" not in dry.out
        assert not srv.requests  # neither a chat nor an embeddings call

        res = _generate(
            capsys,
            repo.path,
            srv,
            "support-answers",
            "--from",
            str(repo.path / "docs"),
            "--count",
            "6",
            "--out",
            str(cases_file),
        )
    assert res.code == 0, res.err
    # Three passages (short sections join the next), two questions each: the export pairs repeat
    # the example's export-data case, the second refund pair the first; three cases are new.
    assert "3 new case(s); 3 near-duplicate(s) dropped; 1 generation call(s)" in res.out
    after = cases_file.read_text()
    assert after.startswith(before)  # every line the user wrote, comments and order, untouched
    all_cases = load_yaml(after, str(cases_file))
    new = [c for c in all_cases if "generated" in (c.get("tags") or [])]
    by_file = {c["source"]["file"] for c in new}
    assert by_file == {"docs/help.md", "docs/drive.html"}
    refund = next(c for c in new if "refund" in c["vars"]["question"])
    assert refund["expected"].startswith("Refunds are available within 30 days")
    assert refund["source"]["model"] == "openai/gpt-4.1" and refund["source"]["lines"] == "18-24"
    assert refund["source"]["section"] == "Acme Cloud help > Refunds"
    assert "money is back on your card" in refund["source"]["passage"]
    guest = next(c for c in new if "guest" in c["vars"]["question"])
    assert guest["vars"]["product"] == "Acme Drive" and guest["source"]["file"] == "docs/drive.html"
    # The page's text, not its markup: no script, style, navigation, hidden text or entities.
    assert "folder’s Share menu" in guest["source"]["passage"]
    for noise in ("var banner", "color: red", "Pricing", "Internal:", "&amp;", "<b>"):
        assert noise not in guest["source"]["passage"]
    assert run_cli(capsys, "validate", "--repo", str(repo.path)).code == 0

    report = compare_with_generated(capsys, repo, {"evals/support.yaml": after}, tmp_path)
    (suite,) = [s for s in report["suites"] if s["name"] == "support-answers"]
    assert sorted(suite["case_changes"]["added"]) == sorted(c["id"] for c in new)
    assert suite["added_cases"]["n"] == 3


def test_generate_from_documents_into_a_gh_models_prompt_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fixture .prompt.yml (one {{input}}, testData with expected) gets the pairs in testData,
    the source and passage as comments, and its own lines kept as they were."""
    original = (FIXTURES / "test_single_evaluator.yml").read_text()
    prompt = "# Our ML tutor: keep answers short.\n" + original
    docs = (
        "Machine learning lets computers learn patterns from data instead of being explicitly\n"
        "programmed for each case.\n\n"
        "Supervised learning trains on labelled examples: inputs paired with the right outputs,\n"
        "so the model can predict outputs for new inputs.\n"
    )
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit({"prompts/tutor.prompt.yml": prompt, "docs/ml.txt": docs * 3}, message="tutor")
    target = repo.path / "prompts" / "tutor.prompt.yml"
    with OpenAIServer(responder=doc_model) as srv:
        res = _generate(
            capsys,
            repo.path,
            srv,
            "prompts/tutor.prompt.yml",
            "--from",
            str(repo.path / "docs/ml.txt"),
            "--count",
            "4",
            "--out",
            str(target),
        )
    assert res.code == 0, res.err
    # One passage (the file is short) with two facts: four questions, two repeat the first two.
    assert "2 new case(s); 2 near-duplicate(s) dropped" in res.out
    after = target.read_text()
    assert after.startswith(
        prompt.rstrip("\n").rsplit("evaluators:", 1)[0].rstrip("\n").split("messages:")[0]
    )
    kept = [line for line in after.splitlines() if not line.lstrip().startswith("#")]
    assert [line for line in prompt.splitlines() if not line.lstrip().startswith("#")] == [
        line for line in kept if line in prompt.splitlines()
    ]
    doc = load_yaml(after, str(target))
    assert doc["testData"][0] == load_yaml(original, "x")["testData"][0]
    added = doc["testData"][1]
    assert added == {
        "input": "What does a model learn from in machine learning?",
        "expected": PAIRS["machine learning"][1],
    }
    assert "#   Machine learning lets computers learn patterns" in after
    assert "file: docs/ml.txt, lines: 1-" in after
    assert run_cli(capsys, "validate", "--repo", str(repo.path)).code == 0
    report = compare_with_generated(capsys, repo, {"prompts/tutor.prompt.yml": after}, tmp_path)
    (suite,) = report["suites"]
    assert suite["added_cases"]["n"] == 2


def test_plain_generate_on_a_gh_models_fixture_into_a_separate_cases_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .prompt.yml whose suite keeps its cases in a YAML file: generated cases are appended
    there, the file's comments and order kept."""
    config = (
        "version: 1\nsuites:\n  sentiment:\n    prompt: prompts/sentiment.prompt.yml\n"
        "    cases: evals/sentiment.yaml\n"
    )
    cases = (
        "# Sentiment cases, kept by hand.\n"
        "- id: happy   # the easy one\n  vars: {text: I love this product}\n  expected: positive\n\n"
        "# Sarcasm is hard.\n- id: sarcasm\n  vars: {text: Oh great, another outage}\n  expected: negative\n"
    )
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit(
        {
            "promptreview.yml": config,
            "prompts/sentiment.prompt.yml": (FIXTURES / "history" / "test_sentiment.yml").read_text(),
            "evals/sentiment.yaml": cases,
        },
        message="sentiment",
    )
    tests = [
        {"vars": {"text": "The update fixed every bug I reported"}, "rule": "positive"},
        {"vars": {"text": "I love this product"}, "rule": "exists already"},
        {"vars": {"text": "Support never answered my ticket"}, "rule": "negative"},
    ]

    def rules_then_tests(body: dict[str, Any]) -> str | None:
        system = next((m["content"] for m in body.get("messages", []) if m.get("role") == "system"), "")
        if "the way PromptPex does" in system:
            return json.dumps({"rules": ["one word"], "inverse_rules": ["more than one word"]})
        if "You write test inputs" in system:
            return json.dumps({"tests": tests})
        return None

    target = repo.path / "evals" / "sentiment.yaml"
    with OpenAIServer(responder=rules_then_tests) as srv:
        res = _generate(capsys, repo.path, srv, "sentiment", "--count", "3", "--out", str(target))
    assert res.code == 0, res.err
    assert "2 new case(s); 1 near-duplicate(s) dropped; 2 generation call(s)" in res.out
    after = target.read_text()
    assert after.startswith(cases)
    new = load_yaml(after, str(target))[2:]
    assert [c["vars"]["text"] for c in new] == [tests[0]["vars"]["text"], tests[2]["vars"]["text"]]
    assert all(c["source"]["from"] == "generated" for c in new)
    assert run_cli(capsys, "validate", "--repo", str(repo.path)).code == 0
    report = compare_with_generated(capsys, repo, {"evals/sentiment.yaml": after}, tmp_path)
    assert report["suites"][0]["added_cases"]["n"] == 2


def test_which_variable_takes_the_question(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several free variables and no cases to tell them apart: the error names them; --var
    picks one, and an unknown name is refused with the list."""
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit(
        {
            "prompts/vars.prompt.yml": (FIXTURES / "template_variables_prompt.yml").read_text(),
            "docs/ml.md": "# ML\n\nIn machine learning, models learn from data.\n",
        },
        message="vars",
    )
    with OpenAIServer(responder=doc_model) as srv:
        res = _generate(
            capsys,
            repo.path,
            srv,
            "prompts/vars.prompt.yml",
            "--from",
            str(repo.path / "docs/ml.md"),
            "--dry-run",
        )
        assert res.code == 2
        assert "say which template variable takes the question with --var NAME" in res.err
        assert "(variables: persona, domain, name, topic, input;" in res.err
        res = _generate(
            capsys,
            repo.path,
            srv,
            "prompts/vars.prompt.yml",
            "--from",
            str(repo.path / "docs/ml.md"),
            "--var",
            "question",
            "--dry-run",
        )
        assert res.code == 2 and "--var question: suite 'prompts/vars.prompt.yml' has no such" in res.err
        args = (
            "prompts/vars.prompt.yml", "--from", str(repo.path / "docs/ml.md"), "--var", "input",
            "--count", "1", "--set", "persona=Ada", "--set", "domain=ML", "--set", "name=Sam",
            "--set", "topic=basics",
            "--out", str(repo.path / "evals" / "new.yaml"),
        )  # fmt: skip
        # The scripted answer says more than this passage does: it is not taken as a reference.
        ungrounded = _generate(capsys, repo.path, srv, *args)
        assert ungrounded.code == 0, ungrounded.err
        assert "0 new case(s)" in ungrounded.out
        assert "unusable pairs dropped: 1 (answer not found in its passage)" in ungrounded.out
        assert not (repo.path / "evals" / "new.yaml").exists()
        (repo.path / "docs" / "ml.md").write_text(f"# ML\n\n{PAIRS['machine learning'][1]}\n")
        ok = _generate(capsys, repo.path, srv, *args)
    assert ok.code == 0, ok.err
    (case,) = load_yaml((repo.path / "evals" / "new.yaml").read_text(), "new.yaml")
    assert case["vars"] == {
        "input": "What does a model learn from in machine learning?",
        "persona": "Ada",
        "domain": "ML",
        "name": "Sam",
        "topic": "basics",
    }


def test_bad_documents_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = example_repo(tmp_path, {"docs/manual.pdf": "%PDF-1.4"})
    with OpenAIServer(responder=doc_model) as srv:
        missing = _generate(
            capsys, repo.path, srv, "support-answers", "--from", str(repo.path / "docs/nope.md")
        )
        assert missing.code == 2 and "docs/nope.md: file not found" in missing.err
        pdf = _generate(
            capsys, repo.path, srv, "support-answers", "--from", str(repo.path / "docs/manual.pdf")
        )
        assert pdf.code == 2 and "reads Markdown (.md), text (.txt, .rst) and HTML (.html) files" in pdf.err
        (repo.path / "docs" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
        bad = _generate(
            capsys, repo.path, srv, "support-answers", "--from", str(repo.path / "docs/latin1.txt")
        )
        assert bad.code == 2 and "docs/latin1.txt: not UTF-8 text" in bad.err
        assert srv.count() == 0


def test_markdown_passages_keep_sections_and_code_blocks(tmp_path: Path) -> None:
    path = tmp_path / "help.md"
    path.write_text(HELP_MD)
    passages = file_passages(path, "help.md")
    assert [(p.heading, p.start, p.end) for p in passages] == [
        ("Acme Cloud help > Exporting data", 8, 14),
        ("Acme Cloud help > Refunds", 18, 24),  # "Refund timing" is short: it joins, titled
    ]
    assert "\n\nRefund timing\nRefunds are available" in passages[1].text
    assert "# this is a shell comment, not a heading" in passages[0].text  # inside the fence
    assert "title:" not in passages[0].text  # front matter is not content


def test_long_text_is_cut_at_sentences(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    sentence = "Each plan renews on the first of the month and is billed in advance. "
    path.write_text(sentence * 60)
    passages = file_passages(path, "long.txt")
    assert len(passages) > 2 and all(len(p.text) <= 1200 for p in passages)
    assert all(p.text.endswith("in advance.") for p in passages)
