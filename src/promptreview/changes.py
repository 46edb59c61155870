"""Which files changed between two revisions, with git's rename detection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from promptreview.revision import Revision, git

ChangeStatus = Literal["added", "modified", "deleted", "renamed"]
_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "added", "T": "modified"}


@dataclass(frozen=True)
class Change:
    status: ChangeStatus
    path: str  # path at head (at base for deletions)
    old_path: str | None = None  # path at base, for renames


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[Change, ...]

    def touched(self) -> set[str]:
        """Every path the change touches, on either side."""
        out: set[str] = set()
        for c in self.changes:
            out.add(c.path)
            if c.old_path:
                out.add(c.old_path)
        return out

    def head_path(self, base_path: str) -> str | None:
        """Where a base file lives at head: same path, its rename target, or None if deleted."""
        for c in self.changes:
            if c.status == "renamed" and c.old_path == base_path:
                return c.path
            if c.status == "deleted" and c.path == base_path:
                return None
        return base_path

    def base_path(self, head_path: str) -> str | None:
        for c in self.changes:
            if c.status == "renamed" and c.path == head_path:
                return c.old_path
            if c.status == "added" and c.path == head_path:
                return None
        return head_path



def diff(base: Revision, head: Revision) -> ChangeSet:
    """Changed paths from base to head (head may be the working tree: the index's files on disk)."""
    args = ["diff", "--name-status", "-z", "-M"]
    if head.is_worktree:
        out = git(base.repo, *args, base.rev, "--")
    else:
        out = git(base.repo, *args, base.rev, head.rev, "--")
    # The working tree is what the index lists (tracked or `git add`-ed files, as `git diff REV`
    # compares them): untracked and ignored files are not part of any snapshot (revision.py).
    return ChangeSet(tuple(_parse_name_status(out.decode("utf-8", "replace"))))


def _parse_name_status(out: str) -> list[Change]:
    fields = out.split("\x00")
    changes: list[Change] = []
    i = 0
    while i < len(fields) and fields[i]:
        code = fields[i]
        kind = _STATUS.get(code[0], "modified")
        if code[0] in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            changes.append(Change(kind, new, old if code[0] == "R" else None))  # type: ignore[arg-type]
            i += 3
        else:
            changes.append(Change(kind, fields[i + 1]))  # type: ignore[arg-type]
            i += 2
    return changes
