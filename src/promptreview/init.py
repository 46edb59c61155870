"""``promptreview init``: a starter config, prompt, cases and workflow a team can edit."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

STARTER = {
    "promptreview.yml": """version: 1
defaults:
  model: openai/gpt-4o-mini
  judge: openai/gpt-4.1
suites:
  example:
    prompt: prompts/example.md.j2
    cases: evals/example.yaml
    metrics:
      - contains: "{{ vars.topic }}"
      - max-length: {max: 600}
      - rubric: {criteria: "Accurate, specific and friendly", min: 4}
    compare: {criteria: "correct, complete, concise"}
    gate: {on_inconclusive: neutral}
""",
    "prompts/example.md.j2": "Explain {{ topic }} to a new customer in two or three sentences.\n",
    "evals/example.yaml": """- id: refunds
  vars: {topic: refunds}
  expected: "Refunds are available within 30 days of purchase."
- id: invoices
  vars: {topic: invoices}
""",
}


def write_starter(repo: Path, force: bool = False) -> list[str]:
    """Write the starter files; existing files are kept unless ``force``. Returns what happened."""
    files = dict(STARTER)
    files[".github/workflows/promptreview.yml"] = _workflow()
    lines = []
    written: list[str] = []
    for rel, text in files.items():
        target = repo / rel
        if target.exists() and not force:
            lines.append(f"kept     {rel} (exists; --force to overwrite)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        lines.append(f"wrote    {rel}")
        written.append(rel)
    if written and _stage(repo, written):
        # The working tree is read through git's index only (never untracked or ignored files).
        lines.append(f"staged   {len(written)} file(s) with `git add`, so promptreview reads them")
    lines.append("next: edit the suite, run `promptreview validate`, then `promptreview compare --base main`")
    return lines


def _stage(repo: Path, paths: list[str]) -> bool:
    """``git add`` the files init wrote (a repository that is not git just keeps them unstaged)."""
    from promptreview.revision import GitError, git

    try:
        git(repo.resolve(), "add", "--", *paths)
    except GitError:
        return False
    return True


def _workflow() -> str:
    return resources.files("promptreview").joinpath("templates/workflow.yml").read_text("utf-8")
