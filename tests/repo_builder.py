"""Build small, real git repositories for tests, with deterministic commit SHAs.

Why real git: the engine reads revisions with ``git cat-file``/``git diff`` and the action fetches
missing commits from ``origin``, so a fake would test nothing. Why deterministic: a fixed author,
committer and clock per commit make the same files give the same SHA on every machine, so a test
(or a recorded expectation) can name a SHA.

    repo = RepoBuilder.init(tmp_path / "origin")
    base = repo.commit({"promptreview.yml": CONFIG, "prompts/a.txt": "Hi {{ vars.name }}"})
    head = repo.commit({"prompts/a.txt": "Hello {{ vars.name }}!"}, branch="feature")
    work = repo.clone(tmp_path / "workspace", depth=1, rev="main")   # a shallow checkout
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

AUTHOR_NAME = "Promptreview Tests"
AUTHOR_EMAIL = "tests@promptreview.invalid"
EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z; commit n is dated EPOCH + 60 * n


def _git_env(moment: int | None = None) -> dict[str, str]:
    """An environment where git ignores the user's config and, given a moment, dates commits at it."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    if moment is not None:
        stamp = f"@{moment} +0000"
        env |= {
            "GIT_AUTHOR_NAME": AUTHOR_NAME,
            "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": AUTHOR_NAME,
            "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
            "GIT_COMMITTER_DATE": stamp,
        }
    return env


def run_git(repo: Path, *args: str, moment: int | None = None) -> str:
    """Run git in ``repo`` with an isolated config; raise with git's stderr when it fails."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=_git_env(moment), check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


class RepoBuilder:
    """A git repository a test writes files into and commits, one commit per call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        existing = (path / ".git").exists()
        self._commits = int(run_git(path, "rev-list", "--all", "--count") or 0) if existing else 0

    @classmethod
    def init(cls, path: Path, *, branch: str = "main") -> RepoBuilder:
        """A new repository whose first commit will land on ``branch``."""
        path.mkdir(parents=True, exist_ok=True)
        run_git(path, "init", "--quiet", f"--initial-branch={branch}")
        # Lets a shallow clone fetch any commit by SHA, as GitHub allows (``git fetch origin <sha>``).
        run_git(path, "config", "uploadpack.allowAnySHA1InWant", "true")
        run_git(path, "config", "commit.gpgsign", "false")
        return cls(path)

    def commit(
        self,
        files: Mapping[str, str | bytes | None],
        *,
        message: str = "Update files",
        branch: str | None = None,
        parent: str | None = None,
    ) -> str:
        """Write ``files`` (``None`` deletes one) on top of ``parent`` or ``branch`` and commit.

        ``branch`` is created (from ``parent`` or the current HEAD) when it does not exist yet.
        Returns the new commit's SHA, which is the same on every run.
        """
        if branch is not None:
            exists = bool(run_git(self.path, "branch", "--list", branch))
            if exists and parent is None:
                run_git(self.path, "checkout", "--quiet", branch)
            else:
                run_git(self.path, "checkout", "--quiet", "-B", branch, *([parent] if parent else []))
        elif parent is not None:
            run_git(self.path, "checkout", "--quiet", "--detach", parent)
        for name, content in files.items():
            target = self.path / name
            if content is None:
                run_git(self.path, "rm", "--quiet", "--ignore-unmatch", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        run_git(self.path, "add", "--all")
        moment = EPOCH + 60 * self._commits
        self._commits += 1
        run_git(self.path, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", message, moment=moment)
        return self.sha("HEAD")

    def sha(self, rev: str) -> str:
        return run_git(self.path, "rev-parse", "--verify", f"{rev}^{{commit}}")

    def has_commit(self, sha: str) -> bool:
        proc = subprocess.run(
            ["git", "-C", str(self.path), "cat-file", "-e", f"{sha}^{{commit}}"],
            capture_output=True,
            env=_git_env(),
            check=False,
        )
        return proc.returncode == 0

    def clone(self, dest: Path, *, depth: int | None = None, rev: str | None = None) -> RepoBuilder:
        """Clone this repository as ``origin`` (``depth``: shallow, like actions/checkout's default).

        ``rev`` picks the branch checked out; the clone only has what that branch reaches.
        """
        args = ["clone", "--quiet", "--no-tags"]
        if depth is not None:
            args += ["--depth", str(depth)]
        if rev is not None:
            args += ["--branch", rev, "--single-branch"]
        run_git(self.path.parent, *args, self.path.resolve().as_uri(), str(dest))
        return RepoBuilder(dest)
