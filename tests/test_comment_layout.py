"""The PR comment at GitHub's width: rendered with cmark-gfm, laid out by headless Chromium at 880 px.

A reviewer reads the comment in a pull request's conversation column. These tests render the real
comment of two real reviews (the bundled example, run exactly as ``scripts/demo`` runs it, and a
repository of long-named GitHub Models ``.prompt.yml`` suites) in GitHub's stylesheet and assert
that no table, cell or answer block is wider than the page, collapsed or with every section
open. The bundled example's screenshots are kept in ``out/screenshots/`` as build artifacts.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from cli_harness import API_KEY
from github_page import PAGE_WIDTH, Layout, chromium_available, gfm_html, measure, screenshot
from promptreview.cli import main as promptreview
from repo_builder import RepoBuilder, run_git
from servers.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from demo import run_demo  # noqa: E402
from demo_model import respond  # noqa: E402

pytestmark = pytest.mark.skipif(not chromium_available(), reason="headless Chromium is not installed")

ARTIFACTS = ROOT / "out" / "screenshots"


def assert_fits(layout: Layout) -> None:
    assert layout.page == PAGE_WIDTH
    wide = layout.too_wide()
    assert not wide, "wider than the page: " + "; ".join(
        f"<{b.tag}> right={b.right:.0f} scroll={b.scroll_width}/{b.client_width} {b.text[:40]!r}"
        for b in wide)
    assert layout.doc_width <= layout.page, layout.doc_width


@pytest.fixture(scope="module")
def example_comment(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("demo-out")
    code = run_demo(out)
    assert code == 3  # the bundled example is inconclusive
    return (out / "comment.md").read_text("utf-8")


def test_bundled_example_fits_the_conversation_column(example_comment: str, tmp_path: Path) -> None:
    for collapsed in (True, False):
        layout = measure(example_comment, tmp_path, collapsed=collapsed)
        assert_fits(layout)
        tables = [b for b in layout.boxes if b.tag == "table"]
        assert len(tables) >= (1 if collapsed else 10)  # suite table, metric tables, answer tables


def test_bundled_example_screenshots_are_kept_as_artifacts(example_comment: str, tmp_path: Path) -> None:
    for name, collapsed in (("comment-collapsed.png", True), ("comment-expanded.png", False)):
        png = screenshot(example_comment, ARTIFACTS / name, tmp_path, collapsed=collapsed)
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        print(f"{name}: {width} x {height} px")
        assert width == PAGE_WIDTH and height > 400


def test_answers_wrap_in_the_column_and_similar_ones_show_as_a_word_diff(example_comment: str) -> None:
    html = gfm_html(example_comment)
    assert "<pre>" not in html  # <pre> never wraps on GitHub; answers are table cells now
    # support-answers' head keeps base's facts and drops the greeting: one cell, struck and inserted words.
    assert "<del>Thanks for reaching out! The</del> <ins>In Acme Drive: the</ins> free plan" in html
    assert "<th align=\"left\">Base answer</th>" in html and "<th align=\"left\">Head answer</th>" in html


def test_verdict_comes_first_and_names_the_deciding_metric(example_comment: str) -> None:
    html = gfm_html(example_comment)
    header = re.search(r"<thead>(.*?)</thead>", html, re.S)
    assert header and re.findall(r"<th[^>]*>([^<]*)</th>", header.group(1))[0] == "Verdict"
    body = html[html.index("<tbody>"):html.index("</tbody>")]
    # The pass rate decides (single metrics such as `feedback` only explain it).
    assert "<code>pass rate</code> +33 pts" in body
    assert "<code>triage</code>" in body and "prompts/triage.prompt.yml" not in body


# --- a repository of long-named GitHub Models suites ----------------------------------------------

LONG_DIRS = (
    "prompts/customer-support/ticket-routing",
    "prompts/customer-support/ticket-routing-experimental",
    "services/billing-and-invoicing/assistants",
)
STEM = "route-incoming-support-tickets-to-the-right-queue-with-a-very-long-descriptive-name"

TRIAGE = """name: Ticket triage
model: openai/gpt-4o-mini
messages:
  - role: system
    content: |
      Classify the ticket as bug, billing or question. Reply with the label only.{extra}
  - role: user
    content: "{{{{input}}}}"
testData:
  - name: app-crashes-on-export
    input: "The app crashes when I open the export screen"
    expected: bug
  - name: double-charge
    input: "I was charged twice this month, please refund one charge"
    expected: billing
  - name: annual-plan-refund
    input: "Can I get a refund for the annual plan? https://acme.example/account/billing/subscriptions/annual-plan-2026-renewal-confirmation-page"
    expected: billing
  - name: invite-teammate
    input: "How do I invite a teammate?"
    expected: question
  - name: download-invoices
    input: "Where can I download my invoices?"
    expected: billing
  - name: sync-stopped
    input: "Sync stopped working after the last update"
    expected: bug
evaluators:
  - name: routed to the right queue
    string:
      equals: "{{{{expected}}}}"
"""


def long_named_repo(tmp_path: Path) -> tuple[Path, str, str]:
    builder = RepoBuilder.init(tmp_path / "repo")
    paths = [f"{d}/{STEM}.prompt.yml" for d in LONG_DIRS]
    base = builder.commit({p: TRIAGE.format(extra="") for p in paths}, message="base")
    run_git(builder.path, "checkout", "--quiet", "-b", "feature")
    refunds = "\n      Anything about charges, refunds or invoices is billing."
    head = builder.commit({p: TRIAGE.format(extra=refunds) for p in paths}, message="head", branch="feature")
    return builder.path, base, head


def test_long_named_prompt_yml_suites_fit_and_stay_tellable_apart(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo, base, head = long_named_repo(tmp_path)
    comment = tmp_path / "comment.md"
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with OpenAIServer(responder=respond) as server:
        code = promptreview(["compare", "--repo", str(repo), "--base", base, "--head", head, "--comment",
                             "--markdown", str(comment), "--base-url", server.base_url,
                             "--cache", str(tmp_path / "cache.sqlite")])
    assert code in (0, 3)
    body = comment.read_text("utf-8")
    html = gfm_html(body)
    table = html[html.index("<tbody>"):html.index("</tbody>")]
    shown = re.findall(r"<code>([^<]*)</code>(?: 🆕 new)?<br><sub>", table)
    assert len(shown) == 3 and len(set(shown)) == 3, shown
    assert all(len(name) <= 40 for name in shown), shown
    assert all(f"{STEM}.prompt.yml" not in name for name in shown)
    # Case ids come from testData's `name`, not "#3".
    assert "annual\\-plan\\-refund" in body and "#⁠3" not in body
    for collapsed in (True, False):
        assert_fits(measure(body, tmp_path, collapsed=collapsed))
