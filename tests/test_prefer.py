"""People settle what the judge can't: ``/prefer head|base CASE`` and ``/tie CASE`` on the PR
(the action, run as the runner runs it, against the loopback GitHub and model servers), and
``compare --prefer CASE=head`` locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_harness import run_cli
from data_helpers import block
from promptreview.github.event import PreferCommand, parse_event, parse_prefer
from repo_builder import RepoBuilder
from servers.github_server import ACTIONS_BOT_LOGIN, GitHubServer
from servers.openai_server import OpenAIServer
from test_action_e2e import PR, REPO, Project

CONFIG = """\
version: 1
suites:
  greet:
    prompt: prompts/greet.txt
    cases: evals/greet.yaml
    metrics:
      - contains: "{{ vars.name }}"
    compare: {criteria: "friendly"}
    gate: {margin: 0.5}
"""
CASES = "".join(f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(5))


def judge_or_echo(body: dict[str, Any]) -> str | None:
    """The judge calls every pair a tie (so only people can break one); answers echo the prompt."""
    msgs = body.get("messages", [])
    system = next((m["content"] for m in msgs if m.get("role") == "system"), "")
    if "comparing two answers" in system:
        return json.dumps({"winner": "tie", "reason": "equally friendly"})
    return None


@pytest.fixture
def model() -> OpenAIServer:
    with OpenAIServer(responder=judge_or_echo) as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def project(tmp_path: Path, fake_github: GitHubServer, model: OpenAIServer) -> Project:
    origin = RepoBuilder.init(tmp_path / "origin")
    base = origin.commit({"promptreview.yml": CONFIG, "prompts/greet.txt": "Say hello to {{ vars.name }}.",
                          "evals/greet.yaml": CASES})
    head = origin.commit({"prompts/greet.txt": "Say a warm hello to {{ vars.name }}."}, branch="feature")
    fake_github.add_repo(REPO)
    fake_github.add_pull(REPO, head_sha=head, base_sha=base, number=PR, head_ref="feature")
    p = Project(tmp_path, fake_github, model, origin, base, head)
    p.env = {"HOME": str(tmp_path / "home")}  # the runner's cache survives between jobs
    (tmp_path / "home").mkdir()
    return p


def _comment(project: Project) -> str:
    (comment,) = [c for c in project.bot_comments() if "promptreview" in c.body and "Prompt review" in c.body]
    return comment.body


def test_a_maintainers_prefer_changes_the_case_and_the_tally_without_model_calls(project: Project) -> None:
    first = project.run("pull_request", project.pull_request_event())
    assert first.returncode == 0, first.log
    assert "0 / 5 / 0" in _comment(project)  # the judge called every case a tie
    calls = project.openai.count()

    project.github.set_permission(REPO, "maria", "maintain")
    body = "Read both answers.\n/prefer head c1\n/tie c2\n/prefer base c3\n"
    payload = project.comment_event(body, login="maria")
    run = project.run("issue_comment", payload)

    assert run.returncode == 0, run.log
    assert project.openai.count() == calls  # recomputed from the cache: no new model call
    text = _comment(project).replace("\\", "")
    assert "1 / 3 / 1" in text  # c1 now a win for head, c3 a loss
    assert ("Settled by a person, replacing the judge: <code>c1</code> → head by <code>maria</code> "
            "(the judge said tie); <code>c2</code> → tie by <code>maria</code>; <code>c3</code> → base by "
            "<code>maria</code> (the judge said tie).") in text
    reactions = project.github.reactions(REPO, payload["comment"]["id"])
    bot = ACTIONS_BOT_LOGIN
    assert [(r.content, r.user) for r in reactions] == [("eyes", bot), ("rocket", bot)]
    assert len(project.bot_comments()) == 1  # the same sticky comment, updated

    # A later push keeps the settled verdicts (they are read from the PR's comments every run).
    project.push({"prompts/greet.txt": "Say a cheerful hello to {{ vars.name }}!"})
    again = project.run("pull_request", project.pull_request_event("synchronize"))
    assert again.returncode == 0, again.log
    assert "1 / 3 / 1" in _comment(project)


@pytest.mark.parametrize(("login", "role"), [("rita", "read"), ("stranger", None)])
def test_prefer_without_write_access_is_denied_and_changes_nothing(
    project: Project, login: str, role: str | None
) -> None:
    project.run("pull_request", project.pull_request_event())
    before = _comment(project)
    if role is not None:
        project.github.set_permission(REPO, login, role)  # type: ignore[arg-type]
    payload = project.comment_event("/prefer head c1", login=login)
    calls = project.openai.count()

    run = project.run("issue_comment", payload)

    assert run.returncode == 0, run.log
    assert project.openai.count() == calls
    reactions = project.github.reactions(REPO, payload["comment"]["id"])
    assert [r.content for r in reactions] == ["eyes", "confused"]
    replies = [c.body for c in project.bot_comments() if "prefer-denied" in c.body]
    assert len(replies) == 1 and "were not applied" in replies[0] and "@" not in replies[0]
    assert _comment(project) == before
    # And a later review does not pick the denied verdict up either.
    project.run("pull_request", project.pull_request_event("synchronize"))
    assert "Settled by a person" not in _comment(project)


def test_prefer_parsing() -> None:
    assert parse_prefer("/prefer head c1\nwhy: clearer\n  /tie  greet:c2  \n/prefer sideways c3\n") == (
        ("c1", "head"), ("greet:c2", "tie"))
    payload = {"action": "created", "issue": {"number": 3, "pull_request": {"html_url": "u"}},
               "comment": {"id": 9, "body": "/prefer base x", "user": {"login": "bot[bot]", "type": "Bot"}},
               "repository": {"full_name": "o/r"}}
    assert "by a bot" in parse_event("issue_comment", payload).reason  # type: ignore[union-attr]
    payload["comment"]["user"] = {"login": "maria", "type": "User"}  # type: ignore[index]
    cmd = parse_event("issue_comment", payload)
    assert cmd == PreferCommand("o/r", 3, 9, "maria", (("x", "base"),), "u")


def test_compare_prefer_locally(
    tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str], cli_env: None
) -> None:
    from cli_harness import API_KEY  # noqa: F401  (the cli_env fixture sets it)

    origin = RepoBuilder.init(tmp_path / "repo")
    origin.commit({"promptreview.yml": CONFIG, "prompts/greet.txt": "Say hello to {{ vars.name }}.",
                   "evals/greet.yaml": CASES})
    origin.commit({"prompts/greet.txt": "Say a warm hello to {{ vars.name }}."}, branch="feature")
    args = ("compare", "--repo", str(origin.path), "--base", "main", "--head", "feature", "--comment",
            "--base-url", model.base_url, "--cache", str(tmp_path / "c.sqlite"))
    plain = run_cli(capsys, *args)
    assert "0 / 5 / 0" in plain.out
    calls = model.count()
    settled = run_cli(capsys, *args, "--prefer", "c0=head", "--prefer", "greet:c4=head")
    assert "2 / 3 / 0" in settled.out
    assert model.count() == calls
    bad = run_cli(capsys, *args, "--prefer", "c0=better")
    assert bad.code == 2 and "--prefer takes CASE=head" in bad.err


def test_worth_a_human_look_lists_inconsistent_judgements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cli_env: None
) -> None:
    def biased(body: dict[str, Any]) -> str | None:  # a judge that always picks the first answer
        msgs = body.get("messages", [])
        if "comparing two answers" in next((m["content"] for m in msgs if m.get("role") == "system"), ""):
            return json.dumps({"winner": "A" if "Person1" in block(msgs[-1]["content"], "TASK") else "tie"})
        return None

    origin = RepoBuilder.init(tmp_path / "repo")
    origin.commit({"promptreview.yml": CONFIG, "prompts/greet.txt": "Say hello to {{ vars.name }}.",
                   "evals/greet.yaml": CASES})
    origin.commit({"prompts/greet.txt": "Say a warm hello to {{ vars.name }}."}, branch="feature")
    with OpenAIServer(responder=biased) as srv:
        res = run_cli(capsys, "compare", "--repo", str(origin.path), "--base", "main", "--head", "feature",
                      "--comment", "--base-url", srv.base_url, "--cache", str(tmp_path / "c.sqlite"))
    text = res.out.replace("\\", "")
    assert "Worth a human look: <code>c1</code> (the judge's two orders disagreed)." in text
    assert "/prefer head CASE" in text


def test_prefer_verdicts_export_into_the_labels_file(
    tmp_path: Path, model: OpenAIServer, capsys: pytest.CaptureFixture[str], cli_env: None
) -> None:
    origin = RepoBuilder.init(tmp_path / "repo")
    origin.commit({"promptreview.yml": CONFIG, "prompts/greet.txt": "Say hello to {{ vars.name }}.",
                   "evals/greet.yaml": CASES})
    origin.commit({"prompts/greet.txt": "Say a warm hello to {{ vars.name }}."}, branch="feature")
    review_json = tmp_path / "review.json"
    res = run_cli(capsys, "compare", "--repo", str(origin.path), "--base", "main", "--head", "feature",
                  "--base-url", model.base_url, "--cache", str(tmp_path / "c.sqlite"),
                  "--json", str(review_json), "--prefer", "c1=head", "--prefer", "c2=base")
    assert res.code in (0, 1, 3), res.err
    labels = origin.path / "evals" / "labels.jsonl"
    exported = run_cli(capsys, "cases", "import", str(review_json), "--repo", str(origin.path))
    assert exported.code == 0, exported.err
    assert "2 labelled pair(s) from people's /prefer and /tie verdicts appended to" in exported.out
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [r["preference"] for r in rows] == ["b", "a"]
    assert "Person1" in rows[0]["task"] and "warm" in rows[0]["b"] and "warm" not in rows[0]["a"]
    again = run_cli(capsys, "cases", "import", str(review_json), "--repo", str(origin.path))
    assert "0 labelled pair(s)" in again.out and "(2 already there)" in again.out
    # The labels file is what judge-check reads: the tie-only judge disagrees with both people.
    check = run_cli(capsys, "judge-check", "--repo", str(origin.path), "--base-url", model.base_url,
                    "--cache", str(tmp_path / "c.sqlite"))
    assert "judge agrees with your labels 0% (n=2, 0 of 2)" in check.out
