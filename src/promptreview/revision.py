"""Reading repository files at a revision without checking anything out.

PR content is untrusted, so nothing from the head revision is ever written into a working tree
that runs code: files are read with ``git cat-file`` (batched) or, for the working tree itself
(local ``promptreview run``), straight from disk. One ``Revision`` is one immutable snapshot.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from promptreview.errors import PromptReviewError

WORKTREE = "WORKTREE"
MAX_FILE_BYTES = 5_000_000


class GitError(PromptReviewError):
    """git refused (unknown revision, not a repository...); the message says what to fix."""


class NotARepository(GitError):
    """The directory is not inside a git repository at all."""


def git(repo: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    """Run git with the repository marked safe (Actions containers run as another user)."""
    cmd = ["git", "-c", f"safe.directory={repo}", "-c", "core.quotepath=off", "-C", str(repo), *args]
    try:
        proc = subprocess.run(cmd, input=input_bytes, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed; promptreview reads revisions with git") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        if any("not a git repository" in line for line in msg):
            raise NotARepository(
                f"{repo} is not in a git repository: promptreview reads prompts, cases and config "
                "from git revisions (run it inside a clone, or `git init` and commit the files first)"
            )
        raise GitError(
            f"git {' '.join(args[:2])} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}"
        )
    return proc.stdout


def normalize_path(path: str) -> str | None:
    """A repo-relative POSIX path, or None if it would escape the repository."""
    if not path or "\x00" in path or "\\" in path:
        return None
    p = PurePosixPath(path)
    if p.is_absolute():
        return None
    parts: list[str] = []
    for part in p.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts) or None


@dataclass
class Revision:
    """A snapshot of the repository: a commit (read through git) or the working tree (from disk)."""

    repo: Path
    rev: str  # a commit SHA, or WORKTREE
    label: str = ""
    _files: dict[str, str | None] = field(default_factory=dict, repr=False)
    _listing: list[str] | None = field(default=None, repr=False)

    @classmethod
    def at(cls, repo: Path, rev: str | None, label: str = "") -> Revision:
        """Resolve ``rev`` to a commit SHA once, so later reads all see the same snapshot."""
        repo = repo.resolve()
        if rev is None or rev == WORKTREE:
            return cls(repo, WORKTREE, label or "working tree")
        try:
            sha = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
        except NotARepository:
            raise
        except GitError:
            side = f"{label} " if label else ""
            msg = f"unknown {side}revision {rev!r} in {repo} (is it fetched? try `git fetch`)"
            raise GitError(msg) from None
        return cls(repo, sha, label or rev)

    @property
    def is_worktree(self) -> bool:
        return self.rev == WORKTREE

    @property
    def short(self) -> str:
        return "working tree" if self.is_worktree else self.rev[:7]

    def list_files(self) -> list[str]:
        """Every tracked file path at this revision (working tree: tracked + untracked, not ignored)."""
        if self._listing is None:
            if self.is_worktree:
                out = git(self.repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
                names = {n for n in out.decode("utf-8", "replace").split("\x00") if n}
                self._listing = sorted(n for n in names if (self.repo / n).is_file())
            else:
                out = git(self.repo, "ls-tree", "-r", "-z", "--name-only", self.rev)
                self._listing = sorted(n for n in out.decode("utf-8", "replace").split("\x00") if n)
        return self._listing

    def glob(self, pattern: str) -> list[str]:
        return [p for p in self.list_files() if fnmatch.fnmatch(p, pattern) or _glob_root(p, pattern)]

    def read(self, path: str) -> str | None:
        """File text at this revision; None when the file does not exist (or escapes the repo)."""
        norm = normalize_path(path)
        if norm is None:
            return None
        if norm not in self._files:
            self._files[norm] = self._read_uncached(norm)
        return self._files[norm]

    def prefetch(self, paths: list[str]) -> None:
        """Read many files in one ``git cat-file --batch`` round trip."""
        if self.is_worktree:
            return
        todo = [p for p in dict.fromkeys(normalize_path(p) for p in paths) if p and p not in self._files]
        if not todo:
            return
        spec = "".join(f"{self.rev}:{p}\n" for p in todo).encode()
        out = git(self.repo, "cat-file", "--batch", input_bytes=spec)
        pos = 0
        for path in todo:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode("utf-8", "replace").split()
            pos = end + 1
            if len(header) < 3 or header[-1] == "missing" or header[1] != "blob":
                self._files[path] = None
                continue
            size = int(header[2])
            blob = out[pos : pos + size]
            pos += size + 1
            self._files[path] = None if size > MAX_FILE_BYTES else blob.decode("utf-8", "replace")

    def _read_uncached(self, path: str) -> str | None:
        if self.is_worktree:
            full = (self.repo / path).resolve()
            if not str(full).startswith(str(self.repo) + os.sep) or not full.is_file():
                return None
            if full.stat().st_size > MAX_FILE_BYTES:
                return None
            return full.read_text("utf-8", errors="replace")
        self.prefetch([path])
        return self._files.get(path)


def _glob_root(path: str, pattern: str) -> bool:
    """Let ``**/x`` also match ``x`` at the repository root, as users expect."""
    return pattern.startswith("**/") and fnmatch.fnmatch(path, pattern[3:])
