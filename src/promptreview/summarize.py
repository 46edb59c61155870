"""From per-case results to paired evidence, metric summaries and case-level changes.

Used by ``review`` after a run and by ``merge`` after combining shards, so a merged report is
computed exactly like a single-job one: the case is the unit, samples are averaged within a case,
errored answers and metric errors are left out of the pairing (never counted as failures).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from promptreview.judge_quality import unmeasured_reason
from promptreview.length_control import length_control
from promptreview.results import CaseChange, CaseComparison, CaseResult, MetricResult
from promptreview.review_result import AddedCases, MetricSummary, PairwiseSummary
from promptreview.suite import GateSpec
from promptreview.verdict import PairedMetric, SuiteEvidence

PASS_RATE = "pass rate"
PAIRWISE = "which is better"


@dataclass(frozen=True, slots=True)
class CaseValues:
    """Per-case averages of every metric on one side (None where no value could be computed)."""

    metrics: dict[str, float]
    kinds: dict[str, str]
    gates: dict[str, bool]
    passed: float | None  # share of samples where every gated metric that produced a result passed


def case_values(result: CaseResult | None) -> CaseValues | None:
    if result is None:
        return None
    sums: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    gates: dict[str, bool] = {}
    passes: list[float] = []
    for sample in result.samples:
        if not sample.answer.ok:
            continue
        measured = False  # some gated check produced a result for this sample
        all_pass = True
        for m in sample.metrics:
            if m.skipped is not None:
                continue
            kinds[m.metric] = _kind(m)
            gates[m.metric] = m.gate
            if m.error is not None:
                # An errored metric says nothing about the answer: it is left out here, like a
                # skipped one, and the other metrics' results stand. It still shows as an error
                # in its own row, and its own paired evidence has one case fewer.
                continue
            sums.setdefault(m.metric, []).append(_value(m))
            if m.gate and m.kind != "signal":
                measured = True
                if not m.passed:
                    all_pass = False
        if measured:
            passes.append(1.0 if all_pass else 0.0)
    return CaseValues(
        {k: sum(v) / len(v) for k, v in sums.items()},
        kinds,
        gates,
        sum(passes) / len(passes) if passes else None,
    )


def _kind(m: MetricResult) -> str:
    if m.grade is not None:
        return "grade5"
    return m.kind


def _value(m: MetricResult) -> float:
    if m.grade is not None:
        return float(m.grade)
    if m.kind == "binary":
        return 1.0 if m.passed else 0.0
    return float(m.score)


def classify(
    comparison_base: CaseValues | None,
    comparison_head: CaseValues | None,
    pairwise: float | None,
    head_errored: bool,
    base_errored: bool,
) -> tuple[CaseChange, tuple[str, ...]]:
    """Is this case a regression, an improvement, the same, an error, or new?"""
    if comparison_base is None:
        # Head-only (new prompt, one-revision run): errors still count against max_error_rate.
        return ("error" if head_errored else "new"), ()
    if comparison_head is None:
        return "removed", ()
    if head_errored or base_errored:
        return "error", ()
    moved: list[tuple[float, str]] = []
    for name, hv in comparison_head.metrics.items():
        bv = comparison_base.metrics.get(name)
        if bv is None or comparison_head.kinds.get(name) == "signal":
            continue
        scale = 4.0 if comparison_head.kinds.get(name) == "grade5" else 1.0
        delta = (hv - bv) / scale
        if abs(delta) > 1e-9:
            moved.append((delta, name))
    moved.sort()
    bp, hp = comparison_base.passed, comparison_head.passed
    pass_delta = (hp - bp) if hp is not None and bp is not None else 0.0
    score = pass_delta * 2 + (pairwise or 0.0) + sum(d for d, _ in moved) * 0.1
    names = tuple(n for _, n in moved)
    if pass_delta < 0 or (pass_delta == 0 and score < 0 and (pairwise or 0) < 0):
        return "regressed", names
    if pass_delta > 0 or (pass_delta == 0 and score > 0 and (pairwise or 0) > 0):
        return "improved", tuple(reversed(names))
    return "same", names


def summarize(
    suite: str,
    cases: Sequence[CaseComparison],
    gate: GateSpec,
    head_only: bool,
    compare_enabled: bool,
    min_pass_rate_default: float | None = None,
    single_revision: bool = False,
) -> tuple[tuple[MetricSummary, ...], PairwiseSummary, SuiteEvidence]:
    # A must_pass holds on every case, head's added ones too (a promise head makes can only make
    # the review stricter); everything else is decided on the base's cases alone.
    must_fail = _must_pass_failures(cases)
    cases = [c for c in cases if not c.added]
    names: dict[str, tuple[str, bool]] = {}
    b_pass, b_cols = _columns((c.base for c in cases), names)
    h_pass, h_cols = _columns((c.head for c in cases), names)
    summaries: list[MetricSummary] = []
    paired: list[PairedMetric] = []

    # The headline: share of cases where every gated metric passed.
    summaries.append(_summary(PASS_RATE, "binary", True, b_pass, h_pass, head_only))
    paired.append(_paired(PASS_RATE, "binary", True, b_pass, h_pass))
    missing = [None] * len(cases)
    for name, (kind, gated) in names.items():
        b = b_cols.get(name, missing)
        h = h_cols.get(name, missing)
        errors = sum(
            1
            for c in cases
            for side in (c.base, c.head)
            if side
            for s in side.samples
            for m in s.metrics
            if m.metric == name and m.error
        )
        summaries.append(
            _summary(name, kind, gated and kind != "signal", b, h, head_only, errors, _labels(cases, name))
        )
        if kind != "signal" and len([m for m in names.values() if m[0] != "signal"]) > 1:
            # An explanation of the pass rate, not a test of its own: the pass rate is made of
            # these metrics, and testing both would count the same evidence twice (verdict.py).
            paired.append(_paired(name, kind, gated, b, h, primary=False))

    pw = _pairwise_summary(cases)
    if compare_enabled and not head_only:
        outcomes = [c.pairwise_score for c in cases if c.pairwise_score is not None]
        paired.append(
            PairedMetric(
                PAIRWISE, "pairwise", tuple(0.0 for _ in outcomes), tuple(outcomes), gate=True, margin=None,
                unmeasured=pw.unmeasured, explained_by_length=_length_note(pw),
            )
        )
    n_total = len(cases)
    n_errors = sum(1 for c in cases if c.change == "error")
    head_rate = _rate(h_pass)
    evidence = SuiteEvidence(
        suite=suite,
        metrics=tuple(paired) if not head_only else (),
        n_total=n_total,
        n_errors=n_errors,
        must_pass_failures=must_fail,
        head_only=head_only,
        head_pass_rate=head_rate,
        min_pass_rate=gate.min_pass_rate if gate.min_pass_rate is not None else min_pass_rate_default,
        max_error_rate=gate.max_error_rate,
        on_inconclusive=gate.on_inconclusive,
        default_margin=gate.margin,
        single_revision=single_revision,
    )
    return tuple(summaries), pw, evidence


def _columns(
    results: Iterable[CaseResult | None], names: dict[str, tuple[str, bool]]
) -> tuple[list[float | None], dict[str, list[float | None]]]:
    """One side's pass values and per-metric values, a column per metric (None where a case has
    no value), adding each metric's (kind, gated) to ``names`` in the order first seen.

    Why columns: the statistics need only these numbers, and a ``CaseValues`` (three dicts) per
    case and side, all held at once, was over a kilobyte a case at the peak of a large run.
    Values are shared through ``_shared_value``: nearly all are 0.0 or 1.0, and a float object
    per case and metric was the largest part of what summarizing 50,000 cases added to the peak.
    """
    passes: list[float | None] = []
    cols: dict[str, list[float | None]] = {}
    for i, result in enumerate(results):
        vals = case_values(result)
        if vals is None:
            passes.append(None)
        else:
            passes.append(_shared_value(vals.passed))
            for name, kind in vals.kinds.items():
                names.setdefault(name, (kind, vals.gates.get(name, True)))
            for name, value in vals.metrics.items():
                col = cols.get(name)
                if col is None:
                    col = cols[name] = [None] * i
                col.append(_shared_value(value))
        for col in cols.values():
            if len(col) == i:  # this case had no value for that metric
                col.append(None)
    return passes, cols


_SHARED_VALUES: dict[float | None, float | None] = {0.0: 0.0, 1.0: 1.0, None: None}


def _shared_value(value: float | None) -> float | None:
    """The shared object for the common values (0.0, 1.0), the value itself otherwise."""
    return _SHARED_VALUES.get(value, value)


def _must_pass_failures(cases: Sequence[CaseComparison]) -> tuple[str, ...]:
    out = []
    for c in cases:
        if not c.must_pass:
            continue
        hv = case_values(c.head)
        if hv is not None and hv.passed is not None and hv.passed < 1.0:
            out.append(c.case_id)
    return tuple(out)


def added_cases_summary(cases: Sequence[CaseComparison]) -> AddedCases | None:
    """Head's added cases, reported apart from the gated statistics (None when there are none)."""
    added = [c for c in cases if c.added]
    if not added:
        return None
    b_pass = [v.passed if (v := case_values(c.base)) else None for c in added]
    h_pass = [v.passed if (v := case_values(c.head)) else None for c in added]
    pairs = [(b, h) for b, h in zip(b_pass, h_pass, strict=True) if b is not None and h is not None]
    scores = [c.pairwise_score for c in added if c.pairwise_score is not None]
    return AddedCases(
        n=len(added),
        base_pass_rate=sum(b for b, _ in pairs) / len(pairs) if pairs else None,
        head_pass_rate=sum(h for _, h in pairs) / len(pairs) if pairs else None,
        wins=sum(1 for x in scores if x > 0),
        ties=sum(1 for x in scores if x == 0),
        losses=sum(1 for x in scores if x < 0),
        regressed=tuple(c.case_id for c in added if c.change == "regressed"),
        must_pass_failures=tuple(c for c in _must_pass_failures(added)),
    )


def _paired(
    name: str, kind: str, gated: bool, b: list[float | None], h: list[float | None], primary: bool = True
) -> PairedMetric:
    """Per-metric margins stay None: the verdict scales the suite's margin to each metric's units."""
    pairs = [(x, y) for x, y in zip(b, h, strict=True) if x is not None and y is not None]
    return PairedMetric(
        name,
        kind,
        tuple(p[0] for p in pairs),
        tuple(p[1] for p in pairs),  # type: ignore[arg-type]
        gate=gated,
        primary=primary,
    )


def _rate(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _summary(
    name: str,
    kind: str,
    gate: bool,
    b: list[float | None],
    h: list[float | None],
    head_only: bool,
    errors: int = 0,
    labels: dict[str, dict[str, int]] | None = None,
) -> MetricSummary:
    if head_only:
        n = sum(1 for y in h if y is not None)
        rate = _rate(h)
        if kind == "grade5" and rate is not None:
            return MetricSummary(name, kind, gate, n, None, (rate - 1) / 4, None, rate, errors, labels)
        return MetricSummary(name, kind, gate, n, None, rate, errors=errors, label_counts=labels)
    pairs = [(x, y) for x, y in zip(b, h, strict=True) if x is not None and y is not None]
    base_rate = sum(p[0] for p in pairs) / len(pairs) if pairs else None
    head_rate = sum(p[1] for p in pairs) / len(pairs) if pairs else None
    if kind == "grade5":
        return MetricSummary(
            name,
            kind,
            gate,
            len(pairs),
            None if base_rate is None else (base_rate - 1) / 4,
            None if head_rate is None else (head_rate - 1) / 4,
            base_rate,
            head_rate,
            errors,
            labels,
        )
    return MetricSummary(
        name, kind, gate, len(pairs), base_rate, head_rate, errors=errors, label_counts=labels
    )


def _labels(cases: Sequence[CaseComparison], metric: str) -> dict[str, dict[str, int]] | None:
    """Per expected label: how many cases, and how many each side got right (label metrics only)."""
    counts: dict[str, dict[str, int]] = {}
    for c in cases:
        if c.label is None:
            continue
        row = None
        for side_name, side in (("base", c.base), ("head", c.head)):
            results = [m for s in (side.samples if side else ()) for m in s.metrics
                       if m.metric == metric and m.label is not None and m.error is None]
            if not results:
                continue
            row = row or counts.setdefault(c.label, {"base": 0, "head": 0, "total": 0})
            # With several samples, a case counts as right when most of its samples were.
            if sum(m.passed for m in results) * 2 > len(results):
                row[side_name] += 1
        if row is not None:
            row["total"] += 1
    return counts or None


def _pairwise_summary(cases: Sequence[CaseComparison]) -> PairwiseSummary:
    """The judge's tally over the cases: W / T / L from usable verdicts, missing evidence apart,
    order consistency, whether the metric is measured at all, and the length-controlled view."""
    wins = ties = losses = judged = identical = unparseable = errors = inconsistent = missing = 0
    readable = 0
    consistent = 0.0
    outcomes: list[float] = []
    base_lengths: list[int] = []
    head_lengths: list[int] = []
    for c in cases:
        if not c.pairwise:
            continue
        if all(p.identical for p in c.pairwise):
            identical += 1
            ties += 1
            continue
        judged += 1
        errors += sum(1 for p in c.pairwise if p.error is not None)
        unparseable += sum(1 for p in c.pairwise if p.unparseable)
        two_read = [p for p in c.pairwise if not p.identical and p.error is None and not p.unparseable]
        inconsistent += sum(1 for p in two_read if not p.consistent)
        if two_read:
            readable += 1
            consistent += sum(1 for p in two_read if p.consistent) / len(two_read)
        score = c.pairwise_score
        if score is None:
            missing += 1
            continue
        if score > 0:
            wins += 1
        elif score < 0:
            losses += 1
        else:
            ties += 1
        lengths = _answer_lengths(c)
        if lengths is not None:
            outcomes.append(score)
            base_lengths.append(lengths[0])
            head_lengths.append(lengths[1])
    consistency = consistent / readable if readable else None
    unmeasured = unmeasured_reason(identical + judged, readable, consistency, unparseable, inconsistent,
                                   errors, missing)
    lc = length_control(outcomes, base_lengths, head_lengths)
    return PairwiseSummary(
        wins, ties, losses, judged, identical, consistency, unparseable, errors,
        inconsistent=inconsistent,
        missing=missing,
        unmeasured=unmeasured,
        lc_net=lc.lc_net if lc else None,
        lc_lower=lc.lc_lower if lc else None,
        lc_upper=lc.lc_upper if lc else None,
        length_slope=lc.slope if lc else None,
        longer_share=lc.longer_share if lc else None,
        length_explained=bool(lc and lc.explains_preference),
    )


def _answer_lengths(c: CaseComparison) -> tuple[int, int] | None:
    """Mean answer length (characters) on each side over the case's judged samples."""
    if c.base is None or c.head is None:
        return None
    b = [len(s.answer.text or "") for s in c.base.samples if s.answer.ok]
    h = [len(s.answer.text or "") for s in c.head.samples if s.answer.ok]
    if not b or not h:
        return None
    return round(sum(b) / len(b)), round(sum(h) / len(h))


def _length_note(pw: PairwiseSummary) -> str | None:
    """The verdict's sentence when answer length accounts for the judge's preference."""
    if not pw.length_explained or pw.lc_net is None or pw.lc_lower is None or pw.lc_upper is None:
        return None
    share = f"{(pw.longer_share or 0) * 100:.0f}%"
    return (f"length-controlled net benefit {_pts(pw.lc_net)} (95% interval {_pts(pw.lc_lower)} to "
            f"{_pts(pw.lc_upper)}); the judge favoured the longer answer in {share} of decisive cases")


def _pts(value: float) -> str:
    sign = "-" if value < 0 and round(abs(value) * 100) else "+"
    return f"{sign}{abs(value) * 100:.0f} pts"
