"""Compact text for the CLI: verdict line, aligned suite table, top regressions, usage line.

Also printed into Actions logs, so untrusted text goes through :func:`terminal_text` (no escape
sequences, no workflow commands) and colour is only added when asked for.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from promptreview.report import _view as view
from promptreview.report._templates import template_environment
from promptreview.report.headline import headline
from promptreview.report.sanitize import scrub, terminal_text
from promptreview.review_result import ReviewResult

TOP_REGRESSIONS = 5
MIN_NAME = 16  # a suite column narrower than this says too little; the line wraps instead
DEFAULT_WIDTH = 100  # when the output is not a terminal (a pipe, an Actions log)

_ANSI = {
    "bold": "1", "dim": "2", "pass": "1;32", "fail": "1;31", "inconclusive": "1;33", "error": "1;35",
}
_HEADER = ("Suite", "Cases", "Base", "Head", "Δ [95% bounds]", "W / T / L", "Verdict")
_RIGHT_ALIGNED = {1, 2, 3}


def render_terminal(
    result: ReviewResult, color: bool = False, *, secrets: Iterable[str] = (), width: int | None = None
) -> str:
    """The review as a few lines of plain (optionally coloured) text, its table fitted to ``width``
    columns (the terminal's, by default)."""
    secrets = tuple(secrets)
    if width is None:
        width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    table, names = _table(result, secrets, color, width)
    # Regressions and notes name each suite as the table does, so the two can be matched up.
    regressions = [
        replace(view.case_card(result, suite, case), suite=names.get(suite.name, suite.name))
        for suite in result.suites
        for case in view.ordered_cases(suite)[0]
    ]
    usage = result.usage
    sides = (usage.base, usage.head, usage.judge)
    context: dict[str, Any] = {
        "secrets": secrets,
        "color": color,
        "verdict": result.verdict.verdict,
        # The comment's headline, in the same words (what moved, why this verdict, what would settle it).
        "reason": headline(result).text(),
        "base_label": result.base_label,
        "head_label": result.head_label,
        "base_sha": view.short_sha(result.base_sha),
        "head_sha": view.short_sha(result.head_sha),
        "table": table,
        "regressions": regressions[:TOP_REGRESSIONS],
        "regressions_total": len(regressions),
        "notes": [f"{names.get(s.name, s.name)}: {n}" for s in result.suites for n in view.suite_notes(s)],
        "calls": view.count(sum(s.calls for s in sides)),
        "cache_hits": view.count(sum(s.cache_hits for s in sides)),
        "tokens_in": view.count(sum(s.prompt_tokens for s in sides)),
        "tokens_out": view.count(sum(s.completion_tokens for s in sides)),
        "cost": view.total_cost(result),
        "duration": view.duration(result.duration_s),
    }
    text = _environment().get_template("terminal.txt.j2").render(context)
    return scrub(text, secrets)


def _table(
    result: ReviewResult, secrets: Sequence[str], color: bool, width: int
) -> tuple[list[Markup], dict[str, str]]:
    """Aligned rows, and the name each suite is shown by; widths are measured on the sanitised
    text, before colour codes go in.

    The suite column gets whatever the other columns leave of ``width``. When the full names do
    not fit, the short unique names of the PR comment are used (``triage`` for
    ``prompts/triage.prompt.yml``), and only those still too long are clipped, in the middle.
    """
    if not result.suites:
        return [], {}
    rows = [list(_HEADER)]
    verdicts = [""]
    short = view.short_names([s.name for s in result.suites], limit=10_000)
    for suite in result.suites:
        r = view.suite_row(suite)
        rows.append(["", str(r.cases), str(r.base), str(r.head), str(r.effect), str(r.better), r.verdict])
        verdicts.append(r.verdict)
    others = sum(max(len(row[i]) for row in rows) + 2 for i in range(1, len(_HEADER)))
    room = max(MIN_NAME, width - others)

    def label(status: str, name: str) -> str:
        suffix = f" ({'new' if status == 'added' else 'removed'})" if status in ("added", "removed") else ""
        return terminal_text(name, secrets=secrets) + suffix

    shown = {s.name: s.name for s in result.suites}
    if max(len(label(s.status, s.name)) for s in result.suites) > room:
        shown = {s.name: short[s.name] for s in result.suites}
    for row, suite in zip(rows[1:], result.suites, strict=True):
        row[0] = _middle(label(suite.status, shown[suite.name]), room)
    names = {s.name: _middle(shown[s.name], room) for s in result.suites}
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = []
    for index, (row, verdict) in enumerate(zip(rows, verdicts, strict=True)):
        cells = [cell.rjust(w) if i in _RIGHT_ALIGNED else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        if color and verdict:
            cells[-1] = _paint(cells[-1], verdict)
        line = "  ".join(cells).rstrip()
        lines.append(Markup(_paint(line, "bold") if color and index == 0 else line))
    return lines, names


def _middle(text: str, room: int) -> str:
    """Clip in the middle, where long paths differ least (their folders and file names survive)."""
    if len(text) <= room:
        return text
    keep = room - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2:]


def _paint(text: str, style: str) -> str:
    code = _ANSI.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


@functools.cache
def _environment() -> Environment:
    return template_environment(_finalize, {"style": _style, "clip": _clip})


def _clean(context: Context, value: object, limit: int | None = None) -> Markup:
    if isinstance(value, Markup) and limit is None:
        return value
    return Markup(terminal_text(value, secrets=context.get("secrets", ()), limit=limit))


@pass_context
def _finalize(context: Context, value: object) -> object:
    return "" if value is None else _clean(context, value)


@pass_context
def _style(context: Context, value: object, style: str) -> Markup:
    text = _clean(context, value)
    return Markup(_paint(text, style)) if context.get("color") else text


@pass_context
def _clip(context: Context, value: object, limit: int) -> Markup:
    return _clean(context, value, limit)
