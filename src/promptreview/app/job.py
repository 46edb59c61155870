"""One App job: the App's side of the core (installation token, temporary bare clone, no files).

For each job the App's JWT (PyGithub's ``Auth.AppAuth``) is exchanged for a fresh installation
token. The token lives in memory and in the git process's environment only (``GIT_CONFIG_*``, not
argv, not a config file), is scrubbed from every log line, and dies with the job. The repository
content comes from a bare ``git fetch`` of exactly the base and head commits into a temporary
directory that is removed when the job ends; nothing is checked out, nothing from the PR runs.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from promptreview.app.config import AppConfig
from promptreview.app.events import Job, trigger_from_json
from promptreview.app.log import JobLog
from promptreview.errors import PromptReviewError
from promptreview.github.api import GitHubApi, RetryPolicy
from promptreview.github.core import Finished, Setup, Summary, respond

if TYPE_CHECKING:
    from promptreview.review_result import ReviewResult

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_bot_logins: dict[tuple[str, str], str] = {}
_bot_lock = threading.Lock()


class AppAuthError(PromptReviewError):
    """The App could not authenticate (bad key, wrong id, installation gone)."""


class FetchError(PromptReviewError):
    """The base or head commit could not be fetched with the installation token."""


@dataclass
class Credentials:
    token: str
    bot_login: str


def installation_credentials(config: AppConfig, installation_id: int) -> Credentials:
    """A fresh installation token, and the login the App comments as (``<slug>[bot]``)."""
    from github import Auth, GithubException, GithubIntegration

    integration = GithubIntegration(
        auth=Auth.AppAuth(int(config.app_id), config.private_key),
        base_url=config.api_url,
        user_agent="promptreview",
        seconds_between_requests=None,
    )
    try:
        token = integration.get_access_token(installation_id).token
        key = (config.api_url, config.app_id)
        with _bot_lock:
            login = _bot_logins.get(key)
        if login is None:
            login = f"{integration.get_app().slug}[bot]"
            with _bot_lock:
                _bot_logins[key] = login
    except GithubException as exc:
        message = (exc.data or {}).get("message") if isinstance(exc.data, dict) else None
        raise AppAuthError(
            f"GitHub refused the App's credentials for installation {installation_id}: "
            f"{exc.status} {message or ''}".strip()
        ) from None
    return Credentials(str(token), login)


class AppDoor:
    """The core's front door for one job (see ``github/core.py``'s ``FrontDoor``)."""

    def __init__(
        self,
        config: AppConfig,
        job: Job,
        token: str,
        workdir: Path,
        log: JobLog,
        cancelled: Callable[[], None],
    ) -> None:
        self.config = config
        self.job = job
        self.token = token
        self.workdir = workdir
        self.log = log
        self._cancelled = cancelled
        self.summary_value: Summary | None = None
        self.model_calls = 0

    def connect(self, repo: str) -> GitHubApi | None:
        return GitHubApi(
            repo,
            self.token,
            base_url=self.config.api_url,
            policy=RetryPolicy.from_env(self.config.model_env),
            write_interval_s=_write_interval(self.config.model_env),
        )

    def fetch(self, shas: Sequence[str], pr_number: int) -> Path:
        """A bare repository holding exactly ``shas`` (shallow), fetched with the installation token."""
        for sha in shas:
            if not _SHA.fullmatch(sha):  # it becomes a git argument: never let it look like an option
                raise FetchError(f"{sha!r} is not a commit SHA")
        repo = self.workdir / "repo.git"
        url = f"{self.config.server_url}/{self.job.repo}.git"
        self._git("init", "--quiet", "--bare", str(repo), cwd=self.workdir)
        wanted = list(dict.fromkeys(shas))
        attempts = [
            ["fetch", "--quiet", "--no-tags", "--depth=1", url, *wanted],
            ["fetch", "--quiet", "--no-tags", url, f"+refs/pull/{pr_number}/head:refs/pr/head", *wanted],
        ]
        problem = ""
        for args in attempts:
            try:
                self._git(*args, cwd=repo)
                return repo
            except FetchError as exc:
                problem = str(exc)
        raise FetchError(f"could not fetch {', '.join(s[:7] for s in wanted)} from {url}: {problem}")

    def _git(self, *args: str, cwd: Path) -> None:
        basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),  # no user config, no credential helpers
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            "LC_ALL": "C",
        }
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False, timeout=600)
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise FetchError(self.log.scrub(lines[-1] if lines else f"git exited {proc.returncode}"))

    def summary(self, markdown: str) -> None:
        """The App has no step summary: the PR comment and the check are the report."""

    def outputs(self, summary: Summary) -> None:
        self.summary_value = summary

    def artifacts(self, result: ReviewResult) -> tuple[str, str]:
        usage = result.usage
        self.model_calls = usage.base.calls + usage.head.calls + usage.judge.calls
        return "", ""

    def cancelled(self) -> None:
        self._cancelled()


def run_job(config: AppConfig, job: Job, log: JobLog, cancelled: Callable[[], None]) -> tuple[Finished, int]:
    """Run ``job`` to a published result; returns how it finished and the model calls it made."""
    cancelled()  # superseded while queued: not even a token request
    credentials = installation_credentials(config, job.installation_id)
    log.add_secrets([credentials.token])
    with tempfile.TemporaryDirectory(prefix="promptreview-job-") as tmp:
        door = AppDoor(config, job, credentials.token, Path(tmp), log, cancelled)
        setup = Setup(
            settings=config.settings,
            log=log,
            env={"PROMPTREVIEW_BOT_LOGIN": credentials.bot_login},
            model_env=config.model_env,
            cache_path=config.cache_path,
            review_forks=config.review_forks,
            adopt_check=True,
        )
        finished = respond(trigger_from_json(job.trigger), door, setup)
    return finished, door.model_calls


def _write_interval(env: Mapping[str, str]) -> float:
    raw = env.get("PROMPTREVIEW_GITHUB_WRITE_INTERVAL", "")
    try:
        return max(float(raw), 0.0) if raw.strip() else 1.0
    except ValueError:
        return 1.0
