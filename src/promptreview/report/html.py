"""A standalone HTML page of the full report (the artifact), with inline CSS and no external assets.

The page is the full Markdown report run through the ``markdown`` package. Untrusted text is
already escaped when the Markdown is rendered, but ``markdown`` passes raw HTML through, so the
result also goes through a small allowlist sanitizer: only the tags and attributes the report
itself uses survive, ``href`` must be http(s) or a fragment, and ``<script>``-like elements are
dropped with their content. Two independent layers, so one mistake is not an injection.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser

import markdown as markdown_lib
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from promptreview import __version__
from promptreview.report import _view as view
from promptreview.report.markdown import FULL, render_markdown
from promptreview.report.sanitize import scrub
from promptreview.review_result import ReviewResult

MARKDOWN_EXTENSIONS = ("tables", "fenced_code", "md_in_html")

_ALLOWED_TAGS = frozenset({
    "a", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "ins", "li", "ol", "p", "pre", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul", "wbr",
})
_VOID_TAGS = frozenset({"br", "hr", "wbr"})
# Elements whose content must not survive either (it is code or styling, not text).
_DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript",
                                "svg", "math", "textarea", "title", "xmp", "noembed", "noframes"})
_ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "details": {"open"},
    "th": {"align", "width", "valign", "style"},
    "td": {"align", "width", "valign", "style"},
    "code": {"class"},
}
_SAFE_STYLE = re.compile(r"^\s*text-align:\s*(left|right|center);?\s*$")
_SAFE_CLASS = re.compile(r"^language-[A-Za-z0-9_+-]+$")
_SAFE_WIDTH = re.compile(r"^\d{1,3}%?$")


def render_html(result: ReviewResult, *, secrets: Iterable[str] = ()) -> str:
    """The full report as one self-contained HTML page."""
    secrets = tuple(secrets)
    body_md = render_markdown(result, FULL, html_mode=True, secrets=secrets)
    body_html = sanitize_html(markdown_lib.markdown(body_md, extensions=list(MARKDOWN_EXTENSIONS)))
    title = f"promptreview: {result.verdict.verdict}" + (f" · {result.repo}" if result.repo else "")
    page = _environment().get_template("page.html.j2").render(
        title=title,
        verdict=result.verdict.verdict,
        emoji=view.VERDICT_EMOJI.get(result.verdict.verdict, ""),
        body=Markup(body_html),
        version=__version__,
    )
    return scrub(page, secrets)


def sanitize_html(fragment: str) -> str:
    """Keep only allowlisted tags and attributes; escape everything else as text."""
    cleaner = _Allowlist()
    cleaner.feed(fragment)
    cleaner.close()
    return cleaner.output()


class _Allowlist(HTMLParser):
    """Re-serialises HTML from the parse, so nothing the parser did not understand gets through."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._dropping: list[str] = []

    def output(self) -> str:
        return "".join(self._out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_WITH_CONTENT:
            self._dropping.append(tag)
            return
        if self._dropping or tag not in _ALLOWED_TAGS:
            return
        kept = "".join(_attribute(name, value) for name, value in attrs if _attribute_ok(tag, name, value))
        if tag == "a":
            kept += ' rel="nofollow noopener noreferrer"'
        self._out.append(f"<{tag}{kept}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS and not self._dropping:
            self._out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_WITH_CONTENT:
            if tag in self._dropping:
                while self._dropping and self._dropping.pop() != tag:
                    pass
            return
        if not self._dropping and tag in _ALLOWED_TAGS and tag not in _VOID_TAGS:
            self._out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self._out.append(html.escape(data, quote=False))

    # Comments, doctypes, processing instructions and CDATA carry nothing a reader needs.
    def handle_comment(self, data: str) -> None:
        return None

    def handle_decl(self, decl: str) -> None:
        return None

    def handle_pi(self, data: str) -> None:
        return None

    def unknown_decl(self, data: str) -> None:
        return None


def _attribute(name: str, value: str | None) -> str:
    return f" {name}" if value is None else f' {name}="{html.escape(value, quote=True)}"'


def _attribute_ok(tag: str, name: str, value: str | None) -> bool:
    if name not in _ALLOWED_ATTRS.get(tag, set()):
        return False
    value = (value or "").strip()
    if name == "href":
        return value.startswith(("https://", "http://", "#"))
    if name == "style":
        return bool(_SAFE_STYLE.match(value))
    if name == "class":
        return bool(_SAFE_CLASS.match(value))
    if name == "width":
        return bool(_SAFE_WIDTH.match(value))
    if name in ("align", "valign"):
        return value in ("left", "right", "center", "top", "middle", "bottom")
    return True


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("promptreview.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
