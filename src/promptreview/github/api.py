"""The seam between promptreview and GitHub's REST API: a small class over PyGithub.

Only this module imports PyGithub. It offers just the calls the action makes, takes and returns
plain values (never PyGithub objects), and turns every failure into one :class:`GitHubError`, so
the rest of the code never learns whether it talks to api.github.com, GitHub Enterprise Server
or the loopback test server (the base URL comes from ``GITHUB_API_URL``).

Retries (DESIGN.md §8) are bounded twice: each wait (``Retry-After``, a rate-limit reset, a
backoff) is capped, and all waits of one run share a budget, so a GitHub incident delays a run by
minutes at most and never hangs the job. A POST that failed with a 5xx may still have been
applied, so it is not retried blindly: the caller retries it with a *recover* step that first
looks for what the failed attempt may have created (the duplicate-comment problem).
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubRetry
from github.GithubException import GithubException
from github.IssueComment import IssueComment
from github.Repository import Repository
from urllib3.response import BaseHTTPResponse

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
WRITE_ROLES = frozenset({"admin", "maintain", "write"})
REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


class GitHubError(Exception):
    """A GitHub API call failed for good (after retries). ``status`` is None for network errors."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def forbidden(self) -> bool:
        """403: the token lacks a permission (fork PR, missing ``checks: write``...)."""
        return self.status == 403


@dataclass(frozen=True)
class RetryPolicy:
    """How long the action may wait on GitHub. Every wait is capped by ``max_wait_s`` and all waits
    of one run together by ``total_wait_s``; ``backoff_s`` scales the exponential backoff."""

    retries: int = 4
    backoff_s: float = 1.0
    max_wait_s: float = 60.0
    total_wait_s: float = 180.0
    post_attempts: int = 3  # tries of a POST whose 5xx may or may not have been applied

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        """``PROMPTREVIEW_GITHUB_BACKOFF`` scales the backoff (tests make it tiny)."""
        raw = env.get("PROMPTREVIEW_GITHUB_BACKOFF", "").strip()
        try:
            return cls(backoff_s=max(float(raw), 0.0)) if raw else cls()
        except ValueError:
            return cls()


class _WaitBudget:
    """The seconds of waiting left for this run, shared by every request's retry state."""

    def __init__(self, seconds: float) -> None:
        self._left = seconds
        self._lock = threading.Lock()

    def take(self, wanted: float) -> float:
        with self._lock:
            granted = max(min(wanted, self._left), 0.0)
            self._left -= granted
            return granted


class BoundedRetry(GithubRetry):
    """PyGithub's retry (rate-limit aware) with capped waits, a shared wait budget, and no blind
    retry of a POST that got a 5xx (it may have been applied; see the module docstring)."""

    def __init__(self, *, max_wait_s: float = 60.0, budget: _WaitBudget | None = None, **kwargs: Any) -> None:
        self.max_wait_s = max_wait_s
        self.budget = budget or _WaitBudget(180.0)
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault("allowed_methods", frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"}))
        kwargs.setdefault("raise_on_status", False)  # give PyGithub the last answer, with its status
        kwargs.setdefault("max_rate_limit_wait", max_wait_s)
        kwargs.setdefault("secondary_rate_wait", min(60.0, max_wait_s))
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> BoundedRetry:
        kw.update(max_wait_s=self.max_wait_s, budget=self.budget)
        return super().new(**kw)  # type: ignore[return-value]

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST" and status_code >= 500:
            return False
        return bool(super().is_retry(method, status_code, has_retry_after))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        wanted = self._wanted_wait(response)
        granted = self.budget.take(min(wanted, self.max_wait_s))
        if granted > 0:
            time.sleep(granted)

    def _wanted_wait(self, response: BaseHTTPResponse | None) -> float:
        """Retry-After first, then a spent quota's reset time, then the (rate-limit aware) backoff."""
        if response is not None:
            after = response.headers.get("Retry-After")
            if after:
                return _parse_retry_after(after)
            if response.headers.get("X-RateLimit-Remaining") == "0":
                reset = response.headers.get("X-RateLimit-Reset", "")
                if reset.isdigit():
                    return max(int(reset) - time.time(), 0.0) + 1.0
        return float(self.get_backoff_time())


def _parse_retry_after(value: str) -> float:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    return max(moment.timestamp() - time.time(), 0.0)


@dataclass(frozen=True)
class PullInfo:
    """What the action needs about a PR, read at one moment."""

    number: int
    head_sha: str
    base_sha: str
    head_repo: str | None  # None when the fork was deleted
    base_repo: str
    state: str
    html_url: str | None = None


@dataclass(frozen=True)
class CommentInfo:
    id: int
    body: str
    login: str
    user_type: str


@dataclass
class GitHubApi:
    """The GitHub calls promptreview makes, for one repository and one token.

    Writes are sequential by construction (one thread, one call at a time) and spaced by
    ``write_interval_s``, as GitHub asks of integrations to avoid secondary rate limits.
    """

    repo_name: str
    token: str = field(repr=False)
    base_url: str = DEFAULT_API_URL
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    write_interval_s: float = 1.0
    timeout_s: int = 30
    _github: Github = field(init=False, repr=False)
    _repo: Repository = field(init=False, repr=False)
    _comments: dict[int, IssueComment] = field(init=False, repr=False)  # PyGithub objects, by id
    _budget: _WaitBudget = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._budget = _WaitBudget(self.policy.total_wait_s)
        retry = BoundedRetry(
            total=self.policy.retries,
            backoff_factor=self.policy.backoff_s,
            max_wait_s=self.policy.max_wait_s,
            budget=self._budget,
        )
        self._github = Github(
            base_url=self.base_url.rstrip("/"),
            auth=Auth.Token(self.token),
            retry=retry,
            timeout=self.timeout_s,
            per_page=100,
            lazy=True,  # no GET before a write: objects are built from URLs
            seconds_between_requests=None,
            seconds_between_writes=self.write_interval_s or None,
            user_agent="promptreview",
        )
        self._repo = self._github.get_repo(self.repo_name)
        self._comments = {}

    # -- identity and permissions --------------------------------------------------------------
    def authenticated_login(self) -> str | None:
        """``GET /user``; None when the token may not ask (GITHUB_TOKEN answers 403)."""
        try:
            return str(_call(lambda: self._github.get_user().login))
        except GitHubError as exc:
            if exc.status in (401, 403, 404):
                return None
            raise

    def collaborator_permission(self, login: str) -> str:
        """``admin``, ``write``, ``read`` or ``none`` (``maintain`` reads as ``write`` here)."""
        return str(_call(lambda: self._repo.get_collaborator_permission(login)))

    # -- pull requests and comments ---------------------------------------------------------------
    def get_pull(self, number: int) -> PullInfo:
        def read() -> PullInfo:
            data = self._repo.get_pull(number).raw_data
            head_repo = (data.get("head") or {}).get("repo") or {}
            base_repo = (data.get("base") or {}).get("repo") or {}
            return PullInfo(
                number=int(data["number"]),
                head_sha=str(data["head"]["sha"]),
                base_sha=str(data["base"]["sha"]),
                head_repo=head_repo.get("full_name"),
                base_repo=str(base_repo.get("full_name") or self.repo_name),
                state=str(data.get("state", "open")),
                html_url=data.get("html_url"),
            )

        return _call(read)

    def iter_comments(self, number: int) -> Iterator[CommentInfo]:
        """Every conversation comment of the PR, oldest first, across all pages."""
        pages = self._repo.get_issue(number).get_comments()
        iterator = iter(pages)
        while True:
            found = _call(lambda: next(iterator, None))
            if found is None:
                return
            self._comments[found.id] = found
            yield _comment_info(found)

    def create_comment(
        self, number: int, body: str, recover: Callable[[], CommentInfo | None] | None = None
    ) -> CommentInfo:
        """Post a conversation comment; ``recover`` finds it if a failed attempt created it after all."""

        def create() -> CommentInfo:
            created = self._repo.get_issue(number).create_comment(body)
            self._comments[created.id] = created
            return _comment_info(created)

        return self.post(create, recover)

    def edit_comment(self, number: int, comment_id: int, body: str) -> None:
        comment = self._comment(number, comment_id)
        _call(lambda: comment.edit(body))

    def add_reaction(self, number: int, comment_id: int, content: str) -> None:
        """React to a conversation comment; GitHub answers 200 for a reaction that already exists."""
        if content not in REACTIONS:
            raise ValueError(f"unknown reaction {content!r}")
        comment = self._comment(number, comment_id)
        self.post(lambda: comment.create_reaction(content))

    def _comment(self, number: int, comment_id: int) -> IssueComment:
        if comment_id not in self._comments:
            self._comments[comment_id] = self._repo.get_issue(number).get_comment(comment_id)  # lazy: no GET
        return self._comments[comment_id]

    # -- statuses and check runs --------------------------------------------------------------------
    def create_status(
        self, sha: str, state: str, *, context: str, description: str, target_url: str | None
    ) -> None:
        """A commit status; posting it twice is harmless (the latest per context wins)."""
        commit = self._repo.get_commit(sha)

        def post() -> object:
            kwargs: dict[str, Any] = {"context": context, "description": description}
            if target_url:
                kwargs["target_url"] = target_url
            return commit.create_status(state, **kwargs)

        self.post(post)

    def create_check_run(self, name: str, head_sha: str, **fields: Any) -> int:
        """Create a check run and return its id (``fields``: status, conclusion, output, ...)."""
        created = self.post(lambda: self._repo.create_check_run(name=name, head_sha=head_sha, **fields))
        return int(created.id)

    def list_check_runs(self, sha: str, name: str) -> list[tuple[int, str]]:
        """``(id, status)`` of the check runs named ``name`` on ``sha``, newest first."""
        runs = self._repo.get_commit(sha).get_check_runs(check_name=name)
        return _call(lambda: [(int(r.id), str(r.status)) for r in runs])

    def update_check_run(self, check_run_id: int, **fields: Any) -> None:
        """PATCH a check run; annotations in ``output`` are appended to those already there."""
        run = self._repo.get_check_run(check_run_id)  # lazy: no GET
        _call(lambda: run.edit(**fields))

    # -- POST with recovery ----------------------------------------------------------------------------
    def post(self, do: Callable[[], T], recover: Callable[[], T | None] | None = None) -> T:
        """Run a POST; after a 5xx (maybe applied, maybe not), ask ``recover`` for what the failed
        attempt created before trying again. Rate limits were already waited out by the retry."""
        last: GitHubError | None = None
        for attempt in range(self.policy.post_attempts):
            if attempt:
                wait = min(self.policy.backoff_s * 2 ** (attempt - 1), self.policy.max_wait_s)
                time.sleep(self._budget.take(wait))
                if recover is not None:
                    found = recover()
                    if found is not None:
                        return found
            try:
                return _call(do)
            except GitHubError as exc:
                if exc.status is not None and exc.status < 500:
                    raise
                last = exc
        assert last is not None
        raise last


def _comment_info(comment: IssueComment) -> CommentInfo:
    # Attributes, not ``raw_data``: on a listed comment ``raw_data`` would GET it again.
    user = comment.user
    return CommentInfo(
        id=int(comment.id),
        body=str(comment.body or ""),
        login=str(user.login or "") if user is not None else "",
        user_type=str(user.type or "User") if user is not None else "User",
    )


def _call(fn: Callable[[], T]) -> T:
    """Run one PyGithub call, turning every way it can fail into :class:`GitHubError`."""
    try:
        return fn()
    except GithubException as exc:
        raise GitHubError(_message(exc), exc.status) from exc
    except requests.RequestException as exc:
        raise GitHubError(f"network error talking to GitHub: {type(exc).__name__}: {exc}") from exc


def _message(exc: GithubException) -> str:
    """GitHub's own message and, for a 422, the field errors (e.g. "Body is too long")."""
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.message or "no message")
    errors: Sequence[Any] = data.get("errors") or ()
    details = [str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)]
    if details:
        message += " (" + "; ".join(details) + ")"
    return f"GitHub answered {exc.status}: {message}"
