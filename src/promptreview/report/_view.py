"""What a reader sees, computed once: rows, case cards, notes and numbers for every output format.

The Markdown comment, the terminal text and the check run all tell the same story, so the
decisions about *what* to show (which metric a suite row stands for, which cases come first, how an
error reads) live here, and the templates only decide *how* it looks.

Strings built by promptreview from numbers are :class:`~markupsafe.Markup` (nothing to escape);
anything that carries untrusted text (names, ids, answers, reasons) stays a plain ``str``, which
the templates' ``finalize`` escapes for their format. That way forgetting a filter is safe.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from promptreview.judge_quality import CONSISTENCY_WARNING
from promptreview.models.pricing import CONSERVATIVE_PRICE
from promptreview.models.types import CallStats
from promptreview.report.data_notes import data_notes
from promptreview.results import CaseComparison, CaseResult, MetricResult
from promptreview.review_result import MetricSummary, ReviewResult, SuiteResult
from promptreview.stats import MIN_CASES
from promptreview.summarize import PAIRWISE, PASS_RATE
from promptreview.verdict import MetricVerdict

VERDICT_EMOJI = {"pass": "✅", "fail": "❌", "inconclusive": "🟡", "error": "🛑"}
MINUS = "−"
NO_VALUE = Markup("—")
EMPTY = Markup("")

# How an error kind reads after "N answers ..." (see models.types.ErrorKind).
ERROR_PHRASES = {
    "rate_limit": "hit rate limits (429)",
    "quota": "ran out of quota",
    "auth": "were refused (authentication)",
    "timeout": "timed out",
    "deadline": "were stopped by the review's deadline",
    "server": "got server errors (5xx)",
    "invalid_response": "came back unreadable",
    "length": "hit the output length limit",
    "content_filter": "were blocked by the provider's content filter",
    "connection": "could not connect",
    "bad_request": "were rejected as bad requests (400)",
    "budget": "were not sent: the review's cost budget ran out",
    "cancelled": "were cancelled",
    "render": "could not render the prompt",
}


def error_phrase(kind: str, n: int) -> str:
    """The phrase for ``n`` errors of ``kind``, agreeing in number ("1 answer was stopped...")."""
    phrase = ERROR_PHRASES.get(kind, f"failed ({kind})")
    return "was " + phrase[5:] if n == 1 and phrase.startswith("were ") else phrase


def ours(text: str) -> Markup:
    """Mark text that promptreview wrote from its own numbers and words as needing no escaping."""
    return Markup(text)


# --- numbers ------------------------------------------------------------------------------------


def percent(rate: float | None) -> Markup:
    if rate is None or not math.isfinite(rate):
        return ours("—")
    return ours(f"{rate * 100:.0f}%")


UNITS = {"binary": " pts", "pairwise": " pts", "grade5": " of 5", "graded": ""}


def signed(value: float, kind: str, unit: bool = True) -> str:
    """A signed effect in the metric's unit: points of a rate (``+60 pts``), grade points on the
    1-5 scale (``−0.60 of 5``) or a 0-1 score (``−0.50``, the same scale its values are shown in)."""
    if math.isinf(value):
        return f"{MINUS if value < 0 else '+'}∞"
    if math.isnan(value):
        return "?"
    if kind in ("grade5", "graded"):
        text = f"{abs(value):.2f}"
    else:
        points = abs(value) * 100
        text = f"{points:.0f}" if points >= 9.95 or points == 0 else f"{points:.1f}".removesuffix(".0")
    suffix = UNITS.get(kind, " pts") if unit else ""
    sign = MINUS if value < 0 and text.strip("0.") else ("+" if text.strip("0.") else "")
    return f"{sign}{text}{suffix}"


def effect(verdict: MetricVerdict | None) -> Markup:
    """``−12 pts [−20, −4]``: the estimate with its one-sided 95% lower and upper bounds."""
    if verdict is None:
        return ours("—")
    b = verdict.bound
    est = signed(b.estimate, verdict.kind)
    return ours(f"{est} [{signed(b.lower, verdict.kind, False)}, {signed(b.upper, verdict.kind, False)}]")


def bounds(verdict: MetricVerdict) -> Markup:
    """``[−20, −4]``: the one-sided 95% lower and upper bounds, in the estimate's unit."""
    b = verdict.bound
    return ours(f"[{signed(b.lower, verdict.kind, False)}, {signed(b.upper, verdict.kind, False)}]")


def magnitude(value: float, kind: str) -> str:
    return signed(value, kind).lstrip("+" + MINUS)


def money(usd: float, priced: bool) -> Markup:
    """Dollars; a partial sum (some model without a price) reads as a lower bound."""
    amount = "$0" if usd == 0 else f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"
    if not priced:
        return ours(f"≥ {amount}" if usd > 0 else "unknown")
    return ours(amount)


def count(n: int) -> Markup:
    return ours(f"{n:,}")


def duration(seconds: float) -> Markup:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return ours(f"{seconds:.1f} s")
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return ours(f"{minutes}m {secs:02d}s")
    hours, minutes = divmod(minutes, 60)
    return ours(f"{hours}h {minutes:02d}m")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# --- suites -------------------------------------------------------------------------------------

SHORT_NAME = 40  # characters: a suite column that leaves the rest of an 880 px row readable
_PROMPT_SUFFIXES = (".prompt.yml", ".prompt.yaml")


def short_names(names: Sequence[str], limit: int = SHORT_NAME) -> dict[str, str]:
    """A short name per suite that is still unique among ``names`` (the table's suite column).

    GitHub Models suites are named by their file path (``prompts/support/triage.prompt.yml``);
    the table shows the file's stem (``triage``) and adds parent folders only where two stems
    collide. A name still longer than ``limit`` keeps the start of its stem (and the middle of a
    long folder name goes), and any clash left falls back to the full name. The full name stays
    in each suite's section.
    """
    def candidate(name: str, depth: int) -> str:
        if not name.endswith(_PROMPT_SUFFIXES):
            return name
        parts = name.removesuffix(next(x for x in _PROMPT_SUFFIXES if name.endswith(x))).split("/")
        return "/".join(parts[-depth:])

    def middle(text: str, room: int) -> str:
        if len(text) <= room:
            return text
        keep = max(2, room - 1)
        return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2:]

    def start(text: str, room: int) -> str:
        return text if len(text) <= room else text[: max(1, room - 1)] + "…"

    def clipped(name: str, cut: Callable[[str, int], str]) -> str:
        if len(name) <= limit or "/" not in name:
            return cut(name, limit)
        first, *rest = name.split("/")  # the folder that tells them apart, and the stem
        head = middle(first, limit // 2) + ("/…/" if len(rest) > 1 else "/")
        return head + cut(rest[-1], limit - len(head))

    unique = list(dict.fromkeys(names))
    depth = dict.fromkeys(unique, 1)
    for _ in range(8):
        shown = {n: candidate(n, depth[n]) for n in unique}
        clashes = {n for n in unique if sum(1 for m in unique if shown[m] == shown[n]) > 1}
        if not clashes:
            break
        for n in clashes:
            depth[n] += 1
    out = {n: clipped(candidate(n, depth[n]), start) for n in unique}
    # Names that differ only near their end (``...-suggest-labels``, ``...-suggest-owners``) clash
    # when cut at the end: cut those in the middle, which keeps both ends.
    for n in [n for n in unique if sum(1 for m in unique if out[m] == out[n]) > 1]:
        out[n] = clipped(candidate(n, depth[n]), middle)
    return {n: (n if sum(1 for m in unique if out[m] == out[n]) > 1 else out[n]) for n in unique}



@dataclass(frozen=True)
class MetricRow:
    name: str
    gated: bool
    base: Markup
    head: Markup
    effect: Markup
    status: str
    margin: Markup = NO_VALUE


STATUS_WORDS = {
    "better": "better",
    "same": "within margin",
    "worse": "significantly worse",
    "unclear": "can't tell yet",
}


EXPLANATION_WORDS = {"better": "higher", "same": "within margin", "worse": "lower", "unclear": "can't tell"}


def status_words(v: MetricVerdict) -> str:
    """The status in words, with the adjusted p-value where it decided "worse".

    An explanation (a single metric the pass rate is made of) says so: its bounds and p-value are
    unadjusted and it decides nothing, so it never reads "significantly worse" beside a pass."""
    if not getattr(v, "primary", True):
        words = EXPLANATION_WORDS.get(v.status, v.status)
        if v.status == "worse":
            words += f", p = {v.adjusted_p:.2g}"
        return f"{words} (unadjusted; explains the pass rate, does not decide)"
    words = STATUS_WORDS.get(v.status, v.status)
    if v.status == "worse":
        words += f" (p = {v.adjusted_p:.2g}{', adjusted' if v.gated else ''})"
    return words


@dataclass(frozen=True)
class LabelRow:
    """One expected label of a classification suite: its cases and each side's correct share."""

    metric: str
    label: str
    total: int
    base: Markup
    head: Markup


def label_rows(suite: SuiteResult) -> tuple[LabelRow, ...]:
    rows = []
    for m in suite.metrics:
        for label, c in sorted((m.label_counts or {}).items()):
            total = c.get("total", 0)
            paired = suite.status not in ("added", "single")
            base = percent(c["base"] / total) if total and paired else ours("—")
            head = percent(c["head"] / total) if total else ours("—")
            rows.append(LabelRow(m.name, label, total, base, head))
    return tuple(rows)


@dataclass(frozen=True)
class SuiteRow:
    """One line of the suite table; every field is safe except ``name``, ``short`` and
    ``deciding``. ``deciding`` names the metric that decided the verdict (the one that failed, or
    holds an inconclusive suite back, or the tightest of a passing one), ``decided`` its change."""

    name: str
    short: str
    status: str  # modified | added | removed | unchanged
    verdict: str
    emoji: str
    cases: Markup
    base: Markup
    head: Markup
    effect: Markup
    better: Markup
    deciding: str | None = None
    decided: Markup = EMPTY
    decided_estimate: Markup = EMPTY


def suite_row(suite: SuiteResult, short: str | None = None) -> SuiteRow:
    verdict = suite.verdict.verdict if suite.verdict else "error"
    headline = _headline_summary(suite.metrics)
    errors = sum(1 for c in suite.cases if c.change == "error")
    cases = f"{suite.cases_total:,}" + (f" ({errors:,} err)" if errors else "")
    deciding = deciding_verdict(suite)
    decided, decided_estimate = _decided(deciding)
    return SuiteRow(
        name=suite.name,
        short=short or suite.name,
        status=suite.status,
        verdict=verdict,
        emoji=VERDICT_EMOJI.get(verdict, "❔"),
        cases=ours(cases if suite.status != "removed" else "—"),
        base=_rate(headline, "base"),
        head=_rate(headline, "head"),
        effect=effect(headline_verdict(suite)),
        better=_wins_ties_losses(suite),
        deciding=deciding.name if deciding else None,
        decided=decided,
        decided_estimate=decided_estimate,
    )


def _decided(deciding: MetricVerdict | None) -> tuple[Markup, Markup]:
    """The Decided-by cell's bounds and estimate; a metric no case measured has neither (its
    [−4.00, +4.00] would read as a measurement), one measured by too few cases says how few."""
    if deciding is None:
        return EMPTY, EMPTY
    n = deciding.bound.n
    if n == 0:
        return ours("not measured"), EMPTY
    estimate = ours(signed(deciding.bound.estimate, deciding.kind))
    if n < MIN_CASES:
        return ours(f"{bounds(deciding)}, only {plural(n, 'case')}"), estimate
    return bounds(deciding), estimate


def deciding_verdict(suite: SuiteResult) -> MetricVerdict | None:
    """The metric the verdict turned on, as the verdict stage named it (None when no metric did:
    errors, must-pass cases, floors, new or removed prompts)."""
    v = suite.verdict
    name = getattr(v, "deciding", None) if v else None
    return next((m for m in v.metrics if m.name == name), None) if v and name else None


def _headline_summary(metrics: Sequence[MetricSummary]) -> MetricSummary | None:
    return next((m for m in metrics if m.name == PASS_RATE), metrics[0] if metrics else None)


def headline_verdict(suite: SuiteResult) -> MetricVerdict | None:
    """The metric a suite's row stands for: its pass rate, else its first gated non-pairwise metric."""
    metrics = suite.verdict.metrics if suite.verdict else ()
    return next((m for m in metrics if m.name == PASS_RATE), None) or next(
        (m for m in metrics if m.gated and m.kind != "pairwise"), None
    )


def _rate(summary: MetricSummary | None, side: str) -> Markup:
    if summary is None:
        return ours("—")
    return percent(summary.base_rate if side == "base" else summary.head_rate)


def _wins_ties_losses(suite: SuiteResult) -> Markup:
    p = suite.pairwise
    if p.wins + p.ties + p.losses == 0:
        return ours("—")
    return ours(f"{p.wins:,} / {p.ties:,} / {p.losses:,}")


def metric_rows(suite: SuiteResult) -> tuple[MetricRow, ...]:
    """Every metric of a suite with its bound and status (pairwise last, as the table's W/T/L says).

    A suite with one gated metric tests only its pass rate (they are the same numbers), so that
    metric's row shows the pass rate's change and status rather than dashes.
    """
    verdicts = {m.name: m for m in suite.verdict.metrics} if suite.verdict else {}
    rows = []
    for m in suite.metrics:
        v = verdicts.get(m.name)
        if m.gate and m.n == 0 and m.base_rate is None and m.head_rate is None:
            rows.append(_unmeasured_row(m, v))
            continue
        status = status_words(v) if v else ("reported" if not m.gate else "—")
        if v is None and m.gate and m.name != PASS_RATE and PASS_RATE in verdicts:
            v = verdicts[PASS_RATE]
            status = f"{status_words(v)}: same cases as the pass rate"
        rows.append(MetricRow(
            name=m.name,
            gated=m.gate,
            base=_summary_value(m, "base"),
            head=_summary_value(m, "head"),
            effect=effect(v) if v and v.kind == _display_kind(m) else ours("—"),
            status=status,
            margin=_margin(v) if v and v.deciding else ours("—"),
        ))
    if PAIRWISE in verdicts:
        v = verdicts[PAIRWISE]
        rows.append(MetricRow(PAIRWISE, v.gated, ours(""), _wins_ties_losses(suite), effect(v),
                              status_words(v), _margin(v) if v.gated else ours("—")))
    return tuple(rows)


def _unmeasured_row(m: MetricSummary, v: MetricVerdict | None) -> MetricRow:
    """A gated metric with no value on any case (every call errored, or it never applied): it
    says so in words instead of "— → —" beside a bound computed from nothing."""
    errors = f" ({plural(m.errors, 'metric error')})" if m.errors else ""
    return MetricRow(
        name=m.name, gated=True, base=EMPTY, head=ours("not measured"), effect=NO_VALUE,
        status=f"can't tell yet: no case has a result on both versions{errors}",
        margin=_margin(v) if v and v.gated else NO_VALUE,
    )


def _margin(v: MetricVerdict) -> Markup:
    return ours(f"{MINUS}{magnitude(v.margin, v.kind)}")


def _display_kind(m: MetricSummary) -> str:
    return "binary" if m.name == PASS_RATE else m.kind


def summary_value(m: MetricSummary, side: str) -> Markup:
    """One side's value of a metric, in its unit (``60%``, ``4.30 of 5``, ``0.50``)."""
    return _summary_value(m, side)


def _summary_value(m: MetricSummary, side: str) -> Markup:
    grade = m.base_mean_grade if side == "base" else m.head_mean_grade
    rate = m.base_rate if side == "base" else m.head_rate
    if m.kind == "grade5" and grade is None and rate is not None and rate > 1:
        grade = rate  # head-only suites carry the mean grade itself in the rate field
    if m.kind == "grade5" and grade is not None:
        return ours(f"{grade:.2f} of 5")
    if m.kind in ("graded", "signal") and rate is not None:
        return ours(f"{rate:.2f}")
    return percent(rate)


# --- notes --------------------------------------------------------------------------------------


def suite_notes(suite: SuiteResult) -> tuple[str, ...]:
    """Plain sentences for one suite: what changed, what went wrong, what would settle it.

    These may embed untrusted names in backticks, so they go through the prose filter.
    """
    notes: list[str] = [f"🛑 {fault}" for fault in suite.head_faults]
    notes += _status_notes(suite)
    notes += _case_change_sentences(suite)
    notes += list(suite.notes)
    if suite.definition_changes and not any("definition" in n for n in suite.notes):
        changed = "; ".join(suite.definition_changes)
        notes.append(f"this change edits the suite's definition ({changed}); the base revision's was used")
    notes += judge_notes(suite)
    notes += data_notes(suite)
    notes += error_notes(suite)
    notes += inconclusive_notes(suite)
    return tuple(_capitalise(n) for n in notes)


def case_change_notes(result: ReviewResult) -> tuple[str, ...]:
    """Headline sentences: the base cases a PR edited, removed or renamed, and the cases it added.

    They sit next to the verdict, not in collapsed details: a reviewer must see that the PR
    touched the cases that judge it (and that base's versions were used anyway).
    """
    notes: list[str] = []
    short = short_names([s.name for s in result.suites])
    for s in result.suites:
        notes += [f"`{short[s.name]}`: {n}" for n in _case_change_sentences(s)]
    return tuple(notes)


def _case_change_sentences(suite: SuiteResult) -> list[str]:
    ch = suite.case_changes
    out: list[str] = []
    parts = []
    if ch.edited:
        parts.append(f"edits {plural(len(ch.edited), 'base case')} ({_ids(ch.edited)})")
    if ch.removed:
        parts.append(f"removes {len(ch.removed)} ({_ids(ch.removed)})")
    if ch.renamed:
        shown = ", ".join(f"`{a}` → `{b}`" for a, b in ch.renamed[:5])
        more = f" and {len(ch.renamed) - 5} more" if len(ch.renamed) > 5 else ""
        parts.append(f"renames {len(ch.renamed)} ({shown}{more})")
    if parts:
        joined = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        out.append(f"this change {joined}; every base case still ran on both versions as the base "
                   "defines it (vars, expected, `must_pass`), so these edits do not decide the verdict.")
    a = suite.added_cases
    if a is not None:
        text = (f"{plural(a.n, 'case')} added by this change ran as extra evidence, reported apart and "
                "not pooled with the base's cases in the gated statistics: pass rate "
                f"{percent(a.base_pass_rate)} on base, {percent(a.head_pass_rate)} on head")
        if a.wins or a.ties or a.losses:
            text += f"; judge W / T / L {a.wins} / {a.ties} / {a.losses}"
        if a.regressed:
            text += f"; regressed: {_ids(a.regressed)}"
        if a.must_pass_failures:
            text += f"; must-pass on head, failing (this fails the suite): {_ids(a.must_pass_failures)}"
        out.append(text + ".")
    return out


def _ids(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f"`{i}`" for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _status_notes(suite: SuiteResult) -> list[str]:
    if suite.head_faults and not suite.cases:
        return []  # the fault says why nothing ran at head
    if suite.status == "added":
        return [f"New prompt `{suite.head_prompt or suite.name}`: evaluated on head only, with nothing to "
                "compare against; only the suite's `min_pass_rate` floor can gate it."]
    if suite.status == "single":
        return []
    if suite.status == "removed":
        return [f"Removed prompt `{suite.base_prompt or suite.name}`: it exists only in base, so nothing "
                "was evaluated."]
    return []


def judge_notes(suite: SuiteResult) -> list[str]:
    p = suite.pairwise
    notes = []
    if p.consistency is not None and p.judged and p.consistency < CONSISTENCY_WARNING:
        notes.append(
            f"⚠️ The judge gave the same answer in both orders for only {p.consistency * 100:.0f}% of "
            f"{plural(p.judged, 'judged case')} (below {CONSISTENCY_WARNING * 100:.0f}%): "
            "read which-is-better with care."
        )
    if p.unmeasured:
        notes.append(f"⚠️ Which-is-better is unmeasured: {p.unmeasured}. It cannot let the suite pass.")
    if p.unparseable:
        notes.append(f"{plural(p.unparseable, 'judge verdict')} could not be read after a retry: missing "
                     "evidence, left out of W / T / L (never counted as ties).")
    if p.inconsistent:
        notes.append(f"{plural(p.inconsistent, 'judged answer pair')} got opposite verdicts in the two "
                     "orders: missing evidence, left out of W / T / L (never counted as ties).")
    if p.errors:
        notes.append(f"{plural(p.errors, 'judge verdict')} could not be obtained (the judge call failed); "
                     "left out of W / T / L.")
    notes += length_notes(suite)
    return notes


def length_notes(suite: SuiteResult) -> list[str]:
    """The length-controlled view, on every run where the judge decided enough cases."""
    p = suite.pairwise
    if p.lc_net is None or p.lc_lower is None or p.lc_upper is None:
        return []
    raw = (p.wins - p.losses) / max(1, p.wins + p.ties + p.losses)
    text = (f"Length-controlled which-is-better: net benefit {signed(p.lc_net, 'binary')} (95% interval "
            f"{signed(p.lc_lower, 'binary')} to {signed(p.lc_upper, 'binary')}) against "
            f"{signed(raw, 'binary')} raw")
    if p.length_explained:
        share = f"{(p.longer_share or 0) * 100:.0f}%"
        return [f"📏 {text}. Answer length explains the judge's preference (it favoured the longer answer "
                f"in {share} of decisive cases), so that preference alone does not fail the suite."]
    return [text + "."]


def error_notes(suite: SuiteResult) -> list[str]:
    """``12 answers hit rate limits (429) on head — not counted against the prompt.``"""
    if suite.error:
        return [] if suite.head_faults else [f"🛑 The suite could not run: {suite.error}"]
    return [
        f"{plural(n, 'answer')} {error_phrase(kind, n)}"
        + (f" on {side}" if side else "")
        + (" — the pull request's doing, so it fails the suite (see above)."
           if suite.head_faults and side == "head" and kind == "render"
           else " — not counted against the prompt.")
        for (side, kind), n in _errors_by_side(suite).items()
    ]


def _errors_by_side(suite: SuiteResult) -> dict[tuple[str, str], int]:
    """``errors_by_kind`` keys are ``side:kind`` (or a bare kind); sorted worst first."""
    out: dict[tuple[str, str], int] = {}
    for key, n in suite.errors_by_kind.items():
        side, _, kind = key.rpartition(":")
        out[(side, kind)] = out.get((side, kind), 0) + n
    return dict(sorted(out.items(), key=lambda item: (-item[1], item[0])))


def inconclusive_notes(suite: SuiteResult) -> list[str]:
    """What would settle an inconclusive suite: the margin it can certify now, and the cases needed."""
    v = suite.verdict
    if v is None or v.verdict != "inconclusive" or v.certifiable_margin is None:
        return []
    # The margin and the count are the verdict's, for the metric it turned on: say them in that
    # metric's unit and with its number of cases. Under MIN_CASES neither means anything (the
    # reason already says to add cases that exercise the metric).
    binding = deciding_verdict(suite)
    if binding is None or binding.bound.n < MIN_CASES:
        return []
    kind = binding.kind
    # A 0-1 score's difference has no unit of its own; say which scale it is on.
    scale = " (on its 0-1 scale)" if kind == "graded" else ""
    text = (f"💡 This run could certify a margin of {magnitude(v.certifiable_margin, kind)}{scale} on "
            f"{'the pass rate' if binding.name == PASS_RATE else f'`{binding.name}`'}")
    if not v.cases_needed:
        return [text + "."]
    gate = magnitude(binding.margin, kind)
    return [text + f"; about {v.cases_needed:,} cases would certify the gate's {gate} "
            f"(this run had {binding.bound.n:,}). Add cases to the suite, or `/rerun` to sample again."]


def usage_notes(result: ReviewResult) -> tuple[str, ...]:
    notes = []
    u = result.usage
    for side, stats in (("base", u.base), ("head", u.head), ("judge", u.judge)):
        for kind, n in sorted(stats.errors_by_kind.items(), key=lambda kv: -kv[1]):
            who = "judge calls" if side == "judge" else f"calls on {side}"
            notes.append(f"{n:,} {who} {error_phrase(kind, n)}.")
    unpriced = sum(s.unpriced for s in (u.base, u.head, u.judge))
    if unpriced or not u.priced:
        counted = sum(s.unpriced_usd for s in (u.base, u.head, u.judge))
        price = CONSERVATIVE_PRICE
        notes.append(f"Costs are incomplete: {plural(unpriced, 'call')} used a model with no price in the "
                     "price table (add it under `defaults.prices`); against `max-cost` they counted at a "
                     f"conservative ${price.input_per_m:g} / ${price.output_per_m:g} per 1M input / output "
                     f"tokens, about {money(counted, True)}.")
    saved = sum(s.cost_saved_usd for s in (u.base, u.head, u.judge))
    if saved > 0:
        notes.append(f"The cache saved about {money(saved, True)}.")
    return tuple(notes)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text[:1].islower() else text


# --- cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricChange:
    name: str
    base: Markup
    head: Markup
    reason: str  # the head side's reason (untrusted: may quote the answer)


@dataclass(frozen=True)
class CaseCard:
    """One regressed or improved case, ready to show side by side."""

    suite: str
    case_id: str
    change: str
    location: str | None  # "file:line" (untrusted)
    link: str | None
    must_pass: bool
    outcome: Markup  # what the pairwise judge said
    judge_reason: str
    metrics: tuple[MetricChange, ...]
    base_answer: str | None
    head_answer: str | None
    sample_note: Markup
    paired: bool = True  # the suite has a base version (show base's answer, or that it had none)


def ordered_cases(suite: SuiteResult) -> tuple[tuple[CaseComparison, ...], tuple[CaseComparison, ...]]:
    """Regressions worst first, then improvements best first; must-pass cases lead their group."""
    regressed = [c for c in suite.cases if c.change == "regressed"]
    improved = [c for c in suite.cases if c.change == "improved"]
    if suite.status in ("added", "single"):  # no base: what matters is what fails on head
        regressed = [c for c in suite.cases if c.change == "new" and _head_failed(c)]
    regressed.sort(key=lambda c: (not c.must_pass, c.pairwise_score or 0.0, -len(c.changed_metrics)))
    improved.sort(key=lambda c: (-(c.pairwise_score or 0.0), -len(c.changed_metrics)))
    return tuple(regressed), tuple(improved)


def _head_failed(case: CaseComparison) -> bool:
    samples = case.head.samples if case.head else ()
    return any(_counts_as_failure(m) for s in samples for m in s.metrics)


def _counts_as_failure(m: MetricResult) -> bool:
    """A gated check that ran and failed (errors and skipped metrics say nothing about the prompt)."""
    return m.gate and m.kind != "signal" and not m.passed and m.error is None and m.skipped is None


def _judge_reason(case: CaseComparison) -> str:
    """The judge's own words, with which side its neutral labels stood for in that order."""
    for p in case.pairwise:
        for j in p.judgements:
            if j.reason:
                sides = "A = base, B = head" if j.order == "base-first" else "A = head, B = base"
                return f"({sides}) {j.reason}"
    return ""


def case_card(result: ReviewResult, suite: SuiteResult, case: CaseComparison) -> CaseCard:
    base_text, base_samples = _first_answer(case.base)
    head_text, head_samples = _first_answer(case.head)
    samples = max(base_samples, head_samples)
    head_only = suite.status in ("added", "single")
    names = case.changed_metrics or (_failed_metrics(case.head) if head_only else ())
    return CaseCard(
        suite=suite.name,
        case_id=case.case_id,
        change=case.change,
        location=f"{case.file}:{case.line}" if case.file and case.line else case.file,
        link=_case_link(result, case),
        must_pass=case.must_pass,
        outcome=_outcome(case),
        judge_reason=_judge_reason(case),
        metrics=tuple(_metric_change(name, case) for name in names),
        base_answer=base_text,
        head_answer=head_text,
        sample_note=ours(f"sample 1 of {samples}" if samples > 1 else ""),
        paired=not head_only,
    )


def _first_answer(side: CaseResult | None) -> tuple[str | None, int]:
    if side is None or not side.samples:
        return None, 0
    ok = next((s.answer for s in side.samples if s.answer.ok), None)
    if ok is not None:
        return ok.text, len(side.samples)
    answer = side.samples[0].answer
    kind = answer.error_kind or (answer.completion.error_kind if answer.completion else None) or "error"
    message = answer.error or (answer.completion.error if answer.completion else None) or "no answer"
    return f"[{kind}] {message}", len(side.samples)


def _failed_metrics(side: CaseResult | None) -> tuple[str, ...]:
    names = [m.metric for s in (side.samples if side else ()) for m in s.metrics if _counts_as_failure(m)]
    return tuple(dict.fromkeys(names))


def _outcome(case: CaseComparison) -> Markup:
    score = case.pairwise_score
    if score is None:
        return ours("")
    if all(p.identical for p in case.pairwise):
        return ours("identical answers")
    return ours("judge: head better" if score > 0 else "judge: base better" if score < 0 else "judge: tie")


def _metric_change(name: str, case: CaseComparison) -> MetricChange:
    base = _metric_results(case.base, name)
    head = _metric_results(case.head, name)
    reason = next((m.reason for m in head if m.reason), "") or next((m.reason for m in base if m.reason), "")
    return MetricChange(name, _metric_value(base), _metric_value(head), reason)


def _metric_results(side: CaseResult | None, name: str) -> list[MetricResult]:
    samples = side.samples if side else ()
    return [m for s in samples for m in s.metrics
            if m.metric == name and m.error is None and m.skipped is None]


def _metric_value(results: Sequence[MetricResult]) -> Markup:
    if not results:
        return ours("—")
    first = results[0]
    if first.grade is not None:
        grades = [m.grade for m in results if m.grade is not None]
        return ours(f"{sum(grades) / len(grades):.1f}/5")
    if first.kind == "binary":
        passed = sum(1 for m in results if m.passed)
        if len(results) == 1:
            return ours("pass" if passed else "fail")
        return ours(f"{passed}/{len(results)} pass")
    return ours(f"{sum(m.score for m in results) / len(results):.2f}")


def _case_link(result: ReviewResult, case: CaseComparison) -> str | None:
    """A link to the case's line in the cases file at the revision it was read from."""
    sha = result.head_sha if case.head is not None else result.base_sha
    if not (case.file and result.repo and sha):
        return None
    anchor = f"#L{case.line}" if case.line else ""
    return f"{web_root(result)}/{result.repo}/blob/{sha}/{quote(case.file.lstrip('/'))}{anchor}"


def web_root(result: ReviewResult) -> str:
    """The GitHub web host (github.com or an Enterprise server), read from the run or diff link."""
    for url in (result.run_url, result.diff_url):
        if url:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
    return "https://github.com"


# --- changes and usage --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeLine:
    path: str
    old_path: str | None
    status: str
    is_prompt: bool


def change_lines(result: ReviewResult) -> tuple[ChangeLine, ...]:
    """Changed files, prompt files first (they are what the review is about)."""
    prompts = {p for s in result.suites for p in (s.base_prompt, s.head_prompt) if p}
    lines = [
        ChangeLine(c.path, c.old_path, c.status, c.path in prompts or (c.old_path or "") in prompts)
        for c in result.changes
    ]
    return tuple(sorted(lines, key=lambda c: not c.is_prompt))


@dataclass(frozen=True)
class UsageRow:
    who: str
    calls: Markup
    cache_hits: Markup
    errors: Markup
    tokens: Markup
    cost: Markup
    latency: Markup


def usage_rows(result: ReviewResult) -> tuple[UsageRow, ...]:
    u = result.usage
    return tuple(_usage_row(who, stats, u.priced) for who, stats in (("Base", u.base), ("Head", u.head),
                                                                        ("Judge", u.judge)))


def _usage_row(who: str, s: CallStats, priced: bool) -> UsageRow:
    avg = s.latency_s / max(1, s.calls - s.cache_hits)
    return UsageRow(
        who=who,
        calls=count(s.calls),
        cache_hits=count(s.cache_hits),
        errors=count(s.errors),
        tokens=ours(f"{s.prompt_tokens:,} / {s.completion_tokens:,}"),
        cost=money(s.cost_usd, priced),
        latency=duration(avg) if s.calls > s.cache_hits else ours("—"),
    )


def total_cost(result: ReviewResult) -> Markup:
    u = result.usage
    return money(u.base.cost_usd + u.head.cost_usd + u.judge.cost_usd, u.priced)


def total_calls(result: ReviewResult) -> int:
    u = result.usage
    return u.base.calls + u.head.calls + u.judge.calls


def short_sha(sha: str | None) -> str | None:
    return sha[:7] if sha and re.fullmatch(r"[0-9a-fA-F]{7,64}", sha) else sha

