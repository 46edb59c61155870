"""Reading repository files at a revision without checking anything out.

PR content is untrusted, so nothing from the head revision is ever written into a working tree
that runs code: files are read with ``git cat-file`` (batched) or, for the working tree itself
(local ``promptreview run``), straight from disk. One ``Revision`` is one immutable snapshot.

Names come from the PR, so no name may steer the reader:

* a commit is listed once with ``git ls-tree -r -z -l`` (NUL-separated: a name may hold a newline)
  into path -> (mode, type, object id, size), and blobs are then read with ``git cat-file --batch``
  **by object id**, each answer's id and type checked against the request. A path that is a
  folder, a submodule or absent is simply not a file; a name cannot shift the answers of others;
* a symlink is followed only to a file of the same snapshot inside the repository;
* the working tree (``promptreview run``, ``compare`` without ``--head``) shows only the files git
  tracks or that were explicitly ``git add``-ed (the index): never an ignored or untracked file
  (``.env``), never anything inside ``.git``, never through a symlink that leaves the repository
  or lands on a file the index does not list.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from promptreview.errors import PromptReviewError

WORKTREE = "WORKTREE"
MAX_FILE_BYTES = 5_000_000
MAX_SYMLINK_HOPS = 8
_FILE_MODES = ("100644", "100755")
_SYMLINK_MODE = "120000"
_GITLINK_MODE = "160000"

Kind = Literal["file", "symlink", "submodule", "folder"]


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


@dataclass(frozen=True)
class Entry:
    """One path of a snapshot as git lists it (``ls-tree -l`` or the index)."""

    mode: str
    oid: str
    size: int | None  # None: unknown (index entries, submodules)

    @property
    def kind(self) -> Kind:
        if self.mode in _FILE_MODES:
            return "file"
        if self.mode == _SYMLINK_MODE:
            return "symlink"
        return "submodule" if self.mode == _GITLINK_MODE else "folder"


@dataclass
class Revision:
    """A snapshot of the repository: a commit (read through git) or the working tree (from disk)."""

    repo: Path
    rev: str  # a commit SHA, or WORKTREE
    label: str = ""
    _files: dict[str, str | None] = field(default_factory=dict, repr=False)
    _entries: dict[str, Entry] | None = field(default=None, repr=False)
    _listing: list[str] | None = field(default=None, repr=False)

    @classmethod
    def at(cls, repo: Path, rev: str | None, label: str = "") -> Revision:
        """Resolve ``rev`` to a commit SHA once, so later reads all see the same snapshot."""
        repo = repo.resolve()
        if rev is None or rev == WORKTREE:
            return cls(repo, WORKTREE, label or "working tree")
        if rev.startswith("-"):  # it becomes a git argument: never let it look like an option
            raise GitError(f"unknown {label + ' ' if label else ''}revision {rev!r}")
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

    # -- what the snapshot holds -----------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        """Every path git lists for this snapshot (files, symlinks, submodules), by path."""
        if self._entries is None:
            self._entries = self._list_worktree() if self.is_worktree else self._list_commit()
        return self._entries

    def _list_commit(self) -> dict[str, Entry]:
        out = git(self.repo, "ls-tree", "-r", "-z", "-l", "--full-tree", self.rev)
        entries: dict[str, Entry] = {}
        for record in out.split(b"\x00"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, _kind, oid, size = meta.decode("ascii").split()
            path = name.decode("utf-8", "replace")
            if _safe_name(path):
                entries[path] = Entry(mode, oid, int(size) if size.isdigit() else None)
        return entries

    def _list_worktree(self) -> dict[str, Entry]:
        # The index only: tracked files and what was explicitly `git add`-ed; nothing ignored.
        out = git(self.repo, "ls-files", "-z", "--cached", "--stage")
        entries: dict[str, Entry] = {}
        for record in out.split(b"\x00"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, oid, _stage = meta.decode("ascii").split()
            path = name.decode("utf-8", "replace")
            if _safe_name(path):
                entries[path] = Entry(mode, oid, None)
        return entries

    def kind(self, path: str) -> Kind | None:
        """What ``path`` is in this snapshot: a file, a symlink, a submodule, a folder, or None."""
        norm = normalize_path(path)
        if norm is None:
            return None
        entries = self.entries()
        if norm in entries:
            return entries[norm].kind
        prefix = norm + "/"
        return "folder" if any(p.startswith(prefix) for p in entries) else None

    def list_files(self) -> list[str]:
        """Every path at this revision that reads as a file (working tree: the index's files on disk)."""
        if self._listing is None:
            entries = self.entries()
            if self.is_worktree:
                self._listing = sorted(p for p, e in entries.items() if e.kind == "file" and self._on_disk(p))
            else:
                self._listing = sorted(p for p, e in entries.items() if e.kind == "file")
        return self._listing

    def glob(self, pattern: str) -> list[str]:
        return [p for p in self.list_files() if fnmatch.fnmatch(p, pattern) or _glob_root(p, pattern)]

    # -- reading -------------------------------------------------------------------------------
    def read(self, path: str) -> str | None:
        """File text at this revision; None when it is no readable file (absent, a folder, a
        submodule, over the size cap, a symlink out of the snapshot, or outside the repository)."""
        norm = normalize_path(path)
        if norm is None:
            return None
        if norm not in self._files:
            if self.is_worktree:
                self._files[norm] = self._read_worktree(norm)
            else:
                self.prefetch([norm])
        return self._files.get(norm)

    def release(self, paths: list[str]) -> None:
        """Forget the text read for ``paths``; a later read reads the file again.

        Why: a large cases file is parsed once and its text is then dead weight for the rest of
        the review (about 3 MB at 50,000 JSONL cases, held to the end by this cache).
        """
        for path in paths:
            norm = normalize_path(path)
            if norm is not None:
                self._files.pop(norm, None)

    def prefetch(self, paths: list[str]) -> None:
        """Read many files in one ``git cat-file --batch`` round trip (per symlink hop)."""
        if self.is_worktree:
            return
        todo = [p for p in dict.fromkeys(normalize_path(p) for p in paths) if p and p not in self._files]
        entries = self.entries()
        # path -> the path it currently resolves to (itself, or a symlink's target)
        pending = {p: p for p in todo}
        for _hop in range(MAX_SYMLINK_HOPS + 1):
            if not pending:
                break
            wanted: dict[str, str] = {}  # oid -> kind expected
            for target in pending.values():
                entry = entries.get(target) if target else None
                if entry is not None and entry.kind in ("file", "symlink"):
                    if entry.kind == "file" and entry.size is not None and entry.size > MAX_FILE_BYTES:
                        continue
                    wanted[entry.oid] = "blob"
            blobs = self._cat_blobs(list(wanted))
            following: dict[str, str] = {}
            for path, target in pending.items():
                entry = entries.get(target) if target else None
                if entry is None or entry.kind not in ("file", "symlink") or entry.oid not in blobs:
                    self._files[path] = None
                elif entry.kind == "file":
                    self._files[path] = blobs[entry.oid].decode("utf-8", "replace")
                else:
                    link = blobs[entry.oid].decode("utf-8", "replace")
                    following[path] = _link_target(target, link) or ""
            pending = following
        for path in pending:  # too many hops: a loop
            self._files[path] = None

    def _cat_blobs(self, oids: list[str]) -> dict[str, bytes]:
        """The contents of ``oids`` by id; every answer's id and type are checked, in order."""
        if not oids:
            return {}
        out = git(self.repo, "cat-file", "--batch", input_bytes="".join(f"{o}\n" for o in oids).encode())
        found: dict[str, bytes] = {}
        pos = 0
        for oid in oids:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode("ascii", "replace").split()
            pos = end + 1
            if len(header) == 2 and header == [oid, "missing"]:
                continue
            if len(header) != 3 or header[0] != oid or not header[2].isdigit():
                raise GitError(f"git cat-file answered {header!r} for object {oid}: out of step")
            size = int(header[2])
            if header[1] == "blob" and size <= MAX_FILE_BYTES:
                found[oid] = out[pos : pos + size]
            pos += size + 1
        return found

    def _on_disk(self, path: str) -> bool:
        return self._worktree_file(path) is not None

    def _worktree_file(self, path: str) -> Path | None:
        """The real file behind an index path, if it is one the snapshot may read.

        Resolved through any symlinks; the result must be inside the repository, outside ``.git``
        and itself a file the index lists, so a link to ``.env`` or ``.git/config`` reads as absent.
        """
        entry = self.entries().get(path)
        if entry is None or entry.kind not in ("file", "symlink"):
            return None
        full = Path(os.path.realpath(self.repo / path))
        try:
            relative = full.relative_to(self.repo).as_posix()
        except ValueError:
            return None
        target = self.entries().get(relative)
        if target is None or target.kind != "file" or not _safe_name(relative) or not full.is_file():
            return None
        return full

    def _read_worktree(self, path: str) -> str | None:
        full = self._worktree_file(path)
        if full is None or full.stat().st_size > MAX_FILE_BYTES:
            return None
        return full.read_text("utf-8", errors="replace")


def _safe_name(path: str) -> bool:
    """A path the reader may serve: relative, normalised, and nothing inside a ``.git`` folder."""
    return normalize_path(path) == path and not any(part.lower() == ".git" for part in path.split("/"))


def _link_target(link_path: str, target: str) -> str | None:
    """Where a symlink at ``link_path`` points, as a repository path (None when it leaves the repo)."""
    if target.startswith("/"):
        return None
    parent = link_path.rpartition("/")[0]
    return normalize_path(f"{parent}/{target}" if parent else target)


def _glob_root(path: str, pattern: str) -> bool:
    """Let ``**/x`` also match ``x`` at the repository root, as users expect."""
    return pattern.startswith("**/") and fnmatch.fnmatch(path, pattern[3:])
