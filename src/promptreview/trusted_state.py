"""Where the review keeps what it trusts, out of the pull request's reach.

In a ``pull_request`` job the workspace is the PR's merge commit: every file in it may have been
written by the PR's author, including a committed ``.promptreview/`` folder (a poisoned answer
cache that would supply the answers and judge verdicts), or a symlink where promptreview expects a
folder or a file (so a report written there lands wherever the PR points it). So:

* the answer cache of the action lives in a state folder **outside the workspace** (the action
  container's ``$HOME``, which the runner mounts from ``${{ runner.temp }}/_github_home``; a
  workflow persists it with ``actions/cache`` pointed there). Nothing in the checkout can reach it;
* a ``.promptreview/`` that git tracks in the checkout, or that is a symlink, is refused: nothing
  is read from it or written into it, and the log and the report say why;
* report files are written without following symlinks (``O_NOFOLLOW`` on the folder and on each
  file), so even an untracked symlink planted by an earlier step cannot redirect them;
* the local CLI refuses a cache file that git tracks, or that a symlink puts outside the
  repository: in CI the CLI runs on the PR's checkout too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from promptreview.errors import PromptReviewError
from promptreview.revision import GitError, git

ARTIFACT_DIR = ".promptreview"
STATE_DIR_NAME = "promptreview"
CACHE_NAME = "cache.sqlite"


class UntrustedStateError(PromptReviewError):
    """A path the review would trust can be supplied by the pull request."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def tracked_under(repo: Path, *relative: str) -> list[str]:
    """Paths under ``relative`` (files or folders) that git tracks in ``repo``'s checkout."""
    specs = [f":(literal){r}" for r in relative]
    try:
        out = git(repo, "ls-files", "-z", "--cached", "--full-name", "--", *specs)
    except GitError:
        return []
    return [name for name in out.decode("utf-8", "replace").split("\x00") if name]


def artifact_dir_problem(workspace: Path) -> str | None:
    """Why ``<workspace>/.promptreview`` must not be used, or None when it is ours to write."""
    folder = workspace / ARTIFACT_DIR
    if folder.is_symlink():
        return f"`{ARTIFACT_DIR}` in the checkout is a symlink"
    tracked = tracked_under(workspace, ARTIFACT_DIR)
    if tracked:
        shown = ", ".join(f"`{name}`" for name in tracked[:3]) + (" ..." if len(tracked) > 3 else "")
        return f"`{ARTIFACT_DIR}/` is committed in the checkout ({shown})"
    if folder.exists() and not folder.is_dir():
        return f"`{ARTIFACT_DIR}` in the checkout is not a folder"
    return None


def refusal_note(problem: str) -> str:
    """The one-line message the log and the report carry when the folder is refused."""
    return (
        f"{problem}: it may come from the pull request, so promptreview read nothing from it and "
        f"wrote no report files into it (answers are cached outside the workspace); remove "
        f"`{ARTIFACT_DIR}/` from the repository and add it to `.gitignore`"
    )


def action_state_dir(env: Mapping[str, str], workspace: Path) -> tuple[Path, bool]:
    """The action's state folder and whether it outlives the step.

    ``$HOME/promptreview`` when ``$HOME`` is a real folder outside the workspace (in a container
    action it is ``/github/home``, mounted from ``${{ runner.temp }}/_github_home``, which a later
    ``actions/cache`` step can save). Otherwise a fresh temporary folder: nothing is cached
    across runs, which is slower but never wrong.
    """
    home = (env.get("HOME") or "").strip()
    root = workspace.resolve()
    if home and os.path.isabs(home) and os.path.isdir(home):
        candidate = Path(home).resolve() / STATE_DIR_NAME
        if not _inside(candidate, root) and not _inside(root, candidate):
            try:
                candidate.mkdir(exist_ok=True)
            except OSError:
                pass
            else:
                if candidate.is_dir() and not candidate.is_symlink():
                    return candidate, True
    return Path(tempfile.mkdtemp(prefix="promptreview-state-")), False


def write_report_files(workspace: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` (name -> text) into ``<workspace>/.promptreview`` without following symlinks.

    The folder is created if missing and opened with ``O_NOFOLLOW``; each file is opened relative
    to it with ``O_NOFOLLOW`` too, so a symlink at either place fails with ``OSError`` instead of
    writing through it.
    """
    folder = workspace / ARTIFACT_DIR
    with contextlib.suppress(FileExistsError):
        folder.mkdir()
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name, text in files.items():
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"report file name {name!r} must be a plain name")
            fd = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd
            )
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
    finally:
        os.close(dir_fd)


def check_cache_path(repo: Path, cache_path: Path) -> None:
    """Refuse a cache file the checkout can supply: tracked by git, or a symlink out of the repo.

    A cache outside the repository is the user's own business and is not checked.
    """
    root = repo.resolve()
    lexical = Path(os.path.abspath(cache_path))
    if not _inside(lexical, root) and not _inside(lexical.resolve(), root):
        return
    how = "--cache PATH outside the repository, or --no-cache"
    # Each folder on the way and the file itself: a symlink anywhere may point out of the repo.
    probe = lexical
    while _inside(probe, root) and probe != root:
        if probe.is_symlink():
            raise UntrustedStateError(
                f"the cache path {cache_path} goes through a symlink ({probe} -> {os.readlink(probe)!r}); "
                f"a checkout could redirect the cache with it: use {how}"
            )
        probe = probe.parent
    if _inside(lexical, root):
        relative = lexical.relative_to(root).as_posix()
        # SQLite also reads its side files: a committed -wal would be replayed into the cache.
        tracked = tracked_under(root, *(relative + side for side in ("", "-wal", "-shm", "-journal")))
        if tracked:
            raise UntrustedStateError(
                f"the cache file {relative} is tracked by git, so a pull request could supply answers "
                f"through it: `git rm --cached {relative}` and ignore it, or use {how}"
            )
