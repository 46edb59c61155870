"""``promptreview init``: a starter config, prompt, cases and workflow a team can edit.

The starter is sized so its first review can go green: eight cases, enough for a clear
improvement to be certified (the verdict needs at least five paired cases) and, with the
starter's gate margin, for an edit that changes nothing measurable to pass too. The default
5-point margin needs about 52 cases to certify "no worse" when nothing changed; the starter
config says so next to the margin, so the team knows what to grow into.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

STARTER_CONFIG = """version: 1
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
    gate:
      # With 8 cases the data can certify about a 25-point margin when nothing changed, so the
      # starter asks for 30 points (a clear improvement passes at any margin). Add cases and lower
      # it: about 52 cases certify the default margin of 0.05 (5 points).
      margin: 0.3
      on_inconclusive: neutral
"""

STARTER_CASES = """- id: refunds
  vars: {topic: refunds}
  expected: "Refunds are available within 30 days of purchase."
- id: invoices
  vars: {topic: invoices}
- id: shipping
  vars: {topic: shipping}
- id: returns
  vars: {topic: returns}
- id: passwords
  vars: {topic: password resets}
- id: subscriptions
  vars: {topic: subscriptions}
- id: warranty
  vars: {topic: warranty}
- id: discounts
  vars: {topic: discounts}
"""

STARTER = {
    "promptreview.yml": STARTER_CONFIG,
    "prompts/example.md.j2": "Explain {{ topic }} to a new customer in two or three sentences.\n",
    "evals/example.yaml": STARTER_CASES,
}

WORKFLOW = ".github/workflows/promptreview.yml"
# The cache and the report files land in .promptreview/: never commit them (a committed cache
# would also show up under "Changed files" in every review).
IGNORED = ".promptreview/"


def write_starter(repo: Path, force: bool = False) -> list[str]:
    """Write the starter files; existing files are kept unless ``force``. Returns what happened."""
    files = dict(STARTER)
    files[WORKFLOW] = _workflow()
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
    ignore = _ignore(repo)
    lines.append(ignore)
    if not ignore.startswith("kept"):
        written.append(".gitignore")
    if written and _stage(repo, written):
        # The working tree is read through git's index only (never untracked or ignored files).
        lines.append(f"staged   {len(written)} file(s) with `git add`, so promptreview reads them")
    lines.append("next:")
    if not _in_git(repo):
        lines.append("  0. `git init -b main` first: promptreview reads prompts and cases from git revisions")
    lines += [
        "  1. edit the suite, then `promptreview validate`",
        "  2. commit the starter: `git add -A && git commit -m 'Add promptreview'`"
        " (compare reads the base from git)",
        "  3. edit the prompt, then `promptreview compare --base main` reviews your edit against that commit",
    ]
    return lines


def _stage(repo: Path, paths: list[str]) -> bool:
    """``git add`` the files init wrote (a repository that is not git just keeps them unstaged)."""
    from promptreview.revision import GitError, git

    try:
        git(repo.resolve(), "add", "--", *paths)
    except GitError:
        return False
    return True


def _in_git(repo: Path) -> bool:
    from promptreview.revision import GitError, git

    try:
        git(repo.resolve(), "rev-parse", "--git-dir")
    except GitError:
        return False
    return True


def _ignore(repo: Path) -> str:
    """Add ``.promptreview/`` to the repository's .gitignore unless something there covers it."""
    path = repo / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    entries = {line.strip() for line in text.splitlines()}
    if entries & {IGNORED, IGNORED.rstrip("/"), "/" + IGNORED, "/" + IGNORED.rstrip("/")}:
        return f"kept     .gitignore (already ignores {IGNORED})"
    sep = "" if not text or text.endswith("\n") else "\n"
    path.write_text(f"{text}{sep}# promptreview's cache and reports\n{IGNORED}\n", encoding="utf-8")
    return f"{'updated' if text else 'wrote  '}  .gitignore (ignores {IGNORED})"


def _workflow() -> str:
    return resources.files("promptreview").joinpath("templates/workflow.yml").read_text("utf-8")
