"""A loopback GitHub REST API for tests: real HTTP on 127.0.0.1, answers held to GitHub's spec.

Point PyGithub (or anything else) at ``server.url`` through ``GITHUB_API_URL`` and the code
under test talks HTTP to a server that:

* keeps the state a user would look at on the PR page (repositories with real git objects,
  pull requests, comments and their reactions, commit statuses, check runs, collaborator
  permissions), so tests assert on *what GitHub would show*, not on which calls were made;
* builds every answer from GitHub's own example for the operation (``openapi-subset.json``)
  with the fields that matter overridden from that state;
* validates every request body and every response body against the operation's schema and
  records each breach in ``contract_violations`` (``assert_contract_clean()`` fails a test);
* behaves like GitHub where clients commonly get it wrong: ``Link`` pagination through
  ``/repositories/{id}/...`` URLs, 401/403/404/422 bodies with GitHub's wording, read-only
  fork tokens, installation tokens that cannot call ``GET /user``, PATs that cannot create
  check runs, the undocumented 65536-character comment limit and 140/255 status limits;
* lets a test inject faults (rate limits, 5xx, 422) per method and path.

Everything runs in one process; the server is cheap to start (the spec is parsed once per
process) so each test can have its own::

    with running_github_server() as gh:  # or the ``github_server`` pytest fixture
        pr = gh.open_pull_request("acme/prompts", base_files={"p.md": "v1"}, head_changes={"p.md": "v2"})
        env = {"GITHUB_API_URL": gh.url, "INPUT_GITHUB-TOKEN": ACTIONS_TOKEN}  # FORK_TOKEN: a fork PR
        ...  # run the code under test
        [report] = gh.comments("acme/prompts", pr.number)
        [status] = gh.statuses("acme/prompts", pr.head_sha)

Two things real GitHub does that surprise code written against a laxer fake: PyGithub waits
1 s between writes by default (``seconds_between_writes``), and ``GITHUB_TOKEN`` cannot
call ``GET /user`` (403), so the bot's own login must come from elsewhere.
"""

from __future__ import annotations

import base64
import copy
import difflib
import hashlib
import itertools
import json
import math
import re
import socket
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal

try:  # the pytest fixture is optional: the server itself does not need pytest
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

from .github_app import JWT_OPERATIONS, OP_LIST_CHECKS, AppSupport
from .openapi_contract import (
    Contract,
    Operation,
    SchemaProblem,
    extra_response_problems,
    extra_route,
    github_invalid_request_message,
    load_contract,
)

Json = Any
AccountType = Literal["User", "Bot", "Organization"]
Role = Literal["admin", "maintain", "write", "triage", "read", "none"]
ChangeStatus = Literal["added", "removed", "modified", "renamed"]
ViolationKind = Literal["request", "response", "limit", "unknown-endpoint", "bad-json", "server-error"]

API_VERSION: Final = "2022-11-28"
JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"
REST_DOCS: Final = "https://docs.github.com/rest"
RATE_LIMIT_DOCS: Final = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_RATE_LIMIT_DOCS: Final = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
# The wording PyGithub's GithubRetry and Requester recognise (apache/devlake#1322 shows it verbatim).
SECONDARY_RATE_LIMIT_MESSAGE: Final = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
NOT_ACCESSIBLE: Final = "Resource not accessible by integration"
COMMENT_BODY_LIMIT: Final = 65536
STATUS_DESCRIPTION_LIMIT: Final = 140
STATUS_CONTEXT_LIMIT: Final = 255
MAX_PER_PAGE: Final = 100
DEFAULT_PER_PAGE: Final = 30
REACTIONS: Final = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
ROLES: Final = ("admin", "maintain", "write", "triage", "read", "none")
WRITE_ROLES: Final = frozenset({"admin", "maintain", "write"})

# The identity GITHUB_TOKEN acts as, with the real ids, so payloads look like an Actions run.
ACTIONS_BOT_LOGIN: Final = "github-actions[bot]"
ACTIONS_BOT_ID: Final = 41898282
ACTIONS_APP: Final = {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"}

# Tokens every server knows, so most tests need no token setup at all.
ACTIONS_TOKEN: Final = "ghs_loopbackActionsToken0000000000000000"  # GITHUB_TOKEN of a same-repo PR
FORK_TOKEN: Final = "ghs_loopbackForkReadOnlyToken00000000000"  # GITHUB_TOKEN of a fork PR (read-only)
USER_TOKEN: Final = "ghp_loopbackOctocatPersonalToken00000000"  # a PAT of user "octocat"
DEFAULT_USER: Final = "octocat"


class _SameRepo:
    """Marker: a PR whose head branch lives in the base repository (the common case)."""

    def __repr__(self) -> str:
        return "SAME_REPO"


SAME_REPO: Final = _SameRepo()


# ---------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    """GitHub's timestamp format: UTC, second precision, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int) -> str:
    """A legacy global node id (``base64("010:Repository1296269")``), the shape GitHub examples use."""
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def wrapped_base64(data: bytes) -> str:
    """Base64 split into 60-character lines, as the contents and blobs APIs send it."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def _as_bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _git_hash(kind: str, payload: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(payload)}\0".encode() + payload, usedforsecurity=False).hexdigest()


def _int_param(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def error_body(message: str, docs_url: str, status: int, **extra: Json) -> dict[str, Json]:
    """GitHub's error document; since 2024 it carries the status as a string too."""
    return {"message": message, "documentation_url": docs_url, **extra, "status": str(status)}


# ---------------------------------------------------------------------------------------
# git objects: content-addressed like git, so shas, trees and diffs are the real thing
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TreeEntry:
    name: str
    mode: str  # "100644" blob, "40000" tree
    sha: str

    @property
    def kind(self) -> str:
        return "tree" if self.mode == "40000" else "blob"


@dataclass(frozen=True)
class GitCommit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: str
    date: str


@dataclass(frozen=True)
class FileChange:
    """One entry of a PR's or comparison's file list (GitHub's "diff-entry")."""

    filename: str
    status: ChangeStatus
    sha: str
    additions: int
    deletions: int
    patch: str | None
    previous_filename: str | None = None


class GitStore:
    """Blobs, trees and commits shared by every repository, like a fork network on GitHub.

    A fork's PR head commit is readable from the base repository on GitHub (through
    ``refs/pull/N/head``), so one store for all repositories is the faithful choice.
    """

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, tuple[TreeEntry, ...]] = {}
        self.commits: dict[str, GitCommit] = {}

    def write_blob(self, data: bytes) -> str:
        sha = _git_hash("blob", data)
        self.blobs[sha] = data
        return sha

    def write_tree(self, files: Mapping[str, bytes]) -> str:
        """Write nested trees for ``{"dir/file.txt": bytes}`` and return the root tree sha."""
        nested: dict[str, Any] = {}
        for path, data in files.items():
            *dirs, leaf = path.strip("/").split("/")
            node = nested
            for part in dirs:
                node = node.setdefault(part, {})
            node[leaf] = data
        return self._write_nested(nested)

    def _write_nested(self, node: Mapping[str, Any]) -> str:
        entries = []
        for name, value in node.items():
            if isinstance(value, dict):
                entries.append(TreeEntry(name, "40000", self._write_nested(value)))
            else:
                entries.append(TreeEntry(name, "100644", self.write_blob(value)))
        # git orders tree entries by name, with directories compared as "name/"
        entries.sort(key=lambda e: e.name + ("/" if e.kind == "tree" else ""))
        payload = b"".join(f"{e.mode} {e.name}\0".encode() + bytes.fromhex(e.sha) for e in entries)
        sha = _git_hash("tree", payload)
        self.trees[sha] = tuple(entries)
        return sha

    def write_commit(
        self, tree: str, parents: Sequence[str], message: str, author: str, date: str, sha: str | None = None
    ) -> GitCommit:
        stamp = int(datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
        ident = f"{author} <{author}@users.noreply.github.com> {stamp} +0000"
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents), f"author {ident}", f"committer {ident}"]
        payload = ("\n".join(lines) + f"\n\n{message}\n").encode()
        commit = GitCommit(sha or _git_hash("commit", payload), tree, tuple(parents), message, author, date)
        self.commits[commit.sha] = commit
        return commit

    def files_at(self, tree_sha: str, prefix: str = "") -> dict[str, str]:
        """``{path: blob sha}`` for every file below ``tree_sha``."""
        found: dict[str, str] = {}
        for entry in self.trees.get(tree_sha, ()):
            path = f"{prefix}{entry.name}"
            if entry.kind == "tree":
                found.update(self.files_at(entry.sha, path + "/"))
            else:
                found[path] = entry.sha
        return found

    def walk_tree(self, tree_sha: str, recursive: bool, prefix: str = "") -> list[tuple[str, TreeEntry]]:
        """``(path, entry)`` pairs in git's order, descending into subtrees when ``recursive``."""
        listed: list[tuple[str, TreeEntry]] = []
        for entry in self.trees.get(tree_sha, ()):
            path = f"{prefix}{entry.name}"
            listed.append((path, entry))
            if recursive and entry.kind == "tree":
                listed.extend(self.walk_tree(entry.sha, True, path + "/"))
        return listed

    def lookup(self, tree_sha: str, path: str) -> TreeEntry | None:
        """The entry at ``path`` below ``tree_sha`` (a synthetic tree entry for the root)."""
        entry: TreeEntry | None = TreeEntry("", "40000", tree_sha)
        for part in [p for p in path.strip("/").split("/") if p]:
            if entry is None or entry.kind != "tree":
                return None
            entry = next((e for e in self.trees.get(entry.sha, ()) if e.name == part), None)
        return entry

    def ancestry(self, sha: str) -> list[str]:
        """``sha`` and its ancestors, nearest first (breadth first over parents)."""
        seen: dict[str, None] = {}
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.commits:
                continue
            seen[current] = None
            queue.extend(self.commits[current].parents)
        return list(seen)

    def merge_base(self, base: str, head: str) -> str | None:
        base_side = set(self.ancestry(base))
        return next((sha for sha in self.ancestry(head) if sha in base_side), None)

    def diff(self, old_commit: str | None, new_commit: str) -> list[FileChange]:
        """Files changed from ``old_commit`` to ``new_commit``; exact-content moves are renames."""
        old = self.files_at(self.commits[old_commit].tree) if old_commit in self.commits else {}
        new = self.files_at(self.commits[new_commit].tree) if new_commit in self.commits else {}
        removed = {path: sha for path, sha in old.items() if path not in new}
        renamed_from: dict[str, str] = {}
        for path, sha in new.items():
            if path not in old:
                source = next(
                    (p for p, s in removed.items() if s == sha and p not in renamed_from.values()), None
                )
                if source is not None:
                    renamed_from[path] = source
        changes = []
        for path in sorted(set(old) | set(new)):
            if path in renamed_from.values():
                continue
            if path in renamed_from:
                changes.append(
                    self._change(path, "renamed", old[renamed_from[path]], new[path], renamed_from[path])
                )
            elif path not in old:
                changes.append(self._change(path, "added", None, new[path]))
            elif path not in new:
                changes.append(self._change(path, "removed", old[path], None))
            elif old[path] != new[path]:
                changes.append(self._change(path, "modified", old[path], new[path]))
        return changes

    def _change(
        self, path: str, status: ChangeStatus, old: str | None, new: str | None, previous: str | None = None
    ) -> FileChange:
        before = self.blobs.get(old, b"") if old else b""
        after = self.blobs.get(new, b"") if new else b""
        additions, deletions, patch = _unified_patch(before, after)
        return FileChange(path, status, new or old or "", additions, deletions, patch, previous)


def _unified_patch(before: bytes, after: bytes) -> tuple[int, int, str | None]:
    """GitHub's ``patch`` field: unified hunks without the ---/+++ header; none for binaries."""
    if b"\0" in before or b"\0" in after:
        return 0, 0, None
    old_lines = before.decode("utf-8", "replace").splitlines()
    new_lines = after.decode("utf-8", "replace").splitlines()
    hunks = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=3))[2:]
    additions = sum(1 for line in hunks if line.startswith("+"))
    deletions = sum(1 for line in hunks if line.startswith("-"))
    return additions, deletions, ("\n".join(hunks) if hunks else None)


# ---------------------------------------------------------------------------------------
# state: what a user would see on github.com, and what tests assert on
# ---------------------------------------------------------------------------------------
@dataclass
class Account:
    login: str
    type: AccountType
    id: int


@dataclass
class Token:
    """A credential. Bot tokens act as a GitHub App installation (like GITHUB_TOKEN)."""

    token: str
    account: Account
    read_only: bool
    limit: int
    used: int = 0

    @property
    def is_installation(self) -> bool:
        return self.account.type == "Bot"


@dataclass
class Reaction:
    id: int
    content: str
    user: str
    user_type: AccountType
    created_at: str


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    user: str
    user_type: AccountType
    created_at: str
    updated_at: str
    author_association: str
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str
    updated_at: str


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: str | None
    completed_at: str | None
    details_url: str | None
    external_id: str
    output_title: str | None
    output_summary: str | None
    output_text: str | None
    annotations: list[dict[str, Json]]
    images: list[dict[str, Json]]
    actions: list[dict[str, Json]]
    check_suite_id: int
    created_by: str
    updates: int = 0


@dataclass
class Pull:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: Literal["open", "closed"]
    draft: bool
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    head_repo: str | None  # full name; differs for forks; None once the fork is deleted
    created_at: str
    updated_at: str


@dataclass
class Issue:
    """A plain issue (PRs are issues too on GitHub, and share its numbering)."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: Literal["open", "closed"]
    created_at: str
    updated_at: str


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    owner_id: int
    owner_type: AccountType
    default_branch: str
    private: bool
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: dict[str, list[Status]] = field(default_factory=dict)
    check_runs: dict[int, CheckRun] = field(default_factory=dict)
    fork_of: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, with the answer it gave."""

    method: str
    path: str
    query: dict[str, str]
    body: Json
    status: int
    operation: str | None
    login: str | None
    injected: bool
    headers: dict[str, str]
    response: Json
    response_headers: dict[str, str]


@dataclass(frozen=True)
class ContractViolation:
    """A request or response that breaks GitHub's description (or a documented GitHub limit)."""

    kind: ViolationKind
    operation: str | None
    method: str
    path: str
    status: int
    problems: tuple[str, ...]

    def __str__(self) -> str:
        listed = "\n    ".join(self.problems)
        return f"[{self.kind}] {self.method} {self.path} -> {self.status} ({self.operation})\n    {listed}"


@dataclass
class Fault:
    """An answer to give instead of (or after) the real one; see GitHubServer.inject."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: Json
    headers: dict[str, str]
    remaining: int | None
    applied: bool
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and self.pattern.search(path) is not None


@dataclass
class Reply:
    status: int
    body: Json = None
    headers: dict[str, str] = field(default_factory=dict)
    violation: ViolationKind | None = None
    problems: tuple[str, ...] = ()


@dataclass
class Call:
    """A routed request, as handlers see it."""

    method: str
    path: str  # without prefix and query, /repositories/{id} already mapped to /repos/{o}/{r}
    link_path: str  # the path Link headers should use (GitHub uses /repositories/{id}/...)
    query: dict[str, str]
    body: Json
    params: dict[str, str]
    operation: Operation | None
    operation_key: str
    token: Token
    repo: Repo | None = None

    @property
    def docs_url(self) -> str:
        return self.operation.docs_url if self.operation else REST_DOCS

    def fail(self, status: int, message: str, **extra: Json) -> Reply:
        return Reply(status, error_body(message, self.docs_url, status, **extra))


# ---------------------------------------------------------------------------------------
# rendering: GitHub's own examples as templates, with the fields that matter from state
# ---------------------------------------------------------------------------------------
_EXAMPLE_API_REPO = re.compile(r"^https?://api\.github\.com/repos/[^/{]+/[^/{?]+")
_EXAMPLE_WEB_REPO = re.compile(r"^https://github\.com/(?!apps/|images/)[^/{]+/[^/{?#]+")
_EXAMPLE_API_USER = re.compile(r"^https?://api\.github\.com/(?:users|orgs)/[^/{?]+")
_EXAMPLE_WEB_USER = re.compile(r"^https://github\.com/(?!apps/|images/)[^/{?]+$")
_EXAMPLE_API = re.compile(r"^https?://api\.github\.com")
_EXAMPLE_WEB = re.compile(r"^https://github\.com")

OP_REPO = "GET /repos/{owner}/{repo}"
OP_PULL = "GET /repos/{owner}/{repo}/pulls/{pull_number}"
OP_PULL_FILES = "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"
OP_COMPARE = "GET /repos/{owner}/{repo}/compare/{basehead}"
OP_CONTENTS = "GET /repos/{owner}/{repo}/contents/{path}"
OP_TREE = "GET /repos/{owner}/{repo}/git/trees/{tree_sha}"
OP_BLOB = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"
OP_LIST_COMMENTS = "GET /repos/{owner}/{repo}/issues/{issue_number}/comments"
OP_CREATE_COMMENT = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
OP_UPDATE_COMMENT = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
OP_CREATE_REACTION = "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
OP_CREATE_STATUS = "POST /repos/{owner}/{repo}/statuses/{sha}"
OP_COMBINED_STATUS = "GET /repos/{owner}/{repo}/commits/{ref}/status"
OP_CREATE_CHECK = "POST /repos/{owner}/{repo}/check-runs"
OP_UPDATE_CHECK = "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}"
OP_PERMISSION = "GET /repos/{owner}/{repo}/collaborators/{username}/permission"
OP_USER = "GET /user"
OP_RATE_LIMIT = "GET /rate_limit"
# not in the subset (see openapi_contract.EXTRA_OPERATIONS)
OP_GET_COMMIT = "GET /repos/{owner}/{repo}/commits/{ref}"
OP_GET_ISSUE = "GET /repos/{owner}/{repo}/issues/{issue_number}"
OP_GET_COMMENT = "GET /repos/{owner}/{repo}/issues/comments/{comment_id}"
OP_GET_CHECK = "GET /repos/{owner}/{repo}/check-runs/{check_run_id}"
OP_LIST_REACTIONS = "GET /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"

# Where GitHub really answers outside its own schema, and the evidence. Problems at these
# paths are not violations when the value is null (README §4: a PR whose fork was deleted).
TOLERATED_NULLS: Final[dict[str, frozenset[tuple[str, ...]]]] = {
    OP_PULL: frozenset({("head", "repo"), ("head", "user"), ("head", "label")}),
}


# Settings GitHub returns with a full repository but its example predates (seen in the 2025
# Repository.setUp recording); GitHub's defaults for a new repository.
REPOSITORY_SETTINGS: Final[dict[str, Json]] = {
    "allow_update_branch": False,
    "use_squash_pr_title_as_default": False,
    "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
    "squash_merge_commit_message": "COMMIT_MESSAGES",
    "merge_commit_title": "MERGE_MESSAGE",
    "merge_commit_message": "PR_TITLE",
    "web_commit_signoff_required": False,
    "custom_properties": {},
}


def relink(node: Json, *, api: str, web: str, repo: str | None = None, user: str | None = None) -> Json:
    """Point an example's api.github.com / github.com URLs at this server and this object."""
    if isinstance(node, dict):
        return {k: relink(v, api=api, web=web, repo=repo, user=user) for k, v in node.items()}
    if isinstance(node, list):
        return [relink(v, api=api, web=web, repo=repo, user=user) for v in node]
    if not isinstance(node, str):
        return node
    if repo is not None:
        node = _EXAMPLE_API_REPO.sub(f"{api}/repos/{repo}", node)
        node = _EXAMPLE_WEB_REPO.sub(f"{web}/{repo}", node)
    if user is not None:
        node = _EXAMPLE_API_USER.sub(f"{api}/users/{urllib.parse.quote(user)}", node)
        node = _EXAMPLE_WEB_USER.sub(f"{web}/{user}", node)
    return _EXAMPLE_WEB.sub(web, _EXAMPLE_API.sub(api, node))


class Renderer:
    """Builds response bodies: the operation's example, relinked, overridden from state."""

    def __init__(self, server: GitHubServer) -> None:
        self.server = server

    @property
    def api(self) -> str:
        return self.server.url

    @property
    def web(self) -> str:
        return self.server.web_url

    def template(
        self, key: str, status: int = 200, name: str | None = None, *, repo: Repo | None = None
    ) -> Json:
        example = self.server.contract.operation(key).example(status, name)
        return relink(example, api=self.api, web=self.web, repo=repo.full_name if repo else None)

    def repo_api(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repo_web(self, repo: Repo) -> str:
        return f"{self.web}/{repo.full_name}"

    # -- people ----------------------------------------------------------------------------
    def user(self, login: str) -> dict[str, Json]:
        account = self.server.account(login)
        simple = self.server.contract.operation(OP_CREATE_COMMENT).example(201)["user"]
        out = relink(simple, api=self.api, web=self.web, user=login)
        html = (
            f"{self.web}/apps/{login.removesuffix('[bot]')}"
            if account.type == "Bot"
            else f"{self.web}/{login}"
        )
        out.update(
            login=login,
            id=account.id,
            node_id=node_id(account.type, account.id),
            avatar_url=f"https://avatars.githubusercontent.com/u/{account.id}?v=4",
            gravatar_id="",
            html_url=html,
            type=account.type,
            user_view_type="public",
            site_admin=False,
        )
        return out

    def authenticated_user(self, login: str) -> dict[str, Json]:
        out = relink(self.template(OP_USER), api=self.api, web=self.web, user=login)
        out.update(self.user(login))
        out.update(
            name=login,
            company=None,
            blog="",
            location=None,
            email=None,
            notification_email=None,
            bio=None,
            twitter_username=None,
        )
        return out

    def role_permissions(self, role: str) -> dict[str, bool]:
        rank = ROLES.index(role) if role in ROLES else ROLES.index("none")
        return {
            "admin": rank <= 0,
            "maintain": rank <= 1,
            "push": rank <= 2,
            "triage": rank <= 3,
            "pull": rank <= 4,
        }

    # -- repositories ----------------------------------------------------------------------
    def repo_core(self, repo: Repo) -> dict[str, Json]:
        api, web = self.repo_api(repo), self.repo_web(repo)
        host = urllib.parse.urlparse(self.web).netloc
        return {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "html_url": web,
            "description": None,
            "fork": repo.fork_of is not None,
            "url": api,
            "clone_url": f"{web}.git",
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "svn_url": web,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "default_branch": repo.default_branch,
            "created_at": repo.created_at,
            "updated_at": repo.created_at,
            "pushed_at": repo.created_at,
            "topics": [],
            "visibility": "private" if repo.private else "public",
        }

    def repository(self, repo: Repo, caller: Token | None) -> dict[str, Json]:
        """``GET /repos/{owner}/{repo}`` ("full-repository")."""
        out = self.template(OP_REPO, repo=repo)
        for only_when_it_applies in ("parent", "source", "template_repository", "organization"):
            out.pop(only_when_it_applies, None)
        out.update(self.repo_core(repo))
        role = self.server._role_of(repo, caller)
        out["permissions"] = self.role_permissions(role)
        out.update(REPOSITORY_SETTINGS)
        if role == "admin":  # only admins see the security settings
            out["security_and_analysis"] = {
                "secret_scanning": {"status": "disabled"},
                "secret_scanning_push_protection": {"status": "disabled"},
                "dependabot_security_updates": {"status": "disabled"},
            }
        if repo.owner_type == "Organization":
            out["organization"] = self.user(repo.owner)
        if repo.fork_of is not None:
            parent = self.server._repo_state(repo.fork_of)
            out["parent"] = out["source"] = self.repository_in_pull(parent, caller)
        return out

    def repository_in_pull(self, repo: Repo, caller: Token | None) -> dict[str, Json]:
        """The "repository" object inside a PR's head/base."""
        example = self.server.contract.operation(OP_PULL).example(200)["head"]["repo"]
        out = relink(example, api=self.api, web=self.web, repo=repo.full_name)
        out.update(self.repo_core(repo))
        out["permissions"] = self.role_permissions(self.server._role_of(repo, caller))
        return out

    def minimal_repository(self, repo: Repo) -> dict[str, Json]:
        example = self.server.contract.operation(OP_COMBINED_STATUS).example(200)["repository"]
        out = relink(example, api=self.api, web=self.web, repo=repo.full_name)
        core = self.repo_core(repo)
        out.update(
            {
                k: core[k]
                for k in ("id", "node_id", "name", "full_name", "owner", "private", "html_url", "url", "fork")
            }
        )
        out["description"] = None
        return out

    # -- pull requests -----------------------------------------------------------------------
    def pull(self, repo: Repo, pull: Pull, caller: Token | None) -> dict[str, Json]:
        api, web, n = self.repo_api(repo), self.repo_web(repo), pull.number
        changes = self.server._pull_changes(repo, pull)
        out = self.template(OP_PULL, repo=repo)
        out.update(
            url=f"{api}/pulls/{n}",
            id=pull.id,
            node_id=node_id("PullRequest", pull.id),
            html_url=f"{web}/pull/{n}",
            diff_url=f"{web}/pull/{n}.diff",
            patch_url=f"{web}/pull/{n}.patch",
            issue_url=f"{api}/issues/{n}",
            commits_url=f"{api}/pulls/{n}/commits",
            review_comments_url=f"{api}/pulls/{n}/comments",
            review_comment_url=f"{api}/pulls/comments{{/number}}",
            comments_url=f"{api}/issues/{n}/comments",
            statuses_url=f"{api}/statuses/{pull.head_sha}",
            number=n,
            state=pull.state,
            locked=False,
            title=pull.title,
            user=self.user(pull.user),
            body=pull.body,
            labels=[],
            milestone=None,
            active_lock_reason=None,
            created_at=pull.created_at,
            updated_at=pull.updated_at,
            closed_at=pull.updated_at if pull.state == "closed" else None,
            merged_at=None,
            merge_commit_sha=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            head=self.pull_end(pull.head_repo, pull.head_ref, pull.head_sha, caller),
            base=self.pull_end(repo.full_name, pull.base_ref, pull.base_sha, caller),
            author_association=self.server._association(repo, pull.user),
            auto_merge=None,
            draft=pull.draft,
            merged=False,
            mergeable=True,
            rebaseable=True,
            mergeable_state="draft" if pull.draft else "clean",
            merged_by=None,
            comments=sum(1 for c in repo.comments.values() if c.issue_number == n),
            review_comments=0,
            maintainer_can_modify=False,
            commits=len(self.server._commits_between(pull.base_sha, pull.head_sha)),
            additions=sum(c.additions for c in changes),
            deletions=sum(c.deletions for c in changes),
            changed_files=len(changes),
        )
        out["_links"] = {
            "self": {"href": f"{api}/pulls/{n}"},
            "html": {"href": f"{web}/pull/{n}"},
            "issue": {"href": f"{api}/issues/{n}"},
            "comments": {"href": f"{api}/issues/{n}/comments"},
            "review_comments": {"href": f"{api}/pulls/{n}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{n}/commits"},
            "statuses": {"href": f"{api}/statuses/{pull.head_sha}"},
        }
        return out

    def pull_end(self, full_name: str | None, ref: str, sha: str, caller: Token | None) -> dict[str, Json]:
        """A PR's head or base; a deleted fork leaves label, user and repo null (README §4)."""
        if full_name is None:
            return {"label": None, "ref": ref, "sha": sha, "user": None, "repo": None}
        repo = self.server._repo_state(full_name)
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository_in_pull(repo, caller),
        }

    def file_change(self, repo: Repo, change: FileChange, at_sha: str) -> dict[str, Json]:
        entry = self.server.contract.operation(OP_PULL_FILES).example(200)[0]
        path = urllib.parse.quote(change.filename, safe="")  # GitHub escapes the slashes here too
        out = relink(entry, api=self.api, web=self.web, repo=repo.full_name)
        out.update(
            sha=change.sha,
            filename=change.filename,
            status=change.status,
            additions=change.additions,
            deletions=change.deletions,
            changes=change.additions + change.deletions,
            blob_url=f"{self.repo_web(repo)}/blob/{at_sha}/{path}",
            raw_url=f"{self.repo_web(repo)}/raw/{at_sha}/{path}",
            contents_url=f"{self.repo_api(repo)}/contents/{path}?ref={at_sha}",
        )
        out.pop("patch", None)
        if change.patch is not None:
            out["patch"] = change.patch
        if change.previous_filename is not None:
            out["previous_filename"] = change.previous_filename
        return out

    def issue(self, repo: Repo, item: Issue | Pull) -> dict[str, Json]:
        """``GET issues/{n}`` (a PR is an issue too). Not in the subset: shaped by hand after GitHub's."""
        api, web, n = self.repo_api(repo), self.repo_web(repo), item.number
        kind = "pull" if isinstance(item, Pull) else "issues"
        out = {
            "url": f"{api}/issues/{n}",
            "repository_url": api,
            "labels_url": f"{api}/issues/{n}/labels{{/name}}",
            "comments_url": f"{api}/issues/{n}/comments",
            "events_url": f"{api}/issues/{n}/events",
            "html_url": f"{web}/{kind}/{n}",
            "id": item.id + 10**9 if isinstance(item, Pull) else item.id,
            "node_id": node_id("Issue", item.id),
            "number": n,
            "title": item.title,
            "user": self.user(item.user),
            "labels": [],
            "state": item.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == n),
            "created_at": item.created_at,
            "updated_at": item.updated_at,
            "closed_at": item.updated_at if item.state == "closed" else None,
            "author_association": self.server._association(repo, item.user),
            "active_lock_reason": None,
            "body": item.body,
            "reactions": self.reaction_rollup(f"{api}/issues/{n}/reactions", []),
            "timeline_url": f"{api}/issues/{n}/timeline",
            "performed_via_github_app": None,
            "state_reason": None,
            "closed_by": None,
            "type": None,
            "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
            "issue_dependencies_summary": {
                "blocked_by": 0,
                "total_blocked_by": 0,
                "blocking": 0,
                "total_blocking": 0,
            },
        }
        if isinstance(item, Pull):
            out["draft"] = item.draft
            out["pull_request"] = {
                "url": f"{api}/pulls/{n}",
                "html_url": f"{web}/pull/{n}",
                "diff_url": f"{web}/pull/{n}.diff",
                "patch_url": f"{web}/pull/{n}.patch",
                "merged_at": None,
            }
        return out

    # -- comments and reactions --------------------------------------------------------------
    def comment(self, repo: Repo, comment: Comment) -> dict[str, Json]:
        api = self.repo_api(repo)
        kind = "pull" if comment.issue_number in repo.pulls else "issues"
        url = f"{api}/issues/comments/{comment.id}"
        out = self.template(OP_CREATE_COMMENT, 201, repo=repo)
        out.update(
            id=comment.id,
            node_id=node_id("IssueComment", comment.id),
            url=url,
            html_url=f"{self.repo_web(repo)}/{kind}/{comment.issue_number}#issuecomment-{comment.id}",
            body=comment.body,
            user=self.user(comment.user),
            created_at=comment.created_at,
            updated_at=comment.updated_at,
            issue_url=f"{api}/issues/{comment.issue_number}",
            author_association=comment.author_association,
            performed_via_github_app=None,
            reactions=self.reaction_rollup(f"{url}/reactions", comment.reactions),
        )
        return out

    def reaction_rollup(self, url: str, reactions: Sequence[Reaction]) -> dict[str, Json]:
        counts = {content: sum(1 for r in reactions if r.content == content) for content in REACTIONS}
        return {"url": url, "total_count": len(reactions), **counts}

    def reaction(self, reaction: Reaction) -> dict[str, Json]:
        out = self.template(OP_CREATE_REACTION, 201)
        out.update(
            id=reaction.id,
            node_id=node_id("Reaction", reaction.id),
            user=self.user(reaction.user),
            content=reaction.content,
            created_at=reaction.created_at,
        )
        return out

    # -- statuses and check runs -------------------------------------------------------------
    def status(self, repo: Repo, status: Status, *, with_creator: bool = True) -> dict[str, Json]:
        out = self.template(OP_CREATE_STATUS, 201, repo=repo)
        creator = self.user(status.creator)
        out.update(
            url=f"{self.repo_api(repo)}/statuses/{status.sha}",
            avatar_url=creator["avatar_url"],
            id=status.id,
            node_id=node_id("StatusContext", status.id),
            state=status.state,
            description=status.description,
            target_url=status.target_url,
            context=status.context,
            created_at=status.created_at,
            updated_at=status.updated_at,
            creator=creator,
        )
        if not with_creator:
            del out["creator"]
        return out

    def combined_status(
        self, repo: Repo, sha: str, latest: Sequence[Status], page: Sequence[Status]
    ) -> dict[str, Json]:
        out = self.template(OP_COMBINED_STATUS, repo=repo)
        out.update(
            state=combined_state(latest),
            statuses=[self.status(repo, s, with_creator=False) for s in page],
            sha=sha,
            total_count=len(latest),
            repository=self.minimal_repository(repo),
            commit_url=f"{self.repo_api(repo)}/commits/{sha}",
            url=f"{self.repo_api(repo)}/commits/{sha}/status",
        )
        return out

    def check_run(self, repo: Repo, run: CheckRun) -> dict[str, Json]:
        api = self.repo_api(repo)
        out = self.template(OP_CREATE_CHECK, 201, "example-of-completed-conclusion", repo=repo)
        html_url = f"{self.repo_web(repo)}/runs/{run.id}"
        out.update(
            id=run.id,
            head_sha=run.head_sha,
            node_id=node_id("CheckRun", run.id),
            external_id=run.external_id,
            url=f"{api}/check-runs/{run.id}",
            html_url=html_url,
            details_url=run.details_url or html_url,
            status=run.status,
            conclusion=run.conclusion,
            started_at=run.started_at,
            completed_at=run.completed_at,
            output={
                "title": run.output_title,
                "summary": run.output_summary,
                "text": run.output_text,
                "annotations_count": len(run.annotations),
                "annotations_url": f"{api}/check-runs/{run.id}/annotations",
            },
            name=run.name,
            check_suite={"id": run.check_suite_id},
            app=self.app(out["app"], run.created_by),
            pull_requests=[
                self.minimal_pull(repo, p) for p in self.server._pulls_for_check(repo, run.head_sha)
            ],
        )
        return out

    def app(self, example: dict[str, Json], bot_login: str) -> dict[str, Json]:
        """The GitHub App a check run belongs to: GitHub Actions for GITHUB_TOKEN."""
        slug = bot_login.removesuffix("[bot]")
        known = (
            ACTIONS_APP
            if slug == ACTIONS_APP["slug"]
            else {"id": 900000 + len(slug), "slug": slug, "name": slug}
        )
        out = dict(example)
        out.update(
            id=known["id"],
            slug=known["slug"],
            name=known["name"],
            node_id=node_id("Integration", int(known["id"])),
            html_url=f"{self.web}/apps/{known['slug']}",
            external_url=f"{self.web}/apps/{known['slug']}",
            permissions={
                "checks": "write",
                "contents": "read",
                "metadata": "read",
                "pull_requests": "write",
                "statuses": "write",
            },
            events=["check_run", "pull_request"],
        )
        return out

    def minimal_pull(self, repo: Repo, pull: Pull) -> dict[str, Json]:
        ref = {"id": repo.id, "url": self.repo_api(repo), "name": repo.name}
        return {
            "url": f"{self.repo_api(repo)}/pulls/{pull.number}",
            "id": pull.id,
            "number": pull.number,
            "head": {"ref": pull.head_ref, "sha": pull.head_sha, "repo": ref},
            "base": {"ref": pull.base_ref, "sha": pull.base_sha, "repo": ref},
        }

    def permission(self, repo: Repo, login: str, role: str) -> dict[str, Json]:
        """``permission`` folds maintain into write and triage into read; ``role_name`` keeps it."""
        out = self.template(OP_PERMISSION, repo=repo)
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        collaborator = self.user(login)
        collaborator.update(permissions=self.role_permissions(role), role_name=role)
        out.update(permission=legacy, role_name=role, user=collaborator)
        return out

    # -- git data ----------------------------------------------------------------------------
    def commit(self, repo: Repo, commit: GitCommit, *, with_files: bool = False) -> dict[str, Json]:
        api, web = self.repo_api(repo), self.repo_web(repo)
        example = self.server.contract.operation(OP_COMPARE).example(200)["base_commit"]
        out = relink(example, api=self.api, web=self.web, repo=repo.full_name)
        signature = {
            "name": commit.author,
            "email": f"{commit.author}@users.noreply.github.com",
            "date": commit.date,
        }
        person = self.user(commit.author) if self.server._has_account(commit.author) else None
        out.update(
            url=f"{api}/commits/{commit.sha}",
            sha=commit.sha,
            node_id=node_id("Commit", int(commit.sha[:8], 16)),
            html_url=f"{web}/commit/{commit.sha}",
            comments_url=f"{api}/commits/{commit.sha}/comments",
            author=person,
            committer=person,
            parents=[
                {"url": f"{api}/commits/{p}", "sha": p, "html_url": f"{web}/commit/{p}"}
                for p in commit.parents
            ],
        )
        out["commit"].update(
            url=f"{api}/git/commits/{commit.sha}",
            author=dict(signature),
            committer=dict(signature),
            message=commit.message,
            tree={"url": f"{api}/git/trees/{commit.tree}", "sha": commit.tree},
            comment_count=0,
        )
        if with_files:
            changes = self.server.store.diff(commit.parents[0] if commit.parents else None, commit.sha)
            additions, deletions = sum(c.additions for c in changes), sum(c.deletions for c in changes)
            out["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
            out["files"] = [self.file_change(repo, c, commit.sha) for c in changes]
        return out

    def content_file(self, repo: Repo, path: str, ref: str, blob_sha: str) -> dict[str, Json]:
        data = self.server.store.blobs[blob_sha]
        out = self.template(OP_CONTENTS, 200, "response-if-content-is-a-file", repo=repo)
        too_big = len(data) > 1024 * 1024  # 1-100 MB files come without content
        out.update(
            self.content_entry(repo, path, ref, TreeEntry(path.rsplit("/", 1)[-1], "100644", blob_sha))
        )
        out.update(content="" if too_big else wrapped_base64(data), encoding="none" if too_big else "base64")
        return out

    def content_entry(self, repo: Repo, path: str, ref: str, entry: TreeEntry) -> dict[str, Json]:
        api, web = self.repo_api(repo), self.repo_web(repo)
        quoted = urllib.parse.quote(path)
        is_dir = entry.kind == "tree"
        url = f"{api}/contents/{quoted}?ref={urllib.parse.quote(ref, safe='')}"
        git_url = f"{api}/git/{'trees' if is_dir else 'blobs'}/{entry.sha}"
        html_url = f"{web}/{'tree' if is_dir else 'blob'}/{ref}/{quoted}"
        return {
            "type": "dir" if is_dir else "file",
            "size": 0 if is_dir else len(self.server.store.blobs[entry.sha]),
            "name": entry.name,
            "path": path,
            "sha": entry.sha,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": None
            if is_dir
            else f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{quoted}",
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def tree(self, repo: Repo, tree_sha: str, recursive: bool) -> dict[str, Json]:
        api = self.repo_api(repo)
        out = self.template(OP_TREE, 200, "default-response", repo=repo)
        entries = []
        for path, entry in self.server.store.walk_tree(tree_sha, recursive):
            # the API shows tree modes zero-padded ("040000"), unlike git's raw "40000"
            item = {"path": path, "mode": entry.mode.zfill(6), "type": entry.kind, "sha": entry.sha}
            if entry.kind == "blob":
                item["size"] = len(self.server.store.blobs[entry.sha])
            item["url"] = f"{api}/git/{entry.kind}s/{entry.sha}"
            entries.append(item)
        out.update(sha=tree_sha, url=f"{api}/git/trees/{tree_sha}", tree=entries, truncated=False)
        return out

    def blob(self, repo: Repo, sha: str) -> dict[str, Json]:
        data = self.server.store.blobs[sha]
        out = self.template(OP_BLOB, repo=repo)
        out.update(
            content=wrapped_base64(data),
            encoding="base64",
            url=f"{self.repo_api(repo)}/git/blobs/{sha}",
            sha=sha,
            size=len(data),
            node_id=node_id("Blob", int(sha[:8], 16)),
        )
        return out

    def rate_limit(self, token: Token, reset: int) -> dict[str, Json]:
        out = self.template(OP_RATE_LIMIT)
        core = {
            "limit": token.limit,
            "used": token.used,
            "remaining": max(token.limit - token.used, 0),
            "reset": reset,
        }
        out["resources"]["core"] = dict(core)
        out["rate"] = dict(core)
        return out


def combined_state(latest: Sequence[Status]) -> str:
    """failure if any context failed or errored, pending if any is pending (or none exist), else success."""
    states = {s.state for s in latest}
    if states & {"failure", "error"}:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


# ---------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------
class _LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: GitHubServer) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.app = app


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads one HTTP/1.1 request at a time (keep-alive, as PyGithub's session uses) and answers."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "GitHub.com"
    sys_version = ""
    server: _LoopbackHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.app._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.app._track_connection(self.connection, add=False)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if self.server.app.apps.is_git(self.path):
            self.server.app.apps.serve_git_request(self)
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.app.handle(self.command, self.path, headers, raw)
        payload = _encode(reply.body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; the request log is ``GitHubServer.requests``."""


def _encode(body: Json) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | str):
        return _as_bytes(body)
    return json.dumps(body, separators=(",", ":")).encode()


def _parse_json(raw: bytes) -> tuple[Json, bool]:
    """(parsed body, ok). An empty body is ``None``; bad JSON keeps the text for the log."""
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return raw.decode("utf-8", "replace"), False


# ---------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------
class GitHubServer:
    """The loopback GitHub REST API. Use as a context manager, or start()/stop().

    Seed state with ``add_repo``/``add_commit``/``open_pull_request``/``add_comment``/
    ``set_permission``/``add_token``; read it back with ``pull``/``comments``/``reactions``/
    ``statuses``/``check_runs``/``requests``; break it with ``inject`` and friends.
    """

    def __init__(
        self,
        *,
        path_prefix: str = "",
        web_url: str = "https://github.com",
        comment_body_limit: int = COMMENT_BODY_LIMIT,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``path_prefix="/api/v3"`` serves the API the way GitHub Enterprise Server does."""
        self.contract: Contract = load_contract()
        self.path_prefix = path_prefix.rstrip("/")
        self.web_url = web_url.rstrip("/")
        self.comment_body_limit = comment_body_limit
        self.store = GitStore()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._render = Renderer(self)
        self._ids: dict[str, Iterator[int]] = {}
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, Token] = {}
        self._repos: dict[str, Repo] = {}
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._violations: list[ContractViolation] = []
        self._connections: set[socket.socket] = set()
        self._httpd: _LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reset_at = int(time.time()) + 3600
        self.add_account(ACTIONS_BOT_LOGIN, "Bot", ident=ACTIONS_BOT_ID)
        self.add_account(DEFAULT_USER, "User", ident=583231)
        self.add_token(ACTIONS_TOKEN, ACTIONS_BOT_LOGIN)
        self.add_token(FORK_TOKEN, ACTIONS_BOT_LOGIN, read_only=True)
        self.add_token(USER_TOKEN, DEFAULT_USER)
        self.apps = AppSupport(self)  # App JWTs, installations, their tokens, git over HTTP

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> GitHubServer:
        """Bind a free port on 127.0.0.1 and serve from a daemon thread."""
        if self._httpd is None:
            self._httpd = _LoopbackHTTPServer(self)
            # a short poll interval: stop() waits for the loop to notice, once per test
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="github-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop kept-alive client connections, so no handler thread lingers."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("GitHubServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The API base URL to give PyGithub as ``base_url`` (and the action as GITHUB_API_URL)."""
        return f"http://127.0.0.1:{self.port}{self.path_prefix}"

    def _track_connection(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # -- identities ---------------------------------------------------------------------------
    def _next_id(self, kind: str) -> int:
        bases = {
            "account": 9_000_001,
            "repo": 700_000_001,
            "pull": 1_800_000_001,
            "comment": 2_500_000_001,
            "reaction": 280_000_001,
            "issue": 3_100_000_001,
            "status": 33_000_000_001,
            "check": 30_000_000_001,
            "suite": 31_000_000_001,
        }
        counter = self._ids.setdefault(kind, itertools.count(bases[kind]))
        return next(counter)

    def add_account(self, login: str, type: AccountType = "User", *, ident: int | None = None) -> Account:
        """Register a GitHub account (a commenter, a PR author, a bot). Idempotent per login."""
        with self._lock:
            existing = self._accounts.get(login.lower())
            if existing is None:
                existing = Account(login, type, ident if ident is not None else self._next_id("account"))
                self._accounts[login.lower()] = existing
            return copy.copy(existing)

    def account(self, login: str) -> Account:
        """The account for ``login``; an unknown login becomes a plain user (anyone may comment)."""
        with self._lock:
            if login.lower() not in self._accounts:
                self.add_account(login)
            return self._accounts[login.lower()]

    def _has_account(self, login: str) -> bool:
        return login.lower() in self._accounts

    def add_token(
        self,
        token: str,
        login: str,
        *,
        type: AccountType | None = None,
        read_only: bool = False,
        limit: int | None = None,
    ) -> str:
        """Map a credential to an identity. Bot identities act as GitHub App installations.

        ``read_only`` is how a fork PR's GITHUB_TOKEN looks: every write answers 403.
        ``limit`` is the hourly core quota (GITHUB_TOKEN: 1000, a PAT: 5000); once spent,
        requests get GitHub's primary rate-limit 403.
        """
        with self._lock:
            self.add_account(login, type or "User")
            account = self._accounts[login.lower()]
            quota = limit if limit is not None else (1000 if account.type == "Bot" else 5000)
            self._tokens[token] = Token(token, account, read_only, quota)
            return token

    def _role_of(self, repo: Repo, token: Token | None) -> str:
        """The caller's role in ``repo``; installation tokens act with write (or read when read-only)."""
        if token is None:
            return "none"
        if token.is_installation:
            return "read" if token.read_only else "write"
        return self._collaborator_role(repo, token.account.login)

    def _collaborator_role(self, repo: Repo, login: str) -> str:
        if login.lower() in repo.roles:
            return repo.roles[login.lower()]
        if login.lower() == repo.owner.lower():
            return "admin"
        # anyone can read a public repository; GitHub reports non-collaborators so
        return "none" if repo.private else "read"

    def _association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if repo.roles.get(login.lower(), "none") != "none":
            return "MEMBER" if repo.owner_type == "Organization" else "COLLABORATOR"
        return "NONE"

    # -- seeding: repositories and git data ------------------------------------------------------
    def _now(self) -> str:
        return iso(self._clock())

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        owner_type: AccountType = "User",
        fork_of: str | None = None,
    ) -> Repo:
        """Create a repository (no commits yet). Idempotent per full name."""
        with self._lock:
            if full_name.lower() in self._repos:
                return copy.deepcopy(self._repos[full_name.lower()])
            if fork_of is not None:
                self._repo_state(fork_of)  # the parent must exist: forks render it as parent/source
            owner, name = full_name.split("/")
            account = self._accounts.get(owner.lower()) or self.add_account(owner, owner_type)
            repo = Repo(
                owner,
                name,
                self._next_id("repo"),
                account.id,
                account.type,
                default_branch,
                private,
                self._now(),
                fork_of=fork_of,
            )
            self._repos[full_name.lower()] = repo
            return copy.deepcopy(repo)

    def _repo_state(self, full_name: str) -> Repo:
        """The live repository object (internal; tests should use ``repo()``)."""
        try:
            return self._repos[full_name.lower()]
        except KeyError:
            raise KeyError(f"no repository {full_name!r}; add_repo() it first") from None

    def add_commit(
        self,
        full_name: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        changes: Mapping[str, str | bytes | None] | None = None,
        branch: str | None = "",
        parents: Sequence[str] | None = None,
        message: str = "Update files",
        author: str = DEFAULT_USER,
        sha: str | None = None,
    ) -> str:
        """Commit onto ``branch`` (default branch when ``""``; no branch when ``None``); returns the sha.

        ``files`` is the complete tree of the new commit. Without it, the parent's tree is
        taken and ``changes`` applied (a ``None`` value deletes the file).
        """
        with self._lock:
            repo = self._repo_state(full_name)
            branch_name = repo.default_branch if branch == "" else branch
            if parents is None:
                tip = repo.branches.get(branch_name) if branch_name else None
                parents = [tip] if tip else []
            if files is None:
                base = self.store.files_at(self.store.commits[parents[0]].tree) if parents else {}
                tree_files = {path: self.store.blobs[blob] for path, blob in base.items()}
            else:
                tree_files = {path: _as_bytes(data) for path, data in files.items()}
            for path, data in (changes or {}).items():
                if data is None:
                    tree_files.pop(path, None)
                else:
                    tree_files[path] = _as_bytes(data)
            tree = self.store.write_tree(tree_files)
            self.account(author)
            commit = self.store.write_commit(tree, list(parents), message, author, self._now(), sha)
            if branch_name:
                repo.branches[branch_name] = commit.sha
            return commit.sha

    def add_tag(self, full_name: str, name: str, sha: str) -> None:
        """A lightweight tag, so refs like ``v0.7`` resolve in compare/contents/commits."""
        with self._lock:
            self._repo_state(full_name).tags[name] = sha

    def resolve_ref(self, repo: Repo, ref: str) -> str | None:
        """The commit for a sha (or unique prefix), branch, tag, ``refs/heads/x`` or ``refs/pull/N/head``."""
        if ref in self.store.commits:
            return ref
        name = ref.removeprefix("refs/")
        if name.removeprefix("heads/") in repo.branches:
            return repo.branches[name.removeprefix("heads/")]
        if name.removeprefix("tags/") in repo.tags:
            return repo.tags[name.removeprefix("tags/")]
        pull = re.fullmatch(r"pull/(\d+)/head", name)
        if pull and int(pull.group(1)) in repo.pulls:
            return repo.pulls[int(pull.group(1))].head_sha
        if re.fullmatch(r"[0-9a-f]{7,39}", ref):
            matches = [sha for sha in self.store.commits if sha.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None

    def _commits_between(self, base_sha: str, head_sha: str) -> list[str]:
        """Commits reachable from head but not from base, oldest first (what a PR or compare lists)."""
        behind = set(self.store.ancestry(base_sha))
        return [sha for sha in reversed(self.store.ancestry(head_sha)) if sha not in behind]

    def _pull_changes(self, repo: Repo, pull: Pull) -> list[FileChange]:
        """A PR's files: head against the merge base, as the "Files changed" tab shows."""
        base = self.store.merge_base(pull.base_sha, pull.head_sha) or pull.base_sha
        return self.store.diff(base, pull.head_sha)[:3000]

    def _pulls_for_check(self, repo: Repo, sha: str) -> list[Pull]:
        """Open same-repository PRs whose head is ``sha``; GitHub leaves fork PRs out."""
        return [
            p
            for p in repo.pulls.values()
            if p.head_sha == sha and p.head_repo == repo.full_name and p.state == "open"
        ]

    # -- seeding: pull requests, comments, permissions -----------------------------------------
    def add_pull(
        self,
        full_name: str,
        *,
        head_sha: str,
        base_sha: str | None = None,
        number: int | None = None,
        head_ref: str = "feature",
        base_ref: str | None = None,
        head_repo: str | _SameRepo | None = SAME_REPO,
        author: str = DEFAULT_USER,
        title: str = "Update prompts",
        body: str | None = None,
        draft: bool = False,
        state: Literal["open", "closed"] = "open",
    ) -> Pull:
        """Open a PR. ``head_repo``: SAME_REPO, a fork's full name, or None for a deleted fork.

        A head or base sha the store does not know becomes an empty commit on top of the
        base, so a PR can be seeded from an event payload's shas alone.
        """
        with self._lock:
            repo = self._repo_state(full_name)
            base_ref = base_ref or repo.default_branch
            base_sha = base_sha or repo.branches.get(base_ref)
            if base_sha is None:
                base_sha = self.add_commit(full_name, {}, branch=base_ref, message="Initial commit")
            if base_sha not in self.store.commits:
                self.store.write_commit(
                    self.store.write_tree({}), [], "Initial commit", author, self._now(), base_sha
                )
            if head_sha not in self.store.commits:
                tree = self.store.commits[base_sha].tree
                self.store.write_commit(tree, [base_sha], title, author, self._now(), head_sha)
            head_full = full_name if isinstance(head_repo, _SameRepo) else head_repo
            if head_full is not None:
                if head_full.lower() != full_name.lower():
                    self.add_repo(head_full, default_branch=repo.default_branch, fork_of=repo.full_name)
                self._repo_state(head_full).branches[head_ref] = head_sha
                head_full = self._repo_state(head_full).full_name
            self.account(author)
            number = number if number is not None else _next_number(repo)
            now = self._now()
            pull = Pull(
                number,
                self._next_id("pull"),
                title,
                body,
                author,
                state,
                draft,
                head_ref,
                head_sha,
                base_ref,
                base_sha,
                head_full,
                now,
                now,
            )
            repo.pulls[number] = pull
            return copy.deepcopy(pull)

    def open_pull_request(
        self,
        full_name: str,
        *,
        base_files: Mapping[str, str | bytes],
        head_files: Mapping[str, str | bytes] | None = None,
        head_changes: Mapping[str, str | bytes | None] | None = None,
        number: int | None = None,
        head_ref: str = "feature",
        head_repo: str | _SameRepo | None = SAME_REPO,
        author: str = DEFAULT_USER,
        title: str = "Update prompts",
        body: str | None = None,
        draft: bool = False,
    ) -> Pull:
        """The usual scenario in one call: a repo, a base commit, a head commit on top, and the PR."""
        with self._lock:
            self.add_repo(full_name)
            base_sha = self.add_commit(full_name, base_files, message="Add prompts", author=author)
            head_sha = self.add_commit(
                full_name,
                head_files,
                changes=head_changes,
                branch=None,
                parents=[base_sha],
                message=title,
                author=author,
            )
            return self.add_pull(
                full_name,
                head_sha=head_sha,
                base_sha=base_sha,
                number=number,
                head_ref=head_ref,
                head_repo=head_repo,
                author=author,
                title=title,
                body=body,
                draft=draft,
            )

    def push_to_pull(
        self,
        full_name: str,
        number: int,
        *,
        files: Mapping[str, str | bytes] | None = None,
        changes: Mapping[str, str | bytes | None] | None = None,
        message: str = "Follow-up change",
    ) -> str:
        """A new push to the PR branch (a ``synchronize``): a commit on the head, which moves."""
        with self._lock:
            repo = self._repo_state(full_name)
            pull = repo.pulls[number]
            sha = self.add_commit(
                full_name,
                files,
                changes=changes,
                branch=None,
                parents=[pull.head_sha],
                message=message,
                author=pull.user,
            )
            pull.head_sha = sha
            pull.updated_at = self._now()
            if pull.head_repo is not None:
                self._repo_state(pull.head_repo).branches[pull.head_ref] = sha
            return sha

    def add_comment(
        self,
        full_name: str,
        issue_number: int,
        body: str,
        *,
        author: str = DEFAULT_USER,
        author_type: AccountType | None = None,
        created_at: str | None = None,
    ) -> Comment:
        """Seed a PR conversation comment (e.g. an earlier sticky report, or a ``/rerun``)."""
        with self._lock:
            repo = self._repo_state(full_name)
            if issue_number not in repo.pulls and issue_number not in repo.issues:
                raise KeyError(f"{full_name} has no issue or pull request #{issue_number}")
            account = self.add_account(author, author_type or "User")
            return copy.deepcopy(self._create_comment(repo, issue_number, body, account, created_at))

    def _create_comment(
        self, repo: Repo, issue_number: int, body: str, account: Account, created_at: str | None = None
    ) -> Comment:
        stamp = created_at or self._now()
        comment = Comment(
            self._next_id("comment"),
            issue_number,
            body,
            account.login,
            account.type,
            stamp,
            stamp,
            self._association(repo, account.login),
        )
        repo.comments[comment.id] = comment
        return comment

    def add_issue(
        self,
        full_name: str,
        *,
        title: str = "Something is off",
        body: str | None = None,
        author: str = DEFAULT_USER,
        number: int | None = None,
        state: Literal["open", "closed"] = "open",
    ) -> Issue:
        """A plain issue (a ``/rerun`` typed there must not start a review)."""
        with self._lock:
            repo = self._repo_state(full_name)
            self.account(author)
            now = self._now()
            issue = Issue(
                number or _next_number(repo), self._next_id("issue"), title, body, author, state, now, now
            )
            repo.issues[issue.number] = issue
            return copy.deepcopy(issue)

    def add_reaction(
        self, full_name: str, comment_id: int, content: str, *, user: str = DEFAULT_USER
    ) -> Reaction:
        with self._lock:
            comment = self._repo_state(full_name).comments[comment_id]
            reaction, _ = self._react(comment, content, self.account(user))
            return copy.deepcopy(reaction)

    def _react(self, comment: Comment, content: str, account: Account) -> tuple[Reaction, bool]:
        """(reaction, created): GitHub answers 200 with the existing one instead of duplicating."""
        for existing in comment.reactions:
            if existing.content == content and existing.user.lower() == account.login.lower():
                return existing, False
        reaction = Reaction(self._next_id("reaction"), content, account.login, account.type, self._now())
        comment.reactions.append(reaction)
        return reaction, True

    def set_permission(self, full_name: str, login: str, role: Role) -> None:
        """Make ``login`` a collaborator with ``role`` (what /rerun's permission check reads)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        with self._lock:
            self.account(login)
            self._repo_state(full_name).roles[login.lower()] = role

    # -- observing -------------------------------------------------------------------------------
    def repo(self, full_name: str) -> Repo:
        with self._lock:
            return copy.deepcopy(self._repo_state(full_name))

    def pull(self, full_name: str, number: int) -> Pull:
        with self._lock:
            return copy.deepcopy(self._repo_state(full_name).pulls[number])

    def comments(self, full_name: str, issue_number: int) -> list[Comment]:
        """The PR's conversation comments in the order GitHub lists them (oldest first)."""
        with self._lock:
            found = [
                c for c in self._repo_state(full_name).comments.values() if c.issue_number == issue_number
            ]
            return copy.deepcopy(sorted(found, key=lambda c: c.id))

    def comment(self, full_name: str, comment_id: int) -> Comment:
        with self._lock:
            return copy.deepcopy(self._repo_state(full_name).comments[comment_id])

    def reactions(self, full_name: str, comment_id: int) -> list[Reaction]:
        with self._lock:
            return copy.deepcopy(self._repo_state(full_name).comments[comment_id].reactions)

    def statuses(self, full_name: str, sha: str) -> list[Status]:
        """Every status posted on ``sha``, in the order they were posted."""
        with self._lock:
            return copy.deepcopy(self._repo_state(full_name).statuses.get(sha, []))

    def check_runs(
        self, full_name: str, *, head_sha: str | None = None, name: str | None = None
    ) -> list[CheckRun]:
        with self._lock:
            runs = self._repo_state(full_name).check_runs.values()
            return copy.deepcopy(
                [
                    r
                    for r in runs
                    if (head_sha is None or r.head_sha == head_sha) and (name is None or r.name == name)
                ]
            )

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, with the status it got."""
        with self._lock:
            return list(self._requests)

    def writes(self) -> list[RecordedRequest]:
        """The requests that tried to change something (anything but GET)."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    @property
    def contract_violations(self) -> list[ContractViolation]:
        with self._lock:
            return list(self._violations)

    def take_contract_violations(self) -> list[ContractViolation]:
        """Return and forget the violations, for tests that provoke one on purpose."""
        with self._lock:
            taken, self._violations = self._violations, []
            return taken

    def assert_contract_clean(self) -> None:
        """Fail with every violation listed if any request or response broke GitHub's contract."""
        found = self.contract_violations
        if found:
            listed = "\n".join(str(v) for v in found)
            raise AssertionError(f"{len(found)} GitHub API contract violation(s):\n{listed}")

    # -- fault injection ------------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Json = None,
        headers: Mapping[str, str] | None = None,
        *,
        times: int | None = 1,
        applied: bool = False,
    ) -> Fault:
        """Answer the next ``times`` matching requests (``None``: all) with ``status``/``body``.

        ``method`` is a verb or ``"*"``; ``path_regex`` is searched in the request path
        (without the API prefix and query). With ``applied=True`` the request still takes
        effect before the fault answers, like a 502 from a proxy after GitHub created the
        comment, which is how duplicate comments happen in real life. Faults are used in
        the order they were injected.
        """
        if body is None and status >= 400:
            body = error_body(_reason(status), REST_DOCS, status)
        fault = Fault(
            method.upper(), re.compile(path_regex), status, body, dict(headers or {}), times, applied
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def inject_secondary_rate_limit(
        self, method: str = "*", path_regex: str = ".*", *, retry_after: int = 1, times: int | None = 1
    ) -> Fault:
        """GitHub's secondary ("abuse") limit: 403, ``retry-after``, and the message clients match on."""
        body = error_body(SECONDARY_RATE_LIMIT_MESSAGE, SECONDARY_RATE_LIMIT_DOCS, 403)
        return self.inject(method, path_regex, 403, body, {"retry-after": str(retry_after)}, times=times)

    def inject_primary_rate_limit(
        self,
        method: str = "*",
        path_regex: str = ".*",
        *,
        status: Literal[403, 429] = 403,
        reset_in: int = 1,
        times: int | None = 1,
    ) -> Fault:
        """The hourly quota is spent: ``x-ratelimit-remaining: 0`` and a ``x-ratelimit-reset`` epoch."""
        reset = int(time.time()) + reset_in
        headers = {
            "x-ratelimit-limit": "1000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "1000",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }
        body = error_body("API rate limit exceeded for installation ID 1.", RATE_LIMIT_DOCS, status)
        return self.inject(method, path_regex, status, body, headers, times=times)

    def inject_comment_create_error(
        self, status: int = 502, *, times: int | None = 1, applied: bool = False
    ) -> Fault:
        """A 5xx on ``POST issues/{n}/comments`` (``applied=True``: the comment exists anyway)."""
        return self.inject(
            "POST", r"^/repos/[^/]+/[^/]+/issues/\d+/comments$", status, times=times, applied=applied
        )

    def inject_comment_too_long(
        self, method: Literal["POST", "PATCH"] = "POST", *, times: int | None = 1
    ) -> Fault:
        """GitHub's 422 for a comment body over the limit, whatever the body's real length."""
        op = OP_CREATE_COMMENT if method == "POST" else OP_UPDATE_COMMENT
        pattern = (
            r"^/repos/[^/]+/[^/]+/issues/\d+/comments$" if method == "POST" else r"/issues/comments/\d+$"
        )
        body = comment_too_long_body(self.contract.operation(op).docs_url, self.comment_body_limit)
        return self.inject(method, pattern, 422, body, times=times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- request handling ------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        """Answer one request (called by the HTTP handler thread; serialised by the lock)."""
        split = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        body, _ = _parse_json(raw)
        with self._lock:
            try:
                reply, operation_key, token, injected = self._respond(method, split.path, query, headers, raw)
            except Exception:  # a bug in the fake must fail the test, not hang up on the client
                reply, operation_key, token, injected = (
                    Reply(500, error_body("Server Error", REST_DOCS, 500)),
                    None,
                    None,
                    False,
                )
                self._violations.append(
                    ContractViolation(
                        "server-error", None, method, split.path, 500, (traceback.format_exc(),)
                    )
                )
            reply.headers = _merge_headers(self._standard_headers(token), reply.headers)
            self._requests.append(
                RecordedRequest(
                    method,
                    split.path,
                    query,
                    body,
                    reply.status,
                    operation_key,
                    token.account.login if token else None,
                    injected,
                    dict(headers),
                    reply.body,
                    dict(reply.headers),
                )
            )
        return reply

    def _respond(
        self, method: str, raw_path: str, query: dict[str, str], headers: Mapping[str, str], raw: bytes
    ) -> tuple[Reply, str | None, Token | None, bool]:
        token = self._tokens.get(_credential(headers.get("authorization", "")) or "")
        if not raw_path.startswith(self.path_prefix + "/"):
            return self._unknown_endpoint(method, raw_path), None, token, False
        path = raw_path[len(self.path_prefix) :]
        fault = self._take_fault(method, path)
        if fault is not None and not fault.applied:
            return (*self._injected_reply(method, path, fault), token, True)
        reply, operation_key = self._serve(method, path, query, headers, raw, token)
        if fault is not None:
            return (*self._injected_reply(method, path, fault), token, True)
        return reply, operation_key, token, False

    def _injected_reply(self, method: str, path: str, fault: Fault) -> tuple[Reply, str | None]:
        """The fault's answer; a 2xx one is held to the schema too, so tests cannot fake the impossible."""
        reply = Reply(fault.status, copy.deepcopy(fault.body), dict(fault.headers))
        route = self._route(method, self._map_repository_id(path)[0])
        if route is None:
            return reply, None
        operation, key, _ = route
        found = self._response_problems(operation, key, reply) if 200 <= reply.status < 300 else []
        if found:
            rendered = tuple(p.render() for p in found)
            self._violations.append(ContractViolation("response", key, method, path, reply.status, rendered))
        return reply, key

    def _serve(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        raw: bytes,
        token: Token | None,
    ) -> tuple[Reply, str | None]:
        if "user-agent" not in headers:
            message = (
                "Request forbidden by administrative rules. Please make sure your request has a "
                "User-Agent header (https://docs.github.com/rest/overview/resources-in-the-rest-api"
                "#user-agent-required). Check https://developer.github.com for other possible causes."
            )
            return Reply(403, error_body(message, REST_DOCS, 403)), None
        answered = self.apps.serve_jwt(method, path, dict(headers), raw)
        if answered is not None:  # an App (JWT) operation, from openapi-app-subset.json
            reply, key = answered
            if reply.violation is not None:
                self._violations.append(
                    ContractViolation(reply.violation, key, method, path, reply.status, reply.problems)
                )
            return reply, key
        mapped, link_path = self._map_repository_id(path)
        route = self._route(method, mapped)
        if route is None:
            return self._unknown_endpoint(method, path), None
        operation, key, params = route
        refusal = self._authenticate(headers, token, operation) or self._spend_quota(token, key)
        if refusal is not None:
            return refusal, key
        assert token is not None
        body, parsed = _parse_json(raw)
        call = Call(method, mapped, link_path, query, body, params, operation, key, token)
        if not parsed:
            reply = call.fail(400, "Problems parsing JSON")
            reply.violation, reply.problems = "bad-json", ("request body is not JSON",)
        else:
            reply = self._authorize(call) or self._validate_request(call) or self._dispatch(call)
        self._record_reply_violation(call, reply)
        self._check_response(call, reply)
        return reply, key

    def _unknown_endpoint(self, method: str, path: str) -> Reply:
        """GitHub answers 404; the fake also records it, since the code under test expected an answer."""
        self._violations.append(
            ContractViolation(
                "unknown-endpoint",
                None,
                method,
                path,
                404,
                ("no operation in openapi-subset.json or the server's extras",),
            )
        )
        return Reply(404, error_body("Not Found", REST_DOCS, 404))

    def _map_repository_id(self, path: str) -> tuple[str, str]:
        """(path with /repositories/{id} as /repos/{owner}/{repo}, path Link headers use).

        GitHub's ``Link`` headers point at ``/repositories/{id}/...`` (see the compare
        recording), so clients must follow those, and the fake serves them.
        """
        found = re.match(r"^/repositories/(\d+)(/.*)?$", path)
        if found:
            repo = next((r for r in self._repos.values() if r.id == int(found.group(1))), None)
            if repo is not None:
                return f"/repos/{repo.full_name}{found.group(2) or ''}", path
            return path, path
        found = re.match(r"^/repos/([^/]+)/([^/]+)(/.*)?$", path)
        if found:
            repo = self._repos.get(f"{found.group(1)}/{found.group(2)}".lower())
            if repo is not None:
                return path, f"/repositories/{repo.id}{found.group(3) or ''}"
        return path, path

    def _route(self, method: str, path: str) -> tuple[Operation | None, str, dict[str, str]] | None:
        matched = self.contract.match(method, path)
        if matched is not None:
            operation, params = matched
            return operation, operation.key, params
        extra = extra_route(method, path)
        if extra is not None:
            return None, extra[0], extra[1]
        matched = self.apps.contract.match(method, path)
        if matched is not None and matched[0].key not in JWT_OPERATIONS:
            return matched[0], matched[0].key, matched[1]
        return None

    def _authenticate(
        self, headers: Mapping[str, str], token: Token | None, operation: Operation | None
    ) -> Reply | None:
        docs = operation.docs_url if operation else REST_DOCS
        if not headers.get("authorization"):
            return Reply(401, error_body("Requires authentication", docs, 401))
        if token is None:
            return Reply(401, error_body("Bad credentials", REST_DOCS, 401))
        if self.apps.installation_token(token.token)[1]:  # an App installation token past expires_at
            return Reply(401, error_body("Bad credentials", REST_DOCS, 401))
        return None

    def _spend_quota(self, token: Token | None, key: str) -> Reply | None:
        """Count the request against the token's hourly quota; ``GET /rate_limit`` is free (as on GitHub)."""
        if token is None or key == OP_RATE_LIMIT:
            return None
        if token.used >= token.limit:
            who = "installation ID 1" if token.is_installation else f"user ID {token.account.id}"
            return Reply(403, error_body(f"API rate limit exceeded for {who}.", RATE_LIMIT_DOCS, 403))
        token.used += 1
        return None

    def _authorize(self, call: Call) -> Reply | None:
        """Token-kind rules GitHub applies before looking at the request."""
        if call.operation is not None and not call.operation.enabled_for_apps and call.token.is_installation:
            return call.fail(403, NOT_ACCESSIBLE)  # e.g. GET /user with GITHUB_TOKEN
        if call.operation_key in (OP_CREATE_CHECK, OP_UPDATE_CHECK) and not call.token.is_installation:
            return call.fail(403, "You must authenticate via a GitHub App.")
        if call.method != "GET" and call.token.read_only:
            reply = call.fail(403, NOT_ACCESSIBLE)
            reply.headers["x-accepted-github-permissions"] = ACCEPTED_PERMISSIONS.get(call.operation_key, "")
            return reply
        if "owner" in call.params:
            repo = self._repos.get(f"{call.params['owner']}/{call.params['repo']}".lower())
            if repo is None or (repo.private and self._role_of(repo, call.token) == "none"):
                return call.fail(404, "Not Found")
            installation, _ = self.apps.installation_token(call.token.token)
            if installation is not None and not installation.covers(repo.full_name):
                return call.fail(404, "Not Found")  # an installation token sees only its repositories
            call.repo = repo
        return None

    def _validate_request(self, call: Call) -> Reply | None:
        """Schema-check the query and body; a body that fails answers GitHub's 422 "Invalid request."."""
        if call.operation is None:
            return None
        query_problems = self.contract.query_problems(call.operation, call.query)
        if query_problems:
            self._violations.append(self._violation("request", call, 200, query_problems))
        if call.operation.request_schema() is None:
            return None
        found = self.contract.request_problems(call.operation, call.body if call.body is not None else {})
        if not found:
            return None
        reply = call.fail(422, github_invalid_request_message(found))
        reply.violation, reply.problems = "request", tuple(p.render() for p in found)
        return reply

    def _violation(
        self, kind: ViolationKind, call: Call, status: int, found: Sequence[SchemaProblem]
    ) -> ContractViolation:
        return ContractViolation(
            kind, call.operation_key, call.method, call.path, status, tuple(p.render() for p in found)
        )

    def _record_reply_violation(self, call: Call, reply: Reply) -> None:
        if reply.violation is not None:
            self._violations.append(
                ContractViolation(
                    reply.violation, call.operation_key, call.method, call.path, reply.status, reply.problems
                )
            )

    def _check_response(self, call: Call, reply: Reply) -> None:
        found = self._response_problems(call.operation, call.operation_key, reply)
        if found:
            self._violations.append(self._violation("response", call, reply.status, found))

    def _response_problems(self, operation: Operation | None, key: str, reply: Reply) -> list[SchemaProblem]:
        """Hold an answer to the documented schema of its status (or to the extra's borrowed one)."""
        is_success = 200 <= reply.status < 300
        if operation is None:
            return extra_response_problems(key, reply.body) if is_success else []
        if operation.documents_status(reply.status):
            found = self.contract.response_problems(operation, reply.status, reply.body)
            tolerated = TOLERATED_NULLS.get(key, frozenset())
            return [p for p in found if not (p.path in tolerated and _value_at(reply.body, p.path) is None)]
        if is_success:
            return [SchemaProblem((), f"status {reply.status} is not documented", "status")]
        return []  # GitHub documents few error statuses; undocumented ones are not checked

    def _standard_headers(self, token: Token | None) -> dict[str, str]:
        limit, used = (token.limit, token.used) if token else (60, 0)
        return {
            "Content-Type": JSON_CONTENT_TYPE,
            "X-GitHub-Media-Type": "github.v3; format=json",
            "x-github-api-version-selected": API_VERSION,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(self._reset_at),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Request-Id": f"{len(self._requests) + 1:04X}:{self.port:04X}:LOOPBACK",
        }

    # -- pagination -------------------------------------------------------------------------------
    def _paginate(
        self, call: Call, items: Sequence[Json], *, default: int = DEFAULT_PER_PAGE
    ) -> tuple[list[Json], dict[str, str]]:
        """One page of ``items`` and GitHub's ``Link`` header (per_page capped at 100)."""
        requested = _int_param(call.query.get("per_page"), 0)
        per_page = min(requested, MAX_PER_PAGE) if requested >= 1 else default
        page = max(_int_param(call.query.get("page"), 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = list(items[(page - 1) * per_page : page * per_page])
        links = []
        if page > 1:
            links.append((min(page - 1, last), "prev"))
        if page < last:
            links += [(page + 1, "next"), (last, "last")]
        if page > 1:
            links.append((1, "first"))
        if not links:
            return chunk, {}
        rest = [(k, v) for k, v in call.query.items() if k != "page"]
        base = f"{self.url}{call.link_path}"
        header = ", ".join(
            f'<{base}?{urllib.parse.urlencode([*rest, ("page", n)])}>; rel="{rel}"' for n, rel in links
        )
        return chunk, {"Link": header}

    # -- operations ---------------------------------------------------------------------------------
    def _dispatch(self, call: Call) -> Reply:
        handlers: dict[str, Callable[[Call], Reply]] = {
            OP_REPO: self._get_repo,
            OP_PULL: self._get_pull,
            OP_PULL_FILES: self._list_pull_files,
            OP_COMPARE: self._compare,
            OP_CONTENTS: self._get_contents,
            OP_TREE: self._get_tree,
            OP_BLOB: self._get_blob,
            OP_LIST_COMMENTS: self._list_comments,
            OP_CREATE_COMMENT: self._create_comment_op,
            OP_UPDATE_COMMENT: self._update_comment,
            OP_CREATE_REACTION: self._create_reaction,
            OP_CREATE_STATUS: self._create_status,
            OP_COMBINED_STATUS: self._combined_status,
            OP_CREATE_CHECK: self._create_check_run,
            OP_UPDATE_CHECK: self._update_check_run,
            OP_PERMISSION: self._get_permission,
            OP_USER: self._get_user,
            OP_RATE_LIMIT: self._get_rate_limit,
            OP_GET_COMMIT: self._get_commit,
            OP_GET_ISSUE: self._get_issue,
            OP_GET_COMMENT: self._get_comment,
            OP_GET_CHECK: self._get_check_run,
            OP_LIST_REACTIONS: self._list_reactions,
            OP_LIST_CHECKS: self._list_check_runs,
        }
        return handlers[call.operation_key](call)

    def _pull_of(self, call: Call, param: str) -> Pull | None:
        assert call.repo is not None
        number = call.params[param]
        return call.repo.pulls.get(int(number)) if number.isdigit() else None

    def _conversation_of(self, call: Call) -> Issue | Pull | None:
        """The issue or PR ``issue_number`` names (both take conversation comments)."""
        assert call.repo is not None
        number = call.params["issue_number"]
        if not number.isdigit():
            return None
        return call.repo.pulls.get(int(number)) or call.repo.issues.get(int(number))

    def _comment_of(self, call: Call) -> Comment | None:
        assert call.repo is not None
        ident = call.params["comment_id"]
        return call.repo.comments.get(int(ident)) if ident.isdigit() else None

    def _get_repo(self, call: Call) -> Reply:
        assert call.repo is not None
        return Reply(200, self._render.repository(call.repo, call.token))

    def _get_pull(self, call: Call) -> Reply:
        pull = self._pull_of(call, "pull_number")
        if pull is None:
            return call.fail(404, "Not Found")
        assert call.repo is not None
        return Reply(200, self._render.pull(call.repo, pull, call.token))

    def _list_pull_files(self, call: Call) -> Reply:
        pull = self._pull_of(call, "pull_number")
        if pull is None:
            return call.fail(404, "Not Found")
        assert call.repo is not None
        changes = self._pull_changes(call.repo, pull)
        page, headers = self._paginate(call, changes)
        return Reply(200, [self._render.file_change(call.repo, c, pull.head_sha) for c in page], headers)

    def _compare(self, call: Call) -> Reply:
        """``base...head``; files only on page 1 (up to 300), commits paged (250 when unpaged)."""
        repo = call.repo
        assert repo is not None
        basehead = urllib.parse.unquote(call.params["basehead"])
        if "..." not in basehead:
            return call.fail(404, "Not Found")
        base_ref, head_ref = (part.split(":", 1)[-1] for part in basehead.split("...", 1))
        base_sha, head_sha = self.resolve_ref(repo, base_ref), self.resolve_ref(repo, head_ref)
        if base_sha is None or head_sha is None:
            return call.fail(404, "Not Found")
        merge_base = self.store.merge_base(base_sha, head_sha)
        if merge_base is None:
            return call.fail(404, f"No common ancestor between {base_ref} and {head_ref}.")
        ahead, behind = self._commits_between(base_sha, head_sha), self._commits_between(head_sha, base_sha)
        page, headers = self._paginate(call, ahead, default=250)
        first_page = _int_param(call.query.get("page"), 1) <= 1
        files = self.store.diff(merge_base, head_sha)[:300] if first_page else []
        render, web = self._render, self._render.repo_web(repo)
        body = render.template(OP_COMPARE, repo=repo)
        body.update(
            url=f"{render.repo_api(repo)}/compare/{basehead}",
            html_url=f"{web}/compare/{basehead}",
            permalink_url=f"{web}/compare/{repo.owner}:{base_sha}...{repo.owner}:{head_sha}",
            diff_url=f"{web}/compare/{basehead}.diff",
            patch_url=f"{web}/compare/{basehead}.patch",
            base_commit=render.commit(repo, self.store.commits[base_sha]),
            merge_base_commit=render.commit(repo, self.store.commits[merge_base]),
            status=_comparison_status(base_sha, head_sha, len(ahead), len(behind)),
            ahead_by=len(ahead),
            behind_by=len(behind),
            total_commits=len(ahead),
            commits=[render.commit(repo, self.store.commits[sha]) for sha in page],
            files=[render.file_change(repo, change, head_sha) for change in files],
        )
        return Reply(200, body, headers)

    def _get_contents(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        path = urllib.parse.unquote(call.params["path"]).strip("/")
        ref = call.query.get("ref") or repo.default_branch
        sha = self.resolve_ref(repo, ref)
        if sha is None:
            return call.fail(404, f"No commit found for the ref {ref}")
        entry = self.store.lookup(self.store.commits[sha].tree, path)
        if entry is None:
            return call.fail(404, "Not Found")
        if entry.kind == "blob":
            return Reply(200, self._render.content_file(repo, path, ref, entry.sha))
        children = self.store.trees.get(entry.sha, ())[:1000]
        listing = [
            self._render.content_entry(repo, f"{path}/{child.name}".lstrip("/"), ref, child)
            for child in children
        ]
        return Reply(200, listing)

    def _get_tree(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        wanted = urllib.parse.unquote(call.params["tree_sha"])
        if wanted not in self.store.trees:
            commit = self.resolve_ref(repo, wanted)
            if commit is None:
                return call.fail(404, "Not Found")
            wanted = self.store.commits[commit].tree
        # the docs: any value of ``recursive`` (even 0 or false) turns recursion on
        return Reply(200, self._render.tree(repo, wanted, recursive="recursive" in call.query))

    def _get_blob(self, call: Call) -> Reply:
        assert call.repo is not None
        sha = call.params["file_sha"]
        if sha not in self.store.blobs:
            return call.fail(404, "Not Found")
        return Reply(200, self._render.blob(call.repo, sha))

    def _list_comments(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        if self._conversation_of(call) is None:
            return call.fail(404, "Not Found")
        number = int(call.params["issue_number"])
        since = call.query.get("since")
        listed = sorted((c for c in repo.comments.values() if c.issue_number == number), key=lambda c: c.id)
        listed = [c for c in listed if since is None or c.updated_at >= since]
        page, headers = self._paginate(call, listed)
        return Reply(200, [self._render.comment(repo, c) for c in page], headers)

    def _comment_too_long(self, call: Call, body: str) -> Reply | None:
        if len(body) <= self.comment_body_limit:
            return None
        reply = Reply(422, comment_too_long_body(call.docs_url, self.comment_body_limit))
        reply.violation = "limit"
        reply.problems = (f"body is {len(body)} characters; GitHub's limit is {self.comment_body_limit}",)
        return reply

    def _create_comment_op(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        if self._conversation_of(call) is None:
            return call.fail(404, "Not Found")
        too_long = self._comment_too_long(call, call.body["body"])
        if too_long is not None:
            return too_long
        comment = self._create_comment(
            repo, int(call.params["issue_number"]), call.body["body"], call.token.account
        )
        body = self._render.comment(repo, comment)
        return Reply(201, body, {"Location": body["url"]})

    def _update_comment(self, call: Call) -> Reply:
        comment = self._comment_of(call)
        if comment is None:
            return call.fail(404, "Not Found")
        too_long = self._comment_too_long(call, call.body["body"])
        if too_long is not None:
            return too_long
        comment.body = call.body["body"]
        comment.updated_at = self._now()
        assert call.repo is not None
        return Reply(200, self._render.comment(call.repo, comment))

    def _create_reaction(self, call: Call) -> Reply:
        comment = self._comment_of(call)
        if comment is None:
            return call.fail(404, "Not Found")
        reaction, created = self._react(comment, call.body["content"], call.token.account)
        return Reply(201 if created else 200, self._render.reaction(reaction))

    def _list_reactions(self, call: Call) -> Reply:
        comment = self._comment_of(call)
        if comment is None:
            return call.fail(404, "Not Found")
        content = call.query.get("content")
        listed = [r for r in comment.reactions if content is None or r.content == content]
        page, headers = self._paginate(call, listed)
        return Reply(200, [self._render.reaction(r) for r in page], headers)

    def _create_status(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        sha = call.params["sha"]
        if sha not in self.store.commits:
            return call.fail(422, f"No commit found for SHA: {sha}")
        context = call.body.get("context", "default")
        description = call.body.get("description")
        too_long = _status_field_too_long(
            "description", description, STATUS_DESCRIPTION_LIMIT
        ) or _status_field_too_long("context", context, STATUS_CONTEXT_LIMIT)
        if too_long is not None:
            reply = call.fail(422, "Validation Failed", errors=[too_long])
            reply.violation, reply.problems = "limit", (too_long["message"],)
            return reply
        now = self._now()
        status = Status(
            self._next_id("status"),
            sha,
            call.body["state"],
            context,
            description,
            call.body.get("target_url"),
            call.token.account.login,
            now,
            now,
        )
        repo.statuses.setdefault(sha, []).append(status)
        body = self._render.status(repo, status)
        return Reply(201, body, {"Location": f"{self._render.repo_api(repo)}/statuses/{status.id}"})

    def _combined_status(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        ref = urllib.parse.unquote(call.params["ref"])
        sha = self.resolve_ref(repo, ref)
        if sha is None:
            return call.fail(404, f"No commit found for SHA: {ref}")
        latest: dict[str, Status] = {}
        for status in repo.statuses.get(sha, []):
            latest[status.context] = status
        page, headers = self._paginate(call, list(latest.values()))
        return Reply(200, self._render.combined_status(repo, sha, list(latest.values()), page), headers)

    def _create_check_run(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        head_sha = call.body["head_sha"]
        if head_sha not in self.store.commits:
            return call.fail(422, f"No commit found for SHA: {head_sha}")
        now = self._now()
        run = CheckRun(
            id=self._next_id("check"),
            name=call.body["name"],
            head_sha=head_sha,
            status="queued",
            conclusion=None,
            started_at=now,
            completed_at=None,
            details_url=None,
            external_id="",
            output_title=None,
            output_summary=None,
            output_text=None,
            annotations=[],
            images=[],
            actions=[],
            check_suite_id=self._check_suite_id(repo, head_sha),
            created_by=call.token.account.login,
        )
        _apply_check_run_fields(run, call.body, now)
        repo.check_runs[run.id] = run
        body = self._render.check_run(repo, run)
        return Reply(201, body, {"Location": body["url"]})

    def _list_check_runs(self, call: Call) -> Reply:
        """``GET .../commits/{ref}/check-runs`` (openapi-app-subset.json), newest first."""
        repo = call.repo
        assert repo is not None
        sha = self.resolve_ref(repo, urllib.parse.unquote(call.params["ref"]))
        if sha is None:
            return call.fail(422, f"No commit found for SHA: {call.params['ref']}")
        name = call.query.get("check_name")
        runs = [r for r in repo.check_runs.values() if r.head_sha == sha and (name is None or r.name == name)]
        runs.sort(key=lambda r: r.id, reverse=True)
        page, headers = self._paginate(call, [self._render.check_run(repo, r) for r in runs])
        return Reply(200, {"total_count": len(runs), "check_runs": page}, headers)

    def _check_suite_id(self, repo: Repo, head_sha: str) -> int:
        """One check suite per app and head sha, as GitHub groups runs."""
        for run in repo.check_runs.values():
            if run.head_sha == head_sha:
                return run.check_suite_id
        return self._next_id("suite")

    def _update_check_run(self, call: Call) -> Reply:
        run = self._check_run_of(call)
        if run is None:
            return call.fail(404, "Not Found")
        _apply_check_run_fields(run, call.body, self._now())
        run.updates += 1
        assert call.repo is not None
        return Reply(200, self._render.check_run(call.repo, run))

    def _check_run_of(self, call: Call) -> CheckRun | None:
        assert call.repo is not None
        ident = call.params["check_run_id"]
        return call.repo.check_runs.get(int(ident)) if ident.isdigit() else None

    def _get_check_run(self, call: Call) -> Reply:
        run = self._check_run_of(call)
        if run is None:
            return call.fail(404, "Not Found")
        assert call.repo is not None
        return Reply(200, self._render.check_run(call.repo, run))

    def _get_permission(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        if not call.token.is_installation and self._role_of(repo, call.token) not in WRITE_ROLES:
            # recorded in Repository.testCollaboratorPermissionNoPushAccess.txt
            return call.fail(403, "Must have push access to view collaborator permission.")
        username = urllib.parse.unquote(call.params["username"])
        if not self._has_account(username):
            return call.fail(404, "Not Found")
        login = self._accounts[username.lower()].login
        return Reply(200, self._render.permission(repo, login, self._collaborator_role(repo, login)))

    def _get_user(self, call: Call) -> Reply:
        return Reply(200, self._render.authenticated_user(call.token.account.login))

    def _get_rate_limit(self, call: Call) -> Reply:
        return Reply(200, self._render.rate_limit(call.token, self._reset_at))

    def _get_commit(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        ref = urllib.parse.unquote(call.params["ref"])
        sha = self.resolve_ref(repo, ref)
        if sha is None:
            return call.fail(422, f"No commit found for SHA: {ref}")
        return Reply(200, self._render.commit(repo, self.store.commits[sha], with_files=True))

    def _get_issue(self, call: Call) -> Reply:
        item = self._conversation_of(call)
        if item is None:
            return call.fail(404, "Not Found")
        assert call.repo is not None
        return Reply(200, self._render.issue(call.repo, item))

    def _get_comment(self, call: Call) -> Reply:
        comment = self._comment_of(call)
        if comment is None:
            return call.fail(404, "Not Found")
        assert call.repo is not None
        return Reply(200, self._render.comment(call.repo, comment))


# ---------------------------------------------------------------------------------------
# module helpers used by the server
# ---------------------------------------------------------------------------------------
# What GitHub names in ``x-accepted-github-permissions`` when a token lacks a permission.
ACCEPTED_PERMISSIONS: Final[dict[str, str]] = {
    OP_CREATE_COMMENT: "issues=write; pull_requests=write",
    OP_UPDATE_COMMENT: "issues=write; pull_requests=write",
    OP_CREATE_REACTION: "issues=write; pull_requests=write",
    OP_CREATE_STATUS: "statuses=write",
    OP_CREATE_CHECK: "checks=write",
    OP_UPDATE_CHECK: "checks=write",
}


def _merge_headers(base: Mapping[str, str], override: Mapping[str, str]) -> dict[str, str]:
    """HTTP header names are case-insensitive: an override replaces the base whatever its case."""
    replaced = {name.lower() for name in override}
    return {**{k: v for k, v in base.items() if k.lower() not in replaced}, **override}


def _next_number(repo: Repo) -> int:
    """Issues and PRs share one sequence of numbers."""
    return max([0, *repo.pulls, *repo.issues]) + 1


def _credential(authorization: str) -> str | None:
    """The token of ``Authorization: token X`` or ``Bearer X``."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") and value.strip() else None


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return "Server Error" if status == 500 else HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _value_at(document: Json, path: Sequence[str | int]) -> Json:
    for step in path:
        try:
            document = document[step]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def comment_too_long_body(docs_url: str, limit: int = COMMENT_BODY_LIMIT) -> dict[str, Json]:
    """GitHub's exact 422 for an over-long comment (fixtures README §2, jmikedupont2/ai-ticket#51)."""
    return {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "IssueComment",
                "code": "unprocessable",
                "field": "data",
                "message": f"Body is too long (maximum is {limit} characters)",
            }
        ],
        "documentation_url": docs_url,
    }


def _status_field_too_long(name: str, value: str | None, limit: int) -> dict[str, str] | None:
    """GitHub's error entry for a status description (>140) or context (>255) over the limit."""
    if value is None or len(value) <= limit:
        return None
    return {
        "resource": "Status",
        "code": "custom",
        "field": name,
        "message": f"{name} is too long (maximum is {limit} characters)",
    }


def _comparison_status(base_sha: str, head_sha: str, ahead: int, behind: int) -> str:
    if base_sha == head_sha:
        return "identical"
    if ahead and not behind:
        return "ahead"
    if behind and not ahead:
        return "behind"
    return "diverged"


def _apply_check_run_fields(run: CheckRun, body: Mapping[str, Json], now: str) -> None:
    """Create/update semantics: a conclusion completes the run; annotations append across calls."""
    for name in ("name", "details_url", "external_id", "started_at", "status", "completed_at"):
        if name in body:
            setattr(run, name, body[name])
    if "conclusion" in body:
        run.conclusion = body["conclusion"]
        run.status = "completed"
    if run.status == "completed" and run.completed_at is None:
        run.completed_at = now
    output = body.get("output")
    if output:
        run.output_title = output.get("title", run.output_title)
        run.output_summary = output.get("summary", run.output_summary)
        run.output_text = output.get("text", run.output_text)
        run.annotations.extend(copy.deepcopy(output.get("annotations", [])))
        if "images" in output:
            run.images = copy.deepcopy(output["images"])
    if "actions" in body:
        run.actions = copy.deepcopy(body["actions"])


# ---------------------------------------------------------------------------------------
# pytest integration
# ---------------------------------------------------------------------------------------
@contextmanager
def running_github_server(**options: Any) -> Iterator[GitHubServer]:
    """A started server that, on a clean exit, fails if GitHub's contract was broken."""
    server = GitHubServer(**options)
    with server:
        yield server
    server.assert_contract_clean()


if pytest is not None:

    @pytest.fixture
    def github_server() -> Iterator[GitHubServer]:
        """A fresh loopback GitHub per test; the test fails if any contract violation was recorded.

        Register it with ``pytest_plugins = ["servers.github_server"]`` in the root conftest,
        or import it into a test module.
        """
        with running_github_server() as server:
            yield server
