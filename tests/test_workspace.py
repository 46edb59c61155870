"""Fetching the PR's commits into a shallow checkout, as actions/checkout leaves it by default."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from promptreview.github.workflow_log import WorkflowLog
from promptreview.github.workspace import WorkspaceError, ensure_commits, has_commit
from repo_builder import RepoBuilder


@pytest.fixture
def origin(tmp_path: Path) -> RepoBuilder:
    repo = RepoBuilder.init(tmp_path / "origin")
    repo.commit({"prompts/a.txt": "Hi {{ vars.name }}"}, message="base")
    return repo


def test_a_missing_head_is_fetched_by_sha_and_the_log_says_so(origin: RepoBuilder, tmp_path: Path) -> None:
    base = origin.sha("main")
    head = origin.commit({"prompts/a.txt": "Hello {{ vars.name }}"}, branch="feature")
    checkout = origin.clone(tmp_path / "workspace", depth=1, rev="main")
    assert not checkout.has_commit(head)
    stream = io.StringIO()

    ensure_commits(checkout.path, [base, head], WorkflowLog(stream))

    assert has_commit(checkout.path, head)
    assert f"Commit {head[:12]} is not in the checkout" in stream.getvalue()
    assert f"Fetched {head[:12]} with `git fetch --no-tags --quiet --depth=1 origin`." in stream.getvalue()


def test_present_commits_need_no_fetch(origin: RepoBuilder) -> None:
    stream = io.StringIO()

    ensure_commits(origin.path, [origin.sha("main")], WorkflowLog(stream))

    assert stream.getvalue() == ""


def test_a_commit_origin_does_not_have_is_a_clear_error(origin: RepoBuilder, tmp_path: Path) -> None:
    checkout = origin.clone(tmp_path / "workspace", depth=1)

    with pytest.raises(WorkspaceError, match="fetch-depth: 0"):
        ensure_commits(
            checkout.path, ["0123456789abcdef0123456789abcdef01234567"], WorkflowLog(io.StringIO())
        )


def test_a_workspace_without_a_checkout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="actions/checkout"):
        ensure_commits(tmp_path, ["0" * 40], WorkflowLog(io.StringIO()))


@pytest.mark.parametrize("bad", ["--upload-pack=evil", "main", "abc123", "0" * 39])
def test_only_full_shas_reach_git(origin: RepoBuilder, bad: str) -> None:
    with pytest.raises(WorkspaceError, match="not a commit SHA"):
        ensure_commits(origin.path, [bad], WorkflowLog(io.StringIO()))
