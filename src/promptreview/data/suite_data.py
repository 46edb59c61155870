"""One suite as the data commands see it: config, prompt and cases read from the working tree.

``cases import``, ``coverage`` and ``generate`` work on the user's checkout (they write files
for the user's own PR), so they read the working tree, with the same parsers the review uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptreview.cases import parse_cases
from promptreview.config import load_config
from promptreview.errors import ConfigError
from promptreview.prompts import parse_prompt
from promptreview.revision import Revision
from promptreview.suite import Case, Config, Prompt, SuiteSpec


@dataclass(frozen=True)
class SuiteData:
    repo: Path
    config: Config
    suite: SuiteSpec
    prompt: Prompt
    prompt_text: str
    cases: tuple[Case, ...]
    cases_path: str  # the file the suite's cases live in (the prompt file for gh-models testData)
    revision: Revision

    def read(self, path: str) -> str | None:
        return self.revision.read(path)


def load_suite_data(repo: Path, name: str, config_path: str | None = None) -> SuiteData:
    rev = Revision.at(repo, None)
    config = load_config(rev, config_path)
    by_name = {s.name: s for s in config.suites}
    suite = by_name.get(name)
    if suite is None:
        known = ", ".join(sorted(by_name)) or "none"
        raise ConfigError(f"no suite named {name!r} (suites: {known})")
    text = rev.read(suite.prompt)
    if text is None:
        raise ConfigError(f"prompt file not found: {suite.prompt}")
    prompt = parse_prompt(text, suite.prompt, suite.system)
    if suite.cases:
        case_text = rev.read(suite.cases)
        cases = parse_cases(case_text, suite.cases) if case_text is not None else ()
        cases_path = suite.cases
    else:
        cases, cases_path = prompt.cases, suite.prompt
    return SuiteData(rev.repo, config, suite, prompt, text, cases, cases_path, rev)


def last_user_messages(data: SuiteData) -> dict[str, str]:
    """Each case's rendered last user message (sandboxed renderer), for message-space comparisons."""
    from promptreview.materialize import template_context
    from promptreview.render import Renderer, RenderJob, render_gh_models

    users = [m for m in data.prompt.messages if m.role == "user"]
    if not users:
        return {c.id: "" for c in data.cases}
    template = users[-1].content
    if data.prompt.substitution == "gh-models":
        return {c.id: render_gh_models(template, c.vars) for c in data.cases}
    jobs = [RenderJob(c.id, template, data.prompt.path, template_context(c)) for c in data.cases]
    with Renderer(data.read) as renderer:
        return {o.key: o.text or "" for o in renderer.render_many(jobs)}
