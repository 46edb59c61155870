"""The report stage: one ReviewResult in, every output format out.

* :func:`render_comment` — the sticky PR comment (fits GitHub's 65,536 characters);
* :func:`render_full` — the full Markdown report (step summary, ``--markdown``; 1 MiB cap);
* :func:`render_placeholder` — the "prompt review running" comment;
* :func:`render_notice` — the other short comments (no changes, could not run, too long, /rerun denied);
* :func:`render_html` — a standalone HTML page (artifact);
* :func:`to_json` / :func:`from_json` — the JSON artifact and what ``merge`` reads back;
* :func:`render_terminal` — compact CLI text;
* :func:`check_output` / :func:`status_description` — check run and commit status;
* :func:`scrub` — secret scrubbing, for the publish step to run on every outgoing body.

Names are imported on first use so that importing the package (e.g. for :func:`scrub`) does not
load Jinja2 and Markdown: the CLI must start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptreview.report.checks import check_output, status_description
    from promptreview.report.html import render_html
    from promptreview.report.jsonio import from_json, to_json
    from promptreview.report.markdown import (
        DEFAULT_MARKER,
        render_comment,
        render_full,
        render_notice,
        render_placeholder,
        render_summary,
    )
    from promptreview.report.sanitize import scrub
    from promptreview.report.terminal import render_terminal

_EXPORTS = {
    "DEFAULT_MARKER": "markdown",
    "render_comment": "markdown",
    "render_notice": "markdown",
    "render_full": "markdown",
    "render_placeholder": "markdown",
    "render_summary": "markdown",
    "render_html": "html",
    "to_json": "jsonio",
    "from_json": "jsonio",
    "render_terminal": "terminal",
    "check_output": "checks",
    "status_description": "checks",
    "scrub": "sanitize",
}

__all__ = [
    "DEFAULT_MARKER",
    "check_output",
    "from_json",
    "render_comment",
    "render_full",
    "render_html",
    "render_notice",
    "render_placeholder",
    "render_summary",
    "render_terminal",
    "scrub",
    "status_description",
    "to_json",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptreview.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"promptreview.report.{module}"), name)
