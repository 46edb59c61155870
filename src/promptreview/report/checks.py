"""The check run (title, summary, annotations) and the commit status description.

Limits are GitHub's: a check-run title is at most 255 characters, its summary 65,535, an
annotation's title 255 and its message 64 KB; a commit status description 140 characters.
Annotations are returned all at once; the publish step sends them 50 per request, as the API allows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from promptreview.report import _view as view
from promptreview.report._templates import template_environment
from promptreview.report.markdown import render_summary
from promptreview.report.sanitize import ELLIPSIS, annotation_text, scrub, strip_hidden, terminal_text
from promptreview.results import CaseComparison
from promptreview.review_result import ReviewResult, SuiteResult

TITLE_LIMIT = 255
SUMMARY_LIMIT = 65_535
MESSAGE_LIMIT_BYTES = 64 * 1024 - 1
STATUS_LIMIT = 140
ANNOTATION_ANSWER_CHARS = 1500
ANNOTATIONS_PER_REQUEST = 50  # the Checks API's limit per create/update call; the caller chunks


def check_output(result: ReviewResult, *, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The ``output`` object of a check run: title, summary (comment minus details), annotations."""
    secrets = tuple(secrets)
    return {
        "title": _title(result, secrets),
        "summary": render_summary(result, max_chars=SUMMARY_LIMIT, secrets=secrets),
        "annotations": annotations(result, secrets=secrets),
    }


def status_description(result: ReviewResult, *, secrets: Iterable[str] = ()) -> str:
    """One line for the commit status: the verdict and why, at most 140 characters."""
    text = f"{result.verdict.verdict}: {result.verdict.reason}"
    return _fit(scrub(terminal_text(text), tuple(secrets)), STATUS_LIMIT)


def annotations(result: ReviewResult, *, secrets: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One annotation per regressed case that has a file and line, worst first within each suite."""
    secrets = tuple(secrets)
    return [
        _annotation(result, suite, case, secrets)
        for suite in result.suites
        for case in view.ordered_cases(suite)[0]
        if case.file and case.line
    ]


def _title(result: ReviewResult, secrets: tuple[str, ...]) -> str:
    emoji = view.VERDICT_EMOJI.get(result.verdict.verdict, "")
    text = f"{emoji} Prompt review: {result.verdict.verdict} — {result.verdict.reason}"
    return _fit(scrub(terminal_text(text), secrets), TITLE_LIMIT)


def _annotation(
    result: ReviewResult, suite: SuiteResult, case: CaseComparison, secrets: tuple[str, ...]
) -> dict[str, Any]:
    card = view.case_card(result, suite, case)
    failing = suite.verdict is not None and suite.verdict.verdict == "fail"
    what = "Failing case" if suite.status == "added" else "Regressed case"
    title = scrub(terminal_text(f"{what} {case.case_id} in suite {suite.name}"), secrets)
    message = _environment().get_template("annotation.txt.j2").render(
        card=card, answer_chars=ANNOTATION_ANSWER_CHARS, secrets=secrets
    )
    return {
        "path": strip_hidden(case.file or "").lstrip("/"),
        "start_line": case.line,
        "end_line": case.line,
        "annotation_level": "failure" if failing else "warning",
        "title": _fit(title, TITLE_LIMIT),
        "message": _fit_bytes(scrub(message.strip(), secrets), MESSAGE_LIMIT_BYTES),
    }


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _fit_bytes(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    cut = text.encode("utf-8")[: limit - len(ELLIPSIS.encode("utf-8"))].decode("utf-8", "ignore")
    return cut + ELLIPSIS


@functools.cache
def _environment() -> Environment:
    return template_environment(_finalize, {"clip": _clip, "block": _block}, keep_trailing_newline=False)


def _line(context: Context, value: object, limit: int | None = None) -> Markup:
    text = annotation_text(value, secrets=context.get("secrets", ()), limit=limit)
    return Markup(" ".join(text.split()))


@pass_context
def _finalize(context: Context, value: object) -> object:
    if value is None or isinstance(value, Markup):
        return value or ""
    return _line(context, value)


@pass_context
def _clip(context: Context, value: object, limit: int) -> Markup:
    return _line(context, value, limit)


@pass_context
def _block(context: Context, value: object, limit: int) -> Markup:
    """Multi-line text (an answer) kept as lines, for the annotation's plain-text message."""
    return Markup(annotation_text(value, secrets=context.get("secrets", ()), limit=limit))
