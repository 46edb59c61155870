"""The verdict stage: paired evidence per suite in, pass / fail / inconclusive out, with reasons.

DESIGN.md section 6. For every gated metric the stage bounds the mean paired effect
(head - base, see :mod:`promptreview.stats`) and then decides each suite:

* **The family of tests.** Each suite has at most two *primary* tests: its pass rate (the share of
  cases where every gated metric passed) and the pairwise judge. Only they decide. The single
  metrics the pass rate is made of are *explanations*: bounded and shown with unadjusted bounds
  and p-values, so a reader sees which check moved, but they neither fail nor hold back a suite.
  Testing them beside the pass rate would count one piece of evidence several times: Holm
  treats the tests as if they were independent, so each extra copy of the same evidence raises
  the bar for all of them (at 100 cases a -20 pts regression was caught 69% of the time with one
  metric and 57% with three equivalent ones, with no gain in false-fail safety; see
  ``tests/test_verdict.py``, which prints the rates). :class:`PairedMetric` ``primary`` marks the
  role; ``summarize`` makes the pass rate and the judge primary.
* **fail**: a case marked ``must_pass`` fails on head; or some primary test is significantly
  worse, judged by Holm-adjusted p-values across the primary tests of *all* suites (one family, so
  a review with many suites is not more likely to fail by chance than a review with one); or
  head's pass rate is below the suite's ``min_pass_rate`` floor. "Significantly worse" is tested at
  :func:`fail_level` = ``(1 - confidence) / 2`` (2.5% one-sided for the default 95%: the upper limit
  of the two-sided 95% interval is below 0). Testing at 5% one-sided would fail about 5% of A/A
  comparisons by construction, which alone breaks DESIGN's "an A/A comparison passes at least 95%
  of the time"; a false fail blocks a harmless merge, a missed one still shows as inconclusive.
* **pass**: every primary test's lower bound is above ``-margin`` (non-inferiority), with at least
  :data:`~promptreview.stats.MIN_CASES` paired cases. This needs no multiplicity adjustment: a
  pass asks *every* test to clear its margin (an intersection-union test), so the lower bounds
  shown are the ones that decide.
* **inconclusive**: anything else, including a suite whose error rate exceeds ``max_error_rate``:
  errors (timeouts, 429s, unparseable output) say nothing about the prompt, so they can make a
  suite inconclusive but never make it fail. The reason says which margin the data could certify
  and roughly how many cases would certify the configured one (:func:`~promptreview.stats.cases_needed`).
* **error**: nothing in the suite could be evaluated (no cases, or every case errored) for a
  reason the pull request cannot cause (timeouts, 429s, outages, auth). Its conclusion is neutral,
  or failure when the suite's ``on_inconclusive`` is ``fail``: a required check that blocks on
  "can't tell" also blocks on "couldn't run".
* **fail**, too, when the head revision breaks its own prompt (``head_faults``: a template that no
  longer renders, a variable no case gives, a prompt the base's config reviews that head cannot
  provide, an unreadable cases file). That is the PR's doing, so it is never an error that a
  neutral check would let through (DESIGN.md section 10).

A suite whose prompt exists only in head has nothing to pair with: it is judged by its absolute
floor (``min_pass_rate``) alone and never fails on statistics.

``on_inconclusive`` maps an inconclusive suite to the check conclusion. The review is "fail" if any
suite fails, else "inconclusive" if any suite is inconclusive or errored, else "pass"; it is
"error" when no suite could be evaluated at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from promptreview.stats import (
    MIN_CASES,
    Bound,
    cases_needed,
    friendly_count,
    holm,
    net_benefit,
    paired_binary,
    paired_graded,
    planned_effect,
)

__all__ = [
    "DEFAULT_MARGINS",
    "Conclusion",
    "MetricKind",
    "MetricStatus",
    "MetricVerdict",
    "PairedMetric",
    "ReviewVerdict",
    "SuiteEvidence",
    "SuiteVerdict",
    "Verdict",
    "decide",
    "fail_level",
]

MetricKind = Literal["binary", "graded", "grade5", "pairwise"]
MetricStatus = Literal["better", "worse", "same", "unclear"]
Verdict = Literal["pass", "fail", "inconclusive", "error"]
Conclusion = Literal["success", "failure", "neutral"]

DEFAULT_MARGINS: dict[MetricKind, float] = {
    "binary": 0.05,  # 5 points of pass rate
    "graded": 0.05,  # 0.05 on a [0, 1] score
    "pairwise": 0.10,  # net benefit: judge outcomes are noisier, ties dilute the effect
    "grade5": 0.25,  # a quarter of a grade on the 1-5 scale
}
_PROPORTIONS = ("binary", "pairwise")  # kinds bounded as paired proportions (Tango), not as means
_GRADE5_RANGE = 4.0  # a 1-5 grade spans 4 points; converts a [0, 1]-scale margin to grade points

_CONCLUSION_OF_INCONCLUSIVE: dict[str, Conclusion] = {
    "neutral": "neutral",
    "fail": "failure",
    "pass": "success",
}


def fail_level(confidence: float) -> float:
    """Family-wise level of the "significantly worse" test: ``(1 - confidence) / 2``.

    That is the two-sided convention ("the 95% interval lies below 0"); see the module docstring
    for why the one-sided ``1 - confidence`` is too lax for a merge gate.
    """
    return (1.0 - confidence) / 2.0


@dataclass(frozen=True)
class PairedMetric:
    """One metric's per-case values on both versions, errored cases already dropped.

    * ``binary``: ``base`` and ``head`` hold pass values in [0, 1] per case (0/1, or the fraction of
      passing samples when each case was sampled k times).
    * ``graded``: scores in [0, 1] per case (sample means when k > 1).
    * ``grade5``: rubric grades on the 1-5 scale per case (sample means when k > 1).
    * ``pairwise``: the judge's outcome per case is encoded in ``head``: +1 head wins, -1 base
      wins, 0 tie (a fraction in [-1, 1] when several samples were judged); ``base`` is unused and
      must be empty (or all zeros, the outcome of "base against itself"). :meth:`pairwise` builds
      one from counts.

    ``margin`` overrides the suite's margin for this metric; ``gate=False`` reports it only.
    ``primary`` says whether the metric is one of the suite's deciding tests (the pass rate and
    the judge, in the review's Holm family) or an explanation of them (a single metric the pass
    rate is made of: bounded and reported, unadjusted, never deciding).
    ``unmeasured`` says why the values measure nothing (a broken or position-biased judge): the
    metric then neither fails nor passes the suite and stays out of the Holm family.
    ``explained_by_length`` says how answer length accounts for a pairwise preference: a
    significant preference for base then does not fail the suite (nor certify it).
    """

    name: str
    kind: MetricKind
    base: tuple[float, ...]
    head: tuple[float, ...]
    gate: bool = True
    margin: float | None = None
    unmeasured: str | None = None
    explained_by_length: str | None = None
    primary: bool = True

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_MARGINS:
            raise ValueError(f"metric {self.name!r}: unknown kind {self.kind!r}")
        if self.kind == "pairwise":
            if any(self.base) or (self.base and len(self.base) != len(self.head)):
                raise ValueError(
                    f"metric {self.name!r}: pairwise outcomes go in head (+1/0/-1); "
                    "base must be empty or zeros"
                )
            if any(not -1.0 <= v <= 1.0 for v in self.head):
                raise ValueError(f"metric {self.name!r}: pairwise outcomes must lie in [-1, 1]")
        elif len(self.base) != len(self.head):
            raise ValueError(
                f"metric {self.name!r}: {len(self.base)} base values but {len(self.head)} head values"
            )
        if self.margin is not None and self.margin <= 0:
            raise ValueError(f"metric {self.name!r}: margin must be positive")

    @classmethod
    def pairwise(
        cls, name: str, wins: int, ties: int, losses: int, *, gate: bool = True, margin: float | None = None
    ) -> PairedMetric:
        """A pairwise metric from the judge's counts (wins and losses are head's)."""
        outcomes = (1.0,) * wins + (0.0,) * ties + (-1.0,) * losses
        return cls(name, "pairwise", (), outcomes, gate=gate, margin=margin)

    @property
    def n(self) -> int:
        """Paired cases behind this metric."""
        return len(self.head)


@dataclass(frozen=True)
class SuiteEvidence:
    """Everything the verdict needs about one suite; gate settings come from the base revision.

    ``n_total`` counts the suite's cases and ``n_errors`` those dropped because a call errored.
    ``must_pass_failures`` lists ids of ``must_pass`` cases that ran on head and failed.
    ``head_only`` marks a new prompt (no base version). ``head_pass_rate`` is head's overall pass
    rate, checked against ``min_pass_rate`` when that floor is set. ``default_margin`` is the
    suite's configured margin on the [0, 1] scale: it applies as-is to binary, graded and pairwise
    metrics and is multiplied by 4 (the width of the 1-5 scale) for ``grade5`` metrics; None
    means the per-kind defaults in :data:`DEFAULT_MARGINS`.
    """

    suite: str
    metrics: tuple[PairedMetric, ...]
    n_total: int
    n_errors: int
    must_pass_failures: tuple[str, ...] = ()
    head_only: bool = False
    head_pass_rate: float | None = None
    min_pass_rate: float | None = None
    max_error_rate: float = 0.2
    on_inconclusive: str = "neutral"
    default_margin: float | None = None
    single_revision: bool = False  # ``promptreview run``: one revision, judged by its floors only
    removed: bool = False  # the prompt exists only in base: nothing to evaluate, nothing to block
    error: str | None = None  # the suite could not run at all (broken file...): say what broke
    # What the head revision broke in its own prompt, in words; any of them fails the suite.
    head_faults: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.n_errors <= self.n_total:
            raise ValueError(f"suite {self.suite!r}: n_errors must be between 0 and n_total")
        if self.on_inconclusive not in _CONCLUSION_OF_INCONCLUSIVE:
            raise ValueError(f"suite {self.suite!r}: on_inconclusive must be neutral, fail or pass")


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's bound and what it means against its margin.

    ``status``: "worse" (p below :func:`fail_level`; Holm-adjusted for primary tests, raw for
    explanations and reported metrics), "better" (lower bound above 0), "same" (lower bound above
    ``-margin``: not worse by more than the margin), "unclear" (none of these, or fewer than
    ``MIN_CASES`` cases). ``adjusted_p`` is Holm-adjusted within the review's family of primary
    tests; for metrics outside that family (explanations, reported-only metrics, head-only or
    error-dominated suites) it is the raw ``p_worse``. ``primary`` is False for explanations: their
    status is unadjusted and decides nothing.
    """

    name: str
    kind: MetricKind
    bound: Bound
    margin: float
    adjusted_p: float
    status: MetricStatus
    gated: bool
    note: str | None = None  # why the metric is "unclear" whatever its bound (unmeasured, length)
    primary: bool = True  # one of the suite's deciding tests (False: an explanation, unadjusted)

    @property
    def deciding(self) -> bool:
        """Whether this metric can decide the suite: gated and primary."""
        return self.gated and self.primary


@dataclass(frozen=True)
class SuiteVerdict:
    """One suite's outcome. ``certifiable_margin`` and ``cases_needed`` describe the metric that
    holds an inconclusive suite back (the smallest margin the data certify, and roughly how many
    cases would certify the configured one); both are None otherwise or when unknown."""

    suite: str
    verdict: Verdict
    conclusion: Conclusion
    reason: str
    metrics: tuple[MetricVerdict, ...]
    certifiable_margin: float | None
    cases_needed: int | None
    deciding: str | None = None  # the metric the verdict turned on (None: errors, must-pass, floors)


@dataclass(frozen=True)
class ReviewVerdict:
    """The whole review: one verdict and check conclusion, one sentence why, and every suite."""

    verdict: Verdict
    conclusion: Conclusion
    reason: str
    suites: tuple[SuiteVerdict, ...]
    family_size: int = 0  # primary tests Holm's adjustment ran over (the report says so)


def decide(suites: Sequence[SuiteEvidence], confidence: float = 0.95) -> ReviewVerdict:
    """Decide every suite and the review, with Holm's adjustment across all primary tests.

    ``confidence`` sets the one-sided bounds compared with the margins (0.95: a 95% lower bound)
    and the family-wise level of the "worse" test, :func:`fail_level` (0.025 for 0.95).
    """
    alpha = fail_level(confidence)
    # A new prompt has nothing to pair with: its metrics are not bounded (nor can they fail it).
    bounds = [[] if s.head_only else [_bound(m, confidence) for m in s.metrics] for s in suites]

    # The family: every primary test (pass rate, judge) of every suite whose results are usable.
    family = [
        (i, j)
        for i, suite in enumerate(suites)
        if _usable(suite)
        for j, metric in enumerate(suite.metrics)
        if metric.gate and metric.primary and metric.n > 0 and metric.unmeasured is None
    ]
    adjusted = dict(zip(family, holm([bounds[i][j].p_worse for i, j in family]), strict=True))
    family_size = len(family)

    verdicts = []
    for i, suite in enumerate(suites):
        metric_verdicts = tuple(
            _metric_verdict(metric, suite, bounds[i][j], adjusted.get((i, j), bounds[i][j].p_worse), alpha)
            for j, metric in enumerate(suite.metrics)
            if not suite.head_only
        )
        verdicts.append(_decide_suite(suite, metric_verdicts, confidence, family_size))
    return replace(_combine(tuple(verdicts)), family_size=family_size)


# --------------------------------------------------------------------------------------------
# Per metric


def _bound(metric: PairedMetric, confidence: float) -> Bound:
    if metric.kind == "binary":
        return paired_binary(metric.base, metric.head, confidence)
    effects = _effects(metric)
    if metric.kind == "pairwise":
        if all(v in (-1.0, 0.0, 1.0) for v in effects):
            wins, losses = effects.count(1.0), effects.count(-1.0)
            return net_benefit(wins, metric.n - wins - losses, losses, confidence)
        # Sample-averaged outcomes: the same paired-proportions problem, split into a "head won"
        # and a "base won" share per case so that head - base is the outcome.
        return paired_binary([max(-v, 0.0) for v in effects], [max(v, 0.0) for v in effects], confidence)
    return _clipped(paired_graded(effects, confidence), _GRADE5_RANGE if metric.kind == "grade5" else 1.0)


def _clipped(bound: Bound, width: float) -> Bound:
    """A mean of paired differences cannot leave [-width, width] (scores in [0, 1], grades 1-5):
    small-n t bounds can, which would only confuse a reader."""
    return replace(bound, lower=max(bound.lower, -width), upper=min(bound.upper, width))


def _effects(metric: PairedMetric) -> list[float]:
    """Per-case paired effects: head - base, or the judge's outcome for the pairwise metric."""
    if metric.kind == "pairwise":
        return list(metric.head)
    return [h - b for b, h in zip(metric.base, metric.head, strict=True)]


def _margin(metric: PairedMetric, suite: SuiteEvidence) -> float:
    if metric.margin is not None:
        return metric.margin
    if suite.default_margin is not None:
        return suite.default_margin * (_GRADE5_RANGE if metric.kind == "grade5" else 1.0)
    return DEFAULT_MARGINS[metric.kind]


def _metric_verdict(
    metric: PairedMetric, suite: SuiteEvidence, bound: Bound, adjusted_p: float, alpha: float
) -> MetricVerdict:
    margin = _margin(metric, suite)
    status: MetricStatus
    if metric.unmeasured is not None:
        return MetricVerdict(metric.name, metric.kind, bound, margin, adjusted_p, "unclear", metric.gate,
                             f"`{metric.name}` is unmeasured: {metric.unmeasured}", metric.primary)
    if adjusted_p < alpha and bound.estimate < 0 and metric.explained_by_length is not None:
        return MetricVerdict(metric.name, metric.kind, bound, margin, adjusted_p, "unclear", metric.gate,
                             f"the judge's preference for base on `{metric.name}` is explained by answer "
                             f"length ({metric.explained_by_length}), and length alone does not fail "
                             "the suite", metric.primary)
    if adjusted_p < alpha:
        status = "worse"
    elif bound.n < MIN_CASES:
        status = "unclear"
    elif bound.lower > 0:
        status = "better"
    elif bound.lower > -margin:
        status = "same"
    else:
        status = "unclear"
    return MetricVerdict(metric.name, metric.kind, bound, margin, adjusted_p, status, metric.gate,
                         primary=metric.primary)


# --------------------------------------------------------------------------------------------
# Per suite


def _error_rate(suite: SuiteEvidence) -> float:
    return suite.n_errors / suite.n_total if suite.n_total else 0.0


def _usable(suite: SuiteEvidence) -> bool:
    """Whether the suite's paired results are tested at all (and so join the Holm family)."""
    return (
        not suite.head_only and suite.n_total > suite.n_errors and _error_rate(suite) <= suite.max_error_rate
    )


def _decide_suite(
    suite: SuiteEvidence, metrics: tuple[MetricVerdict, ...], confidence: float, family_size: int
) -> SuiteVerdict:
    def verdict(
        kind: Verdict,
        reason: str,
        certifiable: float | None = None,
        needed: int | None = None,
        deciding: str | None = None,
    ) -> SuiteVerdict:
        conclusion: Conclusion = {
            "pass": "success",
            "fail": "failure",
            "error": "failure" if suite.on_inconclusive == "fail" else "neutral",
            "inconclusive": _CONCLUSION_OF_INCONCLUSIVE[suite.on_inconclusive],
        }[kind]
        return SuiteVerdict(
            suite.suite, kind, conclusion, _sentence(reason), metrics, certifiable, needed, deciding
        )

    if suite.head_faults:
        return verdict("fail", _head_fault_reason(suite.head_faults))
    if suite.error is not None:
        return verdict("error", f"the suite could not run: {suite.error}")
    if suite.removed:
        return verdict("pass", "the prompt was removed, so there is nothing to evaluate")
    if suite.n_total == 0:
        return verdict("error", "the suite has no cases, so there is nothing to evaluate")
    if suite.n_errors == suite.n_total:
        return verdict(
            "error",
            f"all {suite.n_total} cases errored, so nothing could be evaluated "
            "(errors are not counted against the prompt)",
        )
    if suite.must_pass_failures:
        return verdict("fail", _must_pass_reason(suite.must_pass_failures))
    rate = _error_rate(suite)
    if rate > suite.max_error_rate:
        return verdict(
            "inconclusive",
            f"can't tell: {suite.n_errors} of {suite.n_total} cases errored ({_percent(rate)}, above the "
            f"{_percent(suite.max_error_rate)} limit); errors are not counted against the prompt, so rerun "
            "when the provider recovers",
        )

    floor_reason = _floor_reason(suite)
    if suite.head_only:
        if floor_reason is not None:
            return verdict(*floor_reason)
        what = "one revision" if suite.single_revision else "new prompt, no base to compare"
        if suite.min_pass_rate is not None and suite.head_pass_rate is not None:
            return verdict(
                "pass",
                f"{what}: head's pass rate {_percent(suite.head_pass_rate)} meets "
                f"the {_percent(suite.min_pass_rate)} floor",
            )
        if suite.single_revision and suite.head_pass_rate is not None:
            return verdict(
                "pass",
                f"one revision: head's pass rate is {_percent(suite.head_pass_rate)}, and no "
                "min_pass_rate floor is set (`run` applies only the floors you set)",
            )
        what = "one revision" if suite.single_revision else "new prompt: no base to compare"
        return verdict("pass", f"{what}, and no min_pass_rate floor is set")

    gated = [m for m in metrics if m.deciding]  # explanations never decide
    worse = sorted((m for m in gated if m.status == "worse"), key=lambda m: m.adjusted_p)
    if worse:
        return verdict("fail", _worse_reason(worse, confidence, family_size), deciding=worse[0].name)
    if floor_reason is not None:
        return verdict(*floor_reason)

    blocking = [
        (v, m)
        for v, m in zip(metrics, suite.metrics, strict=True)
        if v.deciding and v.status not in ("better", "same")
    ]
    if not blocking:
        return verdict("pass", _pass_reason(gated, confidence), deciding=_tightest(gated))
    noted = [v for v, _ in blocking if v.note is not None]
    if noted:
        return verdict("inconclusive", f"can't tell: {noted[0].note}", deciding=noted[0].name)
    return _inconclusive(blocking, confidence, verdict)


def _floor_reason(suite: SuiteEvidence) -> tuple[Verdict, str] | None:
    """A failed or uncheckable ``min_pass_rate`` floor, as (verdict, reason); None if it holds."""
    if suite.min_pass_rate is None:
        return None
    if suite.head_pass_rate is None:
        return "inconclusive", "can't tell: min_pass_rate is set but head's pass rate was not measured"
    if suite.head_pass_rate < suite.min_pass_rate:
        return (
            "fail",
            f"head's pass rate is {_percent(suite.head_pass_rate)}, below the suite's "
            f"{_percent(suite.min_pass_rate)} floor (min_pass_rate)",
        )
    return None


def _inconclusive(
    blocking: list[tuple[MetricVerdict, PairedMetric]],
    confidence: float,
    verdict: Callable[..., SuiteVerdict],
) -> SuiteVerdict:
    """Explain the metric that needs the most cases (None, i.e. "no number would do", counts as most)."""
    needs = [
        (v, cases_needed(_effects(m), v.margin, proportions=m.kind in _PROPORTIONS, confidence=confidence))
        for v, m in blocking
    ]
    binding, needed = max(needs, key=lambda pair: math.inf if pair[1] is None else pair[1])
    needed = friendly_count(needed) if needed is not None else None
    bound = binding.bound

    def says(reason: str, certifiable: float | None, needed: int | None) -> SuiteVerdict:
        return verdict("inconclusive", reason, certifiable, needed, binding.name)

    certifiable = max(0.0, -bound.lower) if math.isfinite(bound.lower) else None
    if bound.n < MIN_CASES:
        return says(
            f"can't tell yet: {_how_many_ran(bound.n)} on both versions for "
            f"`{binding.name}`, and at least {MIN_CASES} are needed to certify a margin",
            certifiable,
            needed,
        )
    asks = _magnitude(binding.kind, binding.margin)
    if needed is None or certifiable is None:
        return says(
            f"can't tell yet whether {_quantity(binding)} stays within its {asks} margin: "
            f"it moved {_signed(binding.kind, bound.estimate)} and its bounds are too wide to say",
            certifiable,
            needed,
        )
    effects = _effects(next(m for v, m in blocking if v is binding))
    assumed = planned_effect(effects)
    assumption = (
        f"if head really gains about {_signed(binding.kind, assumed)}"
        if assumed > 0
        else "if head is really no worse than base"
    )
    return says(
        f"can't tell yet whether {_quantity(binding)} stays within its {asks} margin: it moved "
        f"{_signed(binding.kind, bound.estimate)}, and the 95% lower bound is "
        f"{_signed(binding.kind, bound.lower)}; about {needed:,} cases would settle it {assumption} "
        f"(this run had {bound.n})",
        certifiable,
        needed,
    )


# --------------------------------------------------------------------------------------------
# Review


# Suite verdicts that keep a review from passing, worst first, with the verb a sentence uses for
# one of them and for several.
_NOT_PASSING: dict[Verdict, tuple[str, str]] = {
    "fail": ("fails", "fail"),
    "inconclusive": ("is not settled", "are not settled"),
    "error": ("could not be evaluated", "could not be evaluated"),
}


def _combine(suites: tuple[SuiteVerdict, ...]) -> ReviewVerdict:
    if not suites:
        return ReviewVerdict(
            "error", "neutral", "Nothing was evaluated: no suite was part of this review.", ()
        )
    by_verdict = {kind: [s for s in suites if s.verdict == kind] for kind in _NOT_PASSING}
    conclusion: Conclusion
    if any(s.conclusion == "failure" for s in suites):
        conclusion = "failure"
    elif any(s.conclusion == "neutral" for s in suites):
        conclusion = "neutral"
    else:
        conclusion = "success"

    if len(by_verdict["error"]) == len(suites):
        reason = (
            f"Nothing could be evaluated in {_suites_phrase(suites)}; "
            f"`{suites[0].suite}`: {_unsentence(suites[0].reason)}."
        )
        return ReviewVerdict("error", conclusion, reason, suites)
    for kind, (singular, plural) in _NOT_PASSING.items():
        hit = by_verdict[kind]
        if not hit:
            continue
        overall: Verdict = "fail" if kind == "fail" else "inconclusive"
        if kind == "inconclusive" and by_verdict["error"]:
            hit = hit + by_verdict["error"]
        first = f"`{hit[0].suite}`"
        if len(suites) == 1:
            reason = f"{first} {singular}: {_unsentence(hit[0].reason)}."
        else:
            count = f"{len(hit)} {singular if len(hit) == 1 else plural}"
            reason = f"Of {len(suites)} suites, {count}; {first}: {_unsentence(hit[0].reason)}."
        return ReviewVerdict(overall, conclusion, reason, suites)
    if len(suites) == 1:
        reason = f"`{suites[0].suite}` passes: {_unsentence(suites[0].reason)}."
    else:
        reason = f"All {len(suites)} suites pass; head is not worse than base beyond any gate's margin."
    return ReviewVerdict("pass", conclusion, reason, suites)


# --------------------------------------------------------------------------------------------
# Words


def _must_pass_reason(case_ids: tuple[str, ...]) -> str:
    if len(case_ids) == 1:
        return f"must-pass case `{case_ids[0]}` fails on head"
    shown = ", ".join(f"`{c}`" for c in case_ids[:3])
    more = f" and {len(case_ids) - 3} more" if len(case_ids) > 3 else ""
    return f"{len(case_ids)} must-pass cases fail on head: {shown}{more}"


def _head_fault_reason(faults: tuple[str, ...]) -> str:
    more = f" (and {len(faults) - 1} more problem{'s' if len(faults) > 2 else ''})" if len(faults) > 1 else ""
    return f"the pull request breaks this prompt: {_unsentence(faults[0])}{more}"


def _worse_reason(worse: list[MetricVerdict], confidence: float, family_size: int) -> str:
    first = worse[0]
    bound = first.bound
    holm_note = (
        f"significant after Holm adjustment across the review's {family_size} primary tests "
        f"(p = {first.adjusted_p:.2g})"
        if family_size > 1
        else f"significant (p = {first.adjusted_p:.2g})"
    )
    if first.kind == "pairwise":
        what = (
            f"the judge prefers base on `{first.name}`: net benefit {_signed(first.kind, bound.estimate)} "
            f"(wins minus losses per case; {_level(confidence)} bound {_signed(first.kind, bound.upper)})"
        )
    else:
        what = (
            f"{_quantity(first)} is lower on head by {_magnitude(first.kind, -bound.estimate)} "
            f"({_level(confidence)} bound {_signed(first.kind, bound.upper)})"
        )
    others = ""
    if len(worse) > 1:
        others = f"; {len(worse) - 1} more primary test{'s' if len(worse) > 2 else ''} also worse"
    return f"{what}, {holm_note}{others}"


def _pass_reason(gated: list[MetricVerdict], confidence: float) -> str:
    if not gated:
        return "no test is gated in this suite, so nothing holds the change back"
    better = [m for m in gated if m.status == "better"]
    if better:
        best = max(better, key=lambda m: m.bound.lower / m.margin)
        return (
            f"head is better on `{best.name}` ({_signed(best.kind, best.bound.estimate)}, "
            f"{_level(confidence)} bound {_signed(best.kind, best.bound.lower)}) and no primary test is "
            "worse by more than its margin"
        )
    tightest = min(gated, key=lambda m: (m.bound.lower + m.margin) / m.margin)
    return (
        f"no primary test is worse by more than its margin; the tightest, `{tightest.name}`, has a "
        f"{_level(confidence)} lower bound of {_signed(tightest.kind, tightest.bound.lower)} against an "
        f"allowed {_signed(tightest.kind, -tightest.margin)}"
    )


def _tightest(gated: list[MetricVerdict]) -> str | None:
    """The gated metric closest to its margin: what a passing suite's row shows."""
    if not gated:
        return None
    return min(gated, key=lambda m: (m.bound.lower + m.margin) / m.margin).name


def _quantity(metric: MetricVerdict) -> str:
    if metric.name == "pass rate":
        return "the pass rate"
    return {
        "binary": f"the pass rate on `{metric.name}`",
        "graded": f"the mean score on `{metric.name}`",
        "grade5": f"the mean grade on `{metric.name}`",
        "pairwise": "the judge's preference" if metric.name == "which is better"
        else f"the judge's net preference on `{metric.name}`",
    }[metric.kind]


def _direction(estimate: float) -> str:
    return "lower" if estimate < 0 else "higher"


def _magnitude(kind: MetricKind, value: float) -> str:
    """An unsigned effect size in the metric's natural unit: points of rate, score or grade."""
    if kind in ("binary", "pairwise"):
        points = abs(value) * 100.0
        text = f"{points:.0f}" if points >= 9.95 else f"{points:.1f}".removesuffix(".0")
        return f"{text} pts"
    if kind == "grade5":
        return f"{abs(value):.2f} grade points"
    return f"{abs(value):.3f}".rstrip("0").rstrip(".") if abs(value) >= 0.0005 else "0"


def _signed(kind: MetricKind, value: float) -> str:
    sign = "-" if value < 0 and _magnitude(kind, value) not in ("0", "0 pts") else "+"
    return f"{sign}{_magnitude(kind, value)}"


def _level(confidence: float) -> str:
    return f"{confidence * 100:.3g}%"


def _percent(rate: float) -> str:
    return f"{rate * 100:.3g}%"


def _suites_phrase(suites: tuple[SuiteVerdict, ...]) -> str:
    return "the suite" if len(suites) == 1 else f"any of the {len(suites)} suites"


def _sentence(text: str) -> str:
    """Capitalise and close a reason so it reads as one sentence on its own."""
    text = text.strip()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _unsentence(text: str) -> str:
    """The inverse of :func:`_sentence`, to embed a suite's reason in the review's sentence.

    A leading "Can't tell (yet):" is dropped: the review's sentence already says "is inconclusive".
    """
    text = text.rstrip(".")
    for prefix in ("Can't tell yet: ", "Can't tell: "):
        text = text.removeprefix(prefix)
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _how_many_ran(n: int) -> str:
    """"no case ran", never "only 0 cases ran"."""
    return "no case ran" if n == 0 else f"only {n} case{'s' if n != 1 else ''} ran"
