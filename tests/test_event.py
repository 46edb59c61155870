"""The trigger stage: real webhook payloads (tests/fixtures/github/events) in, typed requests out."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from actions_runner import load_payload as event
from promptreview.github.event import (
    EventError,
    Ignored,
    RerunCommand,
    ReviewRequest,
    load_event,
    parse_event,
    parse_rerun,
)

# --- pull_request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "pull_request.opened",
        "pull_request.synchronize",
        "pull_request.reopened",
        "pull_request.opened.null-body",
    ],
)
def test_pull_request_payloads_give_base_and_head_from_the_payload(name: str) -> None:
    payload = event(name)
    request = parse_event("pull_request", payload)

    assert isinstance(request, ReviewRequest)
    assert request.repo == "Codertocat/Hello-World"
    assert request.pr_number == 2
    assert request.base_sha == payload["pull_request"]["base"]["sha"]
    assert request.head_sha == payload["pull_request"]["head"]["sha"]
    assert request.trigger == "pull_request"
    assert not request.is_fork
    assert request.requested_by == "Codertocat"


def test_synchronize_reviews_the_pushed_head_not_the_merge_commit() -> None:
    payload = event("pull_request.synchronize")
    request = parse_event("pull_request", payload)

    assert isinstance(request, ReviewRequest)
    assert request.head_sha == payload["after"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def test_ready_for_review_and_drafts_are_reviewed() -> None:
    payload = event("pull_request.opened")
    payload["action"] = "ready_for_review"
    payload["pull_request"]["draft"] = True

    assert isinstance(parse_event("pull_request", payload), ReviewRequest)


@pytest.mark.parametrize("action", ["closed", "edited", "labeled", "assigned", "review_requested"])
def test_other_pull_request_actions_are_ignored(action: str) -> None:
    payload = event("pull_request.opened")
    payload["action"] = action

    outcome = parse_event("pull_request", payload)

    assert isinstance(outcome, Ignored)
    assert action in outcome.reason


def test_a_pull_request_from_a_fork_is_marked_as_such() -> None:
    payload = event("pull_request.opened")
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"

    request = parse_event("pull_request", payload)

    assert isinstance(request, ReviewRequest)
    assert request.is_fork
    assert request.head_repo == "mallory/Hello-World"
    assert request.repo == "Codertocat/Hello-World"


def test_a_deleted_fork_has_a_null_head_repo_and_counts_as_a_fork() -> None:
    payload = event("pull_request.opened")
    payload["pull_request"]["head"]["repo"] = None

    request = parse_event("pull_request", payload)

    assert isinstance(request, ReviewRequest)
    assert request.is_fork and request.head_repo is None


def test_same_repository_in_other_letter_case_is_not_a_fork() -> None:
    payload = event("pull_request.opened")
    payload["pull_request"]["head"]["repo"]["full_name"] = "codertocat/hello-world"

    request = parse_event("pull_request", payload)

    assert isinstance(request, ReviewRequest) and not request.is_fork


def test_a_payload_without_shas_is_ignored_not_crashed_on() -> None:
    payload = event("pull_request.opened")
    del payload["pull_request"]["head"]["sha"]

    assert isinstance(parse_event("pull_request", payload), Ignored)


def test_review_request_is_frozen() -> None:
    request = parse_event("pull_request", event("pull_request.opened"))

    with pytest.raises(dataclasses.FrozenInstanceError):
        request.head_sha = "0" * 40  # type: ignore[misc]


# --- issue_comment -----------------------------------------------------------------------------


def comment_event(body: str, **changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(event("issue_comment.created.pr"))
    payload["comment"]["body"] = body
    for key, value in changes.items():
        payload[key] = value
    return payload


def test_the_recorded_pr_comment_is_not_a_rerun_command() -> None:
    # The fixture's body is "/retest" (Pipelines-as-Code): close, but not ours.
    outcome = parse_event("issue_comment", event("issue_comment.created.pr"))

    assert isinstance(outcome, Ignored)
    assert "not a /rerun" in outcome.reason


def test_rerun_on_a_pull_request_becomes_a_command_to_resolve() -> None:
    payload = comment_event("/rerun")

    command = parse_event("issue_comment", payload)

    assert command == RerunCommand(
        repo="chmouel/scratchmyback",
        pr_number=1,
        comment_id=payload["comment"]["id"],
        commenter="chmouel",
        fresh=False,
        only_suite=None,
        html_url="https://github.com/chmouel/scratchmyback/pull/1",
    )


@pytest.mark.parametrize(
    ("body", "fresh", "suite"),
    [
        ("/rerun", False, None),
        ("/rerun fresh", True, None),
        ("/rerun support-answers", False, "support-answers"),
        ("/rerun fresh support-answers", True, "support-answers"),
        ("  /rerun  \nthe provider had an outage", False, None),
        ("/rerun prompts/intro.prompt.yml", False, "prompts/intro.prompt.yml"),
    ],
)
def test_rerun_forms(body: str, fresh: bool, suite: str | None) -> None:
    assert parse_rerun(body) == (fresh, suite)
    command = parse_event("issue_comment", comment_event(body))
    assert isinstance(command, RerunCommand)
    assert (command.fresh, command.only_suite) == (fresh, suite)


@pytest.mark.parametrize(
    "body",
    ["/rerunning", "please /rerun", "/Rerun", "/rerun a b", "", "> /rerun", "/rerun `x`", "/rerun <b>"],
)
def test_not_rerun_commands(body: str) -> None:
    assert parse_rerun(body) is None
    assert isinstance(parse_event("issue_comment", comment_event(body)), Ignored)


def test_rerun_on_a_plain_issue_is_ignored() -> None:
    payload = event("issue_comment.created.issue")
    payload["comment"]["body"] = "/rerun"

    outcome = parse_event("issue_comment", payload)

    assert isinstance(outcome, Ignored)
    assert "issue, not a pull request" in outcome.reason


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_edited_or_deleted_comments_are_ignored(action: str) -> None:
    outcome = parse_event("issue_comment", comment_event("/rerun", action=action))

    assert isinstance(outcome, Ignored)


@pytest.mark.parametrize(
    ("login", "user_type"), [("github-actions[bot]", "Bot"), ("renovate[bot]", "User"), ("helper", "Bot")]
)
def test_bots_cannot_rerun(login: str, user_type: str) -> None:
    payload = comment_event("/rerun")
    payload["comment"]["user"].update(login=login, type=user_type)

    outcome = parse_event("issue_comment", payload)

    assert isinstance(outcome, Ignored)
    assert "bot" in outcome.reason


# --- other events and the environment ----------------------------------------------------------


@pytest.mark.parametrize("name", ["push", "pull_request_target", "workflow_dispatch", "schedule"])
def test_other_events_are_ignored_with_a_reason(name: str) -> None:
    outcome = parse_event(name, event("pull_request.opened"))

    assert isinstance(outcome, Ignored)
    assert name in outcome.reason


def test_load_event_reads_the_payload_file(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event("pull_request.opened")), encoding="utf-8")

    request = load_event({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path)})

    assert isinstance(request, ReviewRequest) and request.pr_number == 2


def test_the_repository_falls_back_to_github_repository() -> None:
    payload = event("pull_request.opened")
    del payload["repository"]
    payload["pull_request"]["base"]["repo"] = None
    payload["pull_request"]["head"]["repo"]["full_name"] = "acme/app"

    request = parse_event("pull_request", payload, repository="acme/app")

    assert isinstance(request, ReviewRequest)
    assert request.repo == "acme/app" and not request.is_fork


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "GITHUB_EVENT_NAME"),
        (
            {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": "/nonexistent/event.json"},
            "cannot read",
        ),
    ],
)
def test_load_event_explains_a_broken_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(EventError, match=message):
        load_event(env)


def test_load_event_rejects_a_payload_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text("[1, 2]", encoding="utf-8")

    with pytest.raises(EventError, match="not a JSON object"):
        load_event({"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path)})
