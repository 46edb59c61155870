"""``/prefer head CASE``, ``/prefer base CASE``, ``/tie CASE``: people settle what the judge can't.

A maintainer's verdict replaces the judge's for that case in this PR's review (DESIGN.md §15).
The rule for who may settle is ``/rerun``'s (write, maintain or admin, checked through the API;
any error denies; bots ignored), with the same reactions.

Verdicts are read from the PR's own comments on every review, not only from the comment that
triggered one: a settled case stays settled when the PR is pushed to or re-run, and a later
command on the same case wins. A command from someone without write access is skipped (and
answered with a short reply when it is the triggering comment).
"""

from __future__ import annotations

from dataclasses import dataclass

from promptreview.github.api import GitHubApi, GitHubError
from promptreview.github.event import is_bot, parse_prefer
from promptreview.github.rerun import authorize
from promptreview.github.workflow_log import WorkflowLog

DENIED_MARKER = "<!-- promptreview:prefer-denied -->"


@dataclass(frozen=True)
class Settlement:
    case: str  # a case id, or SUITE:CASE
    prefer: str  # head | base | tie
    by: str


def gather(api: GitHubApi, pr_number: int, log: WorkflowLog) -> tuple[Settlement, ...]:
    """Every permitted /prefer and /tie on the PR, oldest first (a later one on a case wins)."""
    found: list[Settlement] = []
    allowed: dict[str, bool] = {}
    try:
        comments = list(api.iter_comments(pr_number))
    except GitHubError as exc:
        log.warning(f"could not read the PR's comments for /prefer verdicts: {exc}")
        return ()
    for comment in comments:
        verdicts = parse_prefer(comment.body)
        if not verdicts or is_bot(comment.login, comment.user_type):
            continue
        if comment.login not in allowed:
            decision = authorize(api, comment.login)
            allowed[comment.login] = decision.allowed
            if not decision.allowed:
                log.notice(f"/prefer by {comment.login} skipped: {decision.reason}.")
        if allowed[comment.login]:
            found.extend(Settlement(case, side, comment.login) for case, side in verdicts)
    if found:
        log.info(f"{len(found)} case verdict(s) given by people on the PR: " +
                 ", ".join(f"{s.case}={s.prefer} ({s.by})" for s in found))
    return tuple(found)


def denial_reply() -> str:
    from promptreview.report.markdown import render_notice

    return render_notice("prefer_denied", marker=DENIED_MARKER)
