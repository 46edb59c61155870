"""The working tree is the PR's too: nothing in the checkout can supply answers, verdicts or reports.

These run the real action (``python -m promptreview action``) with the PR's files checked out in
the workspace, as a ``pull_request`` job's merge commit has them, against the loopback GitHub and
OpenAI servers (the harness is ``test_action_e2e.Project``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from promptreview.review import ReviewOptions, review
from repo_builder import RepoBuilder, run_git
from servers.github_server import GitHubServer
from servers.openai_server import OpenAIServer
from test_action_e2e import API_KEY, BASE_FILES, PR, REPO, Project, _contract_clean, make_project

__all__ = ["_contract_clean"]  # the autouse fixture: no request to the fake GitHub broke its contract

JUDGED_CONFIG = """\
version: 1
defaults:
  model: openai/gpt-4o-mini
suites:
  greet:
    prompt: prompts/greet.txt
    cases: evals/greet.yaml
    compare: {criteria: "greets the named person"}
    metrics:
      - contains: "{{ vars.name }}"
    gate: {margin: 0.5}
"""
CASES = "".join(f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(8))
# The loopback model echoes the prompt: head's answers lose the name, so the honest review fails.
HEAD = {"prompts/greet.txt": "Say hello politely to case {{ vars.name[-1] }}."}


def _segments(body: dict[str, Any]) -> tuple[str, str] | None:
    """The two answers a judge request shows, or None for an answer request."""
    messages = body.get("messages") or []
    if not messages or not str(messages[0].get("content", "")).startswith("You are an impartial judge"):
        return None
    user = str(messages[1]["content"])
    first = user.split("ANSWER A", 1)[1].split("ANSWER B", 1)[0]
    second = user.split("ANSWER B", 1)[1]
    return first, second


def honest(body: dict[str, Any]) -> str | None:
    """The model's own answers (the server's echo) and a judge that prefers the answer naming the person."""
    answers = _segments(body)
    if answers is None:
        return None
    a, b = ("Person" in text for text in answers)
    winner = "A" if a and not b else "B" if b and not a else "tie"
    return json.dumps({"winner": winner, "reason": "it names the person"})


def lying(body: dict[str, Any]) -> str | None:
    """What an attacker stores: head answers that name the person, and a judge that prefers them."""
    answers = _segments(body)
    if answers is None:
        user = str(body["messages"][-1]["content"])
        if "politely to case" in user:
            return f"Hello Person{user.rstrip('.').split()[-1]}!"
        return None
    a, _ = ("Hello Person" in text for text in answers)
    return json.dumps({"winner": "A" if a else "B", "reason": "much warmer"})


def poisoned_project(tmp_path: Path, github: GitHubServer, openai: OpenAIServer) -> Project:
    """A PR whose head breaks the prompt and commits `.promptreview/cache.sqlite` with the answers
    and judge verdicts that would make it pass, made by the real engine against a lying model."""
    origin = RepoBuilder.init(tmp_path / "origin")
    base = origin.commit({**BASE_FILES, "promptreview.yml": JUDGED_CONFIG, "evals/greet.yaml": CASES})
    head = origin.commit(HEAD, branch="feature", message="Edit the prompt")
    github.add_repo(REPO)
    github.add_pull(REPO, head_sha=head, base_sha=base, number=PR, head_ref="feature")
    project = Project(tmp_path, github, openai, origin, base, head)
    poison = tmp_path / "poison.sqlite"
    openai.responder = lying
    options = ReviewOptions(cache_path=str(poison), base_url=openai.base_url, api_key=API_KEY)
    lied = review(project.origin.path, project.base, project.head, options)
    assert lied.verdict.verdict == "pass"  # the poison works: served from a cache, it passes
    openai.responder = honest
    openai.reset()
    project.push({".promptreview/cache.sqlite": poison.read_bytes()})
    return project


def test_a_cache_committed_in_the_pr_supplies_no_answers_and_no_judge_verdicts(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = poisoned_project(tmp_path, fake_github, fake_openai)

    run = project.run("pull_request", project.pull_request_event(), checkout="feature")

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "fail" and run.outputs["conclusion"] == "failure"
    # Every answer and every judge verdict came from the model: 8 cases x 2 versions, 8 x 2 orders.
    assert fake_openai.count() == 32
    assert "::warning::promptreview: `.promptreview/` is committed in the checkout" in run.stdout
    (comment,) = project.bot_comments()
    assert "Prompt review: fail" in comment.body
    assert "is committed in the checkout" in comment.body and "read nothing from it" in comment.body
    assert run.outputs["report-path"] == "" and run.outputs["json-path"] == ""
    (check,) = project.github.check_runs(REPO, head_sha=project.head)
    assert check.conclusion == "failure"


def test_the_same_pr_without_the_poisoned_cache_reaches_the_same_verdict(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = poisoned_project(tmp_path, fake_github, fake_openai)
    project.push({".promptreview/cache.sqlite": None})

    run = project.run("pull_request", project.pull_request_event(), checkout="feature")

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "fail"
    assert fake_openai.count() == 32
    assert "is committed in the checkout" not in run.log
    assert run.outputs["report-path"] == ".promptreview/report.html"


def test_answers_are_cached_outside_the_workspace_where_a_later_run_finds_them(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = make_project(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": "Hi {{ vars.name }}!"})
    home = tmp_path / "runner-temp" / "_github_home"  # what the runner mounts as the container's $HOME
    home.mkdir(parents=True)
    project.env["HOME"] = str(home)

    first = project.run("pull_request", project.pull_request_event(), checkout="feature")
    second = project.run("pull_request", project.pull_request_event("synchronize"), checkout="feature")

    assert first.returncode == 0 and second.returncode == 0, first.log + second.log
    assert (home / "promptreview" / "cache.sqlite").is_file()
    assert fake_openai.count() == 10  # the second run was answered from the trusted cache
    assert not (tmp_path / "step1" / "workspace" / ".promptreview" / "cache.sqlite").exists()
    assert (tmp_path / "step1" / "workspace" / ".promptreview" / "report.json").is_file()


def test_a_symlinked_promptreview_folder_is_refused_and_nothing_is_written_through_it(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    project = make_project(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": "Say hello politely."})
    os.symlink(outside, project.origin.path / ".promptreview")
    run_git(project.origin.path, "add", ".promptreview")
    project.push({})

    run = project.run("pull_request", project.pull_request_event(), checkout="feature")

    assert run.returncode == 1, run.log  # the verdict the broken prompt gets anyway
    assert run.outputs["verdict"] == "fail"
    assert fake_openai.count() == 6  # 5 base answers, and head's one prompt (identical for every case)
    assert "::warning::promptreview: `.promptreview` in the checkout is a symlink" in run.stdout
    assert list(outside.iterdir()) == []
    (comment,) = project.bot_comments()
    assert "is a symlink" in comment.body
    assert len(fake_github.comments(REPO, PR)) == 1


def test_a_key_echoed_by_the_model_is_in_neither_the_trusted_cache_nor_the_report_files(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = make_project(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": "Hi {{ vars.name }}!"})
    home = tmp_path / "home"
    home.mkdir()
    project.env["HOME"] = str(home)
    fake_openai.responder = lambda body: f"Hi! (debug: key={API_KEY})"

    run = project.run("pull_request", project.pull_request_event(), checkout="feature")

    cache_files = list((home / "promptreview").glob("cache.sqlite*"))
    assert cache_files, run.log
    reports = list((tmp_path / "step1" / "workspace" / ".promptreview").glob("report.*"))
    assert len(reports) == 2
    stored = b"".join(p.read_bytes() for p in (*cache_files, *reports))
    assert b"key=***" in stored
    assert API_KEY.encode() not in stored


def test_a_malformed_event_payload_is_one_line_naming_the_field_not_an_internal_error(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = make_project(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": "Hi {{ vars.name }}!"})
    payload = project.pull_request_event()
    payload["pull_request"]["head"] = project.head  # a string where GitHub sends an object

    run = project.run("pull_request", payload)

    assert run.returncode == 2
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error::")]
    assert errors == [
        "::error::promptreview: malformed event payload: `pull_request.head` is a str, GitHub sends an object"
    ]
    assert "internal error" not in run.log and fake_openai.count() == 0
