"""The PR comment as GitHub shows it: cmark-gfm HTML in GitHub's stylesheet, laid out by Chromium.

GitHub renders a comment with cmark-gfm (tables, strikethrough, autolinks, tag filter) and shows
it in a ``.markdown-body`` about 880 px wide in a pull request's conversation. This module does
the same with the ``cmarkgfm`` package, the vendored ``github-markdown-css`` stylesheet
(``tests/fixtures/github-markdown-css/``) and headless Chromium (Debian's ``/usr/bin/chromium``):

* :func:`measure` opens every ``<details>`` and returns, for each table, table cell, ``<pre>``
  and code element, how wide it is against the page. A script in the page writes the numbers into
  the DOM, and ``--dump-dom`` hands them back, so no driver is needed.
* :func:`screenshot` saves a PNG of the page (collapsed as a reviewer first sees it, or with
  every section open).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options

CHROMIUM = os.environ.get("PROMPTREVIEW_CHROMIUM", "/usr/bin/chromium")
CSS = Path(__file__).parent / "fixtures" / "github-markdown-css" / "github-markdown-light.css"
PAGE_WIDTH = 880  # px: a pull request conversation's comment column

_MEASURE = """
<script>
(function () {
  if (location.hash !== "#collapsed") {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  }
  var page = document.documentElement.clientWidth;
  var out = [];
  document.querySelectorAll(".markdown-body table, .markdown-body td, .markdown-body th, " +
                            ".markdown-body pre, .markdown-body code").forEach(function (e) {
    var r = e.getBoundingClientRect();
    out.push({tag: e.tagName.toLowerCase(), text: (e.innerText || "").slice(0, 80),
              left: r.left, right: r.right, scrollWidth: e.scrollWidth, clientWidth: e.clientWidth});
  });
  var result = {page: page, height: document.documentElement.scrollHeight,
                docWidth: document.documentElement.scrollWidth, elements: out};
  var pre = document.createElement("pre");
  pre.id = "measurements";
  pre.textContent = JSON.stringify(result);
  pre.style.display = "none";
  document.body.appendChild(pre);
})();
</script>
"""


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None


def gfm_html(markdown: str) -> str:
    """The comment body as GitHub's cmark-gfm renders it (raw HTML kept, as GitHub's sanitizer
    then filters: the report only uses tags on its allowlist)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE)


def page(body_html: str) -> str:
    css = CSS.read_text("utf-8")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>" + css +
        "\nbody{margin:0;background:#fff}.markdown-body{box-sizing:border-box;width:100%;padding:16px}"
        "</style></head><body><div class='markdown-body'>" + body_html + "</div>" + _MEASURE +
        "</body></html>"
    )


@dataclass(frozen=True)
class Box:
    tag: str
    text: str
    left: float
    right: float
    scroll_width: int
    client_width: int

    @property
    def scrolls(self) -> bool:
        """Content wider than the box itself (a table or block that scrolls sideways)."""
        return self.scroll_width > self.client_width + 1


@dataclass(frozen=True)
class Layout:
    page: int
    height: int
    doc_width: int
    boxes: tuple[Box, ...]

    def too_wide(self) -> list[Box]:
        """Tables, cells and answer blocks that stick out of the page or scroll sideways."""
        return [b for b in self.boxes
                if b.right > self.page + 0.5 or (b.tag in ("table", "pre", "td", "th") and b.scrolls)]


def _chromium(*args: str, width: int, height: int) -> subprocess.CompletedProcess[str]:
    profile = tempfile.mkdtemp(prefix="promptreview-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", *args],
            capture_output=True, text=True, timeout=120, check=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _write(html_text: str, directory: Path) -> Path:
    path = directory / "comment.html"
    path.write_text(html_text, "utf-8")
    return path


def measure(markdown: str, workdir: Path, width: int = PAGE_WIDTH, collapsed: bool = False) -> Layout:
    path = _write(page(gfm_html(markdown)), workdir)
    url = path.as_uri() + ("#collapsed" if collapsed else "")
    dom = _chromium("--dump-dom", url, width=width, height=1000).stdout
    match = re.search(r'<pre id="measurements"[^>]*>(.*?)</pre>', dom, re.S)
    assert match, "the measuring script did not run: " + dom[:500]
    data = json.loads(match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    boxes = tuple(Box(e["tag"], e["text"], e["left"], e["right"], e["scrollWidth"], e["clientWidth"])
                  for e in data["elements"])
    return Layout(data["page"], data["height"], data["docWidth"], boxes)


def screenshot(markdown: str, target: Path, workdir: Path, *, collapsed: bool,
               width: int = PAGE_WIDTH) -> Path:
    """A PNG of the whole comment at ``width``: collapsed, or with every section open."""
    layout = measure(markdown, workdir, width, collapsed)
    path = workdir / "comment.html"
    url = path.as_uri() + ("#collapsed" if collapsed else "")
    target.parent.mkdir(parents=True, exist_ok=True)
    _chromium(f"--screenshot={target}", url, width=width, height=min(16000, layout.height + 8))
    return target
