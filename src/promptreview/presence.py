"""Why a file a suite needs cannot be read at a revision, in words a reviewer can act on.

``Revision.read`` answers ``None`` for every kind of absence: a deleted file, a path that is a
directory, a symbolic link, a submodule, a file over the size cap, or a file under a directory
that the revision replaced by a link. For the review those differ: a PR that turns its prompt into
a symlink or pads it past the cap has not *removed* it, it has broken it, and the report must say
which (DESIGN.md section 10, "a PR that breaks its own prompt fails"). This module looks at the
tree entries themselves (``git ls-tree``, or ``lstat`` in a working tree) and never follows them.
"""

from __future__ import annotations

import os
import stat
from pathlib import PurePosixPath

from promptreview.revision import MAX_FILE_BYTES, GitError, Revision, git, normalize_path

_MB = 1_000_000


def is_regular_file(rev: Revision, path: str) -> bool:
    """Whether ``path`` is a regular file at ``rev``: not a link, a submodule, or under a link.

    ``git cat-file`` answers a symbolic link with its target's *name* as if it were the file's
    text, so a prompt replaced by a link would be read as the one-line prompt ``../elsewhere``.
    """
    norm = normalize_path(path)
    if norm is None:
        return False
    if rev.is_worktree:
        full = rev.repo / norm
        parts = PurePosixPath(norm).parts
        for depth in range(1, len(parts) + 1):
            if (rev.repo / "/".join(parts[:depth])).is_symlink():
                return False
        return full.is_file()
    return _special_paths(rev).get(norm) is None


def why_unreadable(rev: Revision, path: str) -> str:
    """One phrase saying why ``path`` gives no text at ``rev``: "is a symbolic link", "does not exist"...

    The phrase follows the path in a sentence (``prompts/a.txt is a submodule``). Parents are
    checked first, so a prompt whose directory became a link is reported as such.
    """
    norm = normalize_path(path)
    if norm is None:
        return "is outside the repository"
    parts = PurePosixPath(norm).parts
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        kind = _entry(rev, parent)
        if kind is None:
            return "does not exist"
        if kind[0] != "tree":
            return f"does not exist: its directory `{parent}` {_describe(kind)}"
    kind = _entry(rev, norm)
    if kind is None:
        return "does not exist"
    return _describe(kind)


def _describe(kind: tuple[str, int]) -> str:
    what, size = kind
    if what == "link":
        return "is a symbolic link (promptreview reads regular files only, never through a link)"
    if what == "submodule":
        return "is a submodule, not a file"
    if what == "tree":
        return "is a directory, not a file"
    if size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // _MB
        return f"is {size / _MB:.1f} MB, over the {limit} MB limit for a file promptreview reads"
    return "could not be read"


def _entry(rev: Revision, path: str) -> tuple[str, int] | None:
    """(kind, size) of the tree entry at ``path``: kind is blob, tree, link or submodule."""
    if rev.is_worktree:
        try:
            st = os.lstat(rev.repo / path)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return "link", 0
        if stat.S_ISDIR(st.st_mode):
            is_submodule = (rev.repo / path / ".git").exists()
            return ("submodule" if is_submodule else "tree"), 0
        return "blob", st.st_size
    try:
        out = git(rev.repo, "ls-tree", "-z", "-l", "--full-tree", rev.rev, "--", path)
    except GitError:
        return None
    for record in out.split(b"\x00"):
        meta, _, name = record.partition(b"\t")
        if name.decode("utf-8", "surrogateescape") != path:
            continue
        mode, kind, _sha, size = meta.decode().split()
        if mode == "120000":
            return "link", 0
        if mode == "160000" or kind == "commit":
            return "submodule", 0
        if kind == "tree":
            return "tree", 0
        return "blob", int(size) if size.isdigit() else 0
    return None


_SPECIAL: dict[tuple[str, str], dict[str, str]] = {}


def _special_paths(rev: Revision) -> dict[str, str]:
    """Links and submodules of a commit (path -> kind), from one ``git ls-tree -r``, kept per commit."""
    key = (str(rev.repo), rev.rev)
    if key not in _SPECIAL:
        out = git(rev.repo, "ls-tree", "-r", "-z", "--full-tree", rev.rev)
        special: dict[str, str] = {}
        for record in out.split(b"\x00"):
            meta, _, name = record.partition(b"\t")
            mode = meta[:6]
            if mode in (b"120000", b"160000"):
                special[name.decode("utf-8", "replace")] = "link" if mode == b"120000" else "submodule"
        if len(_SPECIAL) > 64:
            _SPECIAL.clear()
        _SPECIAL[key] = special
    return _SPECIAL[key]
