"""``/rerun``: who may ask, and the reactions that tell them what happened.

An ``issue_comment`` run has the base repository's token and secrets even on a fork's PR, and
anyone who can comment can post ``/rerun``, so the commenter's permission is checked through the
API (``GET /repos/{o}/{r}/collaborators/{user}/permission``): admin, maintain or write may rerun,
and *any* error (403 from a token that may not ask, 404, 5xx, a network failure) denies.

Why not fall back to the payload's ``comment.author_association`` when the endpoint refuses:
OWNER/MEMBER/COLLABORATOR does not mean write access. An organisation MEMBER may only read this
repository, and a COLLABORATOR may hold the read or triage role; the association cannot tell them
apart from writers. A wrong "no" costs a maintainer one retry by someone with the rights; a wrong
"yes" spends the repository's model budget (and secrets' reach) on anyone's request.

The bot reacts on the command: ``eyes`` when it starts, then ``rocket`` when the run finished or
``confused`` when it was denied or failed. Reactions are best effort: a missing one never fails
the run.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptreview.github.api import WRITE_ROLES, GitHubApi, GitHubError
from promptreview.github.workflow_log import WorkflowLog
from promptreview.report.sanitize import scrub

STARTED, DONE, FAILED = "eyes", "rocket", "confused"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # one line for the log and the reply


def authorize(api: GitHubApi, login: str) -> Decision:
    """May ``login`` rerun the review? Only a successful answer of admin/maintain/write says yes."""
    try:
        permission = api.collaborator_permission(login)
    except GitHubError as exc:
        return Decision(False, f"could not confirm {login}'s permission ({exc}); denying to be safe")
    if permission in WRITE_ROLES:
        return Decision(True, f"{login} has {permission} permission")
    return Decision(False, f"{login} has {permission} permission; /rerun needs write, maintain or admin")


def react(api: GitHubApi, pr_number: int, comment_id: int, content: str, log: WorkflowLog) -> None:
    """Add a reaction to the /rerun comment; a failure is logged, never raised."""
    try:
        api.add_reaction(pr_number, comment_id, content)
    except GitHubError as exc:
        log.warning(f"could not react {content} to the /rerun comment: {exc}")


def reply(api: GitHubApi, pr_number: int, body: str, log: WorkflowLog) -> None:
    """Post a separate (non-sticky) comment on the PR; a failure is logged, never raised."""
    try:
        api.create_comment(pr_number, scrub(body, log.secrets))
    except GitHubError as exc:
        log.warning(f"could not reply on the PR: {exc}")


def denial_reply(marker: str) -> str:
    """The short reply to a denied /rerun. No @mention: a reply must not notify anyone."""
    from promptreview.report.markdown import render_notice

    return render_notice("rerun_denied", marker=marker)
