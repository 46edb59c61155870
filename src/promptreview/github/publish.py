"""The publish stage: the sticky PR comment, the commit status and the check run on the head SHA.

Order matters to the people watching the PR (DESIGN.md §1): a "running" placeholder comment and a
pending status/check first, then the report written over them in place. Every write is
sequential and every failure is logged as an error annotation and recorded, never raised: the
step summary, the outputs and the exit code carry the verdict even when GitHub does not.

* The sticky comment is found by its hidden marker **and** the bot's own login, across every
  page of comments; a comment by anyone else that carries the marker (copied, or forged to get
  overwritten) is ignored.
* A run whose SHA is no longer the PR head (a newer push started a newer run) does not overwrite
  the comment, which the newer run owns; it still sets the status and check on its own SHA.
* A commit status has no "neutral": a neutral conclusion (inconclusive, nothing to review) is
  posted as ``success`` so it does not block merging, with the verdict in the description.
  ``on-inconclusive: fail`` is how a repository makes inconclusive block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promptreview.github.api import CommentInfo, GitHubApi, GitHubError
from promptreview.github.workflow_log import WorkflowLog
from promptreview.report.markdown import DEFAULT_MARKER, render_notice
from promptreview.report.sanitize import ELLIPSIS, scrub

ACTIONS_BOT = "github-actions[bot]"
STATUS_DESCRIPTION_LIMIT = 140
ANNOTATIONS_PER_REQUEST = 50  # Checks API maxItems per create/update; more go in further PATCHes
MAX_ANNOTATIONS = 500  # bounds the PATCHes one run makes; the summary lists every regression anyway

StatusState = Literal["pending", "success", "failure", "error"]
Conclusion = Literal["success", "failure", "neutral"]


def sticky_marker(check_name: str) -> str:
    """The hidden marker; a non-default check name gets its own, so two setups keep two comments."""
    if check_name == "promptreview":
        return DEFAULT_MARKER
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in check_name)[:100]
    return f"<!-- promptreview:sticky:{safe} -->"


def identify_bot(api: GitHubApi, env: Mapping[str, str], log: WorkflowLog) -> str:
    """Whose comments are ours: PROMPTREVIEW_BOT_LOGIN, else ``GET /user``, else github-actions[bot].

    ``GET /user`` answers for personal and App *user* tokens; GITHUB_TOKEN (an installation
    token) gets 403 there and always comments as github-actions[bot]. Another App's installation
    token needs PROMPTREVIEW_BOT_LOGIN set to ``<app-slug>[bot]``.
    """
    override = (env.get("PROMPTREVIEW_BOT_LOGIN") or "").strip()
    if override:
        return override
    try:
        login = api.authenticated_login()
    except GitHubError as exc:
        log.warning(f"could not read the token's identity ({exc}); assuming {ACTIONS_BOT}")
        return ACTIONS_BOT
    return login or ACTIONS_BOT


@dataclass(frozen=True)
class Outcome:
    """What the end of a run publishes; bodies are final text (scrubbed again before sending)."""

    state: StatusState
    conclusion: Conclusion
    description: str
    comment: str | None  # None: leave the comment as it is
    check_title: str
    check_summary: str
    annotations: tuple[Mapping[str, Any], ...] = ()


def status_state(conclusion: Conclusion) -> StatusState:
    return "failure" if conclusion == "failure" else "success"


def fit_description(text: str) -> str:
    """A status description GitHub accepts: one line, at most 140 characters."""
    line = " ".join(text.split())
    if len(line) <= STATUS_DESCRIPTION_LIMIT:
        return line
    return line[: STATUS_DESCRIPTION_LIMIT - 1].rstrip() + ELLIPSIS


@dataclass
class Publisher:
    """Writes one run's results to one PR and head SHA; remembers what it created."""

    api: GitHubApi
    log: WorkflowLog
    pr_number: int
    head_sha: str
    check_name: str
    bot_login: str
    run_url: str | None
    marker: str
    secrets: tuple[str, ...] = ()
    failures: list[str] = field(default_factory=list)
    comment_id: int | None = None
    check_run_id: int | None = None
    checks_allowed: bool = True
    adopt_check: bool = False  # take over our in-progress check on this SHA (left by a crashed run)
    _noticed: str | None = field(default=None, init=False, repr=False)  # newer head already reported

    # -- the sticky comment ------------------------------------------------------------------------
    def is_ours(self, comment: CommentInfo) -> bool:
        return self.marker in comment.body and comment.login.lower() == self.bot_login.lower()

    def find_sticky(self) -> CommentInfo | None:
        """Our comment, by marker and author, looking through every page; the oldest if several."""
        return next((c for c in self.api.iter_comments(self.pr_number) if self.is_ours(c)), None)

    def upsert_comment(self, body: str, *, create: bool = True) -> bool:
        """Write ``body`` into the sticky comment (created if missing and ``create``)."""
        body = scrub(body, self.secrets)
        try:
            if self.comment_id is None:
                found = self.find_sticky()
                self.comment_id = found.id if found else None
            if self.comment_id is not None:
                self.api.edit_comment(self.pr_number, self.comment_id, body)
            elif create:
                made = self.api.create_comment(self.pr_number, body, recover=self.find_sticky)
                self.comment_id = made.id
                if made.body != body:  # recovered an earlier attempt's comment: make it current
                    self.api.edit_comment(self.pr_number, made.id, body)
            return True
        except GitHubError as exc:
            if exc.status == 422:
                return self._short_comment(exc)
            self._failed("write the PR comment", exc)
            return False

    def _short_comment(self, exc: GitHubError) -> bool:
        """GitHub refused the body (too long): point at the run instead of leaving a stale report."""
        self._failed("write the PR comment", exc)
        body = render_notice("too_long", marker=self.marker, run_url=self.run_url)
        try:
            if self.comment_id is not None:
                self.api.edit_comment(self.pr_number, self.comment_id, body)
            else:
                self.comment_id = self.api.create_comment(self.pr_number, body, recover=self.find_sticky).id
        except GitHubError as again:
            self._failed("write the short PR comment", again)
        return False

    # -- status and check run ----------------------------------------------------------------------
    def set_status(self, state: StatusState, description: str) -> None:
        try:
            self.api.create_status(
                self.head_sha,
                state,
                context=self.check_name,
                description=fit_description(scrub(description, self.secrets)),
                target_url=self.run_url,
            )
        except GitHubError as exc:
            self._failed(f"set the commit status on {self.head_sha[:7]}", exc)

    def start_check(self, title: str, summary: str) -> None:
        """Create the in-progress check run; a token without ``checks: write`` keeps the status only."""
        if not self.checks_allowed:
            return
        fields: dict[str, Any] = {
            "status": "in_progress",
            "external_id": self.head_sha,
            "output": {"title": title, "summary": summary},
        }
        if self.run_url:
            fields["details_url"] = self.run_url
        if self.adopt_check and self._adopt(fields):
            return
        try:
            self.check_run_id = self.api.create_check_run(self.check_name, self.head_sha, **fields)
        except GitHubError as exc:
            if exc.forbidden:
                self._checks_forbidden()
            else:
                self._failed("create the check run", exc)

    def _adopt(self, fields: dict[str, Any]) -> bool:
        """Reuse the in-progress check a killed run left on this SHA, so it never hangs as "running"."""
        try:
            runs = self.api.list_check_runs(self.head_sha, self.check_name)
            left = next((r for r in runs if r[1] != "completed"), None)
            if left is None:
                return False
            self.api.update_check_run(left[0], **{k: v for k, v in fields.items() if k != "external_id"})
        except GitHubError as exc:
            self.log.warning(f"could not look for an unfinished check run on {self.head_sha[:7]}: {exc}")
            return False
        self.check_run_id = left[0]
        self.log.info(f"Took over the unfinished check run {left[0]} on {self.head_sha[:7]}.")
        return True

    def _checks_forbidden(self) -> None:
        """A token without ``checks: write`` (a PAT, a trimmed GITHUB_TOKEN): carry on with the status."""
        self.checks_allowed = False
        self.log.warning(
            f"the token cannot create check runs (grant `checks: write`); only the commit status "
            f"`{self.check_name}` is set"
        )

    def finish_check(self, outcome: Outcome) -> None:
        """Complete the check run, sending annotations 50 per request (later PATCHes append)."""
        if not self.checks_allowed:
            return
        title = scrub(outcome.check_title, self.secrets)
        summary = scrub(outcome.check_summary, self.secrets)
        chunks = annotation_chunks([self._clean_annotation(a) for a in outcome.annotations[:MAX_ANNOTATIONS]])
        first = {"title": title, "summary": summary, "annotations": chunks[0] if chunks else []}
        try:
            if self.check_run_id is None:
                fields: dict[str, Any] = {"conclusion": outcome.conclusion, "output": first}
                if self.run_url:
                    fields["details_url"] = self.run_url
                self.check_run_id = self.api.create_check_run(self.check_name, self.head_sha, **fields)
            else:
                self.api.update_check_run(self.check_run_id, conclusion=outcome.conclusion, output=first)
            for chunk in chunks[1:]:
                output = {"title": title, "summary": summary, "annotations": chunk}
                self.api.update_check_run(self.check_run_id, output=output)
        except GitHubError as exc:
            if exc.forbidden and self.check_run_id is None:
                self._checks_forbidden()
            else:
                self._failed("complete the check run", exc)

    def _clean_annotation(self, note: Mapping[str, Any]) -> dict[str, Any]:
        return {k: scrub(v, self.secrets) if isinstance(v, str) else v for k, v in note.items()}

    # -- the two moments of a run ------------------------------------------------------------------
    def start(self, placeholder: str | None, *, title: str, description: str) -> None:
        """Show the run has started: placeholder comment (if any), pending status, in-progress check.

        A run that starts after its SHA was superseded (queued behind a newer push) leaves the
        comment to the newer run from the start.
        """
        if placeholder is not None:
            newer = self.superseded_by()
            if newer is None:
                self.upsert_comment(placeholder)
            else:
                self._superseded_notice(newer)
        self.set_status("pending", description)
        self.start_check(title, description)

    def superseded_by(self) -> str | None:
        """The PR's new head SHA if it moved since this run started (None if not, or unknown)."""
        try:
            current = self.api.get_pull(self.pr_number).head_sha
        except GitHubError as exc:
            self.log.warning(f"could not re-read the PR head ({exc}); assuming this run is current")
            return None
        return current if current != self.head_sha else None

    def finish(self, outcome: Outcome, *, create_comment: bool = True) -> None:
        """Publish the result: comment (unless superseded), status and check run on this SHA."""
        if outcome.comment is not None:
            newer = self.superseded_by()
            if newer is None:
                self.upsert_comment(outcome.comment, create=create_comment)
            elif newer != self._noticed:
                self._superseded_notice(newer)
        self.set_status(outcome.state, outcome.description)
        self.finish_check(outcome)

    def _superseded_notice(self, newer: str) -> None:
        self._noticed = newer
        self.log.notice(
            f"The PR head moved to {newer[:7]} while this run reviewed {self.head_sha[:7]}; "
            "the newer run owns the PR comment, so this run leaves it alone. "
            f"The status on {self.head_sha[:7]} is still set."
        )

    def _failed(self, what: str, exc: GitHubError) -> None:
        message = f"could not {what}: {exc}"
        self.failures.append(message)
        self.log.error(f"promptreview {message}", title="Publishing to GitHub failed")


# -- small bodies of our own wording (the report stage renders the real report) -------------------


def no_changes_comment(marker: str, head_sha: str, run_url: str | None) -> str:
    return render_notice("no_changes", marker=marker, head_sha=head_sha, run_url=run_url)


def error_comment(
    marker: str, message: str, head_sha: str, run_url: str | None, secrets: Iterable[str]
) -> str:
    return render_notice("could_not_run", marker=marker, head_sha=head_sha, run_url=run_url,
                         message=message, secrets=secrets)


def annotation_chunks(annotations: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Annotations in groups of 50, the most one Checks API request may carry."""
    return [
        list(annotations[i : i + ANNOTATIONS_PER_REQUEST])
        for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
    ]
