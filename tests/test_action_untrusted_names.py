"""File names are PR content: no name may desynchronise the git reader (issue 13.4).

The real action against the loopback servers. Base protects a case with ``must_pass``; the PR
breaks that case and plays with names: a rename to a path holding a newline followed by the id of
a blob the PR ships (the old line-based ``cat-file --batch`` reader answered the base's cases file
with that blob), or a path that is a folder at base. The review must read base's cases as base
has them, so the protection holds and the review fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from repo_builder import RepoBuilder
from servers.github_server import GitHubServer
from servers.openai_server import OpenAIServer
from test_action_e2e import PR, REPO, Project, _contract_clean

__all__ = ["_contract_clean"]

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
PROTECTED = "- id: vip\n  must_pass: true\n  vars: {name: Person0}\n" + "".join(
    f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(1, 6)
)
EASY = "".join(f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(1, 6))
# Long enough for git to follow the rename (at least half of the lines are kept).
STYLE = "".join(f"Style rule {i}: be kind, brief and specific.\n" for i in range(12))
PROMPT = STYLE + "Say hello to {{ vars.name }}.\n"
# Loses the name for the protected case only: one failing case of six passes the margin, but the
# base's must_pass fails the review.
BROKEN = STYLE + "Say hello to {{ vars.name if vars.name != 'Person0' else 'our guest' }}.\n"


def moved_to(path: str) -> str:
    """Head's config naming the prompt's new path (head's config says where head's prompt is)."""
    return CONFIG.replace("prompt: prompts/greet.txt", f"prompt: {json.dumps(path)}")


def blob_id(text: str) -> str:
    return subprocess.run(
        ["git", "hash-object", "--stdin"], input=text.encode(), capture_output=True, check=True
    ).stdout.decode().strip()


def project_with(
    tmp_path: Path,
    github: GitHubServer,
    openai: OpenAIServer,
    base: dict[str, str],
    head: dict[str, str | None],
) -> Project:
    origin = RepoBuilder.init(tmp_path / "origin")
    base_sha = origin.commit({"promptreview.yml": CONFIG, "evals/greet.yaml": PROTECTED, **base})
    head_sha = origin.commit(head, branch="feature", message="Rename the prompt")
    github.add_repo(REPO)
    github.add_pull(REPO, head_sha=head_sha, base_sha=base_sha, number=PR, head_ref="feature")
    return Project(tmp_path, github, openai, origin, base_sha, head_sha)


def assert_protection_held(project: Project) -> None:
    run = project.run("pull_request", project.pull_request_event())

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "fail" and run.outputs["conclusion"] == "failure"
    (comment,) = project.bot_comments()
    assert "Prompt review: fail" in comment.body
    assert "<code>greet</code> fails: must\\-pass case <code>vip</code>" in comment.body
    assert project.states(project.head)[-1][0] == "failure"


def test_a_renamed_prompt_whose_name_holds_a_newline_and_a_blob_id_cannot_replace_base_cases(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    evil = f"prompts/greet.txt\n{blob_id(EASY)}"
    project = project_with(
        tmp_path, fake_github, fake_openai,
        {"prompts/greet.txt": PROMPT},
        {
            "prompts/greet.txt": None,
            evil: BROKEN,
            "evals/easy.yaml": EASY,
            "promptreview.yml": moved_to(evil),
        },
    )

    assert_protection_held(project)


def test_a_head_path_that_is_a_folder_at_base_cannot_shift_the_reader(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = project_with(
        tmp_path, fake_github, fake_openai,
        {"prompts/greet.txt": PROMPT, "docs/guide/index.md": "# guide\n"},
        # `docs/guide` is a folder at base and the renamed prompt at head.
        {
            "prompts/greet.txt": None,
            "docs/guide/index.md": None,
            "docs/guide": BROKEN,
            "promptreview.yml": moved_to("docs/guide"),
        },
    )

    assert_protection_held(project)
