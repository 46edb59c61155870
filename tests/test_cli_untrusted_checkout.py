"""The CLI on a checkout it cannot trust: in CI the repository is the PR's, and locally it holds
files git ignores. Real CLI entry point, real git repositories, the loopback OpenAI server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_harness import CliRun, run_cli
from repo_builder import RepoBuilder
from servers.openai_server import OpenAIServer

CONFIG = """\
version: 1
defaults:
  model: openai/gpt-4o-mini
suites:
  greet:
    prompt: prompts/greet.txt
    cases: evals/greet.yaml
    compare: false
    metrics:
      - contains: "{{ vars.name }}"
    gate: {margin: 0.5}
"""
CASES = "".join(f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(5))
BASE = {
    "promptreview.yml": CONFIG,
    "prompts/greet.txt": "Say hello to {{ vars.name }}.",
    "evals/greet.yaml": CASES,
}
HI = {"prompts/greet.txt": "Hi {{ vars.name }}!"}


@pytest.fixture(autouse=True)
def _env(cli_env: None) -> None:
    """OPENAI_API_KEY is the test key; nothing from the outer environment leaks in."""


def repo_with(tmp_path: Path, head: dict[str, str | bytes | None]) -> RepoBuilder:
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit(BASE, message="base")
    repo.commit(head, branch="feature", message="head")
    return repo


def compare(
    capsys: pytest.CaptureFixture[str], repo: RepoBuilder, server: OpenAIServer, *extra: str
) -> CliRun:
    return run_cli(capsys, "compare", "--repo", str(repo.path), "--base", "main", "--head", "feature",
                   "--base-url", server.base_url, "--color", "never", *extra)


# --- 7.1: the answer cache cannot come from the checkout -------------------------------------------


def test_a_cache_file_tracked_by_git_is_refused_before_any_call(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, {**HI, ".promptreview/cache.sqlite": b"x"})

    run = compare(capsys, repo, fake_openai)

    assert run.code == 2
    assert "the cache file .promptreview/cache.sqlite is tracked by git" in run.err
    assert "--cache PATH outside the repository, or --no-cache" in run.err
    assert fake_openai.count() == 0
    assert compare(capsys, repo, fake_openai, "--no-cache").code == 0  # the way out it names works


def test_a_committed_sqlite_side_file_is_refused_too(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, {".promptreview/cache.sqlite-wal": b"x"})

    run = compare(capsys, repo, fake_openai)

    assert run.code == 2 and "is tracked by git" in run.err


def test_a_cache_folder_symlinked_out_of_the_repository_is_refused(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, HI)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo.path / ".promptreview")

    run = compare(capsys, repo, fake_openai)

    assert run.code == 2 and "goes through a symlink" in run.err
    assert list((tmp_path / "elsewhere").iterdir()) == []
    ok = compare(capsys, repo, fake_openai, "--cache", str(tmp_path / "mine.sqlite"))
    assert ok.code == 0, ok.err
