"""Make sure the checkout at GITHUB_WORKSPACE has the two commits the review reads.

actions/checkout fetches one commit by default (``fetch-depth: 1``): on ``pull_request`` that is
the merge commit, on ``issue_comment`` the default branch. So the PR's base and head commits are
usually missing, and are fetched here by SHA (GitHub serves any commit reachable from a ref,
fork PR heads included through ``refs/pull/N/head``). Nothing is checked out: the engine reads
files with ``git cat-file``, so PR content never lands in the working tree.

git refuses a repository owned by another user (the container runs as root, the workspace
belongs to the runner); ``revision.git`` passes ``-c safe.directory=<repo>`` on every call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from promptreview.errors import PromptReviewError
from promptreview.github.workflow_log import WorkflowLog
from promptreview.revision import GitError, git

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class WorkspaceError(PromptReviewError):
    """The checkout cannot provide a commit the review needs."""


def has_commit(repo: Path, sha: str) -> bool:
    try:
        git(repo, "cat-file", "-e", f"{sha}^{{commit}}")
    except GitError:
        return False
    return True


def _fetch_attempts(sha: str, pr_number: int | None) -> list[tuple[str, ...]]:
    """Cheapest first: the commit alone, then the PR's head ref, then the whole history."""
    attempts: list[tuple[str, ...]] = [("fetch", "--no-tags", "--quiet", "--depth=1", "origin", sha)]
    if pr_number is not None:
        attempts.append(("fetch", "--no-tags", "--quiet", "origin", f"+refs/pull/{pr_number}/head"))
    attempts.append(("fetch", "--no-tags", "--quiet", "--unshallow", "origin"))
    return attempts


def ensure_commits(
    repo: Path, shas: Sequence[str], log: WorkflowLog, *, pr_number: int | None = None
) -> None:
    """Fetch whichever of ``shas`` the checkout lacks; raise a clear error if that is impossible."""
    if not (repo / ".git").exists() and not has_commit(repo, "HEAD"):
        raise WorkspaceError(
            f"{repo} is not a git checkout: add `- uses: actions/checkout@v4` before promptreview"
        )
    for sha in dict.fromkeys(shas):
        if not _SHA.fullmatch(sha):  # it becomes a git argument: never let it look like an option
            raise WorkspaceError(f"{sha!r} is not a commit SHA")
        if has_commit(repo, sha):
            continue
        log.info(f"Commit {sha[:12]} is not in the checkout (a shallow clone?); fetching it from origin.")
        problems: list[str] = []
        for args in _fetch_attempts(sha, pr_number):
            try:
                git(repo, *args)
            except GitError as exc:
                problems.append(str(exc))
            if has_commit(repo, sha):
                log.info(f"Fetched {sha[:12]} with `git {' '.join(args[:-1] if args[-1] == sha else args)}`.")
                break
        else:
            raise WorkspaceError(
                f"commit {sha} is not in the checkout and could not be fetched from origin "
                f"({problems[-1] if problems else 'unknown error'}); "
                "use actions/checkout with `fetch-depth: 0`, or keep its default credentials"
            )
