"""verdict: the gate's behaviour on simulated A/A comparisons and regressions, and its edge cases.

The simulations are the product's promise in DESIGN section 6: an A/A comparison (head identical
in meaning to base) passes at least 95% of the time, and a clear regression fails. Run with
``-s`` to see the observed rates.

Certifying a margin takes enough precision: a 5-point margin on a pass rate needs the per-case
noise to be small against it (about 52 cases even when no case ever changes). The A/A scenarios
below are suites of 60-100 cases where most cases are stable, which is what prompt eval suites look
like; smaller or noisier suites end "inconclusive" (never "fail"), which is tested separately.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from promptreview.models.types import Completion
from promptreview.results import (
    Answer,
    CaseComparison,
    CaseResult,
    MetricResult,
    PairwiseResult,
    SampleResult,
)
from promptreview.suite import GateSpec
from promptreview.summarize import case_values, classify, summarize
from promptreview.verdict import (
    DEFAULT_MARGINS,
    PairedMetric,
    ReviewVerdict,
    SuiteEvidence,
    SuiteVerdict,
    decide,
    fail_level,
)

# --------------------------------------------------------------------------------------------
# Simulated suites


def _sampled_rate(rng: random.Random, p: float, k: int) -> float:
    """The share of k samples that pass when each passes with probability p."""
    return sum(rng.random() < p for _ in range(k)) / k


def _typical_pass_probabilities(rng: random.Random, n: int, flaky: float) -> list[float]:
    """Per-case pass probabilities of a typical suite: most cases reliably pass (p in 0.97-1) or
    reliably fail (p in 0-0.03), a ``flaky`` share is anywhere in 0.2-0.8."""
    ps = []
    for _ in range(n):
        u = rng.random()
        if u < flaky:
            ps.append(rng.uniform(0.2, 0.8))
        elif u < flaky + (1 - flaky) * 0.8:
            ps.append(rng.uniform(0.97, 1.0))
        else:
            ps.append(rng.uniform(0.0, 0.03))
    return ps


def binary_suite(
    rng: random.Random, n: int, k: int, ps: list[float] | None = None, drop: float = 0.0
) -> SuiteEvidence:
    """Pass/fail metric, k samples per case averaged; head's pass probability is ``drop`` lower."""
    ps = ps if ps is not None else _typical_pass_probabilities(rng, n, flaky=0.05)
    base = tuple(_sampled_rate(rng, p, k) for p in ps)
    head = tuple(_sampled_rate(rng, max(0.0, p - drop), k) for p in ps)
    return SuiteEvidence("s", (PairedMetric("contains", "binary", base, head),), n, 0)


def pairwise_suite(rng: random.Random, n: int, wins: float, losses: float) -> SuiteEvidence:
    """The judge: head wins with probability ``wins``, loses with ``losses``, else a tie."""
    outcomes = tuple(rng.choices([1.0, -1.0, 0.0], [wins, losses, 1 - wins - losses], k=n))
    return SuiteEvidence("s", (PairedMetric("judge", "pairwise", (), outcomes),), n, 0)


def graded_suite(rng: random.Random, n: int, k: int, noise: float, drop: float = 0.0) -> SuiteEvidence:
    """A [0, 1] score: per-case quality ~ Beta(5, 2), each sample off by N(0, noise), clipped."""
    quality = [rng.betavariate(5, 2) for _ in range(n)]

    def score(q: float) -> float:
        return sum(min(1.0, max(0.0, q + rng.gauss(0, noise))) for _ in range(k)) / k

    base = tuple(score(q) for q in quality)
    head = tuple(score(q - drop) for q in quality)
    return SuiteEvidence("s", (PairedMetric("equivalent", "graded", base, head),), n, 0)


def grade5_suite(rng: random.Random, n: int, k: int, noise: float, drop: float = 0.0) -> SuiteEvidence:
    """A 1-5 rubric grade: per-case true grade 3-5, each sample rounded from N(grade, noise)."""
    truth = [rng.choice([3, 4, 4, 5, 5, 5]) for _ in range(n)]

    def grade(g: float) -> float:
        return sum(min(5, max(1, round(g + rng.gauss(0, noise)))) for _ in range(k)) / k

    base = tuple(grade(g) for g in truth)
    head = tuple(grade(g - drop) for g in truth)
    return SuiteEvidence("s", (PairedMetric("rubric", "grade5", base, head),), n, 0)


def verdict_rates(label: str, make: Callable[[random.Random], SuiteEvidence], runs: int) -> Counter[str]:
    started = time.perf_counter()
    counts = Counter(decide([make(random.Random(seed))]).verdict for seed in range(runs))
    rates = ", ".join(f"{v} {counts[v] / runs:.3f}" for v in ("pass", "inconclusive", "fail"))
    print(f"\n{label}: {rates} over {runs} runs ({time.perf_counter() - started:.1f}s)")
    return counts


# --------------------------------------------------------------------------------------------
# A/A comparisons pass; regressions fail


AA_RUNS = 400

AA_SCENARIOS: dict[str, Callable[[random.Random], SuiteEvidence]] = {
    "binary A/A, 100 cases x 5 samples, 5% flaky": lambda rng: binary_suite(rng, 100, 5),
    "pairwise A/A, 100 cases, 2.5% wins / 2.5% losses": lambda rng: pairwise_suite(rng, 100, 0.025, 0.025),
    "graded A/A, 60 cases x 3 samples, noise 0.08": lambda rng: graded_suite(rng, 60, 3, 0.08),
    "1-5 grade A/A, 60 cases x 3 samples, noise 0.4": lambda rng: grade5_suite(rng, 60, 3, 0.4),
}


@pytest.mark.parametrize("label", list(AA_SCENARIOS))
def test_a_a_comparison_passes_at_least_95_percent(label: str) -> None:
    counts = verdict_rates(label, AA_SCENARIOS[label], AA_RUNS)
    assert counts["pass"] / AA_RUNS >= 0.95
    # False fails stay at the 2.5% level of the "worse" test (plus simulation slack): a 5% level
    # alone would eat the whole 5% that DESIGN allows an A/A comparison to not pass.
    assert fail_level(0.95) == pytest.approx(0.025)
    assert counts["fail"] / AA_RUNS <= 0.035


REGRESSION_SCENARIOS: dict[str, tuple[Callable[[random.Random], SuiteEvidence], int]] = {
    # Every case's pass probability drops by 0.25 (from 0.5-1.0), 60 cases x 3 samples.
    "binary regression, pass probability -0.25, 60 cases x 3 samples": (
        lambda rng: binary_suite(rng, 60, 3, ps=[rng.uniform(0.5, 1.0) for _ in range(60)], drop=0.25),
        400,
    ),
    # Judge: base wins 45%, head 10%, ties 45% (net benefit -0.35), 60 cases.
    "pairwise regression, net benefit -0.35, 60 cases": (
        lambda rng: pairwise_suite(rng, 60, 0.10, 0.45),
        400,
    ),
    "graded regression, score -0.10, 60 cases x 3 samples": (
        lambda rng: graded_suite(rng, 60, 3, 0.08, 0.1),
        200,
    ),
    "1-5 grade regression, grade -0.5, 60 cases x 3 samples": (
        lambda rng: grade5_suite(rng, 60, 3, 0.4, 0.5),
        100,
    ),
}


@pytest.mark.parametrize("label", list(REGRESSION_SCENARIOS))
def test_clear_regression_fails_at_least_90_percent(label: str) -> None:
    make, runs = REGRESSION_SCENARIOS[label]
    counts = verdict_rates(label, make, runs)
    assert counts["fail"] / runs >= 0.90
    assert counts["pass"] == 0


SMALL_N = 8
SMALL_SCENARIOS: dict[str, Callable[[random.Random], SuiteEvidence]] = {
    # Worst case for small samples: every case is a coin with its own bias.
    "binary A/A, 8 cases, p ~ U(0, 1)": lambda rng: binary_suite(
        rng, SMALL_N, 1, ps=[rng.random() for _ in range(SMALL_N)]
    ),
    "pairwise A/A, 8 cases, 25% wins / 25% losses": lambda rng: pairwise_suite(rng, SMALL_N, 0.25, 0.25),
    "graded A/A, 8 cases, noise 0.2": lambda rng: graded_suite(rng, SMALL_N, 1, 0.2),
    "1-5 grade A/A, 8 cases, noise 0.8": lambda rng: grade5_suite(rng, SMALL_N, 1, 0.8),
}


@pytest.mark.parametrize("label", list(SMALL_SCENARIOS))
def test_small_a_a_comparison_does_not_fail(label: str) -> None:
    counts = verdict_rates(label, SMALL_SCENARIOS[label], AA_RUNS)
    assert (counts["pass"] + counts["inconclusive"]) / AA_RUNS >= 0.95


HINT_SCENARIOS: dict[str, Callable[[random.Random], SuiteEvidence]] = {
    **SMALL_SCENARIOS,
    "binary A/A, 30 cases, p ~ U(0, 1)": lambda rng: binary_suite(
        rng, 30, 1, ps=[rng.random() for _ in range(30)]
    ),
    "pairwise A/A, 30 cases, 20% wins / 20% losses": lambda rng: pairwise_suite(rng, 30, 0.2, 0.2),
}


@pytest.mark.parametrize("label", list(HINT_SCENARIOS))
def test_a_a_inconclusive_verdicts_always_get_a_usable_hint(label: str) -> None:
    """Issue 9.4: in A/A runs 29-32% of inconclusive verdicts once said more cases would not help.
    Every inconclusive A/A verdict with enough cases now names a count, rounded to two figures,
    and never an absurd one."""
    hints: list[int | None] = []
    for seed in range(AA_RUNS):
        v = decide([HINT_SCENARIOS[label](random.Random(seed))]).suites[0]
        if v.verdict == "inconclusive" and v.certifiable_margin is not None:
            hints.append(v.cases_needed)
    counted = sorted(h for h in hints if h is not None)
    median, largest = (counted[len(counted) // 2], counted[-1]) if counted else ("-", "-")
    print(f"\n{label}: {len(hints)} inconclusive, {len(hints) - len(counted)} without a count; "
          f"counts median {median}, max {largest}")
    assert hints, "the scenario must produce inconclusive verdicts to be a test"
    assert None not in hints
    assert all(len(str(h).rstrip("0")) <= 2 for h in counted if h >= 100)
    assert counted[-1] <= 20_000


# --------------------------------------------------------------------------------------------
# Edge cases


def suite(
    *metrics: PairedMetric, n_total: int | None = None, n_errors: int = 0, **gate: object
) -> SuiteEvidence:
    n = n_total if n_total is not None else max((m.n for m in metrics), default=0) + n_errors
    return SuiteEvidence("s", metrics, n, n_errors, **gate)  # type: ignore[arg-type]


def same_binary(n: int, name: str = "contains") -> PairedMetric:
    values = tuple(float(i % 4 != 0) for i in range(n))
    return PairedMetric(name, "binary", values, values)


def lost_binary(n: int, lost: int, gained: int = 0, name: str = "contains") -> PairedMetric:
    """n cases: ``lost`` pass on base only, ``gained`` on head only, the rest pass on both."""
    base = (1.0,) * lost + (0.0,) * gained + (1.0,) * (n - lost - gained)
    head = (0.0,) * lost + (1.0,) * gained + (1.0,) * (n - lost - gained)
    return PairedMetric(name, "binary", base, head)


def assert_sentence(text: str) -> None:
    assert text[:1].isupper() or text[:1] == "`", text
    assert text.endswith("."), text


def only(review: ReviewVerdict) -> SuiteVerdict:
    assert len(review.suites) == 1
    return review.suites[0]


def test_identical_vectors_pass_once_there_are_enough_cases() -> None:
    # 60 cases, none changed: Tango lower bound -z^2/(60 + z^2) = -0.043 clears -0.05.
    review = decide([suite(same_binary(60))])
    assert (review.verdict, review.conclusion) == ("pass", "success")
    assert review.suites[0].metrics[0].status == "same"
    assert "-4.3 pts" in review.suites[0].reason and "-5 pts" in review.suites[0].reason
    assert_sentence(review.reason)
    assert_sentence(review.suites[0].reason)

    # 40 cases, none changed: -0.063, so the gate cannot certify 5 points yet; 52 cases would.
    small = decide([suite(same_binary(40))]).suites[0]
    assert (small.verdict, small.conclusion) == ("inconclusive", "neutral")
    assert small.certifiable_margin == pytest.approx(0.0634, abs=1e-4)
    assert small.cases_needed == 52
    assert ("stays within its 5 pts margin: it moved +0 pts, and the 95% lower bound is -6.3 pts; about 52 "
            "cases would settle it if head is really no worse than base (this run had 40)") in small.reason


def test_all_ties_from_the_judge_pass() -> None:
    review = decide([suite(PairedMetric.pairwise("judge", wins=0, ties=60, losses=0))])
    assert review.verdict == "pass"
    metric = review.suites[0].metrics[0]
    assert (metric.bound.estimate, metric.margin, metric.status) == (0.0, 0.10, "same")


def test_clear_regression_reason_names_metric_size_and_bound() -> None:
    review = decide([suite(lost_binary(60, lost=14, gained=1), same_binary(60, "is-json"))])
    result = only(review)
    assert review.verdict == "fail" and review.conclusion == "failure"
    assert result.verdict == "fail"
    reason = result.reason
    print(f"\nfail reason: {reason}")
    assert reason.startswith("The pass rate on `contains` is lower on head by 22 pts (95% bound -")
    assert "significant after Holm adjustment across the review's 2 primary tests" in reason
    assert review.reason.startswith("`s` fails: the pass rate on `contains` is lower on head")


def test_improvement_passes_and_says_so() -> None:
    review = decide([suite(lost_binary(60, lost=0, gained=12))])
    assert review.verdict == "pass"
    assert review.suites[0].metrics[0].status == "better"
    assert "head is better on `contains` (+20 pts" in review.reason


@pytest.mark.parametrize("n", [0, 1, 3])
def test_too_few_cases_is_inconclusive_never_fail(n: int) -> None:
    metric = lost_binary(n, lost=n)  # every case got worse, but there are too few to tell
    review = decide([suite(metric, n_total=max(n, 1))])
    result = review.suites[0]
    assert result.verdict == "inconclusive"
    assert result.metrics[0].status == "unclear"
    ran = "no case ran" if n == 0 else f"only {n} case"
    assert ran in result.reason and "at least 5" in result.reason
    assert "only 0" not in result.reason


def test_all_errors_is_an_error_verdict() -> None:
    review = decide([suite(n_total=12, n_errors=12)])
    assert (review.verdict, review.conclusion) == ("error", "neutral")
    assert "all 12 cases errored" in review.reason
    assert decide([suite(n_total=0)]).verdict == "error"
    assert decide([]).verdict == "error"


def test_too_many_errors_is_inconclusive_even_when_head_looks_worse() -> None:
    worse = lost_binary(40, lost=20)
    review = decide([suite(worse, n_errors=11)])  # 11 of 51 = 21.6% > 20%
    result = review.suites[0]
    assert (result.verdict, result.conclusion) == ("inconclusive", "neutral")
    assert "11 of 51 cases errored (21.6%, above the 20% limit)" in result.reason
    # Not part of the Holm family: its p-value is reported raw.
    assert result.metrics[0].adjusted_p == result.metrics[0].bound.p_worse

    at_limit = decide([suite(worse, n_errors=10)])  # exactly 20%: evaluated as usual
    assert at_limit.verdict == "fail"
    assert decide([suite(worse, n_errors=11, max_error_rate=0.5)]).verdict == "fail"


def test_must_pass_failure_fails_the_suite() -> None:
    review = decide([suite(same_binary(60), must_pass_failures=("refund-policy",))])
    assert (review.verdict, review.conclusion) == ("fail", "failure")
    assert "must-pass case `refund-policy` fails on head" in review.reason
    many = decide([suite(same_binary(60), must_pass_failures=("a", "b", "c", "d", "e"))])
    assert "5 must-pass cases fail on head: `a`, `b`, `c` and 2 more" in many.reason
    # A case that ran and failed is not an error: it fails the suite even when errors are many.
    noisy = decide([suite(same_binary(30), n_errors=30, must_pass_failures=("a",))])
    assert noisy.verdict == "fail"


def test_head_only_suite_is_judged_by_floors_only() -> None:
    # The metric would be a glaring regression if it were paired; a new prompt has no pairing.
    glaring = PairedMetric("contains", "binary", (1.0,) * 30, (0.0,) * 30)
    new = decide([suite(glaring, head_only=True)]).suites[0]
    assert (new.verdict, new.conclusion) == ("pass", "success")
    assert "new prompt: no base to compare" in new.reason.lower()
    assert new.metrics == ()

    met = decide([suite(n_total=20, head_only=True, head_pass_rate=0.95, min_pass_rate=0.9)]).suites[0]
    assert met.verdict == "pass" and "95% meets the 90% floor" in met.reason
    missed = decide([suite(n_total=20, head_only=True, head_pass_rate=0.8, min_pass_rate=0.9)]).suites[0]
    assert missed.verdict == "fail" and "80%, below the suite's 90% floor" in missed.reason
    unknown = decide([suite(n_total=20, head_only=True, min_pass_rate=0.9)]).suites[0]
    assert unknown.verdict == "inconclusive"


def test_min_pass_rate_floor_on_a_paired_suite() -> None:
    assert decide([suite(same_binary(60), head_pass_rate=0.75, min_pass_rate=0.8)]).verdict == "fail"
    assert decide([suite(same_binary(60), head_pass_rate=0.85, min_pass_rate=0.8)]).verdict == "pass"


def test_holm_across_suites_changes_a_borderline_decision() -> None:
    # 12 lost vs 3 gained of 60: McNemar p = Phi(-9/sqrt(15)) = 0.0101, exact sign test
    # P(Bin(15, 1/2) >= 12) = 576/32768 = 0.0176: alone that is below the 0.025 fail level.
    borderline = lost_binary(60, lost=12, gained=3)
    alone = decide([SuiteEvidence("a", (borderline,), 60, 0)])
    assert alone.verdict == "fail"
    assert alone.suites[0].metrics[0].adjusted_p == pytest.approx(576 / 32768)

    # Two such suites are one family: Holm doubles the smaller p to 0.035 > 0.025, so neither fails.
    both = decide([SuiteEvidence("a", (borderline,), 60, 0), SuiteEvidence("b", (borderline,), 60, 0)])
    assert [s.verdict for s in both.suites] == ["inconclusive", "inconclusive"]
    assert both.suites[0].metrics[0].adjusted_p == pytest.approx(2 * 576 / 32768)
    assert both.verdict == "inconclusive"
    assert both.reason.startswith("Of 2 suites, 2 are not settled; `a`:")


def test_reported_only_metric_never_fails_the_suite() -> None:
    signal = lost_binary(60, lost=30)
    signal = PairedMetric(signal.name, signal.kind, signal.base, signal.head, gate=False)
    review = decide([suite(same_binary(60, "is-json"), signal)])
    assert review.verdict == "pass"
    assert review.suites[0].metrics[1].status == "worse"  # reported, not gated


def test_on_inconclusive_maps_the_check_conclusion() -> None:
    for setting, conclusion in (("neutral", "neutral"), ("fail", "failure"), ("pass", "success")):
        review = decide([suite(same_binary(40), on_inconclusive=setting)])
        assert (review.verdict, review.conclusion) == ("inconclusive", conclusion)
    with pytest.raises(ValueError):
        suite(same_binary(40), on_inconclusive="maybe")


def test_overall_verdict_combines_suites() -> None:
    passing = SuiteEvidence("p", (same_binary(60),), 60, 0)
    unsure = SuiteEvidence("u", (same_binary(40),), 40, 0, on_inconclusive="pass")
    failing = SuiteEvidence("f", (lost_binary(60, lost=20),), 60, 0)
    errored = SuiteEvidence("e", (), 5, 5)

    assert decide([passing, passing]).verdict == "pass"
    review = decide([passing, unsure])
    assert (review.verdict, review.conclusion) == ("inconclusive", "success")  # unsure maps to pass
    review = decide([passing, unsure, failing])
    assert (review.verdict, review.conclusion) == ("fail", "failure")
    assert review.reason.startswith("Of 3 suites, 1 fails; `f`:")
    review = decide([passing, errored])
    assert (review.verdict, review.conclusion) == ("inconclusive", "neutral")
    assert decide([errored, errored]).verdict == "error"
    for r in (review, decide([passing, passing]), decide([errored])):
        assert_sentence(r.reason)


def test_margins_per_kind_and_from_the_gate() -> None:
    metrics = (
        same_binary(60),
        PairedMetric("equivalent", "graded", (0.5,) * 60, (0.5,) * 60),
        PairedMetric("rubric", "grade5", (4.0,) * 60, (4.0,) * 60),
        PairedMetric.pairwise("judge", 0, 60, 0),
    )
    defaults = decide([suite(*metrics)]).suites[0]
    assert [m.margin for m in defaults.metrics] == [0.05, 0.05, 0.25, 0.10]
    assert DEFAULT_MARGINS == {"binary": 0.05, "graded": 0.05, "pairwise": 0.10, "grade5": 0.25}

    gate = decide([suite(*metrics, default_margin=0.02)]).suites[0]
    assert [m.margin for m in gate.metrics] == pytest.approx([0.02, 0.02, 0.08, 0.02])  # grade: x4

    own = PairedMetric("contains", "binary", metrics[0].base, metrics[0].head, margin=0.2)
    assert decide([suite(own, default_margin=0.02)]).suites[0].metrics[0].margin == 0.2


def test_grade_reason_uses_grade_points() -> None:
    base = (4.0,) * 60
    head = (3.0,) * 30 + (4.0,) * 30
    review = decide([suite(PairedMetric("rubric", "grade5", base, head))])
    assert review.verdict == "fail"
    assert "mean grade on `rubric` is lower on head by 0.50 grade points" in review.reason


def test_sample_averaged_judge_outcomes() -> None:
    # k = 2 judged samples per case: outcomes are means of +1/0/-1, e.g. 0.5.
    outcomes = (0.5,) * 4 + (-0.5,) * 4 + (0.0,) * 52
    review = decide([suite(PairedMetric("judge", "pairwise", (), outcomes))])
    metric = review.suites[0].metrics[0]
    assert metric.bound.estimate == 0.0
    assert "Rao-Scott" in metric.bound.method
    assert review.verdict == "pass"


def test_paired_metric_validation() -> None:
    # Pairwise outcomes live in head; base may be empty or zeros (how summarize builds it).
    assert PairedMetric("judge", "pairwise", (0.0, 0.0), (1.0, -1.0)).n == 2
    with pytest.raises(ValueError):
        PairedMetric("judge", "pairwise", (1.0, 0.0), (1.0, -1.0))
    with pytest.raises(ValueError):
        PairedMetric("judge", "pairwise", (), (2.0,))
    with pytest.raises(ValueError):
        PairedMetric("contains", "binary", (1.0,), (1.0, 0.0))
    with pytest.raises(ValueError):
        PairedMetric("contains", "accuracy", (1.0,), (1.0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PairedMetric("contains", "binary", (1.0,), (1.0,), margin=0)
    with pytest.raises(ValueError):
        SuiteEvidence("s", (), 3, 4)
    assert PairedMetric.pairwise("judge", 2, 1, 3).head == (1.0, 1.0, 0.0, -1.0, -1.0, -1.0)


# --------------------------------------------------------------------------------------------
# The family of tests (issue 9, item 5): the pass rate and the judge decide, single metrics explain
#
# A noisy suite of 100 cases, each answered once: every case passes with its own probability
# p ~ U(0.3, 0.9) on base and p - drop on head, drawn independently (a flaky model; with a 20-point
# drop the pass rate alone detects it about 80% of the time at the 2.5% level). The suite has 1 or
# 3 *equivalent* metrics: checks that pass and fail together, so the pass rate (all of them pass)
# equals each of them, which is the extreme of "the pass rate is made of the metrics". The judge
# prefers the passing answer in half the cases where exactly one side passes (a tie otherwise), and
# is a coin among ties, wins and losses (80 / 10 / 10) elsewhere. The real summary builds the
# evidence; "old" is the same evidence with every single metric made a primary test again, which is
# how the verdict counted them before.

FAMILY_CASES = 100
# 600 runs keep the test under a minute; PROMPTREVIEW_FAMILY_RUNS=4000 gives the note's numbers.
FAMILY_RUNS = int(os.environ.get("PROMPTREVIEW_FAMILY_RUNS", "600"))
FAMILY_DROP = 0.20


def _family_side(case: str, version: str, ok: bool, metrics: int) -> CaseResult:
    answer = Answer(case, 0, (), Completion(f"{version} answer {case}"))  # same length both sides
    checks = tuple(MetricResult(f"check{j}", float(ok), ok) for j in range(metrics))
    return CaseResult(case, (SampleResult(answer, checks),))


def _family_judge(rng: random.Random, base_ok: bool, head_ok: bool) -> str:
    if base_ok != head_ok:
        return ("head" if head_ok else "base") if rng.random() < 0.5 else "tie"
    return rng.choices(["tie", "head", "base"], [0.8, 0.1, 0.1])[0]


def family_evidence(rng: random.Random, metrics: int, drop: float, n: int = FAMILY_CASES) -> SuiteEvidence:
    comparisons = []
    for i in range(n):
        p = rng.uniform(0.3, 0.9)
        base_ok, head_ok = rng.random() < p, rng.random() < p - drop
        b = _family_side(f"c{i}", "base", base_ok, metrics)
        h = _family_side(f"c{i}", "head", head_ok, metrics)
        pairwise = (PairwiseResult(0, _family_judge(rng, base_ok, head_ok)),)  # type: ignore[arg-type]
        comparison = CaseComparison(f"c{i}", b, h, pairwise)
        change, moved = classify(case_values(b), case_values(h), comparison.pairwise_score, False, False)
        comparisons.append(replace(comparison, change=change, changed_metrics=moved))
    return summarize("sim", comparisons, GateSpec(), False, True)[2]


def old_family(evidence: SuiteEvidence) -> SuiteEvidence:
    """Before: every gated metric was a test of its own in the Holm family."""
    return replace(evidence, metrics=tuple(replace(m, primary=True) for m in evidence.metrics))


def pass_rate_alone(evidence: SuiteEvidence) -> SuiteEvidence:
    """Reference: one test, the pass rate."""
    return replace(evidence, metrics=tuple(m for m in evidence.metrics if m.name == "pass rate"))


def family_rates(metrics: int, drop: float) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {"new": Counter(), "old": Counter(), "alone": Counter()}
    for seed in range(FAMILY_RUNS):
        # The seed leaves out the number of metrics: 1 and 3 metrics see the same cases and judge.
        evidence = family_evidence(random.Random(f"family-{drop}-{seed}"), metrics, drop)
        for name, shaped in (("new", evidence), ("old", old_family(evidence)),
                             ("alone", pass_rate_alone(evidence))):
            counts[name][decide([shaped]).verdict] += 1
    return counts


def test_summary_makes_the_pass_rate_and_judge_primary_and_single_metrics_explanations() -> None:
    evidence = family_evidence(random.Random(1), metrics=3, drop=0.0, n=20)
    roles = {m.name: m.primary for m in evidence.metrics}
    assert roles == {"pass rate": True, "check0": False, "check1": False, "check2": False,
                     "which is better": True}
    review = decide([evidence])
    assert review.family_size == 2
    explained = [m for m in review.suites[0].metrics if not m.primary]
    assert [m.name for m in explained] == ["check0", "check1", "check2"]
    assert all(m.adjusted_p == m.bound.p_worse for m in explained)  # unadjusted


def test_equivalent_metrics_do_not_change_the_verdict() -> None:
    """The same cases checked by 1 or by 3 equivalent metrics get the same verdict and reason."""
    for seed in range(40):
        one, three = (decide([family_evidence(random.Random(seed), k, FAMILY_DROP)]) for k in (1, 3))
        assert (one.verdict, one.reason, one.family_size) == (three.verdict, three.reason, three.family_size)


def test_an_explanation_never_fails_or_holds_back_a_suite() -> None:
    # The pass rate clears its margin; a graded metric inside it looks clearly worse.
    worse = PairedMetric("similar", "graded", (0.9,) * 60, (0.8,) * 30 + (0.9,) * 30, primary=False)
    review = decide([suite(same_binary(60, "pass rate"), worse)])
    assert review.verdict == "pass"
    explanation = review.suites[0].metrics[1]
    assert explanation.status == "worse" and not explanation.primary
    assert review.family_size == 1
    # The same metric as a primary test fails the suite: the role is what changed.
    assert decide([suite(same_binary(60, "pass rate"), replace(worse, primary=True))]).verdict == "fail"


@pytest.mark.parametrize("metrics", [1, 3])
def test_family_keeps_power_at_100_cases_and_false_fails_below_alpha(metrics: int) -> None:
    started = time.perf_counter()
    regression = family_rates(metrics, FAMILY_DROP)
    aa = family_rates(metrics, 0.0)
    power = {k: c["fail"] / FAMILY_RUNS for k, c in regression.items()}
    false_fail = {k: c["fail"] / FAMILY_RUNS for k, c in aa.items()}
    aa_pass = {k: c["pass"] / FAMILY_RUNS for k, c in aa.items()}
    print(f"\nfamily, {FAMILY_CASES} cases, {metrics} equivalent metric{'s' if metrics > 1 else ''}, "
          f"{FAMILY_RUNS} runs each ({time.perf_counter() - started:.0f}s): "
          f"-20 pts detected: old {power['old']:.3f}, new {power['new']:.3f} "
          f"(pass rate alone {power['alone']:.3f}); A/A false fail: old {false_fail['old']:.3f}, "
          f"new {false_fail['new']:.3f}; A/A pass: old {aa_pass['old']:.3f}, new {aa_pass['new']:.3f}")
    assert power["new"] >= power["old"]
    if metrics > 1:  # one metric was never tested apart from the pass rate: old and new agree
        assert power["new"] >= power["old"] + 0.05
    else:
        assert power["new"] == power["old"]
    alpha = fail_level(0.95)
    tolerance = 2 * (alpha * (1 - alpha) / FAMILY_RUNS) ** 0.5  # two standard errors
    assert false_fail["new"] <= alpha + tolerance
    assert regression["new"]["pass"] == 0


def test_a_metric_only_some_cases_have_is_summarized_over_those_cases_alone() -> None:
    """A case-level metric (``tone``: base has it on case 2 only, its call failed on case 4; head
    has it on cases 1, 2 and 4) counts the cases that measured it on both sides, in rows ordered
    as first seen on base."""
    from promptreview.models.types import Message

    def result(cid: str, tone: float | None, passed: bool, tone_error: bool = False) -> CaseResult:
        metrics = [MetricResult("contains", 1.0 if passed else 0.0, passed, "checked")]
        if tone is not None or tone_error:
            metrics.append(
                MetricResult(
                    "tone", tone or 0.0, (tone or 0) >= 0.5, "graded", kind="graded",
                    error="grader failed" if tone_error else None,
                )
            )
        answer = Answer(cid, 0, (Message("user", cid),), Completion("an answer", finish_reason="stop"))
        return CaseResult(cid, (SampleResult(answer, tuple(metrics)),))

    rows = [
        (result("c1", None, True), result("c1", 0.0, True)),  # head alone measured tone here
        (result("c2", 0.25, True), result("c2", 0.75, True)),
        (result("c3", None, False), result("c3", None, True)),
        (result("c4", None, True, tone_error=True), result("c4", 1.0, True)),
    ]
    comparisons = [CaseComparison(b.case_id, b, h) for b, h in rows]
    summaries, _, evidence = summarize("s", comparisons, GateSpec(), False, False)
    by_name = {m.name: m for m in summaries}
    assert [m.name for m in summaries][1:] == ["contains", "tone"]
    assert by_name["contains"].n == 4
    assert by_name["contains"].base_rate == 0.75 and by_name["contains"].head_rate == 1.0
    tone = by_name["tone"]
    assert tone.n == 1  # c2 alone has a tone value on both sides
    assert tone.base_rate == 0.25 and tone.head_rate == 0.75
    assert tone.errors == 1
    tone_pairs = next(m for m in evidence.metrics if m.name == "tone")
    assert tone_pairs.base == (0.25,) and tone_pairs.head == (0.75,)
