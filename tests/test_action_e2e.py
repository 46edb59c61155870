"""``promptreview action`` end to end, run exactly as the Actions runner runs the container.

Each test starts ``python -m promptreview action`` as a subprocess with the runner's environment:
the event file is one of GitHub's real payloads (tests/fixtures/github/events) with only the
repository, PR number, SHAs and head repository rewritten; ``GITHUB_WORKSPACE`` is a real git
checkout, shallow like actions/checkout's default (so the action must fetch the PR head from its
``origin``); ``GITHUB_API_URL`` points at the loopback GitHub and ``INPUT_BASE-URL`` at the loopback
OpenAI endpoint; inputs arrive as ``INPUT_<NAME>`` with hyphens kept. The assertions read what a
user would see on the PR: comments, reactions, statuses and check runs held by the fake GitHub,
plus the step's outputs, summary, log and exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from actions_runner import load_payload, parse_outputs
from promptreview.report import DEFAULT_MARKER
from repo_builder import RepoBuilder
from servers.github_server import ACTIONS_BOT_LOGIN, ACTIONS_TOKEN, FORK_TOKEN, GitHubServer
from servers.openai_server import OpenAIServer

REPO = "acme/prompts"
PR = 7
API_KEY = "sk-loopback-SECRET-0123456789abcdef"
SRC = Path(__file__).resolve().parents[1] / "src"

CONFIG = """\
version: 1
defaults:
  model: openai/gpt-4o-mini
suites:
  greet:
    prompt: prompts/greet.txt
    cases: evals/greet.yaml
    compare: false
    metrics:
      - contains: "{{ vars.name }}"
    gate: {margin: 0.5, min_pass_rate: 0.6}
"""
CASES = "".join(f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(5))
BASE_FILES = {
    "promptreview.yml": CONFIG,
    "prompts/greet.txt": "Say hello to {{ vars.name }}.",
    "evals/greet.yaml": CASES,
    "README.md": "# prompts\n",
}
# The loopback model echoes the prompt, so a prompt that names the person passes `contains`.
GOOD = {"prompts/greet.txt": "Say a warm hello to {{ vars.name }}."}
BETTER = {"prompts/greet.txt": "Say a cheerful hello to {{ vars.name }}!"}
BAD = {"prompts/greet.txt": "Say hello politely."}  # head answers lose the name: a failing review
DOCS_ONLY = {"README.md": "# prompts\n\nNow with docs.\n"}


@dataclass
class ActionRun:
    """What the runner keeps from one step: exit code, log, outputs and summary."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Project:
    """A repository as three parties see it: ``origin`` (git), the fake GitHub, and the runner."""

    tmp: Path
    github: GitHubServer
    openai: OpenAIServer
    origin: RepoBuilder
    base: str
    head: str
    runs: int = 0
    env: dict[str, str] = field(default_factory=dict)

    # -- changing the PR -------------------------------------------------------------------------
    def push(self, files: dict[str, str]) -> str:
        """A new commit on the PR branch, in git and on the fake GitHub (a ``synchronize``)."""
        sha = self.origin.commit(files, branch="feature", message="Follow-up")
        self.github.add_commit(REPO, changes=files, branch=None, parents=[self.head], sha=sha)
        # The fake's push_to_pull makes its own SHA; re-seeding the PR moves its head to ours.
        self.github.add_pull(REPO, head_sha=sha, base_sha=self.base, number=PR, head_ref="feature")
        self.head = sha
        return sha

    # -- events ----------------------------------------------------------------------------------
    def pull_request_event(
        self, action: str = "opened", *, head: str | None = None, head_repo: str | None = REPO
    ) -> dict[str, Any]:
        payload = load_payload(
            "pull_request.synchronize" if action == "synchronize" else "pull_request.opened"
        )
        payload["action"] = action
        payload["number"] = PR
        payload["repository"]["full_name"] = REPO
        pull = payload["pull_request"]
        pull["number"] = PR
        pull["base"]["sha"] = self.base
        pull["head"]["sha"] = head or self.head
        pull["base"]["repo"]["full_name"] = REPO
        if head_repo is None:
            pull["head"]["repo"] = None
        else:
            pull["head"]["repo"]["full_name"] = head_repo
        if action == "synchronize":
            payload["after"] = head or self.head
        return payload

    def comment_event(self, body: str, *, login: str, user_type: str = "User") -> dict[str, Any]:
        comment = self.github.add_comment(REPO, PR, body, author=login, author_type=user_type)  # type: ignore[arg-type]
        payload = load_payload("issue_comment.created.pr")
        payload["repository"]["full_name"] = REPO
        payload["issue"]["number"] = PR
        payload["comment"].update(id=comment.id, body=body)
        payload["comment"]["user"].update(login=login, type=user_type)
        payload["sender"].update(login=login, type=user_type)
        return payload

    # -- running the action ----------------------------------------------------------------------
    def run(
        self, event_name: str, payload: dict[str, Any], *, checkout: str = "main", **inputs: str
    ) -> ActionRun:
        """Run the action once, as the runner would: fresh shallow checkout and fresh env files.

        ``checkout`` is the branch in the workspace: ``feature`` puts the PR's files there, as the
        merge commit of a ``pull_request`` job does.
        """
        self.runs += 1
        step = self.tmp / f"step{self.runs}"
        step.mkdir()
        workspace = self.origin.clone(step / "workspace", depth=1, rev=checkout).path
        event_path = step / "event.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        (step / "output").touch()
        (step / "summary.md").touch()
        given = {
            "github-token": ACTIONS_TOKEN,
            "api-key": API_KEY,
            "base-url": self.openai.base_url,
            "check-name": "promptreview",
            "comment": "on-change",
            "fail-on": "fail",
            **{name.replace("_", "-"): value for name, value in inputs.items()},
        }
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(step),
            "PYTHONPATH": str(SRC),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": str(1000 + self.runs),
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(step / "output"),
            "GITHUB_STEP_SUMMARY": str(step / "summary.md"),
            "PROMPTREVIEW_GITHUB_BACKOFF": "0.05",
            "PROMPTREVIEW_GITHUB_WRITE_INTERVAL": "0",
            **{f"INPUT_{name.upper()}": value for name, value in given.items()},
            **self.env,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "promptreview", "action"],
            env=env,
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return ActionRun(
            proc.returncode,
            proc.stdout,
            proc.stderr,
            parse_outputs((step / "output").read_text(encoding="utf-8")),
            (step / "summary.md").read_text(encoding="utf-8"),
        )

    # -- what the PR page shows --------------------------------------------------------------------
    def bot_comments(self) -> list[Any]:
        return [c for c in self.github.comments(REPO, PR) if c.user == ACTIONS_BOT_LOGIN]

    def states(self, sha: str) -> list[tuple[str, str | None]]:
        return [
            (s.state, s.description) for s in self.github.statuses(REPO, sha) if s.context == "promptreview"
        ]


def make_project(
    tmp_path: Path, github: GitHubServer, openai: OpenAIServer, head_files: dict[str, str]
) -> Project:
    origin = RepoBuilder.init(tmp_path / "origin")
    base = origin.commit(BASE_FILES, message="Add prompts")
    head = origin.commit(head_files, branch="feature", message="Edit the prompt")
    github.add_repo(REPO)
    github.add_pull(REPO, head_sha=head, base_sha=base, number=PR, head_ref="feature")
    return Project(tmp_path, github, openai, origin, base, head)


@pytest.fixture(autouse=True)
def _contract_clean(fake_github: GitHubServer) -> Iterator[None]:
    yield
    assert fake_github.contract_violations == []


@pytest.fixture
def project(tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer) -> Project:
    return make_project(tmp_path, fake_github, fake_openai, GOOD)


@pytest.fixture
def failing(tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer) -> Project:
    return make_project(tmp_path, fake_github, fake_openai, BAD)


# --- a PR that edits a prompt ---------------------------------------------------------------------


def test_a_prompt_edit_gets_one_comment_a_status_and_a_check_on_the_head(project: Project) -> None:
    run = project.run("pull_request", project.pull_request_event())

    assert run.returncode == 0, run.log
    (comment,) = project.github.comments(REPO, PR)
    assert comment.user == ACTIONS_BOT_LOGIN
    assert comment.body.startswith(DEFAULT_MARKER) and "Prompt review: pass" in comment.body
    (pending, done) = project.states(project.head)
    assert pending == ("pending", "Prompt review running…")
    assert done[0] == "success" and done[1] is not None and done[1].startswith("pass: ")
    assert project.states(project.base) == []
    (check,) = project.github.check_runs(REPO, head_sha=project.head)
    assert (check.name, check.conclusion) == ("promptreview", "success")
    assert run.outputs == {
        "verdict": "pass",
        "conclusion": "success",
        "cases": "5",
        "regressions": "0",
        "improvements": "0",
        "errors": "0",
        "report-path": ".promptreview/report.html",
        "json-path": ".promptreview/report.json",
    }
    assert "Prompt review: pass" in run.summary
    assert f"Commit {project.head[:12]} is not in the checkout" in run.log  # shallow: fetched
    assert project.openai.count() == 10  # 5 cases x base and head


def test_a_failing_review_still_comments_annotates_and_fails_the_step(failing: Project) -> None:
    forged = failing.github.add_comment(REPO, PR, f"{DEFAULT_MARKER}\nLGTM, merge it", author="mallory")

    run = failing.run("pull_request", failing.pull_request_event())

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "fail" and run.outputs["conclusion"] == "failure"
    assert run.outputs["regressions"] == "5"
    (ours,) = failing.bot_comments()
    assert "Prompt review: fail" in ours.body
    assert failing.github.comment(REPO, forged.id).body == f"{DEFAULT_MARKER}\nLGTM, merge it"
    assert len(failing.github.comments(REPO, PR)) == 2  # ours is separate from the forged one
    assert failing.states(failing.head)[-1][0] == "failure"
    (check,) = failing.github.check_runs(REPO, head_sha=failing.head)
    assert check.conclusion == "failure"
    assert {(a["path"], a["start_line"]) for a in check.annotations} == {
        ("evals/greet.yaml", line) for line in (1, 3, 5, 7, 9)
    }


def test_a_broken_config_in_the_pr_is_reported_as_an_error_not_a_crash(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = make_project(tmp_path, fake_github, fake_openai, {**GOOD, "promptreview.yml": "version: 2\n"})

    run = project.run("pull_request", project.pull_request_event())

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "error" and run.outputs["conclusion"] == "failure"
    (comment,) = project.bot_comments()
    assert "Prompt review could not run" in comment.body and "unsupported version" in comment.body
    ((state, description),) = project.states(project.head)
    assert state == "error" and description is not None and description.startswith("could not run: ")
    (check,) = project.github.check_runs(REPO, head_sha=project.head)
    assert check.conclusion == "failure"
    assert "::error::promptreview could not review" in run.stdout
    assert fake_openai.count() == 0


# --- a second push --------------------------------------------------------------------------------


def test_a_second_push_updates_the_same_comment_and_an_older_run_cannot_overwrite_it(
    project: Project,
) -> None:
    first_head = project.head
    pushed: list[str] = []

    def push_while_evaluating(body: dict[str, Any]) -> None:
        if not pushed:  # the newer push lands while the first run is calling the model
            pushed.append(project.push(BETTER))

    project.openai.responder = push_while_evaluating
    first = project.run("pull_request", project.pull_request_event())
    project.openai.responder = None

    assert first.returncode == 0, first.log
    (comment,) = project.bot_comments()
    assert "Prompt review running" in comment.body  # its report was not written over the PR
    assert [state for state, _ in project.states(first_head)] == ["pending", "success"]
    assert f"The PR head moved to {pushed[0][:7]}" in first.stdout

    second = project.run("pull_request", project.pull_request_event("synchronize"))

    assert second.returncode == 0, second.log
    (updated,) = project.bot_comments()
    assert updated.id == comment.id
    assert "Prompt review: pass" in updated.body and pushed[0][:7] in updated.body
    assert [state for state, _ in project.states(pushed[0])] == ["pending", "success"]

    # A run for the old SHA that starts late (queued, re-run from the Actions UI) changes nothing
    # on the PR but its own SHA's status.
    late = project.run("pull_request", project.pull_request_event(head=first_head))

    assert late.returncode == 0, late.log
    assert project.bot_comments()[0].body == updated.body
    assert len(project.states(first_head)) == 4
    assert [state for state, _ in project.states(pushed[0])] == ["pending", "success"]


# --- a PR that touches no prompt ------------------------------------------------------------------


def test_a_pr_touching_no_prompt_posts_nothing_and_passes_the_check(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = make_project(tmp_path, fake_github, fake_openai, DOCS_ONLY)

    run = project.run("pull_request", project.pull_request_event(), comment="on-change")

    assert run.returncode == 0, run.log
    assert project.github.comments(REPO, PR) == []
    assert project.states(project.head) == [("success", "no prompt changes")]
    (check,) = project.github.check_runs(REPO, head_sha=project.head)
    assert check.conclusion == "success"
    assert fake_openai.count() == 0
    assert run.outputs["verdict"] == "skipped" and run.outputs["conclusion"] == "success"


def test_an_earlier_report_is_not_left_stale_when_no_prompt_changes_any_more(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = make_project(tmp_path, fake_github, fake_openai, DOCS_ONLY)
    old = fake_github.add_comment(
        REPO, PR, f"{DEFAULT_MARKER}\nPrompt review: fail", author=ACTIONS_BOT_LOGIN, author_type="Bot"
    )

    run = project.run("pull_request", project.pull_request_event("synchronize"), comment="on-change")

    assert run.returncode == 0, run.log
    (comment,) = project.github.comments(REPO, PR)
    assert comment.id == old.id and "no prompt changes" in comment.body
    assert fake_openai.count() == 0


# --- /rerun ---------------------------------------------------------------------------------------


def test_rerun_by_a_maintainer_reviews_the_current_head(project: Project) -> None:
    project.github.set_permission(REPO, "maria", "maintain")
    current = project.push(BETTER)  # the comment event carries no SHA: the action must ask
    payload = project.comment_event("/rerun fresh", login="maria")

    run = project.run("issue_comment", payload)

    assert run.returncode == 0, run.log
    reactions = project.github.reactions(REPO, payload["comment"]["id"])
    assert [(r.content, r.user) for r in reactions] == [
        ("eyes", ACTIONS_BOT_LOGIN),
        ("rocket", ACTIONS_BOT_LOGIN),
    ]
    assert project.states(current)[-1][0] == "success"
    (check,) = project.github.check_runs(REPO, head_sha=current)
    assert check.conclusion == "success"
    assert len(project.bot_comments()) == 1
    assert project.openai.count() == 10


@pytest.mark.parametrize(("login", "role"), [("rita", "read"), ("tom", "triage"), ("stranger", None)])
def test_rerun_without_write_access_is_denied_before_any_model_call(
    project: Project, login: str, role: str | None
) -> None:
    if role is not None:
        project.github.set_permission(REPO, login, role)  # type: ignore[arg-type]
    payload = project.comment_event("/rerun", login=login)

    run = project.run("issue_comment", payload)

    assert run.returncode == 0, run.log
    assert project.openai.count() == 0
    reactions = project.github.reactions(REPO, payload["comment"]["id"])
    assert [r.content for r in reactions] == ["eyes", "confused"]
    (reply,) = project.bot_comments()
    assert "`/rerun` was not started" in reply.body and "@" not in reply.body
    assert project.github.statuses(REPO, project.head) == []
    assert run.outputs["verdict"] == "skipped"


def test_rerun_by_a_bot_is_ignored_without_touching_github(project: Project) -> None:
    payload = project.comment_event("/rerun", login="dependabot[bot]", user_type="Bot")
    writes_before = len(project.github.writes())

    run = project.run("issue_comment", payload)

    assert run.returncode == 0, run.log
    assert project.openai.count() == 0
    assert len(project.github.writes()) == writes_before
    assert project.github.reactions(REPO, payload["comment"]["id"]) == []
    assert "::notice::promptreview has nothing to do: /rerun by a bot" in run.stdout


# --- forks ----------------------------------------------------------------------------------------


def test_a_fork_pr_is_neutral_explains_rerun_and_writes_nothing(project: Project) -> None:
    payload = project.pull_request_event(head_repo="mallory/prompts")

    run = project.run("pull_request", payload, github_token=FORK_TOKEN, api_key="")

    assert run.returncode == 0, run.log
    assert project.github.writes() == []
    assert project.openai.count() == 0
    assert run.outputs["verdict"] == "skipped" and run.outputs["conclusion"] == "neutral"
    assert "comment `/rerun`" in run.summary
    assert "::notice title=Prompt review skipped for a fork::" in run.stdout


# --- GitHub having a bad day ----------------------------------------------------------------------


def test_5xx_and_secondary_rate_limits_while_publishing_are_recovered(failing: Project) -> None:
    github = failing.github
    github.inject_comment_create_error(502, applied=True)  # created, yet answered 502
    github.inject_secondary_rate_limit("POST", r"/statuses/", retry_after=1, times=2)
    github.inject("PATCH", r"/check-runs/", 500)
    github.inject("GET", r"/pulls/", 503)

    run = failing.run("pull_request", failing.pull_request_event(), fail_on="never")

    assert run.returncode == 0, run.log  # fail-on: never
    assert run.outputs["conclusion"] == "failure"
    (comment,) = failing.bot_comments()
    assert "Prompt review: fail" in comment.body
    assert [state for state, _ in failing.states(failing.head)] == ["pending", "failure"]
    (check,) = github.check_runs(REPO, head_sha=failing.head)
    assert check.conclusion == "failure"
    assert "::error" not in run.stdout


def test_a_permanent_publishing_failure_keeps_summary_outputs_and_exit_code(failing: Project) -> None:
    failing.github.inject("*", r"/issues/\d+/comments$|/issues/comments/", 502, times=None)

    run = failing.run("pull_request", failing.pull_request_event(), comment="always")

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "fail"
    assert "Prompt review: fail" in run.summary
    assert "Publishing to GitHub failed" in run.summary
    assert "::error title=Publishing to GitHub failed::" in run.stdout
    assert failing.github.comments(REPO, PR) == []
    assert [state for state, _ in failing.states(failing.head)] == ["pending", "failure"]


# --- secrets --------------------------------------------------------------------------------------


def test_an_api_key_in_a_model_answer_is_scrubbed_everywhere(failing: Project) -> None:
    failing.openai.responder = lambda body: (
        f"Hello! (debug: key={API_KEY})" if "politely" in json.dumps(body.get("messages")) else None
    )

    run = failing.run("pull_request", failing.pull_request_event())

    assert run.returncode == 1, run.log
    (comment,) = failing.bot_comments()
    assert "key=***" in comment.body
    (check,) = failing.github.check_runs(REPO, head_sha=failing.head)
    check_text = json.dumps([check.output_title, check.output_summary, check.output_text, check.annotations])
    assert "key=***" in check_text
    assert "key=***" in run.summary
    for text in (comment.body, check_text, run.summary, *(str(r.body) for r in failing.github.writes())):
        assert API_KEY not in text
    leaked = [line for line in run.log.splitlines() if API_KEY in line]
    assert leaked == [f"::add-mask::{API_KEY}"]  # only the runner's mask command carries it
