"""stats: paired bounds, p-values, Holm and sample sizes against published and hand-computed values.

Run with ``-s`` to see the observed coverage rates of the simulation checks.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from statistics import NormalDist

import pytest

from promptreview import stats
from promptreview.stats import (
    MIN_CASES,
    Bound,
    average_samples,
    cases_needed,
    holm,
    net_benefit,
    paired_binary,
    paired_graded,
)

Z95 = NormalDist().inv_cdf(0.95)  # 1.6448536...


def binary_pairs(both: int, base_only: int, head_only: int, neither: int) -> tuple[list[int], list[int]]:
    """Per-case 0/1 pass flags for a paired 2x2 table (base rows, head columns)."""
    base = [1] * both + [1] * base_only + [0] * head_only + [0] * neither
    head = [1] * both + [0] * base_only + [1] * head_only + [0] * neither
    return base, head


# --------------------------------------------------------------------------------------------
# Tango's score interval: published worked example and closed forms


def test_tango_reproduces_fagerland_worked_example() -> None:
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017), ch. 8,
    # complete response before/after consolidation therapy (Cavo et al. 2012):
    # table [[59, 6], [16, 80]], N = 161. Published: Tango asymptotic score 95% CI for
    # (n12 - n21)/N: estimate -0.0621, CI -0.1240 to -0.0054; McNemar exact conditional
    # two-sided P = 0.052479. A two-sided 95% interval is our one-sided 97.5% bounds.
    # Here "head" passes in the 6 discordant cases of one kind and "base" in the 16 others.
    base, head = binary_pairs(both=59, base_only=16, head_only=6, neither=80)
    bound = paired_binary(base, head, confidence=0.975)
    print(f"\nCavo 2012 via Tango: {bound.estimate:.4f} ({bound.lower:.4f} to {bound.upper:.4f})")
    assert bound.n == 161
    assert round(bound.estimate, 4) == -0.0621
    assert round(bound.lower, 4) == -0.1240
    assert round(bound.upper, 4) == -0.0054
    # p_worse is the larger of McNemar's score p (asymptotic two-sided 0.033006, published as
    # well, so one-sided 0.016503) and the exact conditional one (one-sided 0.052479 / 2).
    assert bound.p_worse == pytest.approx(0.052479 / 2, abs=1e-6)
    assert NormalDist().cdf((6 - 16) / math.sqrt(22)) == pytest.approx(0.033006 / 2, abs=1e-6)

    # The pairwise judge's net benefit is the same problem: wins play "head only", losses "base only".
    same = net_benefit(wins=6, ties=59 + 80, losses=16, confidence=0.975)
    assert (same.estimate, same.lower, same.upper, same.p_worse) == pytest.approx(
        (bound.estimate, bound.lower, bound.upper, bound.p_worse)
    )


@pytest.mark.parametrize("n", [5, 40, 52, 100])
def test_tango_with_no_discordant_case_matches_its_closed_form(n: int) -> None:
    # With b = c = 0 the restricted MLE is q21 = |D|, the variance |D|(1 - |D|), and
    # T(D) = sqrt(n |D| / (1 - |D|)) = z solves to |D| = z^2 / (n + z^2).
    # n = 100: 2.705543 / 102.705543 = 0.026342.
    bound = paired_binary([1] * n, [1] * n)
    expected = Z95**2 / (n + Z95**2)
    assert bound.estimate == 0.0
    assert bound.lower == pytest.approx(-expected, abs=1e-9)
    assert bound.upper == pytest.approx(expected, abs=1e-9)
    assert bound.p_worse == 1.0


def test_mcnemar_p_values_by_hand() -> None:
    # 60 cases, 9 lost (base passed, head failed), 3 gained.
    # Score (McNemar) z = (3 - 9) / sqrt(12) = -1.7321 -> one-sided p = 0.04163.
    # Exact sign test: P(Bin(12, 1/2) >= 9) = (220 + 66 + 12 + 1) / 4096 = 299 / 4096 = 0.072998.
    base, head = binary_pairs(both=30, base_only=9, head_only=3, neither=18)
    bound = paired_binary(base, head)
    assert bound.estimate == pytest.approx(-6 / 60)
    assert bound.p_worse == pytest.approx(299 / 4096)
    assert bound.lower < bound.estimate < bound.upper < 1.0

    # 30 lost, 3 gained: z = -27 / sqrt(33) = -4.700 -> p = 1.30e-6, while the exact sign test
    # gives (C(33,0) + C(33,1) + C(33,2) + C(33,3)) / 2^33 = (1 + 33 + 528 + 5456) / 2^33 = 7.0e-7:
    # with many changed cases the score test is the larger (the binding) one.
    base, head = binary_pairs(both=20, base_only=30, head_only=3, neither=7)
    bound = paired_binary(base, head)
    assert bound.p_worse == pytest.approx(NormalDist().cdf(-27 / math.sqrt(33)), rel=1e-9)
    assert bound.upper < 0


def test_few_changed_cases_can_never_be_significant() -> None:
    # 4 of 4 changed cases got worse: McNemar z = -2.0 (p = 0.023) but exactly 1/16 under "no change".
    base, head = binary_pairs(both=50, base_only=4, head_only=0, neither=6)
    bound = paired_binary(base, head)
    assert bound.p_worse == pytest.approx(1 / 16)
    assert net_benefit(0, 56, 4).p_worse == pytest.approx(1 / 16)


def test_net_benefit_symmetric_data_is_centred_at_zero() -> None:
    bound = net_benefit(wins=12, ties=36, losses=12)
    assert bound.estimate == 0.0
    assert bound.lower == pytest.approx(-bound.upper, abs=1e-9)
    assert -0.2 < bound.lower < 0 < bound.upper < 0.2
    assert bound.p_worse >= 0.5

    all_ties = net_benefit(wins=0, ties=60, losses=0)
    assert (all_ties.estimate, all_ties.p_worse) == (0.0, 1.0)
    assert all_ties.lower == pytest.approx(-(Z95**2) / (60 + Z95**2), abs=1e-9)


def test_net_benefit_edge_counts() -> None:
    assert net_benefit(0, 0, 0) == Bound(0.0, -1.0, 1.0, 1.0, 0, "no cases")
    # 10 losses of 10: McNemar p = Phi(-sqrt(10)) = 7.8e-4, exact sign test 1/1024 = 9.8e-4.
    all_losses = net_benefit(0, 0, 10)
    assert all_losses.estimate == -1.0 and all_losses.lower == -1.0 and -0.6 < all_losses.upper < -0.5
    assert all_losses.p_worse == pytest.approx(1 / 1024)
    all_wins = net_benefit(10, 0, 0)
    assert all_wins.upper == 1.0 and all_wins.p_worse == 1.0
    with pytest.raises(ValueError):
        net_benefit(-1, 3, 3)


def test_paired_binary_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        paired_binary([1, 0], [1])
    with pytest.raises(ValueError):
        paired_binary([1.5], [1])


def test_paired_binary_edge_sizes() -> None:
    assert paired_binary([], []).n == 0
    one = paired_binary([1], [0])
    assert one.n == 1 and one.estimate == -1.0 and one.p_worse == 0.5
    identical = paired_binary([1, 0, 1, 1, 0, 1], [1, 0, 1, 1, 0, 1])
    assert identical.estimate == 0.0 and identical.p_worse == 1.0 and identical.lower < -0.2


def test_sample_averages_use_rao_scott_effective_counts() -> None:
    # k = 3 samples per case, 40 cases; in 6 cases one of head's 3 samples failed where base's
    # passed (d = -1/3). rho = sum(d^2)/sum(|d|) = (6/9)/(6/3) = 1/3, so Tango runs on
    # 6 lost pairs out of 120: exactly the bound of 120 independent 0/1 pairs with 6 discordant.
    base = [1.0] * 40
    head = [2 / 3] * 6 + [1.0] * 34
    averaged = paired_binary(base, head)
    flat_base, flat_head = binary_pairs(both=114, base_only=6, head_only=0, neither=0)
    flat = paired_binary(flat_base, flat_head)
    assert averaged.n == 40
    assert averaged.estimate == pytest.approx(-6 / 120)
    assert (averaged.lower, averaged.upper) == pytest.approx((flat.lower, flat.upper))
    assert "design effect 0.33" in averaged.method
    # Without the adjustment (counts 2 of 40) the interval would be much wider.
    unadjusted_lower = stats._tango(0.0, 2.0, 40.0, 0.95)[0]
    assert unadjusted_lower < averaged.lower - 0.02


def test_average_samples() -> None:
    assert average_samples([[1, 0, 1], [0.5], [1, 1]]) == pytest.approx((2 / 3, 0.5, 1.0))
    with pytest.raises(ValueError):
        average_samples([[1], []])


# --------------------------------------------------------------------------------------------
# Graded scores: expanded percentile bootstrap


def test_student_t_quantiles_match_tables() -> None:
    # Standard t tables: t(0.95; 7) = 1.895, t(0.975; 1) = 12.706, t(0.95; 30) = 1.697;
    # P(T_5 <= 2) = 0.94903.
    assert stats._t_ppf(0.95, 7) == pytest.approx(1.894579, abs=1e-6)
    assert stats._t_ppf(0.975, 1) == pytest.approx(12.706205, abs=1e-5)
    assert stats._t_ppf(0.95, 30) == pytest.approx(1.697261, abs=1e-6)
    assert stats._t_cdf(2.0, 5) == pytest.approx(0.949030, abs=1e-6)


def test_graded_small_n_uses_student_t_by_hand() -> None:
    # d = 0.1, 0.2, 0.3: mean 0.2, s = 0.1, t(0.95; 2) = 2.919986,
    # half width = 2.919986 * 0.1 / sqrt(3) = 0.168585.
    bound = paired_graded([0.1, 0.2, 0.3])
    assert bound.estimate == pytest.approx(0.2)
    assert bound.lower == pytest.approx(0.2 - 0.168585, abs=1e-6)
    assert bound.upper == pytest.approx(0.2 + 0.168585, abs=1e-6)
    assert bound.p_worse == 1.0  # no case got worse
    # Three cases that all got worse: the exact sign test says 1/8, never "significant".
    assert paired_graded([-0.5, -0.4, -0.6]).p_worse == pytest.approx(1 / 8)


def test_graded_edge_sizes() -> None:
    empty = paired_graded([])
    assert empty.n == 0 and empty.lower == -math.inf and empty.p_worse == 1.0
    one = paired_graded([-0.3])
    assert one.n == 1 and one.lower == -math.inf and one.upper == math.inf and one.p_worse == 0.5
    ties = paired_graded([0.0] * 40)
    assert (ties.estimate, ties.lower, ties.upper, ties.p_worse) == (0.0, 0.0, 0.0, 1.0)
    uniform_drop = paired_graded([-0.2] * 10)
    assert uniform_drop.upper == pytest.approx(-0.2) and uniform_drop.p_worse < 0.01


def test_graded_bootstrap_is_deterministic_and_close_to_t_for_normal_data() -> None:
    rng = random.Random(7)
    deltas = [rng.gauss(0.02, 0.1) for _ in range(60)]
    first, again = paired_graded(deltas, seed=3), paired_graded(deltas, seed=3)
    assert first == again
    assert "Hesterberg" in first.method
    mean = sum(deltas) / 60
    half_t = stats._t_ppf(0.95, 59) * math.sqrt(stats._sample_variance(deltas) / 60)
    # The expansion makes the bootstrap reproduce the t bound for normal data, up to Monte Carlo
    # error and the data's own skew (a few percent of the width).
    assert first.lower == pytest.approx(mean - half_t, abs=0.15 * half_t)
    assert first.upper == pytest.approx(mean + half_t, abs=0.15 * half_t)
    assert 0.0 < first.p_worse <= 1.0


def test_graded_p_worse_agrees_with_the_upper_bound() -> None:
    rng = random.Random(11)
    for shift in (-0.06, -0.04, -0.03, -0.02, 0.0):
        deltas = [rng.gauss(shift, 0.1) for _ in range(40)]
        bound = paired_graded(deltas)
        bootstrap_p = stats._unexpand_tail(
            (sum(m >= 0 for m in _bootstrap_means(deltas)) + 1) / (stats.BOOTSTRAP_RESAMPLES + 1), 40
        )
        assert (bootstrap_p < 0.05) == (bound.upper < 0)
        assert bound.p_worse >= bootstrap_p


def _bootstrap_means(deltas: list[float], seed: int = 0) -> list[float]:
    """The replicates paired_graded draws, recomputed independently of its quantile code."""
    n = len(deltas)
    indices = stats._uniform_indices(random.Random(seed), n, n * stats.BOOTSTRAP_RESAMPLES)
    return [sum(deltas[j] for j in indices[i : i + n]) / n for i in range(0, len(indices), n)]


def _sampled(rng: random.Random, p: float, k: int) -> float:
    return sum(rng.random() < p for _ in range(k)) / k


def _regressed_pass_rates(rng: random.Random, k: int) -> Bound:
    """60 cases of varying difficulty, every case's pass probability 0.08 lower on head."""
    ps = [rng.uniform(0.5, 1.0) for _ in range(60)]
    return paired_binary([_sampled(rng, p, k) for p in ps], [_sampled(rng, p - 0.08, k) for p in ps])


def _regressed_judge(rng: random.Random) -> Bound:
    """100 cases, base wins 20%, head 10%: net benefit -0.10."""
    outcomes = rng.choices([1, -1, 0], [0.1, 0.2, 0.7], k=100)
    return net_benefit(outcomes.count(1), outcomes.count(0), outcomes.count(-1))


def _regressed_scores(rng: random.Random) -> Bound:
    """30 right-skewed score differences with mean -0.03."""
    return paired_graded([rng.expovariate(1 / 0.1) - 0.1 - 0.03 for _ in range(30)])


COVERAGE_SCENARIOS: dict[str, tuple[Callable[[random.Random], Bound], float, int]] = {
    "Tango, 0/1 pass flags": (lambda rng: _regressed_pass_rates(rng, 1), -0.08, 1000),
    "Tango + Rao-Scott, 3 samples averaged": (lambda rng: _regressed_pass_rates(rng, 3), -0.08, 1000),
    "Tango, judge net benefit": (_regressed_judge, -0.10, 1000),
    "expanded bootstrap, skewed scores": (_regressed_scores, -0.03, 200),
}


@pytest.mark.parametrize("label", list(COVERAGE_SCENARIOS))
def test_one_sided_lower_bound_covers_the_true_effect(label: str) -> None:
    """The pass side of the gate: a true regression of size m must clear -m at most ~5% of the time."""
    make, truth, runs = COVERAGE_SCENARIOS[label]
    started = time.perf_counter()
    rng = random.Random(2024)
    covered = sum(make(rng).lower <= truth for _ in range(runs)) / runs
    elapsed = time.perf_counter() - started
    print(f"\n{label}: one-sided 95% coverage {covered:.3f} over {runs} runs ({elapsed:.1f}s)")
    assert covered >= (0.935 if runs >= 1000 else 0.92)


def test_graded_bound_keeps_its_coverage_at_small_n() -> None:
    """Hesterberg's expansion: a plain percentile bootstrap covers only about 90% at n = 6."""
    rng = random.Random(6)
    runs = 600
    covered = sum(
        paired_graded([rng.gauss(-0.05, 0.1) for _ in range(6)]).lower <= -0.05 for _ in range(runs)
    )
    print(f"\nexpanded bootstrap, n = 6, normal scores: one-sided 95% coverage {covered / runs:.3f}")
    assert covered / runs >= 0.93


# --------------------------------------------------------------------------------------------
# Holm


def test_holm_textbook_example() -> None:
    # The Holm-Bonferroni example (e.g. Wikipedia, "Holm-Bonferroni method"): four hypotheses with
    # p = 0.01, 0.04, 0.03, 0.005 at alpha = 0.05 reject H1 and H4 only. Adjusted, in sorted order:
    # 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.06, 0.04*1) = 0.06.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]


def test_holm_properties() -> None:
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") = 0.05 0.08 0.09 0.09 0.09
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert holm([]) == []
    assert holm([0.3]) == [0.3]
    assert holm([0.6, 0.7, 0.01]) == pytest.approx([1.0, 1.0, 0.03])  # capped at 1


# --------------------------------------------------------------------------------------------
# Sample sizes


def test_cases_needed_with_no_discordant_case_is_exact() -> None:
    # No case changed: sd1 = 0 and sd0^2 = m(1 - m) at the margin, so
    # N = z^2 (1 - m) / m = 2.705543 * 0.95 / 0.05 = 51.4 -> 52 cases.
    assert cases_needed([0.0] * 40, 0.05, proportions=True) == 52
    # ...and that is exactly where the score bound starts to clear the margin.
    assert paired_binary([1] * 52, [1] * 52).lower > -0.05
    assert paired_binary([1] * 51, [1] * 51).lower < -0.05


def test_cases_needed_for_graded_means_by_hand() -> None:
    # sd = 0.2 (effects +-0.2 alternating, mean 0): N = ((1.6449 + 0.8416) * 0.2 / 0.05)^2
    # = (2.4865 * 4)^2 = 98.92 -> 99 (sample sd with n - 1 = 59 is 0.2 * sqrt(60/59)).
    effects = [0.2, -0.2] * 30
    sd = 0.2 * math.sqrt(60 / 59)
    expected = math.ceil(((Z95 + NormalDist().inv_cdf(0.8)) * sd / 0.05) ** 2)
    assert cases_needed(effects, 0.05, proportions=False) == expected == 101


def test_cases_needed_edges() -> None:
    assert cases_needed([], 0.05, proportions=True) is None
    # Beyond the margin the hint plans on "no change" instead of giving up.
    beyond = cases_needed([-1.0] * 5 + [0.0] * 45, 0.05, proportions=True)
    assert beyond is not None and beyond > 50
    assert cases_needed([0.3], 0.05, proportions=False) is None  # no spread from one case
    assert cases_needed([0.0] * 10, 0.25, proportions=False) == MIN_CASES
    # An observed improvement is planned on (the report says so): it needs fewer cases than none.
    centred = [0.2, -0.2] * 30
    improved = [d + 0.1 for d in centred]
    assert cases_needed(improved, 0.05, proportions=False) < cases_needed(centred, 0.05, proportions=False)


def test_cases_needed_is_stable_and_actionable() -> None:
    """Issue 9.4's cases: a clean gain in 6 cases, and 30 cases one case apart."""
    clean_gain = cases_needed([1.0, 1.0, 0.0, 0.0, 0.0, 0.0], 0.05, proportions=True)
    hints = [cases_needed([1.0] * gains + [-1.0] * losses + [0.0] * (30 - gains - losses), 0.05,
                          proportions=True) for gains, losses in ((6, 6), (6, 7), (5, 7))]
    print(f"clean +33 pts in 6 cases: {clean_gain}; 30 cases 6/6, 6/7, 5/7: {hints}")
    assert clean_gain is not None and clean_gain <= 30
    assert all(h is not None for h in hints)
    assert max(hints) <= 2 * min(hints)  # type: ignore[type-var, operator]
    # Across a grid of 30-case outcomes (0-10 gains x 0-10 losses), one case more or less moves
    # the hint by less than 4x anywhere (the largest moves are between small hints, 58 -> 213 when
    # a first loss appears) and by less than 2.5x where the hint asks for hundreds of cases. The
    # issue saw 992 -> 9,616 -> "more cases would not help".
    def hint(gains: int, losses: int) -> int:
        effects = [1.0] * gains + [-1.0] * losses + [0.0] * (30 - gains - losses)
        n = cases_needed(effects, 0.05, proportions=True)
        assert n is not None
        return n

    pairs = [(hint(g, k), hint(g + dg, k + dk))
             for g in range(10) for k in range(10) for dg, dk in ((1, 0), (0, 1))]
    jumps = [(max(a, b) / min(a, b), min(a, b)) for a, b in pairs]
    worst = max(j for j, _ in jumps)
    worst_large = max(j for j, smaller in jumps if smaller >= 300)
    print(f"largest one-case jump: {worst:.2f}x; between hints of 300 or more: {worst_large:.2f}x")
    assert worst < 4
    assert worst_large < 2.5
