"""``promptreview validate``: check config, prompts, partials and cases without any model call.

It collects every problem instead of stopping at the first, so one run lists all there is to fix.
Beyond parsing, it catches the mistakes that otherwise only show at run time, each as one line
with file and line: a template variable some case does not define (every case is rendered in the
sandbox, exactly as a run renders it), a GitHub Models ``{{name}}`` no testData entry defines, an
empty cases file, an evaluator gh-models does not define, and keys gh-models silently drops.
*Errors* make the exit code 2; *warnings* are printed and leave it 0.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptreview.cases import parse_cases
from promptreview.config import load_config
from promptreview.errors import ConfigError, Location
from promptreview.materialize import no_cases_error, render_problems
from promptreview.metrics import registry
from promptreview.metrics.ghmodels import BUILTINS, STRING_CHECK_KEYS
from promptreview.prompts import GH_MODELS_KEYS, GH_MODELS_PARAMS, parse_prompt
from promptreview.render import (
    Renderer,
    check_template,
    referenced_templates,
    undefined_gh_models_placeholders,
)
from promptreview.revision import Revision
from promptreview.safe_yaml import line_of, load_yaml
from promptreview.suite import Case, Prompt, SuiteSpec


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_repo(repo: Path, rev: str | None, config_path: str | None) -> tuple[list[str], list[str], str]:
    """``(errors, warnings, summary)`` for the repository at ``rev`` (None: the working tree)."""
    revision = Revision.at(repo, rev)
    try:
        config = load_config(revision, config_path)
    except ConfigError as exc:
        return [str(exc)], [], "config invalid"
    found = Findings()
    n_cases = 0
    with Renderer(revision.read) as renderer:
        for suite in config.suites:
            n_cases += _check_suite(suite, revision, renderer, found)
    where = config.path or "no promptreview.yml (GitHub Models prompt files only)"
    verdict = "ok" if not found.errors else f"{len(found.errors)} problem(s)"
    if found.warnings:
        verdict += f", {len(found.warnings)} warning(s)"
    summary = f"{len(config.suites)} suite(s), {n_cases} case(s) checked from {where}: {verdict}"
    return found.errors, found.warnings, summary


def _check_suite(suite: SuiteSpec, revision: Revision, renderer: Renderer, found: Findings) -> int:
    """Check one suite; returns how many cases it has."""
    text = revision.read(suite.prompt)
    if text is None:
        found.errors.append(f"{suite.location or suite.prompt}: prompt file {suite.prompt} not found")
        return 0
    try:
        prompt = parse_prompt(text, suite.prompt, suite.system)
    except ConfigError as exc:
        found.errors.append(str(exc))
        return 0
    template_ok = True
    if prompt.substitution == "jinja":
        template_ok = _check_jinja(text, prompt, revision, found)
    else:
        _check_gh_models_file(text, prompt, found)
    cases = prompt.cases
    if suite.cases:
        ctext = revision.read(suite.cases)
        if ctext is None:
            where = suite.cases_location or suite.location
            found.errors.append(f"{where}: cases file {suite.cases} not found")
            return 0
        try:
            cases = parse_cases(ctext, suite.cases)
        except ConfigError as exc:
            found.errors.append(str(exc))
            return 0
        if not cases:
            found.errors.append(str(no_cases_error(suite.cases, suite.prompt)))
            return 0
    elif not cases and not suite.implicit:
        found.errors.append(str(no_cases_error(None, suite.prompt)))
        return 0
    if prompt.substitution == "gh-models":
        # gh-models accepts these (it sends the placeholder as written), so they are warnings.
        found.warnings.extend(_gh_models_placeholders(text, prompt, cases))
    metrics = {m.name: m for m in (*suite.metrics, *prompt.metrics)}
    if template_ok and cases:
        found.errors.extend(_render_summary(render_problems(prompt, cases, metrics, renderer)))
    return len(cases)


def _check_jinja(text: str, prompt: Prompt, revision: Revision, found: Findings) -> bool:
    ok = True
    for msg in prompt.messages:
        err = check_template(msg.content, prompt.path, revision.read)
        if err:
            found.errors.append(err)
            ok = False
    try:
        for partial in sorted(referenced_templates(text, prompt.path, revision.read)):
            if revision.read(partial) is None:
                found.errors.append(f"{prompt.path}: included template {partial} not found")
                ok = False
    except ConfigError as exc:
        found.errors.append(str(exc))
        ok = False
    return ok


def _render_summary(problems: Sequence[tuple[Case, str]]) -> list[str]:
    """One line per distinct render error, with how many cases hit it and the first one."""
    by_error: dict[str, list[Case]] = {}
    for case, error in problems:
        by_error.setdefault(error, []).append(case)
    lines = []
    for error, cases in by_error.items():
        first = cases[0]
        at = f" at {first.location}" if first.location else ""
        lines.append(f"{error} (in {len(cases)} case(s); first: {first.id}{at})")
    return lines


# --- GitHub Models prompt files ----------------------------------------------------------------


def _check_gh_models_file(text: str, prompt: Prompt, found: Findings) -> None:
    """Keys gh-models drops without a word, and evaluators it does not define."""
    data = load_yaml(text, prompt.path)  # parse_prompt already accepted it
    if not isinstance(data, Mapping):
        return
    for key in data:
        if key not in GH_MODELS_KEYS:
            where = Location(prompt.path, line_of(data, key), str(key))
            found.warnings.append(f"{where}: gh-models ignores `{key}`{_did_you_mean(key, GH_MODELS_KEYS)}")
    params = data.get("modelParameters")
    if isinstance(params, Mapping):
        for key in params:
            if key not in GH_MODELS_PARAMS:
                where = Location(prompt.path, line_of(params, key), f"modelParameters.{key}")
                found.warnings.append(
                    f"{where}: gh-models ignores `{key}`, so it is never sent"
                    f"{_did_you_mean(key, GH_MODELS_PARAMS)}"
                )
    evaluators = data.get("evaluators")
    raw = evaluators if isinstance(evaluators, list) else []
    for spec, item in zip(prompt.metrics, raw, strict=False):
        _check_evaluator(spec.kind, spec, item, found)


def _check_evaluator(kind: str, spec: Any, item: Any, found: Findings) -> None:
    where = spec.location
    try:
        registry.validate(spec)
    except ConfigError as exc:
        found.errors.append(str(exc) if exc.location else f"{where}: {exc}")
        return
    if not isinstance(item, Mapping):
        return
    if item.get("string") is None and item.get("llm") is None and not item.get("uses"):
        found.errors.append(
            f"{where}: evaluator {spec.name!r} has none of `string`, `llm` or `uses`, so every case errors"
        )
        return
    if kind == "gh-string":
        body = item.get("string")
        if not isinstance(body, Mapping):
            return
        line = Location(where.file, line_of(item, "string") or where.line, f"{where.field}.string")
        unknown = [str(k) for k in body if k not in STRING_CHECK_KEYS]
        known = [k for k in STRING_CHECK_KEYS if body.get(k) not in (None, "")]
        checks = ", ".join(STRING_CHECK_KEYS)
        if not known:
            also = f" (`{'`, `'.join(unknown)}` is not one)" if unknown else ""
            found.errors.append(
                f"{line}: string evaluator {spec.name!r} sets none of {checks}{also}, "
                "so gh-models has nothing to check and every case errors"
            )
        elif unknown:
            found.warnings.append(
                f"{line}: gh-models ignores `{'`, `'.join(unknown)}` in a string evaluator "
                f"(it knows {checks})"
            )
    elif kind == "gh-builtin":
        uses = str(item.get("uses"))
        if uses not in BUILTINS:
            found.errors.append(
                f"{Location(where.file, line_of(item, 'uses') or where.line, f'{where.field}.uses')}: "
                f"gh-models has no builtin evaluator {uses!r}, so every case fails"
                f"{_did_you_mean(uses, BUILTINS)}"
            )


def _gh_models_placeholders(text: str, prompt: Prompt, cases: Sequence[Case]) -> list[str]:
    """A ``{{name}}`` in a message that some testData entry does not define is sent as written."""
    missing: dict[str, list[Case]] = {}
    for msg in prompt.messages:
        for case in cases:
            for name in undefined_gh_models_placeholders(msg.content, case.vars):
                missing.setdefault(name, []).append(case)
    lines = []
    for name, where_cases in missing.items():
        token = "{{" + name + "}}"
        line = text[: text.find(token)].count("\n") + 1 if token in text else None
        keys = {str(k) for c in cases for k in c.vars}
        n_missing = len({c.id for c in where_cases})
        lines.append(
            f"{Location(prompt.path, line)}: `{token}` is sent to the model as written: {n_missing} of "
            f"{len(cases)} testData entries do not define it (first: {where_cases[0].id})"
            f"{'' if name in keys else _did_you_mean(name.strip(), keys)}"
        )
    return lines


def _did_you_mean(word: object, choices: Iterable[object]) -> str:
    options = [str(c) for c in choices]
    text = str(word)
    exact = [c for c in options if c.replace("_", "").lower() == text.replace("_", "").lower()]
    close = exact or difflib.get_close_matches(text, options, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""
