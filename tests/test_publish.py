"""The publish stage and its seams, against the loopback GitHub (real HTTP, GitHub's contract).

What a user sees on the PR is asserted from the server's state (comments, statuses, check runs);
the log is asserted for what the runner would read as workflow commands.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from actions_runner import parse_outputs, runner_commands
from promptreview.github.api import GitHubApi, GitHubError, RetryPolicy
from promptreview.github.publish import (
    DEFAULT_MARKER,
    Outcome,
    Publisher,
    fit_description,
    identify_bot,
    sticky_marker,
)
from promptreview.github.rerun import authorize
from promptreview.github.workflow_log import (
    WorkflowLog,
    escape_data,
    escape_property,
    format_outputs,
    write_outputs,
    write_step_summary,
)
from servers.github_server import ACTIONS_BOT_LOGIN, ACTIONS_TOKEN, USER_TOKEN, GitHubServer

REPO = "acme/prompts"
SECRET = "sk-live-SECRET-value-0123456789"
FAST = RetryPolicy(backoff_s=0.01, max_wait_s=2.0, total_wait_s=10.0)


def open_pr(server: GitHubServer) -> tuple[int, str]:
    pull = server.open_pull_request(
        REPO, base_files={"prompts/a.txt": "Hi"}, head_changes={"prompts/a.txt": "Hello"}, number=7
    )
    return pull.number, pull.head_sha


def api_for(server: GitHubServer, token: str = ACTIONS_TOKEN, policy: RetryPolicy = FAST) -> GitHubApi:
    return GitHubApi(REPO, token, base_url=server.url, policy=policy, write_interval_s=0)


def publisher(server: GitHubServer, *, token: str = ACTIONS_TOKEN, bot: str = ACTIONS_BOT_LOGIN) -> Publisher:
    number, head = open_pr(server)
    return Publisher(
        api=api_for(server, token),
        log=WorkflowLog(io.StringIO(), secrets=[SECRET]),
        pr_number=number,
        head_sha=head,
        check_name="promptreview",
        bot_login=bot,
        run_url="https://github.com/acme/prompts/actions/runs/42",
        marker=DEFAULT_MARKER,
        secrets=(SECRET,),
    )


def outcome(comment: str, **changes: object) -> Outcome:
    values: dict[str, object] = {
        "state": "success",
        "conclusion": "success",
        "description": "pass: head is not worse than base",
        "comment": comment,
        "check_title": "Prompt review: pass",
        "check_summary": "All suites pass.",
    }
    values.update(changes)
    return Outcome(**values)  # type: ignore[arg-type]


def log_text(pub: Publisher) -> str:
    stream = pub.log._stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


# --- the sticky comment --------------------------------------------------------------------------


def test_placeholder_then_report_is_one_comment_edited_in_place(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)

    pub.start(f"{DEFAULT_MARKER}\nrunning…", title="running", description="Prompt review running…")
    pub.finish(outcome(f"{DEFAULT_MARKER}\nthe report"))

    comments = fake_github.comments(REPO, 7)
    assert [(c.user, c.body) for c in comments] == [(ACTIONS_BOT_LOGIN, f"{DEFAULT_MARKER}\nthe report")]
    assert [s.state for s in fake_github.statuses(REPO, pub.head_sha)] == ["pending", "success"]
    (run,) = fake_github.check_runs(REPO, head_sha=pub.head_sha)
    assert (run.name, run.status, run.conclusion) == ("promptreview", "completed", "success")
    assert run.details_url == pub.run_url
    assert not pub.failures


def test_the_sticky_comment_is_found_on_a_later_page(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    for i in range(130):
        fake_github.add_comment(REPO, 7, f"chatter {i}")
    ours = fake_github.add_comment(
        REPO, 7, f"{DEFAULT_MARKER}\nold report", author=ACTIONS_BOT_LOGIN, author_type="Bot"
    )
    for i in range(20):
        fake_github.add_comment(REPO, 7, f"more chatter {i}")

    pub.finish(outcome(f"{DEFAULT_MARKER}\nnew report"))

    assert fake_github.comment(REPO, ours.id).body == f"{DEFAULT_MARKER}\nnew report"
    assert len(fake_github.comments(REPO, 7)) == 151
    pages = [r for r in fake_github.requests if r.method == "GET" and r.path.endswith("/comments")]
    assert len(pages) == 2  # 100 per page


def test_a_forged_marker_by_someone_else_is_left_alone(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    forged = fake_github.add_comment(REPO, 7, f"{DEFAULT_MARKER}\nlooks official", author="mallory")

    pub.finish(outcome(f"{DEFAULT_MARKER}\nthe report"))

    assert fake_github.comment(REPO, forged.id).body == f"{DEFAULT_MARKER}\nlooks official"
    ours = [c for c in fake_github.comments(REPO, 7) if c.user == ACTIONS_BOT_LOGIN]
    assert [c.body for c in ours] == [f"{DEFAULT_MARKER}\nthe report"]


def test_a_superseded_run_leaves_the_comment_but_sets_its_own_status(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    pub.start(f"{DEFAULT_MARKER}\nrunning…", title="running", description="running")
    newer = fake_github.push_to_pull(REPO, 7, changes={"prompts/a.txt": "Hey"})

    pub.finish(outcome(f"{DEFAULT_MARKER}\nstale report"))

    (comment,) = fake_github.comments(REPO, 7)
    assert comment.body == f"{DEFAULT_MARKER}\nrunning…"
    assert [s.state for s in fake_github.statuses(REPO, pub.head_sha)] == ["pending", "success"]
    assert fake_github.statuses(REPO, newer) == []
    assert f"::notice::The PR head moved to {newer[:7]}" in log_text(pub)


def test_a_comment_post_that_failed_after_creating_it_is_not_duplicated(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    fake_github.inject_comment_create_error(502, applied=True)

    pub.finish(outcome(f"{DEFAULT_MARKER}\nthe report"))

    assert [c.body for c in fake_github.comments(REPO, 7)] == [f"{DEFAULT_MARKER}\nthe report"]
    assert not pub.failures


def test_a_comment_github_refuses_as_too_long_becomes_a_pointer_to_the_run(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    fake_github.inject_comment_too_long("POST")

    pub.finish(outcome(f"{DEFAULT_MARKER}\nthe report"))

    (comment,) = fake_github.comments(REPO, 7)
    assert "full report is in the run's summary" in comment.body
    assert pub.run_url and pub.run_url in comment.body
    assert pub.failures and "Body is too long" in pub.failures[0]
    assert "::error title=Publishing to GitHub failed::" in log_text(pub)
    # the status and check still say what happened
    assert fake_github.statuses(REPO, pub.head_sha)[-1].state == "success"


def test_secrets_are_scrubbed_from_everything_sent(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    note = {
        "path": "evals/a.yaml",
        "start_line": 3,
        "end_line": 3,
        "annotation_level": "warning",
        "message": f"answer leaked {SECRET}",
        "title": f"case {SECRET}",
    }

    pub.finish(
        outcome(
            f"{DEFAULT_MARKER}\nkey={SECRET}",
            description=f"fail: {SECRET}",
            check_title=f"t {SECRET}",
            check_summary=f"s {SECRET}",
            annotations=(note,),
        )
    )

    sent = [str(r.body) for r in fake_github.writes()]
    assert sent and not any(SECRET in body for body in sent)
    (run,) = fake_github.check_runs(REPO)
    assert run.annotations[0]["message"] == "answer leaked ***"


# --- statuses and check runs -----------------------------------------------------------------------


def test_annotations_go_fifty_per_request_and_all_arrive(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    notes = tuple(
        {
            "path": "evals/a.yaml",
            "start_line": i,
            "end_line": i,
            "annotation_level": "warning",
            "message": f"case {i} regressed",
        }
        for i in range(1, 121)
    )
    pub.start(None, title="running", description="running")

    pub.finish(outcome(f"{DEFAULT_MARKER}\nr", annotations=notes))

    (run,) = fake_github.check_runs(REPO)
    assert [a["start_line"] for a in run.annotations] == list(range(1, 121))
    patches = [r for r in fake_github.requests if r.method == "PATCH" and "/check-runs/" in r.path]
    assert [len(r.body["output"]["annotations"]) for r in patches] == [50, 50, 20]
    assert patches[0].body["conclusion"] == "success"


def test_without_checks_permission_the_status_still_goes_on(fake_github: GitHubServer) -> None:
    # A personal token cannot create check runs ("You must authenticate via a GitHub App").
    pub = publisher(fake_github, token=USER_TOKEN, bot="octocat")

    pub.start(f"{DEFAULT_MARKER}\nrunning", title="running", description="running")
    pub.finish(outcome(f"{DEFAULT_MARKER}\nreport", state="failure", conclusion="failure"))

    assert fake_github.check_runs(REPO) == []
    assert [s.state for s in fake_github.statuses(REPO, pub.head_sha)] == ["pending", "failure"]
    assert not pub.failures
    assert "::warning::the token cannot create check runs" in log_text(pub)


def test_status_descriptions_fit_githubs_140_characters(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)

    pub.set_status("failure", "fail: " + "a much too long reason " * 20)

    (status,) = fake_github.statuses(REPO, pub.head_sha)
    assert status.description is not None and len(status.description) == 140
    assert status.description.endswith("…")
    assert status.context == "promptreview"
    assert status.target_url == pub.run_url


def test_fit_description_keeps_short_text_and_one_line() -> None:
    assert fit_description("pass:\n  all good") == "pass: all good"


def test_a_custom_check_name_gets_its_own_marker() -> None:
    assert sticky_marker("promptreview") == DEFAULT_MARKER
    assert sticky_marker("prompts / staging") == "<!-- promptreview:sticky:prompts---staging -->"
    assert "--" not in sticky_marker("a-->b").removeprefix("<!--").removesuffix("-->").replace("---", "")


# --- identity and permissions -----------------------------------------------------------------------


def test_the_bot_identity_comes_from_the_token_or_falls_back(fake_github: GitHubServer) -> None:
    log = WorkflowLog(io.StringIO())
    fake_github.add_repo(REPO)

    assert identify_bot(api_for(fake_github), {}, log) == ACTIONS_BOT_LOGIN  # GET /user: 403
    assert identify_bot(api_for(fake_github, USER_TOKEN), {}, log) == "octocat"
    assert identify_bot(api_for(fake_github), {"PROMPTREVIEW_BOT_LOGIN": "my-app[bot]"}, log) == "my-app[bot]"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin", True),
        ("maintain", True),
        ("write", True),
        ("triage", False),
        ("read", False),
        ("none", False),
    ],
)
def test_rerun_needs_write_maintain_or_admin(fake_github: GitHubServer, role: str, allowed: bool) -> None:
    fake_github.add_repo(REPO)
    fake_github.set_permission(REPO, "alice", role)  # type: ignore[arg-type]

    assert authorize(api_for(fake_github), "alice").allowed is allowed


@pytest.mark.parametrize("status", [403, 404, 500])
def test_any_error_from_the_permission_check_denies(fake_github: GitHubServer, status: int) -> None:
    fake_github.add_repo(REPO)
    fake_github.set_permission(REPO, "alice", "admin")
    fake_github.inject("GET", r"/collaborators/", status, times=None)

    decision = authorize(api_for(fake_github), "alice")

    assert not decision.allowed
    assert "denying" in decision.reason


# --- retries -----------------------------------------------------------------------------------------


def test_secondary_rate_limits_and_5xx_are_waited_out(fake_github: GitHubServer) -> None:
    pub = publisher(fake_github)
    fake_github.inject_secondary_rate_limit("POST", r"/statuses/", retry_after=1)
    fake_github.inject("PATCH", r"/issues/comments/", 502, times=2)
    fake_github.inject("GET", r"/pulls/", 503)

    pub.start(f"{DEFAULT_MARKER}\nrunning", title="running", description="running")
    pub.finish(outcome(f"{DEFAULT_MARKER}\nreport"))

    assert [c.body for c in fake_github.comments(REPO, 7)] == [f"{DEFAULT_MARKER}\nreport"]
    assert [s.state for s in fake_github.statuses(REPO, pub.head_sha)] == ["pending", "success"]
    assert not pub.failures


def test_retry_after_waits_are_capped(fake_github: GitHubServer) -> None:
    _, head = open_pr(fake_github)
    api = api_for(fake_github, policy=RetryPolicy(backoff_s=0.01, max_wait_s=0.5, total_wait_s=1.0))
    fake_github.inject_secondary_rate_limit("POST", r"/statuses/", retry_after=600)

    started = time.monotonic()
    api.create_status(head, "success", context="promptreview", description="ok", target_url=None)

    assert time.monotonic() - started < 5
    assert [s.state for s in fake_github.statuses(REPO, head)] == ["success"]


def test_a_permanent_failure_surfaces_as_one_error(fake_github: GitHubServer) -> None:
    _, head = open_pr(fake_github)
    fake_github.inject("POST", r"/statuses/", 502, times=None)

    with pytest.raises(GitHubError) as caught:
        api_for(fake_github).create_status(head, "success", context="c", description="d", target_url=None)

    assert caught.value.status == 502
    posts = [r for r in fake_github.requests if r.method == "POST"]
    assert len(posts) == FAST.post_attempts


# --- the workflow log and the environment files -------------------------------------------------------


def test_workflow_command_escaping_matches_actions_core() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_untrusted_text_cannot_issue_workflow_commands() -> None:
    stream = io.StringIO()
    log = WorkflowLog(stream)
    hostile = "fine\n::add-mask::nothing\n  ::error file=x::fake failure\n::stop-commands::x\n::x::"

    log.untrusted(hostile)
    log.warning(hostile, file="a,b:c")
    log.info("::set-env name=X::1")

    text = stream.getvalue()
    assert runner_commands(text) == ["warning"]
    (warning,) = [line for line in text.splitlines() if line.startswith("::warning")]
    assert warning.startswith("::warning file=a%2Cb%3Ac::fine%0A::add-mask::")
    assert "fine" in text.splitlines()  # the untrusted text is still readable in the log


def test_secrets_are_masked_first_and_scrubbed_from_every_line() -> None:
    stream = io.StringIO()
    log = WorkflowLog(stream, secrets=[SECRET, "short"])

    log.info(f"calling with {SECRET}")
    log.error(f"failed: {SECRET}", title=SECRET)
    log.untrusted(f"model said {SECRET}")

    lines = stream.getvalue().splitlines()
    assert lines[0] == f"::add-mask::{SECRET}"
    assert "short" not in lines[0] and len([x for x in lines if x.startswith("::add-mask::")]) == 1
    assert not any(SECRET in line for line in lines[1:])


def test_outputs_use_a_random_heredoc_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "output"
    tricky = "line one\nghadelimiter_x\nverdict=pass"

    write_outputs(str(path), {"verdict": "fail", "note": tricky})

    text = path.read_text(encoding="utf-8")
    assert text.startswith("verdict<<ghadelimiter_")
    parsed = parse_outputs(text)
    assert parsed == {"verdict": "fail", "note": tricky}
    assert write_outputs(None, {"verdict": "x"}) is False
    with pytest.raises(ValueError):
        format_outputs({"bad=name": "x"})


def test_the_step_summary_never_passes_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    write_step_summary(str(path), "# first part\n")

    write_step_summary(str(path), "row with ünïcödé\n" * 100_000)

    data = path.read_bytes()
    assert len(data) <= 1024 * 1024
    assert data.startswith(b"# first part\n")
    assert data.decode("utf-8").endswith("*(The summary was cut at GitHub's 1 MiB step-summary limit.)*\n")
