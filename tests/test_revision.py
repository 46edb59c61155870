"""The git reader: names cannot shift answers, symlinks stay inside the snapshot, the working
tree is the index's files (real git repositories)."""

from __future__ import annotations

import os
from pathlib import Path

from promptreview.revision import MAX_FILE_BYTES, Revision
from repo_builder import RepoBuilder, run_git


def test_names_with_newlines_and_folders_read_exactly_what_they_name(tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "r")
    files = {"a\nb": "odd", "a": "plain", "dir/x.txt": "x", "evals/cases.yaml": "- id: real\n"}
    sha = repo.commit(files)
    rev = Revision.at(repo.path, sha)

    rev.prefetch(["dir", "a\nb", "a\nHEAD:evals/cases.yaml", "evals/cases.yaml", "a"])

    assert [rev.read(p) for p in ("a\nb", "a", "dir", "a\nHEAD:evals/cases.yaml", "evals/cases.yaml")] == [
        "odd", "plain", None, None, "- id: real\n"
    ]
    assert (rev.kind("dir"), rev.kind("a\nb"), rev.kind("nope")) == ("folder", "file", None)


def test_symlinks_are_followed_only_to_files_of_the_same_snapshot(tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "r")
    repo.commit({"shared/base.txt": "shared text", "big.txt": "x" * (MAX_FILE_BYTES + 1)})
    for name, target in {
        "prompts/p.txt": "../shared/base.txt",
        "prompts/out.txt": "../../outside.txt",
        "prompts/abs.txt": "/etc/hostname",
        "prompts/loop.txt": "loop.txt",
        "prompts/git.txt": "../.git/config",
    }.items():
        (repo.path / "prompts").mkdir(exist_ok=True)
        os.symlink(target, repo.path / name)
    sha = repo.commit({})
    rev = Revision.at(repo.path, sha)

    assert rev.read("prompts/p.txt") == "shared text"
    assert [rev.read(f"prompts/{n}.txt") for n in ("out", "abs", "loop", "git")] == [None] * 4
    assert rev.read("big.txt") is None and rev.kind("big.txt") == "file"
    assert "prompts/p.txt" not in rev.list_files() and "shared/base.txt" in rev.list_files()


def test_the_working_tree_is_the_index_never_ignored_files_or_git_internals(tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "r")
    repo.commit({"p.txt": "tracked", ".gitignore": ".env\n"})
    (repo.path / ".env").write_text("SECRET=1", "utf-8")
    (repo.path / "new.txt").write_text("untracked", "utf-8")
    (repo.path / "added.txt").write_text("added", "utf-8")
    os.symlink(".env", repo.path / "to-env.txt")
    os.symlink("p.txt", repo.path / "to-p.txt")
    run_git(repo.path, "add", "added.txt", "to-env.txt", "to-p.txt")
    tree = Revision.at(repo.path, None)

    assert [tree.read(p) for p in ("p.txt", "added.txt", "to-p.txt")] == ["tracked", "added", "tracked"]
    assert [tree.read(p) for p in (".env", "new.txt", "to-env.txt", ".git/config", ".git/HEAD")] == [None] * 5
    assert tree.list_files() == [".gitignore", "added.txt", "p.txt"]


def test_a_released_file_is_read_again_and_reads_the_same(tmp_path: Path) -> None:
    """release() only drops the cached text: a later read must still see the file."""
    repo = RepoBuilder.init(tmp_path / "r")
    sha = repo.commit({"evals/cases.jsonl": '{"id": "a"}\n', "p.md": "hi"})
    for rev in (Revision.at(repo.path, sha), Revision.at(repo.path, None)):
        rev.prefetch(["evals/cases.jsonl", "p.md"])
        assert rev.read("evals/cases.jsonl") == '{"id": "a"}\n'
        rev.release(["./evals/cases.jsonl", "missing.txt"])
        assert rev.read("evals/cases.jsonl") == '{"id": "a"}\n'
        assert rev.read("p.md") == "hi"
