"""The report as a reviewer sees it: rendered with GitHub's own cmark-gfm and inspected as HTML.

GitHub renders comments with cmark-gfm (the GFM extensions plus raw HTML, which its sanitizer then
filters). Rendering with ``CMARK_OPT_UNSAFE`` shows every piece of raw HTML that would reach that
sanitizer, so asserting "no <img" here is stricter than what GitHub would let through.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import types
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import quote

import cmarkgfm
import jsonschema
import pytest
from cmarkgfm.cmark import Options

from promptreview.report import (
    check_output,
    from_json,
    render_comment,
    render_full,
    render_html,
    render_notice,
    render_placeholder,
    render_terminal,
    scrub,
    status_description,
    to_json,
)
from promptreview.report.html import sanitize_html
from promptreview.report.jsonio import ReportFormatError, report_schema
from promptreview.report.markdown import COMMENT_LADDER, FULL_LADDER, render_markdown
from promptreview.report.sanitize import md_text, pre_text, strip_hidden
from promptreview.review_result import ReviewResult
from promptreview.stats import Bound
from report_builders import (
    SuiteWords,
    build_review,
    one_suite_review,
)

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- promptreview:sticky -->"
SECRET = "sk-live-4f9a8b7c6d5e4f3a"
ATTACK = (
    "Thanks @octocat and @acme/security-team, see #12.\n"
    f"{MARKER}\n"
    "```\n</details>\n<details><summary>fake</summary>\n"
    "<img src=x onerror=alert(1)>\n<script>alert(2)</script>\n"
    "| broken | table |\n|---|---|\n\n"
    "<!-- hidden comment -->\u200b\u202eevil\u202c\n"
    f"token={SECRET}\n"
    "ANSWER-SENTINEL"
)


# --- rendering with GitHub's Markdown -------------------------------------------------------------


def gfm(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE)


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    ancestors: tuple[str, ...]
    text: str = ""


class Doc(HTMLParser):
    """Just enough of a DOM to ask what a reader would see: tables, <pre> blocks, text nodes."""

    def __init__(self, html_text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[Element] = []
        self.elements: list[Element] = []
        self.texts: list[tuple[str, tuple[str, ...]]] = []
        self.comments: list[str] = []
        self.feed(html_text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), tuple(e.tag for e in self.stack))
        self.elements.append(element)
        if tag not in ("br", "hr", "img", "input", "meta"):
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data
        self.texts.append((data, tuple(e.tag for e in self.stack)))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def all(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]

    def table_rows(self, index: int = 0) -> list[list[str]]:
        """Rows of the index-th top-level table, each a list of cell texts."""
        tables = [e for e in self.all("table")]
        table = tables[index]
        start = self.elements.index(table)
        rows: list[list[str]] = []
        for e in self.elements[start + 1:]:
            if e.tag == "table" and "table" not in e.ancestors[len(table.ancestors):]:
                break
            if e.tag == "tr" and e.ancestors.count("table") == table.ancestors.count("table") + 1:
                rows.append([])
            elif e.tag in ("td", "th") and e.ancestors.count("table") == table.ancestors.count("table") + 1:
                rows[-1].append(e.text.strip())
        return rows


def answer_cells(doc: Doc) -> list[Element]:
    """The cells that hold model answers: raw-HTML tables (no tbody) under a Base/Head header."""
    return [e for e in doc.elements if e.tag == "td" and e.ancestors[-2:] == ("table", "tr")]


def cell(text: str) -> str:
    """A suite-table cell's first line (the suite cell carries "N cases" below the name)."""
    return text.split("\n")[0]


MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][\w-]*)?")
ISSUE_REF = re.compile(r"(?<![\w&])#\d+")


def assert_inert(doc: Doc) -> None:
    """What GitHub must not find in the rendered comment: mentions, references, active HTML."""
    for text, _ in doc.texts:
        assert not MENTION.search(text), f"live mention in {text!r}"
        assert not ISSUE_REF.search(text), f"live issue reference in {text!r}"
    assert not doc.all("img") and not doc.all("script")
    assert not any(name.startswith("on") for e in doc.elements for name in e.attrs)


def attack_review(**overrides: Any) -> ReviewResult:
    """A review whose untrusted text (answers, ids, reasons, file and suite names) is hostile."""
    nasty = {
        "case_id": "case|1 @octocat <img src=x onerror=alert(1)>",
        "base_text": "Plain base answer.",
        "head_text": ATTACK,
        "judge_reason": f"B is worse @acme/leads | </details> <img src=y onerror=alert(3)> {SECRET}",
        "metric_reason": "missing `refund` @octocat | x",
        "file": "evals/sup|port @x.yaml",
        "line": 7,
    }
    suites = [
        SuiteWords("support-answers", cases=30, regressions=12,
                       overrides={0: {**nasty, **overrides}}),
        SuiteWords("bad|name @octocat </details>", cases=8, status="added",
                       overrides={0: {"head_text": ATTACK}}),
    ]
    return build_review(suites)


# --- the comment: headline, table, details ------------------------------------------------------


def failing_review() -> ReviewResult:
    return build_review([
        SuiteWords("support-answers", cases=60, regressions=25, improvements=3,
                       overrides={5: {"must_pass": True}}),
        SuiteWords("classifier", cases=80),
    ])


def test_headline_states_the_verdict_and_why() -> None:
    result = failing_review()
    assert result.verdict.verdict == "fail"

    body = render_comment(result)
    doc = Doc(gfm(body))

    headline = doc.all("h2")[0].text
    assert headline == "❌ Prompt review: fail"
    reason = next(e for e in doc.all("p") if "support-answers" in e.text)
    assert "fails" in reason.text or "fail" in reason.text


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([SuiteWords("stable", cases=80)], "✅ Prompt review: pass"),
        ([SuiteWords("small", cases=12)], "🟡 Prompt review: inconclusive"),
        ([SuiteWords("broken", cases=5, error="prompt file could not be parsed")],
         "🛑 Prompt review: error"),
    ],
)
def test_headline_for_each_verdict(words: list[SuiteWords], expected: str) -> None:
    doc = Doc(gfm(render_comment(build_review(words))))
    assert doc.all("h2")[0].text == expected


JARGON = ("Holm", "net benefit", "certify", "one-sided", "p-value", "pass rate on `pass rate`")


def visible(body: str) -> str:
    """Everything a reader sees once GitHub renders the comment, as plain text."""
    return "".join(t for t, _ in Doc(gfm(body)).texts)


def headline_text(body: str) -> str:
    """The sentence(s) under the verdict heading, as rendered text."""
    html = gfm(body)
    end = html.index("<table>") if "<table>" in html else None
    return Doc(html[html.index("</h2>"):end]).all("p")[0].text


@pytest.mark.parametrize(
    ("kind", "words", "expected"),
    [
        ("pass", [SuiteWords("stable", cases=80)],
         ["Nothing got worse by more than the gate's margin, so this passes."]),
        ("fail", [SuiteWords("support-answers", cases=60, regressions=25, improvements=3)],
         ["Head passes fewer cases (95% → 58%, −37 pts)", "too large to be chance",
          "so support-answers fails."]),
        ("inconclusive", [SuiteWords("small", cases=12)],
         ["Not enough cases to be sure the pass rate is within its 5 pts margin",
          "cases would settle it if head is really no worse than base (this run had 12)."]),
        ("error", [SuiteWords("broken", cases=5, error="prompt file could not be parsed")],
         ["broken could not run: prompt file could not be parsed."]),
        ("error: every case errored", [SuiteWords("flaky", cases=6, errors=6)],
         ["All 6 cases of flaky errored (6 answers hit rate limits (429) on head), so nothing could be "
          "evaluated; errors are not counted against the prompt: rerun when the provider recovers."]),
        ("error: no cases", [SuiteWords("empty", cases=0)],
         ["empty has no cases, so there is nothing to evaluate."]),
        ("removed prompt", [SuiteWords("legacy", status="removed")],
         ["The prompt prompts/legacy.md.j2 was removed, so there is nothing to evaluate and nothing to "
          "block."]),
        ("new prompt", [SuiteWords("greeting", cases=6, status="added")],
         ["greeting is a new prompt with no base version to compare against: head passes 100% of its 6 "
          "cases, and with no min_pass_rate floor set, nothing holds it back."]),
    ],
)
def test_headline_reason_of_every_verdict_kind_reads_plainly(kind: str, words: list[SuiteWords],
                                                               expected: list[str]) -> None:
    body = render_comment(build_review(words))
    text = headline_text(body)
    print(f"{kind}: {text}")
    for phrase in expected:
        assert phrase in text, text
    assert not any(j in text for j in JARGON), text
    assert len(text.split()) <= 70, text
    # Said once, in plain words, anywhere in the comment.
    seen = visible(body)
    jargon = r"pass rate on pass rate|[Oo]nly 0 cases|Nothing could be evaluated: the suite"
    assert not re.search(jargon, seen)
    assert ": new prompt: " not in text and "could not run: the suite" not in seen


def test_headline_when_no_prompt_changed_reads_plainly() -> None:
    body = render_notice("no_changes", marker=MARKER, head_sha="2" * 40)
    text = Doc(gfm(body)).all("p")[0].text
    print(f"no changes: {text}")
    assert text.startswith("No prompt, partial, case file or suite definition changed at 2222222, "
                           "so nothing was evaluated.")


def test_headline_of_several_suites_names_the_one_to_look_at_first() -> None:
    text = headline_text(render_comment(failing_review()))
    assert text.startswith("Of 2 suites, 1 fails, 1 passes; the first to look at is support-answers."), text


def test_suite_table_has_one_row_per_suite_with_rates_interval_and_judge_tally() -> None:
    result = failing_review()
    doc = Doc(gfm(render_comment(result)))

    rows = doc.table_rows(0)
    assert rows[0] == ["Verdict", "Suite", "Pass rate, base → head", "Judge: head / tie / base", "Decided by"]
    by_suite = {re.sub(r"\d+ cases$", "", row[1]): row for row in rows[1:]}
    assert set(by_suite) == {"support-answers", "classifier"}
    support = by_suite["support-answers"]
    assert support[1].endswith("60 cases")
    assert re.fullmatch(r"95% → 58%−37 pts \[−\d+(\.\d)?, −\d+(\.\d)?\]", support[2]), support[2]
    assert support[3] == "3 / 32 / 25"
    assert support[0] == "❌\xa0fail"
    assert by_suite["classifier"][0] == "✅\xa0pass"


def test_new_and_removed_suites_are_marked_in_the_table_and_explained() -> None:
    result = build_review([
        SuiteWords("support-answers", cases=30),
        SuiteWords("greeting", cases=6, status="added"),
        SuiteWords("legacy", status="removed"),
    ])
    body = render_comment(result)
    rows = {re.sub(r"(\d+|—) cases$", "", r[1]): r for r in Doc(gfm(body)).table_rows(0)[1:]}

    assert rows["greeting 🆕 new"][2] == "— → 100%"
    assert rows["legacy 🗑️ removed"][1].endswith("— cases")
    assert "evaluated on head only" in body
    assert "it exists only in base, so nothing was evaluated" in body


def test_regressions_come_before_improvements_must_pass_first() -> None:
    body = render_comment(failing_review())
    doc = Doc(gfm(body))

    support = next(d for d in doc.all("details") if "support-answers" in d.text)
    text = support.text
    assert text.index("Regressions (25)") < text.index("Improvements (3)")
    first_case = text[text.index("Regressions (25)"):].split("\n")[1:4]
    assert any("support-answers-case-005" in line and "must pass" in line for line in first_case), first_case


def test_case_shows_link_metrics_judge_reason_and_both_answers_side_by_side() -> None:
    result = failing_review()
    doc = Doc(gfm(render_comment(result)))

    link = next(a for a in doc.all("a") if a.text == "support-answers-case-000")
    assert link.attrs["href"] == (
        "https://github.com/acme/support-bot/blob/2222222aaaaaaabbbbbbbcccccccdddddddeeee/evals/support.yaml#L4")
    items = [li.text for li in doc.all("li")]
    assert "contains: pass → fail — missing 'refund policy'" in items
    assert "Judge: (A = base, B = head) Answer A cites the 30-day refund window; answer B omits it." in items
    stacked = [t.text for t in doc.all("table") if t.text.startswith("Base answerBase answer 0")]
    assert stacked and "Head answerHead answer 0" in stacked[0]


def test_notes_gate_change_judge_consistency_errors_and_inconclusive_help() -> None:
    gate_note = ("this change edits the suite's definition (gate.margin 0.05 → 0.2); "
                 "the base's gate was used")
    flaky = {i: {"consistent": False, "head_text": "Returns: 30 days."} for i in range(15, 35)}
    result = build_review([
        SuiteWords("support-answers", cases=40, regressions=4, improvements=6, errors=5,
                       notes=(gate_note,), overrides=flaky),
        SuiteWords("small", cases=20),
    ])
    body = render_comment(result)
    text = Doc(gfm(body)).all("details")[0].text

    assert "This change edits the suite's definition (gate.margin 0.05 → 0.2); the base's gate was used" \
        in text
    assert "The judge gave the same answer in both orders for only" in text
    assert "5 answers hit rate limits (429) on head — not counted against the prompt." in text
    small = Doc(gfm(body)).all("details")[1].text
    assert "This run could certify a margin of" in small and "cases would certify the gate's 5 pts" in small


def test_single_metrics_are_labelled_as_unadjusted_explanations_beside_the_deciding_tests() -> None:
    """Issue 9.3/9.5: the pass rate and the judge decide; `contains` and `rubric` explain them, with
    unadjusted numbers, never "significantly worse" beside a status they did not decide."""
    result = one_suite_review(cases=60, regressions=14, improvements=1)
    assert result.verdict.verdict == "fail" and result.verdict.family_size == 2
    doc = Doc(gfm(render_comment(result)))
    text = doc.all("details")[0].text
    table = next(i for i, t in enumerate(doc.all("table")) if "Margin" in t.text)
    rows = {r[0]: " | ".join(r) for r in doc.table_rows(table)[1:]}
    assert "significantly worse (p = " in rows["pass rate"] and "adjusted" in rows["pass rate"]
    for metric in ("contains", "rubric"):
        assert "lower, p = " in rows[metric], rows[metric]
        assert "(unadjusted; explains the pass rate, does not decide)" in rows[metric]
        assert "significantly worse" not in rows[metric]
        assert " | — | " in rows[metric]  # no margin: it does not decide
    assert "The pass rate and the judge decide" in text
    assert "after Holm's adjustment across the 2 deciding tests of this review" in text


def metric_tables(doc: Doc) -> list[list[list[str]]]:
    """Each suite's metric table (the one headed "Metric"), as rows of cell texts."""
    tables = [doc.table_rows(i) for i in range(len(doc.all("table")))]
    return [t for t in tables if t and t[0][:2] == ["Metric", "Base → head"]]


def assert_units_agree(rows: list[list[str]]) -> None:
    """A row's change and margin are in the unit its values are shown in: a rate (``60%``) moves in
    points, a 1-5 grade (``4.30 of 5``) in grade points ``of 5``, a 0-1 score (``0.50``) in plain
    score, and the judge's head / tie / base tally in points of cases."""
    for name, values, change, margin, _status in (r[:5] for r in rows[1:]):
        if change == "—":
            continue
        if "%" in values or re.fullmatch(r"\d+ / \d+ / \d+", values):
            unit = "pts"
        elif "of 5" in values:
            unit = "of 5"
        else:
            assert re.fullmatch(r"\d\.\d\d → \d\.\d\d", values), (name, values)
            unit = ""
        # An explanation (a single metric, not deciding) has no margin: "—".
        for shown in (change, margin) if margin != "—" else (change,):
            units = {u for u in ("pts", "of 5", "%") if u in shown}
            assert units == ({unit} if unit else set()), (name, values, change, margin)


def test_a_gated_metric_no_case_measured_says_so_instead_of_dashes() -> None:
    broken = {i: {"broken_metric": "rubric"} for i in range(30)}
    body = render_comment(build_review([SuiteWords("support-answers", cases=30, regressions=2, improvements=3,
                                                   overrides=broken)]))
    doc = Doc(gfm(body))
    (table,) = metric_tables(doc)
    rows = {r[0]: r for r in table[1:]}
    assert rows["rubric"][1:] == ["not measured", "—", "−0.25 of 5",
                                  "can't tell yet: no case has a result on both versions (30 metric errors)"]
    assert rows["contains"][1] == "90% → 93%"
    assert_units_agree(table)
    decided = doc.table_rows(0)[1][4]
    assert decided.startswith("pass rate"), decided  # an unmeasured explanation does not decide
    seen = visible(body)
    assert "— → —" not in seen and "[−4.00, +4.00]" not in seen
    assert "could certify a margin of 400 pts" not in seen and "on `rubric`" not in seen


def test_every_metric_row_shows_its_change_in_the_unit_of_its_values() -> None:
    doc = Doc(gfm(render_comment(failing_review())))
    tables = metric_tables(doc)
    assert tables
    for table in tables:
        assert_units_agree(table)
    rubric = next(r for r in tables[0] if r[0] == "rubric")
    assert rubric[1].endswith(" of 5") and rubric[2].count("of 5") == 1


def test_the_sample_size_hint_speaks_of_the_metric_that_decided_in_its_unit() -> None:
    body = render_comment(build_review([SuiteWords("small", cases=20)]))
    small = Doc(gfm(body)).all("details")[0].text
    hint = next(line for line in small.splitlines() if "could certify" in line)
    assert re.fullmatch(r"💡 This run could certify a margin of \d+(\.\d)? pts on the pass rate; about "
                        r"[\d,]+ cases would certify the gate's 5 pts \(this run had 20\)\. .*", hint), hint


@pytest.fixture(scope="module")
def example_comment(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled example's PR comment, made as ``scripts/demo`` makes it."""
    sys.path.insert(0, str(ROOT / "examples"))
    from demo import run_demo

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", "demo-key-not-secret")
        mp.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")  # run_demo points it at its own server
        out = tmp_path_factory.mktemp("demo")
        assert run_demo(out) == 3
    return (out / "comment.md").read_text("utf-8")


def test_bundled_example_feedback_row_keeps_one_unit(example_comment: str) -> None:
    doc = Doc(gfm(example_comment))
    tables = metric_tables(doc)
    assert len(tables) == 2
    for table in tables:
        assert_units_agree(table)
    feedback = next(r for r in tables[0] if r[0] == "feedback")
    # A 0-1 score moves in score, not "pts"; its margin too.
    print(feedback, doc.table_rows(0)[1][4])
    assert feedback[:4] == ["feedback", "1.00 → 0.50", "−0.50 [−1.00, +1.00]", "—"]
    assert "(unadjusted; explains the pass rate, does not decide)" in feedback[4]
    seen = visible(example_comment)
    assert "of 5 [" not in seen.split("feedback")[1].split("\n")[0]
    # The hint spoke of equivalent's 10 cases in grade points beside feedback's 2-case verdict.
    assert "1.00 of 5" not in seen and "1,237" not in seen
    assert "could certify a margin of 8.1 pts on the pass rate; about 22 cases" in seen
    assert "pass rate on pass rate" not in seen


def test_bundled_example_names_each_suite_as_its_table_row_does(example_comment: str) -> None:
    doc = Doc(gfm(example_comment))
    shown = [cell(r[1]).removesuffix("6 cases").removesuffix("10 cases") for r in doc.table_rows(0)[1:]]
    assert shown == ["support-answers", "triage"]
    summaries = [s.text for s in doc.all("summary")]
    assert summaries[:2] == ["🟡 support-answers: 3 regressions, 6 improvements",
                             "🟡 triage: 0 regressions, 2 improvements"]
    # The full path is still one line below, where the prompt is named.
    assert "Prompt: prompts/triage.prompt.yml" in visible(example_comment)


def test_changed_files_link_to_the_diff_and_list_renames() -> None:
    doc = Doc(gfm(render_comment(failing_review())))
    diff = next(a for a in doc.all("a") if a.text == "view the diff")
    assert diff.attrs["href"] == "https://github.com/acme/support-bot/pull/42/files"
    items = [li.text for li in doc.all("li")]
    assert "prompts/support-answers.md.j2 (modified, prompt)" in items
    assert "prompts/partials/voice.j2 → prompts/partials/tone.j2 (renamed)" in items


def test_usage_shows_cost_tokens_latency_cache_hits_and_planned_calls() -> None:
    result = failing_review()
    doc = Doc(gfm(render_comment(result)))
    usage = next(d for d in doc.all("details") if "Usage" in d.text)
    rows = doc.table_rows(next(i for i, t in enumerate(doc.all("table")) if "Tokens in / out" in t.text))
    assert [r[0] for r in rows] == ["", "Base", "Head", "Judge"]
    assert rows[1][4] == f"{140 * 120:,} / {140 * 40:,}"
    assert rows[3][5].startswith("$")
    assert "cache hits" in usage.text and "Planned calls: 560" in usage.text


def test_footer_explains_rerun_and_names_config_revision_and_run() -> None:
    body = render_comment(failing_review())
    footer = Doc(gfm(body)).all("sub")[-1]
    assert "/rerun to review again, /rerun fresh to ignore cached answers, or /rerun SUITE" in footer.text
    assert "Config promptreview.yml at 1111111" in footer.text
    run = next(a for a in Doc(gfm(body)).all("a") if a.text == "run log")
    assert run.attrs["href"] == "https://github.com/acme/support-bot/actions/runs/123456"

    assert "/rerun" not in render_comment(failing_review(), rerun_hint=False)


def test_importing_the_report_package_stays_cheap() -> None:
    """``scrub`` is what the publish step needs; it must not pull in Jinja2 and Markdown."""
    code = ("import sys, promptreview.report as r; r.scrub; "
            "print(sorted(m for m in ('jinja2', 'markdown') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_placeholder_starts_with_marker_and_links_the_run() -> None:
    body = render_placeholder("2222222aaaaaaabbbbbbb", "https://github.com/acme/bot/actions/runs/9", MARKER)
    assert body.startswith(MARKER + "\n")
    doc = Doc(gfm(body))
    assert doc.all("h2")[0].text == "⏳ Prompt review running…"
    assert "2222222" in doc.all("code")[0].text
    assert doc.all("a")[0].attrs["href"] == "https://github.com/acme/bot/actions/runs/9"


def test_shard_result_says_it_is_partial() -> None:
    result = replace(failing_review(), shard="2/4")
    assert "Partial result: shard 2/4" in Doc(gfm(render_comment(result))).all("p")[1].text


# --- trimming -----------------------------------------------------------------------------------


def huge_review(answer_chars: int = 3000) -> ReviewResult:
    return build_review([
        SuiteWords(f"suite-{n}", cases=90, regressions=40, improvements=20, answer_chars=answer_chars)
        for n in range(3)
    ])


def test_huge_review_is_trimmed_under_the_limit_keeping_the_table() -> None:
    result = huge_review()
    full = render_full(result)
    assert len(full) > 500_000

    body = render_comment(result)
    assert len(body) <= 65_536
    assert body.startswith(MARKER)
    doc = Doc(gfm(body))
    rows = doc.table_rows(0)
    assert [cell(r[1]).removesuffix("90 cases") for r in rows[1:]] == ["suite-0", "suite-1", "suite-2"]
    assert all(len(r) == 5 for r in rows)
    assert re.search(r"\d+ more cases in the full report", body)
    # Trimmed, but still regressions first: the first case shown in a suite is a regression.
    details = doc.all("details")[0].text
    assert "Regressions (40)" in details


@pytest.mark.parametrize("limit", [20_000, 6_000])
def test_tighter_limits_drop_cases_then_sections_but_never_the_table(limit: int) -> None:
    body = render_comment(huge_review(), max_chars=limit)
    assert len(body) <= limit
    rows = Doc(gfm(body)).table_rows(0)
    assert len(rows) == 4 and rows[1][0] in ("❌\xa0fail", "🟡\xa0inconclusive")
    assert "full report" in body


def test_trimming_ladders_only_ever_remove_content() -> None:
    """_fit bisects the ladders, which is only right if every rung is at most as long as the one before."""
    result = huge_review(answer_chars=800)
    for ladder in (COMMENT_LADDER, FULL_LADDER):
        sizes = [len(render_markdown(result, detail)) for detail in ladder]
        assert sizes == sorted(sizes, reverse=True)


def test_full_report_has_every_case_and_whole_answers() -> None:
    result = one_suite_review(cases=30, regressions=5, improvements=5, answer_chars=5000)
    full = render_full(result)
    assert not full.startswith(MARKER)
    assert "more cases in the full report" not in full
    answers = [e.text for e in answer_cells(Doc(gfm(full)))]
    assert len(answers) == 20 and min(len(a) for a in answers) >= 4990


def test_full_report_respects_the_step_summary_limit() -> None:
    result = huge_review(answer_chars=12_000)
    full = render_full(result)
    assert len(full.encode("utf-8")) <= 1024 * 1024
    assert len(Doc(gfm(full)).table_rows(0)) == 4


def test_even_a_table_too_long_for_the_limit_yields_a_valid_short_body() -> None:
    result = build_review([SuiteWords(f"suite-{n:03d}-" + "x" * 40, cases=6) for n in range(120)])
    body = render_comment(result, max_chars=4000)
    assert len(body) <= 4000 and body.startswith(MARKER)
    assert "The report was cut to fit" in body


# --- untrusted text -----------------------------------------------------------------------------


def test_hostile_answers_cannot_break_out_ping_forge_or_inject() -> None:
    body = render_comment(attack_review(), secrets=[SECRET])
    html = gfm(body)
    doc = Doc(html)

    assert body.startswith(MARKER) and body.count(MARKER) == 1
    assert html.startswith(MARKER) and html.count(MARKER) == 1
    assert doc.comments == [" promptreview:sticky "]
    assert_inert(doc)
    assert SECRET not in body and "***" in body

    # The suite table still has exactly its two rows, with the hostile suite name in one cell.
    rows = doc.table_rows(0)
    assert len(rows) == 3 and all(len(r) == 5 for r in rows)
    assert rows[2][1].startswith("bad|name @\u2060octocat </details>")

    # Every answer stays inside its answer cell, inside its suite's <details>.
    assert len(doc.all("details")) == body.count("<details")
    cells = answer_cells(doc)
    assert cells and all("details" in c.ancestors for c in cells)
    sentinel = [(t, where) for t, where in doc.texts if "ANSWER-SENTINEL" in t]
    assert sentinel and all("td" in where and "details" in where for _, where in sentinel)
    attack = next(c for c in cells if "ANSWER-SENTINEL" in c.text)
    assert "<img src=x onerror=alert(1)>" in attack.text  # shown as text, not rendered
    assert "\u202e" not in attack.text and "\u200b" not in attack.text


def test_hostile_text_in_ids_reasons_and_file_names_is_escaped() -> None:
    body = render_comment(attack_review(), secrets=[SECRET])
    doc = Doc(gfm(body))
    items = [li.text for li in doc.all("li")]
    judge = "Judge: (A = base, B = head) B is worse @\u2060acme/leads | </details>"
    assert any(i.startswith(judge) and "***" in i for i in items)
    assert any("missing `refund` @\u2060octocat | x" in i for i in items)
    assert any(c.text == "evals/sup|port @\u2060x.yaml:7" for c in doc.all("code"))
    link = next(a for a in doc.all("a") if "case|1" in a.text)
    assert link.attrs["href"].endswith(quote("evals/sup|port @x.yaml") + "#L7")


def test_full_report_and_check_summary_are_just_as_safe() -> None:
    result = attack_review()
    for body in (render_full(result, secrets=[SECRET]), check_output(result, secrets=[SECRET])["summary"]):
        doc = Doc(gfm(body))
        assert_inert(doc)
        assert MARKER not in body and SECRET not in body


def test_table_cells_survive_pipes_and_newlines() -> None:
    cell = md_text("a | b\n| c |\n\nd\\|e")
    doc = Doc(gfm(f"| x | y |\n|---|---|\n| {cell} | z |\n"))
    assert doc.table_rows(0) == [["x", "y"], ["a | b | c | d\\|e", "z"]]


def test_pre_text_cannot_close_its_block_or_fence() -> None:
    nasty = "```\n</pre></td></tr></table></details>\n\n    indented\n~~~"
    doc = Doc(gfm(f"<details>\n<summary>s</summary>\n\n<table><tr><td><pre>{pre_text(nasty)}</pre></td></tr>"
                  "</table>\n\n</details>\n\nafter"))
    assert doc.all("pre")[0].text == nasty
    assert doc.all("p")[-1].text == "after" and "details" not in doc.all("p")[-1].ancestors


def test_hidden_characters_are_removed() -> None:
    assert strip_hidden("a\u200bb\u202ec\u2066d\ufeffe\U000e0041f\r\ng") == "abcdef\ng"


# --- secrets ------------------------------------------------------------------------------------


def test_scrub_masks_raw_url_encoded_and_base64_forms() -> None:
    secret = "ghp_AbC123/xyz+789=="
    basic = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    text = (f"raw {secret} url {quote(secret, safe='')} b64 {base64.b64encode(secret.encode()).decode()} "
            f"basic {basic}")
    out = scrub(text, [secret])
    assert secret not in out and quote(secret, safe="") not in out
    assert base64.b64encode(secret.encode()).decode()[:-4] not in out
    assert basic[16:-4] not in out
    assert out.count("***") == 4


def test_scrub_ignores_empty_and_only_encodes_long_secrets() -> None:
    assert scrub("abc", ["", None or ""]) == "abc"
    assert scrub("pin 1234, YWJj", ["1234", "abc"]) == "pin ***, YWJj"


# --- JSON ---------------------------------------------------------------------------------------


def test_json_round_trip_is_exact_and_validates() -> None:
    result = attack_review()
    data = json.loads(json.dumps(to_json(result), allow_nan=False))
    assert data["schema_version"] == 1
    jsonschema.Draft202012Validator(report_schema()).validate(data)
    assert from_json(data) == result


def test_json_keeps_infinite_bounds() -> None:
    result = failing_review()
    suite = result.suites[0]
    metric = replace(suite.verdict.metrics[0], bound=Bound(-0.1, -math.inf, math.inf, 0.5, 3, "sign test"))
    verdict = replace(suite.verdict, metrics=(metric, *suite.verdict.metrics[1:]))
    result = replace(result, suites=(replace(suite, verdict=verdict), *result.suites[1:]))
    data = json.loads(json.dumps(to_json(result), allow_nan=False))
    assert data["suites"][0]["verdict"]["metrics"][0]["bound"]["lower"] == "-Infinity"
    assert from_json(data) == result


def test_schema_is_valid_and_documents_every_field() -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def check(cls: type, definition: dict[str, Any], seen: set[type]) -> None:
        fields = [f.name for f in dataclasses.fields(cls)]
        props = definition["properties"]
        assert set(props) - {"schema_version"} == set(fields), cls.__name__
        assert definition["additionalProperties"] is False
        assert all(p.get("description") for p in props.values()), cls.__name__
        for tp in get_type_hints(cls).values():
            for inner in _dataclasses_in(tp):
                if inner not in seen:
                    seen.add(inner)
                    check(inner, schema["$defs"][inner.__name__], seen)

    check(ReviewResult, schema, set())


def _dataclasses_in(tp: Any) -> list[type]:
    if dataclasses.is_dataclass(tp):
        return [tp]  # type: ignore[list-item]
    if get_origin(tp) in (Union, types.UnionType, tuple, dict, list) and get_origin(tp) is not Literal:
        return [d for a in get_args(tp) if a is not Ellipsis for d in _dataclasses_in(a)]
    return []


def test_from_json_names_what_is_wrong() -> None:
    data = to_json(failing_review())
    with pytest.raises(ReportFormatError, match="schema_version 2"):
        from_json({**data, "schema_version": 2})
    broken = json.loads(json.dumps(data))
    broken["suites"][0]["cases"][0]["change"] = "exploded"
    with pytest.raises(ReportFormatError, match=r"\$\['suites'\]\[0\]\['cases'\]\[0\]\['change'\]"):
        from_json(broken)


# --- HTML ---------------------------------------------------------------------------------------


def test_html_page_is_standalone_and_carries_no_active_content() -> None:
    page = render_html(attack_review(), secrets=[SECRET])
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"<[^>]+\son\w+\s*=", page, re.IGNORECASE)
    assert not re.search(r"<img", page, re.IGNORECASE) and "javascript:" not in page.lower()
    assert SECRET not in page
    doc = Doc(page)
    assert doc.all("style") and len(doc.table_rows(0)) == 3
    shown = [c.text for c in answer_cells(doc) if "ANSWER-SENTINEL" in c.text]
    assert shown and all("<img src=x onerror=alert(1)>" in text for text in shown)


def test_html_sanitizer_keeps_the_report_tags_and_drops_the_rest() -> None:
    dirty = ('<p onclick="x()">hi <a href="javascript:alert(1)">j</a> <a href="https://ok.example">ok</a></p>'
             '<script>alert(1)</script><img src=x onerror=alert(2)><style>p{}</style>'
             '<details open><summary>s</summary><pre>&lt;b&gt;</pre></details><iframe src=x>t</iframe>')
    clean = sanitize_html(dirty)
    assert clean == ('<p>hi <a rel="nofollow noopener noreferrer">j</a> '
                     '<a href="https://ok.example" rel="nofollow noopener noreferrer">ok</a></p>'
                     '<details open><summary>s</summary><pre>&lt;b&gt;</pre></details>')


# --- terminal -----------------------------------------------------------------------------------


def test_terminal_shows_verdict_aligned_table_regressions_and_usage() -> None:
    text = render_terminal(failing_review(), color=False)
    lines = text.splitlines()
    assert lines[0].startswith("promptreview: FAIL  main (1111111) → refund-wording (2222222)")
    header = next(i for i, line in enumerate(lines) if line.startswith("Suite "))
    table = lines[header:header + 3]
    column = table[0].index("Verdict")
    assert [row[column:] for row in table[1:]] == ["fail", "pass"]
    assert "Top regressions (5 of 25):" in text and "support-answers-case-005" in text
    assert lines[-1].startswith("Usage: 560 calls")
    assert "\x1b" not in text


LONG_SUITES = [
    "prompts/actions/summarize-the-incoming-issue-and-suggest-labels.prompt.yml",
    "prompts/actions/summarize-the-incoming-issue-and-suggest-owners.prompt.yml",
]


@pytest.mark.parametrize("width", [80, 120, 240])
def test_terminal_fits_suite_names_to_the_width_and_keeps_them_apart(width: int) -> None:
    result = build_review([SuiteWords(name, cases=12) for name in LONG_SUITES])
    text = render_terminal(result, width=width)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Suite "))
    table = lines[header:header + 3]
    names = [line.split("  ")[0].strip() for line in table[1:]]
    assert len(set(names)) == 2 and "more chars" not in text
    assert all(len(line) <= width for line in table), table
    if width >= 240:
        assert names == LONG_SUITES  # room for the whole path
    else:
        assert names[0].endswith("labels") and names[1].endswith("owners"), names


def test_suite_names_that_differ_only_at_the_end_stay_short_and_apart_in_the_comment() -> None:
    body = render_comment(build_review([SuiteWords(name, cases=12, regressions=2) for name in LONG_SUITES]))
    doc = Doc(gfm(body))
    shown = [cell(r[1]).removesuffix("12 cases") for r in doc.table_rows(0)[1:]]
    assert shown == ["summarize-the-incomi…-and-suggest-labels", "summarize-the-incomi…-and-suggest-owners"]
    assert [s.text.split(":")[0] for s in doc.all("summary")[:2]] == [f"🟡 {n}" for n in shown]
    assert f"the first to look at is {shown[0]}." in headline_text(body)


def test_terminal_regressions_and_notes_name_suites_as_the_table_does() -> None:
    result = build_review([SuiteWords(name, cases=12, regressions=2) for name in LONG_SUITES])
    lines = render_terminal(result, width=80).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Suite "))
    names = [line.split("  ")[0].strip() for line in lines[header + 1:header + 3]]
    cards = [line.strip().split(" › ")[0] for line in lines if " › " in line]
    notes = [line.removeprefix("note ").split(": ")[0] for line in lines if line.startswith("note ")]
    assert cards and set(cards) <= set(names), (names, cards)
    assert set(notes) <= set(names), (names, notes)
    # The full paths did not fit in 80 columns, so they are nowhere but in the case ids (made from them).
    assert not any(name in line for name in LONG_SUITES for line in lines if "-case-" not in line), lines


def test_terminal_colour_is_optional_and_untrusted_escapes_are_removed() -> None:
    result = attack_review(case_id="case-\x1b]0;pwned\x07\x1b[2J", judge_reason="::error::forged\x1b[31m")
    plain = render_terminal(result, color=False)
    assert "\x1b" not in plain and "\x07" not in plain
    assert "::error::" not in plain
    coloured = render_terminal(result, color=True)
    assert "\x1b[1;31m" in coloured or "\x1b[1;33m" in coloured


# --- check run and status -----------------------------------------------------------------------


def test_check_output_sizes_and_summary_without_details() -> None:
    result = huge_review()
    out = check_output(result)
    assert len(out["title"]) <= 255
    assert len(out["summary"]) <= 65_535
    assert "<details>\n<summary>❌" not in out["summary"] and "<summary>🟡" not in out["summary"]
    assert len(Doc(gfm(out["summary"])).table_rows(0)) == 4


def test_annotations_point_at_regressed_case_lines() -> None:
    result = build_review([
        SuiteWords("support-answers", cases=160, regressions=70,
                       overrides={1: {"line": None}, 2: {"file": None}}),
    ])
    out = check_output(result)
    annotations = out["annotations"]
    assert len(annotations) == 68  # every regression with a file and line; the caller sends 50 at a time
    first = annotations[0]
    assert set(first) == {"path", "start_line", "end_line", "annotation_level", "title", "message"}
    assert first["path"] == "evals/support.yaml" and first["start_line"] == first["end_line"] == 4
    assert first["annotation_level"] == ("failure" if result.verdict.verdict == "fail" else "warning")
    assert first["title"] == "Regressed case support-answers-case-000 in suite support-answers"
    assert "contains: pass → fail" in first["message"] and "--- head ---" in first["message"]
    assert all(len(a["title"]) <= 255 and len(a["message"].encode()) <= 64 * 1024 for a in annotations)


def test_annotation_messages_are_capped_and_scrubbed() -> None:
    result = one_suite_review(cases=20, regressions=10, answer_chars=200_000,
                              overrides={0: {"head_text": SECRET * 10_000}})
    annotations = check_output(result, secrets=[SECRET])["annotations"]
    assert all(len(a["message"].encode()) <= 64 * 1024 for a in annotations)
    assert all(SECRET not in a["message"] for a in annotations)


def test_titles_and_status_description_fit_their_limits() -> None:
    long_name = "suite-" + "n" * 400
    result = build_review([SuiteWords(long_name, cases=40, regressions=20)])
    assert len(check_output(result)["title"]) <= 255
    description = status_description(result)
    assert len(description) <= 140 and description.startswith("fail: ")
    assert all(len(a["title"]) <= 255 for a in check_output(result)["annotations"])
