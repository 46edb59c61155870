"""The trigger stage in Actions: the event payload and env become one typed request, or a reason
to do nothing.

Parsing is pure (no API calls), so every event shape is tested from the verbatim payloads in
``shared/fixtures/github/events``. The outcomes:

* :class:`ReviewRequest`: a ``pull_request`` (opened, synchronize, reopened, ready_for_review;
  drafts included) with its base and head SHAs taken from the payload;
* :class:`RerunCommand`: an ``issue_comment`` on a PR whose first line is ``/rerun``. The payload
  carries no head SHA (``issue.pull_request`` holds only URLs) and the commenter's rights are not
  known yet, so the action resolves it through the API at that moment (``rerun.py``);
* :class:`Ignored`: anything else, with a one-line reason for the log. Bots and edited comments are
  ignored so the bot's own comments (or a reply war between bots) can never start a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from promptreview.errors import PromptReviewError

PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
_RERUN = re.compile(r"^/rerun(?:[ \t]+(?P<args>.*?))?[ \t]*$")
_SUITE_NAME = re.compile(r"^[^\s`<>]{1,200}$")
_PREFER = re.compile(
    r"^/(?:prefer[ \t]+(?P<side>head|base)|(?P<tie>tie))[ \t]+(?P<case>[^\s`<>]{1,200})[ \t]*$"
)


class EventError(PromptReviewError):
    """The Actions environment is not usable (no event file, unreadable payload)."""


@dataclass(frozen=True)
class ReviewRequest:
    """What to review, fully resolved: the PR, its base and head SHAs, and who asked."""

    repo: str  # owner/name of the base repository
    pr_number: int
    base_sha: str
    head_sha: str
    requested_by: str
    trigger: Literal["pull_request", "rerun"] = "pull_request"
    head_repo: str | None = None  # None when the fork was deleted
    is_fork: bool = False
    fresh: bool = False
    only_suite: str | None = None
    comment_id: int | None = None  # the /rerun comment to react to
    html_url: str | None = None


@dataclass(frozen=True)
class RerunCommand:
    """A ``/rerun`` comment on a PR, before its author's permission and the PR head are checked."""

    repo: str
    pr_number: int
    comment_id: int
    commenter: str
    fresh: bool = False
    only_suite: str | None = None
    html_url: str | None = None


@dataclass(frozen=True)
class PreferCommand:
    """``/prefer head CASE``, ``/prefer base CASE`` or ``/tie CASE`` lines in one PR comment: a
    person settling cases the judge could not. Same permission rule as ``/rerun``."""

    repo: str
    pr_number: int
    comment_id: int
    commenter: str
    verdicts: tuple[tuple[str, str], ...]  # (case, head | base | tie), in comment order
    html_url: str | None = None


@dataclass(frozen=True)
class RecheckRequest:
    """The Checks tab's Re-run button (``check_run`` / ``check_suite`` ``rerequested``; App only).

    Pinned to the SHA the check ran on; the requester's permission is checked like /rerun's.
    """

    repo: str
    pr_number: int
    head_sha: str
    requester: str


@dataclass(frozen=True)
class Ignored:
    """Nothing to do; ``reason`` is one line for the log."""

    reason: str


Trigger = ReviewRequest | RerunCommand | PreferCommand | RecheckRequest | Ignored


def load_event(env: Mapping[str, str]) -> Trigger:
    """Read ``GITHUB_EVENT_NAME`` and the payload at ``GITHUB_EVENT_PATH``."""
    name = (env.get("GITHUB_EVENT_NAME") or "").strip()
    path = (env.get("GITHUB_EVENT_PATH") or "").strip()
    if not name or not path:
        raise EventError(
            "GITHUB_EVENT_NAME / GITHUB_EVENT_PATH are not set: `promptreview action` runs inside "
            "GitHub Actions; locally use `promptreview compare --base REV`"
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EventError(f"cannot read the event payload at {path}: {exc}") from exc
    if not isinstance(payload, dict):
        raise EventError(f"the event payload at {path} is not a JSON object")
    return parse_event(name, payload, repository=env.get("GITHUB_REPOSITORY"))


def parse_event(name: str, payload: Mapping[str, Any], *, repository: str | None = None) -> Trigger:
    """Turn one event into a request; ``repository`` (GITHUB_REPOSITORY) backs up the payload's."""
    repo = _full_name(payload.get("repository")) or (repository or "").strip()
    if name == "pull_request":
        return _pull_request(payload, repo)
    if name == "issue_comment":
        return _issue_comment(payload, repo)
    return Ignored(f"event `{name}` is not reviewed (promptreview reviews pull_request and /rerun comments)")


def parse_rerun(body: str) -> tuple[bool, str | None] | None:
    """``(fresh, suite)`` if the comment's first line is a ``/rerun`` command, else None.

    Accepted: ``/rerun``, ``/rerun fresh``, ``/rerun SUITE`` and ``/rerun fresh SUITE``.
    """
    lines = body.strip().splitlines()
    if not lines:
        return None
    found = _RERUN.match(lines[0].strip())
    if found is None:
        return None
    args = (found.group("args") or "").split()
    fresh = bool(args) and args[0] == "fresh"
    rest = args[1:] if fresh else args
    if len(rest) > 1 or (rest and not _SUITE_NAME.match(rest[0])):
        return None
    return fresh, (rest[0] if rest else None)


def parse_prefer(body: str) -> tuple[tuple[str, str], ...]:
    """Every ``/prefer head|base CASE`` and ``/tie CASE`` line of a comment: ``((case, side), ...)``.

    ``CASE`` is a case id, or ``SUITE:CASE`` when two suites share an id. Other lines are ignored,
    so a maintainer can explain the verdicts in the same comment.
    """
    out: list[tuple[str, str]] = []
    for line in body.splitlines():
        found = _PREFER.match(line.strip())
        if found is not None:
            out.append((found.group("case"), "tie" if found.group("tie") else found.group("side")))
    return tuple(out)


def is_bot(login: str, user_type: str | None) -> bool:
    """GitHub Apps comment as ``User.type == "Bot"`` with logins ending in ``[bot]``."""
    return user_type == "Bot" or login.lower().endswith("[bot]")


def _pull_request(payload: Mapping[str, Any], repo: str) -> Trigger:
    action = str(payload.get("action") or "")
    if action not in PULL_REQUEST_ACTIONS:
        return Ignored(f"pull_request `{action}` does not change what is reviewed")
    pull = payload.get("pull_request")
    if not isinstance(pull, Mapping):
        return Ignored("the pull_request payload has no pull_request object")
    head, base = _obj(pull, "head", "pull_request"), _obj(pull, "base", "pull_request")
    head_sha, base_sha = str(head.get("sha") or ""), str(base.get("sha") or "")
    number = pull.get("number") or payload.get("number")
    if not (head_sha and base_sha and isinstance(number, int)):
        return Ignored("the pull_request payload lacks the PR number or its base/head SHAs")
    base_repo = _full_name(base.get("repo")) or repo
    head_repo = _full_name(head.get("repo"))
    # A deleted fork has head.repo null; it cannot be the base repository either.
    is_fork = head_repo is None or head_repo.lower() != base_repo.lower()
    return ReviewRequest(
        repo=base_repo,
        pr_number=number,
        base_sha=base_sha,
        head_sha=head_sha,
        requested_by=_login(payload.get("sender")) or _login(pull.get("user")) or "",
        head_repo=head_repo,
        is_fork=is_fork,
        html_url=_text(pull.get("html_url")),
    )


def _issue_comment(payload: Mapping[str, Any], repo: str) -> Trigger:
    action = str(payload.get("action") or "")
    if action != "created":
        return Ignored(f"issue_comment `{action}`: only new comments can ask for /rerun")
    issue, comment = _obj(payload, "issue", "event"), _obj(payload, "comment", "event")
    if not issue.get("pull_request"):
        return Ignored("the comment is on an issue, not a pull request")
    user = _obj(comment, "user", "comment")
    login = _login(user) or ""
    body = str(comment.get("body") or "")
    command = parse_rerun(body)
    verdicts = parse_prefer(body) if command is None else ()
    if command is None and not verdicts:
        return Ignored("the comment is not a /rerun, /prefer or /tie command")
    if is_bot(login, user.get("type")):
        return Ignored(f"{'/rerun' if command else '/prefer'} by a bot ({login}) is ignored")
    number, comment_id = issue.get("number"), comment.get("id")
    if not isinstance(number, int) or not isinstance(comment_id, int):
        return Ignored("the issue_comment payload lacks the issue number or comment id")
    html_url = _text(_obj(issue, "pull_request", "issue").get("html_url")) or _text(issue.get("html_url"))
    if command is None:
        return PreferCommand(repo, number, comment_id, login, verdicts, html_url)
    fresh, suite = command
    return RerunCommand(
        repo=repo,
        pr_number=number,
        comment_id=comment_id,
        commenter=login,
        fresh=fresh,
        only_suite=suite,
        html_url=_text(_obj(issue, "pull_request", "issue").get("html_url")) or _text(issue.get("html_url")),
    )


def _obj(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """``parent[key]`` as an object ({} when absent): a payload of another shape is named, not a crash."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventError(
            f"malformed event payload: `{where}.{key}` is a {type(value).__name__}, GitHub sends an object"
        )
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _full_name(repo: Any) -> str | None:
    if isinstance(repo, Mapping) and isinstance(repo.get("full_name"), str):
        return str(repo["full_name"])
    return None


def _login(user: Any) -> str | None:
    if isinstance(user, Mapping) and isinstance(user.get("login"), str):
        return str(user["login"])
    return None
