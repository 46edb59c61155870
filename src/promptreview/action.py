"""``promptreview action``: the container action's entrypoint, run by the Actions runner.

It reads the inputs (``INPUT_<NAME>``, hyphens kept) and the event, then:

1. masks the secrets before printing anything else;
2. turns the event into a review request (``github/event.py``), or exits 0 with a notice;
3. for ``/rerun``: reacts 👀, checks the commenter's permission, pins the PR's current head;
4. for a fork's PR (read-only token, no secrets): explains ``/rerun`` and exits neutral;
5. fetches the base and head commits if the checkout lacks them, and plans the review;
6. publishes a placeholder comment and a pending status/check, runs the review, and publishes
   the report over them (``github/publish.py``);
7. writes the step summary and the outputs, then exits non-zero only for a failing verdict
   with ``fail-on: fail``.

Publishing problems never change the exit code: the summary and outputs carry the verdict.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from promptreview.errors import PromptReviewError
from promptreview.github.api import DEFAULT_API_URL, GitHubApi, GitHubError, RetryPolicy
from promptreview.github.event import Ignored, RerunCommand, ReviewRequest, load_event
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
from promptreview.github.workflow_log import WorkflowLog, write_outputs, write_step_summary
from promptreview.github.workspace import ensure_commits

if TYPE_CHECKING:  # the engine is imported when a review runs, so an ignored event exits fast
    from promptreview.review import PlannedReview, ReviewOptions
    from promptreview.review_result import ReviewResult

INPUTS = (
    "config",
    "model",
    "judge",
    "base-url",
    "api-key",
    "github-token",
    "samples",
    "concurrency",
    "comment",
    "check-name",
    "on-inconclusive",
    "fail-on",
    "max-calls",
    "max-cost",
    "requests-per-minute",
)
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
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
ARTIFACT_DIR = ".promptreview"
DENIED_MARKER = "<!-- promptreview:rerun-denied -->"

CommentMode = Literal["always", "on-change", "off"]
Verdict = Literal["pass", "fail", "inconclusive", "error", "skipped"]
Conclusion = Literal["success", "failure", "neutral"]


class ActionError(PromptReviewError):
    """An input or the Actions environment is not usable; the message says which and how."""


def _input(env: Mapping[str, str], name: str) -> str | None:
    """An input's value, or None when unset. Actions passes an unset input as "" (or not at all)."""
    if name not in INPUTS:
        raise KeyError(f"{name!r} is not declared in action.yml")
    value = env.get(f"INPUT_{name.upper()}")
    return value.strip() if value and value.strip() else None


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (_input(env, name) or default).lower()
    if value not in allowed:
        raise ActionError(f"input `{name}` must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _number(env: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = _input(env, name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ActionError(f"input `{name}` must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def _decimal(env: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = _input(env, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # also false for NaN
        raise ActionError(f"input `{name}` must be a number from {low:g} to {high:g}, not {raw!r}")
    return value


@dataclass(frozen=True)
class ActionInputs:
    """The action's inputs, validated once; empty means "use the config / the default"."""

    config: str | None
    model: str | None
    judge: str | None
    base_url: str | None
    api_key: str | None
    github_token: str | None
    samples: int | None
    concurrency: int | None
    comment: CommentMode
    check_name: str
    on_inconclusive: str | None
    fail_on: str
    max_calls: int | None
    max_cost: float | None
    requests_per_minute: float | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        check_name = _input(env, "check-name") or "promptreview"
        if len(check_name) > 255:
            raise ActionError("input `check-name` must be at most 255 characters (GitHub's context limit)")
        on_inconclusive = _input(env, "on-inconclusive")
        if on_inconclusive is not None:
            on_inconclusive = _choice(env, "on-inconclusive", ("neutral", "fail", "pass"), "neutral")
        return cls(
            config=_input(env, "config"),
            model=_input(env, "model"),
            judge=_input(env, "judge"),
            base_url=_input(env, "base-url"),
            api_key=_input(env, "api-key"),
            github_token=_input(env, "github-token"),
            samples=_number(env, "samples", 1, 50),
            concurrency=_number(env, "concurrency", 1, 512),
            comment=_choice(env, "comment", ("always", "on-change", "off"), "on-change"),  # type: ignore[arg-type]
            check_name=check_name,
            on_inconclusive=on_inconclusive,
            fail_on=_choice(env, "fail-on", ("fail", "never"), "fail"),
            max_calls=_number(env, "max-calls", 1, 10_000_000),
            max_cost=_decimal(env, "max-cost", 0.0, 1_000_000.0),
            requests_per_minute=_decimal(env, "requests-per-minute", 0.1, 100_000.0),
        )


@dataclass(frozen=True)
class Summary:
    """The numbers the outputs carry."""

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


def run_action(env: Mapping[str, str], stdout: TextIO | None = None) -> int:
    """Run the action for the event in ``env``; returns the process exit code."""
    log = WorkflowLog(stdout, secrets=_secret_values(env))
    try:
        return _Action(env, log).run()
    except Exception as exc:
        if env.get("PROMPTREVIEW_DEBUG"):
            raise
        log.error(f"promptreview: internal error: {type(exc).__name__}: {exc} (please report it)")
        return EXIT_USAGE


def _secret_values(env: Mapping[str, str]) -> list[str]:
    names = ("INPUT_API-KEY", "INPUT_GITHUB-TOKEN", "OPENAI_API_KEY", "GITHUB_TOKEN")
    return [env[n].strip() for n in names if env.get(n, "").strip()]


class _Action:
    """One run of the action; holds what every step shares (env, inputs, log, API)."""

    def __init__(self, env: Mapping[str, str], log: WorkflowLog) -> None:
        self.env = env
        self.log = log
        self.workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
        self.run_url = _run_url(env)

    # -- the top level -------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            self.inputs = ActionInputs.from_env(self.env)
            trigger = load_event(self.env)
        except PromptReviewError as exc:
            self.log.error(f"promptreview: {exc}")
            return EXIT_USAGE
        if isinstance(trigger, Ignored):
            self.log.notice(f"promptreview has nothing to do: {trigger.reason}.")
            return self._finish(SKIPPED)
        if isinstance(trigger, ReviewRequest) and trigger.is_fork:
            return self._fork(trigger)
        token = self.inputs.github_token or self.env.get("GITHUB_TOKEN", "").strip()
        if not token:
            self.log.error("promptreview: no GitHub token: set the `github-token` input")
            return EXIT_USAGE
        self.api = GitHubApi(
            trigger.repo,
            token,
            base_url=(self.env.get("GITHUB_API_URL") or DEFAULT_API_URL).strip(),
            policy=RetryPolicy.from_env(self.env),
            write_interval_s=_float(self.env.get("PROMPTREVIEW_GITHUB_WRITE_INTERVAL"), 1.0),
        )
        request = self._rerun(trigger) if isinstance(trigger, RerunCommand) else trigger
        if isinstance(request, Summary):  # the /rerun ends here: denied, or the PR unreadable
            return self._finish(request)
        return self._review(request)

    # -- /rerun ------------------------------------------------------------------------------------------
    def _rerun(self, command: RerunCommand) -> ReviewRequest | Summary:
        """React, check the commenter's rights, and pin the PR's head as it is right now."""
        react(self.api, command.pr_number, command.comment_id, STARTED, self.log)
        decision = authorize(self.api, command.commenter)
        if not decision.allowed:
            self.log.notice(f"/rerun denied: {decision.reason}.")
            react(self.api, command.pr_number, command.comment_id, FAILED, self.log)
            reply(self.api, command.pr_number, denial_reply(DENIED_MARKER), self.log)
            return SKIPPED
        self.log.info(f"/rerun requested by {command.commenter} ({decision.reason}).")
        try:
            pull = self.api.get_pull(command.pr_number)
        except GitHubError as exc:
            react(self.api, command.pr_number, command.comment_id, FAILED, self.log)
            self.log.error(f"promptreview could not read pull request #{command.pr_number}: {exc}")
            return Summary("error", "failure")
        return ReviewRequest(
            repo=command.repo,
            pr_number=command.pr_number,
            base_sha=pull.base_sha,
            head_sha=pull.head_sha,
            requested_by=command.commenter,
            trigger="rerun",
            head_repo=pull.head_repo,
            fresh=command.fresh,
            only_suite=command.only_suite,
            comment_id=command.comment_id,
            html_url=pull.html_url or command.html_url,
        )

    # -- fork PRs ------------------------------------------------------------------------------------------
    def _fork(self, request: ReviewRequest) -> int:
        """A fork's PR gets a read-only token and no secrets: explain, write nothing, exit neutral."""
        origin = request.head_repo or "a deleted fork"
        message = (
            f"This pull request comes from {origin}: its workflow gets a read-only token and no secrets, "
            "so promptreview did not call any model or write to the PR. A maintainer can comment `/rerun` "
            "on the PR to review it with the base repository's permissions."
        )
        self.log.notice(message, title="Prompt review skipped for a fork")
        self._summary(f"## Prompt review skipped\n\n{message}\n")
        return self._finish(SKIPPED)

    # -- the review ----------------------------------------------------------------------------------------
    def _publisher(self, pr_number: int, head_sha: str) -> Publisher:
        bot = identify_bot(self.api, self.env, self.log)
        self.log.info(f"The PR comment is written and found as {bot}.")
        return Publisher(
            api=self.api,
            log=self.log,
            pr_number=pr_number,
            head_sha=head_sha,
            check_name=self.inputs.check_name,
            bot_login=bot,
            run_url=self.run_url,
            marker=sticky_marker(self.inputs.check_name),
            secrets=self.log.secrets,
        )

    def _review(self, request: ReviewRequest) -> int:
        publisher = self._publisher(request.pr_number, request.head_sha)
        self.log.info(
            f"Reviewing pull request #{request.pr_number}: base {request.base_sha[:12]} -> "
            f"head {request.head_sha[:12]}."
        )
        try:
            ensure_commits(
                self.workspace, [request.base_sha, request.head_sha], self.log, pr_number=request.pr_number
            )
            planned = self._plan(request)
            if not planned.plan.suites:
                return self._no_changes(request, publisher)
            placeholder = None
            if self.inputs.comment != "off":
                from promptreview.report import render_placeholder

                placeholder = render_placeholder(
                    request.head_sha, self.run_url, publisher.marker, secrets=self.log.secrets
                )
            publisher.start(placeholder, title="Prompt review running", description="Prompt review running…")
            result = self._run_review(request, planned)
        except PromptReviewError as exc:
            return self._could_not_run(request, publisher, str(exc))
        except Exception as exc:
            if self.env.get("PROMPTREVIEW_DEBUG"):
                raise
            message = f"internal error: {type(exc).__name__}: {exc} (please report it)"
            self._could_not_run(request, publisher, message)
            return EXIT_USAGE
        return self._publish_result(request, publisher, result)

    def _plan(self, request: ReviewRequest) -> PlannedReview:
        """Plan once (git reads only): it tells whether any suite is affected, and the review reuses it."""
        from promptreview.review import plan_review

        return plan_review(self.workspace, request.base_sha, request.head_sha, self._options(request))

    def _options(self, request: ReviewRequest) -> ReviewOptions:
        from promptreview.review import ReviewOptions

        model_env = dict(self.env)
        if self.inputs.github_token and not model_env.get("GITHUB_TOKEN"):
            model_env["GITHUB_TOKEN"] = self.inputs.github_token  # GitHub Models' default credential
        return ReviewOptions(
            config_path=self.inputs.config,
            only_suite=request.only_suite,
            fresh=request.fresh,
            cache_path=str(self.workspace / ARTIFACT_DIR / "cache.sqlite"),
            base_url=self.inputs.base_url,
            api_key=self.inputs.api_key,
            concurrency=self.inputs.concurrency,
            max_calls=self.inputs.max_calls,
            max_cost_usd=self.inputs.max_cost,
            requests_per_minute=self.inputs.requests_per_minute,
            samples=self.inputs.samples,
            model=self.inputs.model,
            judge=self.inputs.judge,
            env=model_env,
            repo_name=request.repo,
            pr_number=request.pr_number,
            run_url=self.run_url,
            diff_url=f"{request.html_url}/files" if request.html_url else None,
        )

    def _run_review(self, request: ReviewRequest, planned: PlannedReview) -> ReviewResult:
        from promptreview.review import review

        options = self._options(request)
        self.log.group("Evaluating")
        try:
            return review(self.workspace, request.base_sha, request.head_sha, options, _progress(self.log),
                          planned=planned)
        finally:
            self.log.endgroup()

    def _publish_result(self, request: ReviewRequest, publisher: Publisher, result: ReviewResult) -> int:
        from promptreview.report import (
            check_output,
            render_comment,
            render_full,
            render_terminal,
            status_description,
        )

        result = self._apply_on_inconclusive(result)
        secrets = self.log.secrets
        # The short text report, for people reading the log; model answers in it are untrusted.
        self.log.untrusted(render_terminal(result, secrets=secrets))
        summary = _summarize(result, *self._write_artifacts(result))
        self._summary(render_full(result, secrets=secrets))
        self._outputs(summary)
        check = check_output(result, secrets=secrets)
        conclusion: Conclusion = result.verdict.conclusion
        outcome = Outcome(
            state=status_state(conclusion),
            conclusion=conclusion,
            description=status_description(result, secrets=secrets),
            comment=None
            if self.inputs.comment == "off"
            else render_comment(result, marker=publisher.marker, secrets=secrets),
            check_title=check["title"],
            check_summary=check["summary"],
            annotations=tuple(check["annotations"]),
        )
        publisher.finish(outcome)
        self._after_publish(request, publisher)
        self.log.info(f"Verdict: {result.verdict.verdict} ({conclusion}).")
        return self._exit_code(conclusion)

    def _apply_on_inconclusive(self, result: ReviewResult) -> ReviewResult:
        """The ``on-inconclusive`` input overrides the conclusion of an inconclusive review."""
        choice = self.inputs.on_inconclusive
        if choice is None or result.verdict.verdict != "inconclusive":
            return result
        mapped: Conclusion = {"neutral": "neutral", "fail": "failure", "pass": "success"}[choice]  # type: ignore[assignment]
        return replace(result, verdict=replace(result.verdict, conclusion=mapped))

    def _write_artifacts(self, result: ReviewResult) -> tuple[str, str]:
        """The HTML report and the JSON result, paths relative to the workspace (for later steps)."""
        from promptreview.report import render_html
        from promptreview.report.jsonio import dumps

        folder = self.workspace / ARTIFACT_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "report.html").write_text(render_html(result, secrets=self.log.secrets), "utf-8")
            (folder / "report.json").write_text(self.log.scrub(dumps(result)), "utf-8")
        except OSError as exc:
            self.log.warning(f"could not write the report files in {folder}: {exc}")
            return "", ""
        return f"{ARTIFACT_DIR}/report.html", f"{ARTIFACT_DIR}/report.json"

    def _no_changes(self, request: ReviewRequest, publisher: Publisher) -> int:
        """Nothing to evaluate: a success status (the required check passes) and, maybe, a comment."""
        description = "no prompt changes"
        span = f"{request.base_sha[:7]}..{request.head_sha[:7]}"
        self.log.notice(f"promptreview: {description} in {span}.")
        body = no_changes_comment(publisher.marker, request.head_sha, self.run_url)
        # on-change posts nothing new, but an earlier report on this PR would now be stale.
        comment = None if self.inputs.comment == "off" else body
        publisher.finish(
            Outcome(
                "success",
                "success",
                description,
                comment,
                "No prompt changes",
                "No prompt, partial, case file or suite definition changed; nothing was evaluated.",
            ),
            create_comment=self.inputs.comment == "always",
        )
        self._after_publish(request, publisher)
        self._summary(f"## Prompt review: no prompt changes\n\nNothing to evaluate in `{span}`.\n")
        return self._finish(Summary("skipped", "success"))

    def _could_not_run(self, request: ReviewRequest, publisher: Publisher, message: str) -> int:
        """The review stopped (bad config, budget, model auth...): say so everywhere, as a failure."""
        self.log.error(f"promptreview could not review {request.head_sha[:7]}: {message}")
        secrets = self.log.secrets
        comment = None
        if self.inputs.comment != "off":
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
        self._summary(error_comment("", message, request.head_sha, self.run_url, secrets))
        return self._finish(Summary("error", "failure"))

    def _after_publish(self, request: ReviewRequest, publisher: Publisher, *, failed: bool = False) -> None:
        if request.comment_id is not None:
            done = FAILED if failed or publisher.failures else DONE
            react(self.api, request.pr_number, request.comment_id, done, self.log)
        if publisher.failures:
            lines = "\n".join(f"- {self.log.scrub(f)}" for f in publisher.failures)
            note = "> [!WARNING]\n> Publishing to GitHub failed; this summary has the report."
            self._summary(f"\n\n{note}\n\n{lines}\n")

    # -- outputs, summary, exit code ----------------------------------------------------------------------
    def _summary(self, markdown: str) -> None:
        try:
            write_step_summary(self.env.get("GITHUB_STEP_SUMMARY"), self.log.scrub(markdown))
        except OSError as exc:
            self.log.warning(f"could not write the step summary: {exc}")

    def _outputs(self, summary: Summary) -> None:
        try:
            write_outputs(self.env.get("GITHUB_OUTPUT"), summary.outputs())
        except OSError as exc:
            self.log.warning(f"could not write the step outputs: {exc}")

    def _finish(self, summary: Summary) -> int:
        self._outputs(summary)
        return self._exit_code(summary.conclusion)

    def _exit_code(self, conclusion: str) -> int:
        return EXIT_FAIL if conclusion == "failure" and self.inputs.fail_on == "fail" else EXIT_OK


def _summarize(result: ReviewResult, report_path: str, json_path: str) -> Summary:
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


def _run_url(env: Mapping[str, str]) -> str | None:
    names = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repo, run_id = (env.get(name, "").strip() for name in names)
    if not (server and repo and run_id):
        return None
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"


def _float(raw: str | None, default: float) -> float:
    try:
        return max(float(raw), 0.0) if raw and raw.strip() else default
    except ValueError:
        return default


def _progress(log: WorkflowLog) -> Callable[[str, int, int], None]:
    """Progress lines at most every 10% or 15 s, so a long run shows life without flooding the log."""
    last = {"pct": -10, "at": 0.0, "stage": ""}

    def show(stage: str, done: int, total: int) -> None:
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
