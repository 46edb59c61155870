"""One core, two front doors: the path from "an event arrived" to "the result is published".

The Actions entrypoint (``action.py``) and the GitHub App's worker (``app/job.py``) both hand a
parsed trigger to :func:`respond`; what differs between them is only how they get their inputs
(``INPUT_*`` and a workspace vs a webhook, an installation token and a temporary bare clone) and
where their side outputs go (step summary, outputs and report files vs nowhere). That difference
is the :class:`FrontDoor` a caller passes in; everything else lives here, once:

1. decide: ignore (with a notice), refuse a fork's PR (explain ``/rerun``), or review;
2. for ``/rerun``: react 👀, check the commenter's permission, pin the PR's current head;
   for the Checks tab's Re-run button (App only): check the requester's permission, pin that SHA;
3. fetch the base and head commits (through the front door), and plan the review;
4. publish a placeholder comment and a pending status/check, run the review, and publish the
   report over them (``github/publish.py``), or the error comment when it could not run;
5. a newer push supersedes: the publisher never overwrites the newer run's comment, and a job
   the front door cancels (:class:`Superseded`) ends its check as neutral instead of running on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from promptreview.errors import PromptReviewError
from promptreview.github.api import GitHubApi, GitHubError, PullInfo
from promptreview.github.event import (
    Ignored,
    PreferCommand,
    RecheckRequest,
    RerunCommand,
    ReviewRequest,
    Trigger,
)
from promptreview.github.publish import (
    Outcome,
    Publisher,
    error_comment,
    identify_bot,
    no_changes_comment,
    status_state,
    sticky_marker,
)
from promptreview.github.rerun import DONE, FAILED, STARTED, authorize, denial_reply, react, reply
from promptreview.github.workflow_log import WorkflowLog

if TYPE_CHECKING:  # the engine is imported when a review runs, so an ignored event ends fast
    from promptreview.review import PlannedReview, ReviewOptions
    from promptreview.review_result import ReviewResult

DENIED_MARKER = "<!-- promptreview:rerun-denied -->"

CommentMode = Literal["always", "on-change", "off"]
Verdict = Literal["pass", "fail", "inconclusive", "error", "skipped"]
Conclusion = Literal["success", "failure", "neutral"]
OUTPUTS = (
    "verdict",
    "conclusion",
    "cases",
    "regressions",
    "improvements",
    "errors",
    "report-path",
    "json-path",
)


class Superseded(PromptReviewError):
    """Raised by a front door's ``cancelled`` check: a newer push owns this PR now."""


@dataclass(frozen=True)
class ReviewSettings:
    """How to review, as the front door read it (action inputs, or the App's server settings)."""

    config: str | None = None
    model: str | None = None
    judge: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    samples: int | None = None
    concurrency: int | None = None
    comment: CommentMode = "on-change"
    check_name: str = "promptreview"
    on_inconclusive: str | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    requests_per_minute: float | None = None


@dataclass(frozen=True)
class Summary:
    """The numbers a finished run reports (the Action's outputs; the App's job outcome)."""

    verdict: Verdict
    conclusion: Conclusion
    cases: int = 0
    regressions: int = 0
    improvements: int = 0
    errors: int = 0
    report_path: str = ""
    json_path: str = ""

    def outputs(self) -> dict[str, str]:
        values = {
            "verdict": self.verdict,
            "conclusion": self.conclusion,
            "cases": str(self.cases),
            "regressions": str(self.regressions),
            "improvements": str(self.improvements),
            "errors": str(self.errors),
            "report-path": self.report_path,
            "json-path": self.json_path,
        }
        assert tuple(values) == OUTPUTS
        return values


SKIPPED = Summary("skipped", "neutral")


@dataclass(frozen=True)
class Finished:
    """How :func:`respond` ended. ``usage``: the front door could not start (it logged why);
    ``internal``: a bug stopped the review after the error was published."""

    summary: Summary | None
    usage: bool = False
    internal: bool = False


class FrontDoor(Protocol):
    """What differs between the Action and the App: where inputs come from and side outputs go."""

    def connect(self, repo: str) -> GitHubApi | None:
        """The API client for ``repo``, or None when there are no credentials (logged by the door)."""
        ...

    def fetch(self, shas: Sequence[str], pr_number: int) -> Path:
        """Make the commits readable with git; returns the repository directory to read them from."""
        ...

    def summary(self, markdown: str) -> None:
        """Markdown for people who look at the run (the step summary; nowhere for the App)."""
        ...

    def outputs(self, summary: Summary) -> None:
        """The run's numbers (step outputs; the job's outcome for the App)."""
        ...

    def artifacts(self, result: ReviewResult) -> tuple[str, str]:
        """Write the HTML report and the JSON result if the door keeps files; their paths or ``("", "")``."""
        ...

    def cancelled(self) -> None:
        """Raise :class:`Superseded` if a newer push took over this PR (checked during the run)."""
        ...


@dataclass(frozen=True)
class Setup:
    """What the core needs besides the trigger: settings, environments, the run's address."""

    settings: ReviewSettings
    log: WorkflowLog
    env: Mapping[str, str]  # PROMPTREVIEW_DEBUG, PROMPTREVIEW_BOT_LOGIN, ...
    model_env: Mapping[str, str]  # where the model client finds its endpoint and key
    cache_path: str
    run_url: str | None = None
    notes: tuple[str, ...] = ()  # the front door's own notes for the report (a refused .promptreview/)
    review_forks: bool = False  # the App may review forks' PRs (its token is the base repo's)
    adopt_check: bool = False  # reuse an in-progress check on the SHA (a job re-run after a crash)


def respond(trigger: Trigger, door: FrontDoor, setup: Setup) -> Finished:
    """Handle one trigger to the end; every path calls ``door.outputs`` once (unless ``usage``)."""
    return _Core(door, setup).respond(trigger)


class _Core:
    def __init__(self, door: FrontDoor, setup: Setup) -> None:
        self.door = door
        self.setup = setup
        self.settings = setup.settings
        self.log = setup.log
        self.run_url = setup.run_url

    def _finish(self, summary: Summary, *, internal: bool = False) -> Finished:
        self.door.outputs(summary)
        return Finished(summary, internal=internal)

    # -- decide ------------------------------------------------------------------------------------
    def respond(self, trigger: Trigger) -> Finished:
        if isinstance(trigger, Ignored):
            self.log.notice(f"promptreview has nothing to do: {trigger.reason}.")
            return self._finish(SKIPPED)
        if isinstance(trigger, ReviewRequest) and trigger.is_fork and not self.setup.review_forks:
            return self._fork(trigger)
        api = self.door.connect(trigger.repo)
        if api is None:
            return Finished(None, usage=True)
        self.api = api
        if isinstance(trigger, RerunCommand | PreferCommand):
            request: ReviewRequest | Summary = self._rerun(trigger)
        elif isinstance(trigger, RecheckRequest):
            request = self._recheck(trigger)
        else:
            request = trigger
        if isinstance(request, Summary):  # the rerun ends here: denied, or the PR unreadable
            return self._finish(request)
        return self._review(request)

    # -- /rerun ------------------------------------------------------------------------------------------
    def _rerun(self, command: RerunCommand | PreferCommand) -> ReviewRequest | Summary:
        """React, check the commenter's rights, and pin the PR's head as it is right now.

        ``/prefer`` and ``/tie`` follow the same path: the review they start reads every verdict
        people gave on the PR (``github/prefer.py``) and recomputes with cached answers.
        """
        from promptreview.github import prefer

        react(self.api, command.pr_number, command.comment_id, STARTED, self.log)
        decision = authorize(self.api, command.commenter)
        name = "/rerun" if isinstance(command, RerunCommand) else "/prefer"
        if not decision.allowed:
            self.log.notice(f"{name} denied: {decision.reason}.")
            react(self.api, command.pr_number, command.comment_id, FAILED, self.log)
            body = denial_reply(DENIED_MARKER) if name == "/rerun" else prefer.denial_reply()
            reply(self.api, command.pr_number, body, self.log)
            return SKIPPED
        self.log.info(f"{name} requested by {command.commenter} ({decision.reason}).")
        pull = self._pull(command.pr_number)
        if pull is None:
            react(self.api, command.pr_number, command.comment_id, FAILED, self.log)
            return Summary("error", "failure")
        return ReviewRequest(
            repo=command.repo,
            pr_number=command.pr_number,
            base_sha=pull.base_sha,
            head_sha=pull.head_sha,
            requested_by=command.commenter,
            trigger="rerun",
            head_repo=pull.head_repo,
            fresh=getattr(command, "fresh", False),
            only_suite=getattr(command, "only_suite", None),
            comment_id=command.comment_id,
            html_url=pull.html_url or command.html_url,
        )

    def _recheck(self, command: RecheckRequest) -> ReviewRequest | Summary:
        """The Checks tab's Re-run: the same permission rule as /rerun, pinned to the check's SHA.

        There is no comment to react to or reply under, so a refusal is a log line only.
        """
        decision = authorize(self.api, command.requester)
        if not decision.allowed:
            self.log.notice(f"re-run of {command.head_sha[:7]} denied: {decision.reason}.")
            return SKIPPED
        who = f"{command.requester} ({decision.reason})"
        self.log.info(f"re-run of {command.head_sha[:7]} requested by {who}.")
        pull = self._pull(command.pr_number)
        if pull is None:
            return Summary("error", "failure")
        return ReviewRequest(
            repo=command.repo,
            pr_number=command.pr_number,
            base_sha=pull.base_sha,
            head_sha=command.head_sha,
            requested_by=command.requester,
            trigger="rerun",
            head_repo=pull.head_repo,
            html_url=pull.html_url,
        )

    def _pull(self, number: int) -> PullInfo | None:
        """The PR's current base and head, read when a re-run is asked for; None (logged) if unreadable."""
        try:
            return self.api.get_pull(number)
        except GitHubError as exc:
            self.log.error(f"promptreview could not read pull request #{number}: {exc}")
            return None

    # -- fork PRs ------------------------------------------------------------------------------------------
    def _fork(self, request: ReviewRequest) -> Finished:
        """A fork's PR gets a read-only token and no secrets: explain, write nothing, end neutral."""
        origin = request.head_repo or "a deleted fork"
        message = (
            f"This pull request comes from {origin}: its workflow gets a read-only token and no secrets, "
            "so promptreview did not call any model or write to the PR. A maintainer can comment `/rerun` "
            "on the PR to review it with the base repository's permissions."
        )
        self.log.notice(message, title="Prompt review skipped for a fork")
        self.door.summary(f"## Prompt review skipped\n\n{message}\n")
        return self._finish(SKIPPED)

    # -- the review ----------------------------------------------------------------------------------------
    def _publisher(self, pr_number: int, head_sha: str) -> Publisher:
        bot = identify_bot(self.api, self.setup.env, self.log)
        self.log.info(f"The PR comment is written and found as {bot}.")
        return Publisher(
            api=self.api,
            log=self.log,
            pr_number=pr_number,
            head_sha=head_sha,
            check_name=self.settings.check_name,
            bot_login=bot,
            run_url=self.run_url,
            marker=sticky_marker(self.settings.check_name),
            secrets=self.log.secrets,
            adopt_check=self.setup.adopt_check,
        )

    def _review(self, request: ReviewRequest) -> Finished:
        try:
            self.door.cancelled()
        except Superseded as exc:  # queued behind a newer push: publish nothing at all
            self.log.notice(f"promptreview skipped {request.head_sha[:7]}: {exc}.")
            return self._finish(SKIPPED)
        publisher = self._publisher(request.pr_number, request.head_sha)
        self.log.info(
            f"Reviewing pull request #{request.pr_number}: base {request.base_sha[:12]} -> "
            f"head {request.head_sha[:12]}."
        )
        from promptreview.github.prefer import gather

        self.settled = gather(self.api, request.pr_number, self.log)
        try:
            self.repo_dir = self.door.fetch([request.base_sha, request.head_sha], request.pr_number)
            planned = self._plan(request)
            if not planned.plan.suites:
                return self._no_changes(request, publisher)
            placeholder = None
            if self.settings.comment != "off":
                from promptreview.report import render_placeholder

                placeholder = render_placeholder(
                    request.head_sha, self.run_url, publisher.marker, secrets=self.log.secrets
                )
            publisher.start(placeholder, title="Prompt review running", description="Prompt review running…")
            result = self._run_review(request, planned)
        except Superseded as exc:
            return self._superseded(request, publisher, str(exc))
        except PromptReviewError as exc:
            return self._could_not_run(request, publisher, str(exc))
        except Exception as exc:
            if self.setup.env.get("PROMPTREVIEW_DEBUG"):
                raise
            message = f"internal error: {type(exc).__name__}: {exc} (please report it)"
            return self._could_not_run(request, publisher, message, internal=True)
        return self._publish_result(request, publisher, result)

    def _plan(self, request: ReviewRequest) -> PlannedReview:
        """Plan once (git reads only): it tells whether any suite is affected, and the review reuses it."""
        from promptreview.review import plan_review

        return plan_review(self.repo_dir, request.base_sha, request.head_sha, self._options(request))

    def _options(self, request: ReviewRequest) -> ReviewOptions:
        from promptreview.review import ReviewOptions

        s = self.settings
        return ReviewOptions(
            config_path=s.config,
            only_suite=request.only_suite,
            fresh=request.fresh,
            cache_path=self.setup.cache_path,
            base_url=s.base_url,
            api_key=s.api_key,
            concurrency=s.concurrency,
            max_calls=s.max_calls,
            max_cost_usd=s.max_cost,
            requests_per_minute=s.requests_per_minute,
            samples=s.samples,
            model=s.model,
            judge=s.judge,
            env=dict(self.setup.model_env),
            repo_name=request.repo,
            pr_number=request.pr_number,
            run_url=self.run_url,
            diff_url=f"{request.html_url}/files" if request.html_url else None,
            human_verdicts=tuple((v.case, v.prefer, v.by) for v in getattr(self, "settled", ())),
        )

    def _run_review(self, request: ReviewRequest, planned: PlannedReview) -> ReviewResult:
        from promptreview.review import review

        options = self._options(request)
        self.log.group("Evaluating")
        try:
            return review(
                self.repo_dir,
                request.base_sha,
                request.head_sha,
                options,
                progress(self.log, self.door.cancelled),
                planned=planned,
            )
        finally:
            self.log.endgroup()

    def _publish_result(self, request: ReviewRequest, publisher: Publisher, result: ReviewResult) -> Finished:
        from promptreview.report import (
            check_output,
            render_comment,
            render_full,
            render_terminal,
            status_description,
        )

        result = self._apply_on_inconclusive(result)
        if self.setup.notes:
            result = replace(result, notes=(*result.notes, *self.setup.notes))
        secrets = self.log.secrets
        # The short text report, for people reading the log; model answers in it are untrusted.
        self.log.untrusted(render_terminal(result, secrets=secrets))
        summary = summarize(result, *self.door.artifacts(result))
        self.door.summary(render_full(result, secrets=secrets))
        self.door.outputs(summary)
        check = check_output(result, secrets=secrets)
        conclusion: Conclusion = result.verdict.conclusion
        outcome = Outcome(
            state=status_state(conclusion),
            conclusion=conclusion,
            description=status_description(result, secrets=secrets),
            comment=None
            if self.settings.comment == "off"
            else render_comment(result, marker=publisher.marker, secrets=secrets),
            check_title=check["title"],
            check_summary=check["summary"],
            annotations=tuple(check["annotations"]),
        )
        publisher.finish(outcome)
        self._after_publish(request, publisher)
        self.log.info(f"Verdict: {result.verdict.verdict} ({conclusion}).")
        return Finished(summary)

    def _apply_on_inconclusive(self, result: ReviewResult) -> ReviewResult:
        """The ``on-inconclusive`` setting overrides the conclusion of an inconclusive review, and
        ``fail`` also blocks an ``error`` one (nothing could be evaluated: "can't tell" at worst);
        an error is never turned into a success."""
        choice = self.settings.on_inconclusive
        verdict = result.verdict.verdict
        if choice is None or verdict not in ("inconclusive", "error"):
            return result
        if verdict == "error" and choice != "fail":
            return result
        mapped: Conclusion = {"neutral": "neutral", "fail": "failure", "pass": "success"}[choice]  # type: ignore[assignment]
        return replace(result, verdict=replace(result.verdict, conclusion=mapped))

    def _no_changes(self, request: ReviewRequest, publisher: Publisher) -> Finished:
        """Nothing to evaluate: a success status (the required check passes) and, maybe, a comment."""
        description = "no prompt changes"
        span = f"{request.base_sha[:7]}..{request.head_sha[:7]}"
        self.log.notice(f"promptreview: {description} in {span}.")
        body = no_changes_comment(publisher.marker, request.head_sha, self.run_url)
        # on-change posts nothing new, but an earlier report on this PR would now be stale.
        comment = None if self.settings.comment == "off" else body
        publisher.finish(
            Outcome(
                "success",
                "success",
                description,
                comment,
                "No prompt changes",
                "No prompt, partial, case file or suite definition changed; nothing was evaluated.",
            ),
            create_comment=self.settings.comment == "always",
        )
        self._after_publish(request, publisher)
        self.door.summary(f"## Prompt review: no prompt changes\n\nNothing to evaluate in `{span}`.\n")
        return self._finish(Summary("skipped", "success"))

    def _superseded(self, request: ReviewRequest, publisher: Publisher, reason: str) -> Finished:
        """A newer push took over mid-run: close this SHA's check as neutral, leave the comment alone."""
        self.log.notice(f"promptreview stopped reviewing {request.head_sha[:7]}: {reason}.")
        publisher.finish(
            Outcome(
                "success",
                "neutral",
                "superseded by a newer push",
                None,
                "Superseded by a newer push",
                f"A newer commit was pushed while {request.head_sha[:7]} was reviewed; its review "
                "replaces this one.",
            )
        )
        return self._finish(SKIPPED)

    def _could_not_run(
        self, request: ReviewRequest, publisher: Publisher, message: str, *, internal: bool = False
    ) -> Finished:
        """The review stopped (bad config, budget, model auth...): say so everywhere, as a failure."""
        self.log.error(f"promptreview could not review {request.head_sha[:7]}: {message}")
        secrets = self.log.secrets
        comment = None
        if self.settings.comment != "off":
            comment = error_comment(publisher.marker, message, request.head_sha, self.run_url, secrets)
        publisher.finish(
            Outcome(
                "error",
                "failure",
                f"could not run: {message}",
                comment,
                "Prompt review could not run",
                error_comment("", message, request.head_sha, None, secrets),
            ),
        )
        self._after_publish(request, publisher, failed=True)
        self.door.summary(error_comment("", message, request.head_sha, self.run_url, secrets))
        return self._finish(Summary("error", "failure"), internal=internal)

    def _after_publish(self, request: ReviewRequest, publisher: Publisher, *, failed: bool = False) -> None:
        if request.comment_id is not None:
            done = FAILED if failed or publisher.failures else DONE
            react(self.api, request.pr_number, request.comment_id, done, self.log)
        if publisher.failures:
            lines = "\n".join(f"- {self.log.scrub(f)}" for f in publisher.failures)
            note = "> [!WARNING]\n> Publishing to GitHub failed; this summary has the report."
            self.door.summary(f"\n\n{note}\n\n{lines}\n")


def summarize(result: ReviewResult, report_path: str, json_path: str) -> Summary:
    cases = [c for s in result.suites for c in s.cases]
    errors = sum(s.errors_base + s.errors_head + (1 if s.error else 0) for s in result.suites)
    return Summary(
        verdict=result.verdict.verdict,
        conclusion=result.verdict.conclusion,
        cases=sum(s.cases_total for s in result.suites),
        regressions=sum(1 for c in cases if c.change == "regressed"),
        improvements=sum(1 for c in cases if c.change == "improved"),
        errors=errors,
        report_path=report_path,
        json_path=json_path,
    )


def progress(log: WorkflowLog, check: Callable[[], None] | None = None) -> Callable[[str, int, int], None]:
    """Progress lines at most every 10% or 15 s, so a long run shows life without flooding the log.

    ``check`` runs on every tick: the App's way to stop a superseded job between model calls.
    """
    last = {"pct": -10, "at": 0.0, "stage": ""}

    def show(stage: str, done: int, total: int) -> None:
        if check is not None:
            check()
        if stage == "plan":
            log.info(f"Plan: about {total} model calls ({done} answers already cached).")
            return
        if stage != last["stage"]:
            last.update(pct=-10, stage=stage)
        pct = done * 100 // total if total else 100
        now = time.monotonic()
        if pct - last["pct"] >= 10 or now - last["at"] >= 15 or done == total:
            last.update(pct=pct, at=now)
            log.info(f"{stage}: {done}/{total} ({pct}%)")

    return show
