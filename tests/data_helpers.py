"""Shared helpers for the data-command tests (cases import, coverage, generate, judge-check):
the bundled example repository as a real git repo, and production log lines rendered from its
templates exactly as the app would have sent them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_harness import run_cli
from repo_builder import RepoBuilder
from servers.openai_server import OpenAIServer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "acme-support" / "base"
SYSTEM = "You are Acme's customer support assistant."
TONE = (EXAMPLE / "prompts" / "partials" / "tone.j2").read_text()


def example_files() -> dict[str, str]:
    return {str(p.relative_to(EXAMPLE)): p.read_text() for p in EXAMPLE.rglob("*") if p.is_file()}


def example_repo(tmp_path: Path, extra: dict[str, str] | None = None) -> RepoBuilder:
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit({**example_files(), **(extra or {})}, message="example")
    return repo


def support_user_message(product: str, question: str) -> str:
    """What prompts/support.md.j2 renders to (the partial inlined), as a production app sent it."""
    return f"{TONE}\nCustomer question about {product}:\n{question}\n\nAnswer the customer helpfully.\n"


def openai_record(product: str, question: str, answer: str = "Sure.", **feedback: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "request": {
            "model": "openai/gpt-4o-mini",
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": support_user_message(product, question)},
            ],
        },
        "response": {"choices": [{"message": {"role": "assistant", "content": answer}}]},
    }
    if feedback:
        rec["feedback"] = feedback
    return rec


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


EXAMPLE_HEAD = EXAMPLE.parent / "head"


def example_pr(tmp_path: Path, config_extra: str = "", extra: dict[str, str] | None = None) -> RepoBuilder:
    """The example as a PR: base on ``main`` (``config_extra`` appended to its support suite), the
    example's head on ``feature``."""
    files = example_files()
    files["promptreview.yml"] += config_extra
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit({**files, **(extra or {})}, message="base")
    head = {str(p.relative_to(EXAMPLE_HEAD)): p.read_text() for p in EXAMPLE_HEAD.rglob("*") if p.is_file()}
    head["promptreview.yml"] += config_extra
    repo.commit(head, message="head", branch="feature")
    return repo


def block(text: str, label: str) -> str:
    """The body of a ``<<LABEL-delim>>`` block in a judge prompt ('' when absent)."""
    import re

    m = re.search(rf"<<{label}-[^>]*>>\n(.*?)\n<</{label}-", text, re.S)
    return m.group(1) if m else ""


def good_wins_judge(body: dict[str, Any]) -> str | None:
    """A deterministic pairwise judge for the loopback server: the answer saying GOOD wins (both
    or neither: tie); a task saying BIASED always gets "A" (a position-biased judge)."""
    msgs = body.get("messages", [])
    system = next((m["content"] for m in msgs if m.get("role") == "system"), "")
    if "comparing two answers" not in system:
        return None
    user = msgs[-1]["content"]
    a, b = block(user, "ANSWER A"), block(user, "ANSWER B")
    if "BIASED" in block(user, "TASK"):
        winner = "A"
    elif ("GOOD" in a) == ("GOOD" in b):
        winner = "tie"
    else:
        winner = "A" if "GOOD" in a else "B"
    return json.dumps({"winner": winner, "reason": f"{winner} by the GOOD rule"})


def compare_with_generated(
    capsys: pytest.CaptureFixture[str], repo: RepoBuilder, files: dict[str, str], tmp_path: Path
) -> dict[str, Any]:
    """Commit the generated files on a branch and review it as a PR would be: the new cases run."""
    repo.commit(files, message="generated cases", branch="generated")
    out = tmp_path / "review.json"
    with OpenAIServer() as srv:
        res = run_cli(
            capsys,
            "compare",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "generated",
            "--base-url",
            srv.base_url,
            "--cache",
            str(tmp_path / "compare.sqlite"),
            "--json",
            str(out),
        )
    assert res.code in (0, 1, 3), res.err
    return json.loads(out.read_text())  # type: ignore[no-any-return]
