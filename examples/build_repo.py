"""Build the example's git history (a base commit and a head commit) in a directory.

The example lives as two plain snapshots (``acme-support/base`` and ``acme-support/head``) so it
is easy to read in this repository; this turns them into a real repository with history, which
is what promptreview reviews.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_ENV = {
    "GIT_AUTHOR_NAME": "Acme Dev",
    "GIT_AUTHOR_EMAIL": "dev@acme.example",
    "GIT_COMMITTER_NAME": "Acme Dev",
    "GIT_COMMITTER_EMAIL": "dev@acme.example",
    "GIT_AUTHOR_DATE": "2026-11-01T10:00:00Z",
    "GIT_COMMITTER_DATE": "2026-11-01T10:00:00Z",
}


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_ENV}
    out = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout.strip()


def _snapshot(src: Path, repo: Path) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(src, repo, dirs_exist_ok=True)


def build(target: Path, example: str = "acme-support") -> tuple[str, str]:
    """Create the repository at ``target``; returns (base_sha, head_sha)."""
    target.mkdir(parents=True, exist_ok=True)
    _git(target, "init", "-q", "-b", "main")
    _snapshot(HERE / example / "base", target)
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "Support bot prompts and evals")
    base = _git(target, "rev-parse", "HEAD")
    _git(target, "checkout", "-q", "-b", "shorter-answers")
    _snapshot(HERE / example / "head", target)
    _git(target, "add", "-A")
    _git(
        target,
        "commit",
        "-q",
        "-m",
        "Shorter support answers that name the product; route refunds to billing",
    )
    head = _git(target, "rev-parse", "HEAD")
    return base, head


if __name__ == "__main__":
    base_sha, head_sha = build(Path(sys.argv[1]))
    print(base_sha, head_sha)
