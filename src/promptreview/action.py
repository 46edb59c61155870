"""``promptreview action``: the container action's entrypoint, run by the Actions runner.

This is the Actions front door of the core (``github/core.py``, shared with the GitHub App): it
keeps only what is the runner's.

1. masks the secrets before printing anything else;
2. reads the inputs (``INPUT_<NAME>``, hyphens kept) and the event (``github/event.py``);
3. gives the core its GitHub client (the ``github-token`` input), the workspace (fetching the base
   and head commits if the checkout lacks them) and the cache location;
4. takes the core's side outputs: the step summary, the step outputs and the report files;
5. exits non-zero only for a failing verdict with ``fail-on: fail`` (2 for a usage error).

Publishing problems never change the exit code: the summary and outputs carry the verdict.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from promptreview.errors import PromptReviewError
from promptreview.github.api import DEFAULT_API_URL, GitHubApi, RetryPolicy
from promptreview.github.core import (
    DENIED_MARKER,
    OUTPUTS,
    SKIPPED,
    CommentMode,
    Conclusion,
    ReviewSettings,
    Setup,
    Summary,
    Verdict,
    respond,
)
from promptreview.github.event import load_event
from promptreview.github.workflow_log import WorkflowLog, write_outputs, write_step_summary
from promptreview.github.workspace import ensure_commits
from promptreview.trusted_state import (
    ARTIFACT_DIR,
    CACHE_NAME,
    action_state_dir,
    artifact_dir_problem,
    refusal_note,
    write_report_files,
)

if TYPE_CHECKING:
    from promptreview.review_result import ReviewResult

__all__ = ["DENIED_MARKER", "OUTPUTS", "SKIPPED", "ActionError", "ActionInputs", "Conclusion", "Summary",
           "Verdict", "run_action"]

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
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


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

    def settings(self) -> ReviewSettings:
        """What the core needs of the inputs (the token and ``fail-on`` stay with the runner)."""
        return ReviewSettings(
            config=self.config,
            model=self.model,
            judge=self.judge,
            base_url=self.base_url,
            api_key=self.api_key,
            samples=self.samples,
            concurrency=self.concurrency,
            comment=self.comment,
            check_name=self.check_name,
            on_inconclusive=self.on_inconclusive,
            max_calls=self.max_calls,
            max_cost=self.max_cost,
            requests_per_minute=self.requests_per_minute,
        )


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
    """One run of the action: the runner's side of the core (env, inputs, workspace, summary, outputs)."""

    def __init__(self, env: Mapping[str, str], log: WorkflowLog) -> None:
        self.env = env
        self.log = log
        self.workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
        self.run_url = _run_url(env)
        self.artifact_problem: str | None = None
        self.state_kept = True

    def run(self) -> int:
        try:
            self.inputs = ActionInputs.from_env(self.env)
            trigger = load_event(self.env)
        except PromptReviewError as exc:
            self.log.error(f"promptreview: {exc}")
            return EXIT_USAGE
        model_env = dict(self.env)
        if self.inputs.github_token and not model_env.get("GITHUB_TOKEN"):
            model_env["GITHUB_TOKEN"] = self.inputs.github_token  # GitHub Models' default credential
        cache_path, notes = self._trusted_state()
        setup = Setup(
            settings=self.inputs.settings(),
            log=self.log,
            env=self.env,
            model_env=model_env,
            cache_path=cache_path,
            run_url=self.run_url,
            notes=notes,
        )
        finished = respond(trigger, self, setup)
        if finished.usage or finished.summary is None:
            return EXIT_USAGE
        if finished.internal:
            return EXIT_USAGE
        return self._exit_code(finished.summary.conclusion)

    def _trusted_state(self) -> tuple[str, tuple[str, ...]]:
        """The answer cache outside the workspace, and a refusal of a ``.promptreview/`` the PR may own.

        The workspace is the PR's merge commit: a cache committed there would hand the review its
        answers and judge verdicts (see ``trusted_state.py``). Returns the cache path and the notes
        the report carries.
        """
        state, self.state_kept = action_state_dir(self.env, self.workspace)
        self.artifact_problem = artifact_dir_problem(self.workspace)
        notes = (refusal_note(self.artifact_problem),) if self.artifact_problem else ()
        return str(state / CACHE_NAME), notes

    # -- the front door's side of the core (github/core.py) ------------------------------------------------
    def connect(self, repo: str) -> GitHubApi | None:
        token = self.inputs.github_token or self.env.get("GITHUB_TOKEN", "").strip()
        if not token:
            self.log.error("promptreview: no GitHub token: set the `github-token` input")
            return None
        return GitHubApi(
            repo,
            token,
            base_url=(self.env.get("GITHUB_API_URL") or DEFAULT_API_URL).strip(),
            policy=RetryPolicy.from_env(self.env),
            write_interval_s=_float(self.env.get("PROMPTREVIEW_GITHUB_WRITE_INTERVAL"), 1.0),
        )

    def fetch(self, shas: Sequence[str], pr_number: int) -> Path:
        ensure_commits(self.workspace, list(shas), self.log, pr_number=pr_number)
        if not self.state_kept:
            self.log.notice(
                "promptreview: $HOME is not a folder outside the workspace, so answers are cached in a "
                "temporary folder and not kept for the next run."
            )
        if self.artifact_problem:
            self.log.warning(f"promptreview: {refusal_note(self.artifact_problem)}.")
        return self.workspace

    def cancelled(self) -> None:
        """A workflow run is cancelled by the runner itself (concurrency groups), never from here."""

    def artifacts(self, result: ReviewResult) -> tuple[str, str]:
        """The HTML report and the JSON result, paths relative to the workspace (for later steps)."""
        from promptreview.report import render_html
        from promptreview.report.jsonio import dumps

        if self.artifact_problem:
            return "", ""  # refused, and said so when the workspace was fetched
        files = {
            "report.html": render_html(result, secrets=self.log.secrets),
            "report.json": self.log.scrub(dumps(result)),
        }
        try:
            write_report_files(self.workspace, files)
        except OSError as exc:
            folder = self.workspace / ARTIFACT_DIR
            self.log.warning(f"could not write the report files in {folder} (no symlink is followed): {exc}")
            return "", ""
        return f"{ARTIFACT_DIR}/report.html", f"{ARTIFACT_DIR}/report.json"

    def summary(self, markdown: str) -> None:
        try:
            write_step_summary(self.env.get("GITHUB_STEP_SUMMARY"), self.log.scrub(markdown))
        except OSError as exc:
            self.log.warning(f"could not write the step summary: {exc}")

    def outputs(self, summary: Summary) -> None:
        try:
            write_outputs(self.env.get("GITHUB_OUTPUT"), summary.outputs())
        except OSError as exc:
            self.log.warning(f"could not write the step outputs: {exc}")

    def _exit_code(self, conclusion: str) -> int:
        return EXIT_FAIL if conclusion == "failure" and self.inputs.fail_on == "fail" else EXIT_OK


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
