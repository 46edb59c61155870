"""The PR comment and the full Markdown report (step summary, ``--markdown``), from Jinja2 templates.

GitHub refuses comment bodies over 65,536 characters and step summaries over 1 MiB. Rather than
cutting the text (which could cut the suite table, or leave an HTML block open), the report is
rendered at decreasing levels of detail until it fits: shorter answers, then fewer cases per suite
(with a line saying how many more are in the full report), then fewer collapsible sections. The
headline and the suite table are never trimmed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from promptreview import __version__
from promptreview.report import _view as view
from promptreview.report._templates import template_environment
from promptreview.report.answers import answer_cell, word_diff
from promptreview.report.headline import headline
from promptreview.report.sanitize import (
    html_text,
    md_code,
    md_prose,
    md_text,
    pre_text,
    safe_url,
    scrub,
)
from promptreview.review_result import ReviewResult, SuiteResult

DEFAULT_MARKER = "<!-- promptreview:sticky -->"
COMMENT_LIMIT = 65_536  # characters, GitHub's limit for an issue comment body
STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes, GitHub's limit for one step's summary
MAX_CHANGED_FILES = 20
MAX_UNAFFECTED = 12

DetailsScope = Literal["all", "not-passing", "none"]


@dataclass(frozen=True)
class Detail:
    """How much detail one rendering carries; the trimming ladder lowers these step by step."""

    answer_chars: int | None = None  # per answer; None: whole answers
    max_cases: int | None = None  # per suite, regressions before improvements; None: all
    details: DetailsScope = "all"  # which suites keep their collapsible section
    extras: bool = True  # changed files and usage (small, but droppable as the last resort)


FULL = Detail()


def _ladder(answer_steps: Sequence[int | None], case_steps: Sequence[int]) -> tuple[Detail, ...]:
    """Rungs from most to least detail; each removes content, so sizes only shrink along it.

    That monotony is what lets :func:`_fit` bisect instead of rendering every rung.
    """
    shortest = answer_steps[-1]
    return (
        *(Detail(answer_chars=n) for n in answer_steps),
        *(Detail(answer_chars=shortest, max_cases=n) for n in case_steps),
        Detail(answer_chars=shortest, max_cases=0, details="not-passing"),
        Detail(max_cases=0, details="none"),
        Detail(max_cases=0, details="none", extras=False),
    )


COMMENT_LADDER = _ladder((2000, 1000, 500, 250, 120), (20, 10, 5, 3, 1, 0))
FULL_LADDER = _ladder((None, 8000, 4000, 2000, 1000, 500), (200, 100, 50, 20, 10, 5, 3, 1, 0))
SUMMARY_LADDER = COMMENT_LADDER[-2:]


# --- public API ---------------------------------------------------------------------------------


def render_comment(
    result: ReviewResult,
    *,
    marker: str = DEFAULT_MARKER,
    max_chars: int = COMMENT_LIMIT,
    rerun_hint: bool = True,
    secrets: Iterable[str] = (),
) -> str:
    """The sticky PR comment: marker first, then headline, suite table, details, usage, footer.

    Guaranteed to be at most ``max_chars`` characters (after scrubbing ``secrets``).
    """
    options = _Options(marker=marker, rerun_hint=rerun_hint, secrets=tuple(secrets))
    return _fit(result, options, COMMENT_LADDER, max_chars, len)


def render_full(
    result: ReviewResult, *, secrets: Iterable[str] = (), max_bytes: int = STEP_SUMMARY_LIMIT
) -> str:
    """The whole report, every case and whole answers, for the step summary and ``--markdown``.

    Only trimmed if it would pass GitHub's 1 MiB step-summary limit (UTF-8 bytes).
    """
    options = _Options(marker="", rerun_hint=True, secrets=tuple(secrets))
    return _fit(result, options, FULL_LADDER, max_bytes, _utf8_size)


def render_summary(
    result: ReviewResult, *, max_chars: int = 65_535, secrets: Iterable[str] = (), rerun_hint: bool = True
) -> str:
    """The comment without its per-suite details: what a check run's summary shows."""
    options = _Options(marker="", rerun_hint=rerun_hint, secrets=tuple(secrets))
    return _fit(result, options, SUMMARY_LADDER, max_chars, len)


def render_placeholder(
    head_sha: str | None, run_url: str | None, marker: str = DEFAULT_MARKER, *, secrets: Iterable[str] = ()
) -> str:
    """The "prompt review running" comment posted while the review runs."""
    return render_notice("placeholder", marker=marker, head_sha=head_sha, run_url=run_url, secrets=secrets)


def render_notice(
    name: str,
    *,
    marker: str = "",
    head_sha: str | None = None,
    run_url: str | None = None,
    message: str = "",
    secrets: Iterable[str] = (),
) -> str:
    """A short comment of our own wording (``templates/<name>.md.j2``): placeholder, no_changes,
    could_not_run, too_long, rerun_denied. ``message`` is untrusted and escaped by the template."""
    context = {
        "marker": Markup(marker),
        "head_sha": view.short_sha(head_sha),
        "run_url": _url_markup(run_url),
        "message": message[:2000],
        "secrets": tuple(secrets),
    }
    return scrub(markdown_environment().get_template(f"{name}.md.j2").render(context), secrets)


def render_markdown(result: ReviewResult, detail: Detail, *, html_mode: bool = False,
                    secrets: Sequence[str] = (), marker: str = "", rerun_hint: bool = True) -> str:
    """One rendering at a fixed level of detail (the HTML page uses ``html_mode``)."""
    options = _Options(marker=marker, rerun_hint=rerun_hint, secrets=tuple(secrets), html_mode=html_mode)
    return _render(result, detail, options)


# --- fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    marker: str
    rerun_hint: bool
    secrets: tuple[str, ...]
    html_mode: bool = False


def _fit(
    result: ReviewResult, options: _Options, ladder: Sequence[Detail], limit: int, size: Callable[[str], int]
) -> str:
    """The most detailed rendering on the ladder whose ``size`` is within ``limit``.

    Bisection, because sizes only shrink along a ladder: a handful of renders even for a
    500,000-character review.
    """

    def fits(body: str) -> bool:
        return size(body) <= limit

    first = _render(result, ladder[0], options)
    if fits(first):
        return first
    lo, hi = 1, len(ladder) - 1
    best: str | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        body = _render(result, ladder[mid], options)
        if fits(body):
            best, hi = body, mid - 1
        else:
            lo = mid + 1
    if best is not None:
        return best
    return _hard_cut(_render(result, ladder[-1], options), limit, size)


def _utf8_size(body: str) -> int:
    return len(body.encode("utf-8"))


def _hard_cut(body: str, limit: int, size: Callable[[str], int]) -> str:
    """Last resort when even headline + table is too long (hundreds of suites): cut whole lines."""
    note = "\n\n_The report was cut to fit; the full report is in the step summary and the artifact._\n"
    lines = body.splitlines(keepends=True)
    kept: list[str] = []
    used = size(note)
    for line in lines:
        if used + size(line) > limit:
            break
        kept.append(line)
        used += size(line)
    return "".join(kept) + note


def _render(result: ReviewResult, detail: Detail, options: _Options) -> str:
    template = markdown_environment().get_template("comment.md.j2")
    body = template.render(_context(result, detail, options))
    return scrub(body, options.secrets)


# --- the template context -----------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteSection:
    row: view.SuiteRow
    suite: SuiteResult
    reason: str
    summary: Markup
    notes: tuple[str, ...]
    metrics: tuple[view.MetricRow, ...]
    labels: tuple[view.LabelRow, ...]
    regressions: tuple[view.CaseCard, ...]
    improvements: tuple[view.CaseCard, ...]
    regressions_total: int
    improvements_total: int
    more: int
    open: bool


def _context(result: ReviewResult, detail: Detail, options: _Options) -> dict[str, Any]:
    verdict = result.verdict.verdict
    changes = view.change_lines(result)
    short = view.short_names([s.name for s in result.suites])
    return {
        "secrets": options.secrets,
        "html_mode": options.html_mode,
        "marker": Markup(options.marker),
        "verdict": verdict,
        "emoji": view.VERDICT_EMOJI.get(verdict, "❔"),
        "reason": result.verdict.reason,
        "headline": headline(result),
        "review_notes": result.notes + view.case_change_notes(result),
        "family_size": result.verdict.family_size,
        "shard": result.shard,
        "rows": tuple(view.suite_row(s, short[s.name]) for s in result.suites),
        "unaffected": result.unaffected[:MAX_UNAFFECTED],
        "unaffected_more": max(0, len(result.unaffected) - MAX_UNAFFECTED),
        "extras": detail.extras,
        "changes": changes[:MAX_CHANGED_FILES],
        "changes_more": max(0, len(changes) - MAX_CHANGED_FILES),
        "diff_url": _url_markup(result.diff_url),
        "sections": tuple(_section(result, s, detail, short[s.name]) for s in result.suites
                          if _shows_details(s, detail)),
        "hidden_details": sum(1 for s in result.suites if not _shows_details(s, detail)),
        "answer_chars": detail.answer_chars,
        "usage": view.usage_rows(result),
        "usage_notes": view.usage_notes(result),
        "total_cost": view.total_cost(result),
        "total_calls": view.count(view.total_calls(result)),
        "planned_calls": view.count(result.usage.planned_calls),
        "cache_hits": view.count(result.usage.cache_hits),
        "duration": view.duration(result.duration_s),
        "rerun_hint": options.rerun_hint,
        "config_path": result.config_path,
        "config_rev": view.short_sha(result.config_rev),
        "base_label": result.base_label,
        "head_label": result.head_label,
        "base_sha": view.short_sha(result.base_sha),
        "head_sha": view.short_sha(result.head_sha),
        "run_url": _url_markup(result.run_url),
        "version": __version__,
    }


def _shows_details(suite: SuiteResult, detail: Detail) -> bool:
    if detail.details == "none":
        return False
    verdict = suite.verdict.verdict if suite.verdict else "error"
    return detail.details == "all" or verdict != "pass"


def _section(result: ReviewResult, suite: SuiteResult, detail: Detail, short: str) -> SuiteSection:
    regressed, improved = view.ordered_cases(suite)
    budget = len(regressed) + len(improved) if detail.max_cases is None else detail.max_cases
    shown_regressed = regressed[:budget]
    shown_improved = improved[: max(0, budget - len(shown_regressed))]
    verdict = suite.verdict.verdict if suite.verdict else "error"
    return SuiteSection(
        row=view.suite_row(suite, short),
        suite=suite,
        reason=suite.verdict.reason if suite.verdict else (suite.error or ""),
        summary=_summary_counts(suite, len(regressed), len(improved)),
        notes=view.suite_notes(suite),
        metrics=view.metric_rows(suite),
        labels=view.label_rows(suite),
        regressions=tuple(view.case_card(result, suite, c) for c in shown_regressed),
        improvements=tuple(view.case_card(result, suite, c) for c in shown_improved),
        regressions_total=len(regressed),
        improvements_total=len(improved),
        more=len(regressed) + len(improved) - len(shown_regressed) - len(shown_improved),
        open=verdict != "pass",
    )


def _summary_counts(suite: SuiteResult, regressed: int, improved: int) -> Markup:
    if suite.status == "removed":
        return view.ours("removed")
    first = "failing case" if suite.status == "added" else "regression"
    parts = [view.plural(regressed, first)]
    if suite.status != "added":
        parts.append(view.plural(improved, "improvement"))
    errors = sum(1 for c in suite.cases if c.change == "error")
    if errors:
        parts.append(view.plural(errors, "errored case"))
    return view.ours(", ".join(parts))


# --- the Jinja2 environment ---------------------------------------------------------------------


@functools.cache
def markdown_environment() -> Environment:
    """Templates for Markdown output; every ``{{ value }}`` that is not Markup gets escaped.

    ``finalize`` runs on every expression, so a template that prints untrusted text without a
    filter still gets it escaped as inline Markdown (with secrets scrubbed); the explicit filters
    only choose a different safe form (code, raw-HTML text, ``<pre>`` content).
    """
    filters = {"md": _filter(md_text), "code": _filter(md_code), "prose": _filter(md_prose),
               "html": _filter(html_text), "pre": _pre_filter, "url": _url_markup,
               "answer": _filter(answer_cell), "diff": _diff_filter}
    return template_environment(_finalize, filters)


@pass_context
def _finalize(context: Context, value: object) -> object:
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    return md_text(value, secrets=context.get("secrets", ()))


def _filter(render: Callable[..., Markup]) -> Callable[..., Markup]:
    @pass_context
    def apply(context: Context, value: object, limit: int | None = None) -> Markup:
        return render(value, secrets=context.get("secrets", ()), limit=limit)

    return apply


@pass_context
def _pre_filter(context: Context, value: object, limit: int | None = None, wrap: int | None = None) -> Markup:
    return pre_text(value, secrets=context.get("secrets", ()), limit=limit, wrap=wrap)


@pass_context
def _diff_filter(context: Context, base: object, head: object, limit: int | None = None) -> Markup:
    """The word diff of two answers, or empty when two plain answers read better."""
    return word_diff(base, head, secrets=context.get("secrets", ()), limit=limit) or Markup("")


def _url_markup(value: str | None) -> Markup:
    """A checked http(s) URL, or empty (templates test it before making a link)."""
    url = safe_url(value)
    return Markup(url) if url else Markup("")
