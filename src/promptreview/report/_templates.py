"""The one way the report stage loads its Jinja2 templates.

Autoescape is off because each output format escapes differently: the caller's ``finalize`` does
it for every printed expression (Markdown, terminal text, annotation text). ``StrictUndefined``
makes a typo in a template fail loudly in the tests instead of printing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def template_environment(
    finalize: Callable[..., Any],
    filters: Mapping[str, Callable[..., Any]],
    *,
    keep_trailing_newline: bool = True,
) -> Environment:
    env = Environment(
        loader=PackageLoader("promptreview.report", "templates"),
        autoescape=False,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=keep_trailing_newline,
    )
    env.filters.update(filters)
    return env
