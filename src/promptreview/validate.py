"""``promptreview validate``: check config, prompts, partials and cases without any model call.

It collects every problem instead of stopping at the first, so one run lists all there is to fix.
"""

from __future__ import annotations

from pathlib import Path

from promptreview.cases import parse_cases
from promptreview.config import load_config
from promptreview.errors import ConfigError
from promptreview.prompts import parse_prompt
from promptreview.render import check_template, referenced_templates
from promptreview.revision import Revision


def validate_repo(repo: Path, rev: str | None, config_path: str | None) -> tuple[list[str], str]:
    revision = Revision.at(repo, rev)
    try:
        config = load_config(revision, config_path)
    except ConfigError as exc:
        return [str(exc)], "config invalid"
    problems: list[str] = []
    n_cases = 0
    for suite in config.suites:
        text = revision.read(suite.prompt)
        if text is None:
            problems.append(f"{suite.location or suite.prompt}: prompt file {suite.prompt} not found")
            continue
        try:
            prompt = parse_prompt(text, suite.prompt, suite.system)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if prompt.substitution == "jinja":
            for msg in prompt.messages:
                err = check_template(msg.content, suite.prompt, revision.read)
                if err:
                    problems.append(err)
            try:
                for partial in sorted(referenced_templates(text, suite.prompt, revision.read)):
                    if revision.read(partial) is None:
                        problems.append(f"{suite.prompt}: included template {partial} not found")
            except ConfigError as exc:
                problems.append(str(exc))
        cases = prompt.cases
        if suite.cases:
            ctext = revision.read(suite.cases)
            if ctext is None:
                problems.append(f"{suite.location}: cases file {suite.cases} not found")
                continue
            try:
                cases = parse_cases(ctext, suite.cases)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
        n_cases += len(cases)
    where = config.path or "no promptreview.yml (GitHub Models prompt files only)"
    summary = f"{len(config.suites)} suite(s), {n_cases} case(s) checked from {where}: " + (
        "ok" if not problems else f"{len(problems)} problem(s)"
    )
    return problems, summary
