"""Paired statistics for the verdict: one-sided bounds on a mean effect, p-values, Holm, sample sizes.

Pure functions, no I/O, standard library only (the product must not depend on numpy/scipy).

The case is the unit of analysis. Every function here takes one value per case (samples already
averaged within the case, see :func:`average_samples`) and reports the mean paired effect
``d = head - base`` with a :class:`Bound`:

* ``lower`` and ``upper`` are each a *one-sided* bound at ``confidence`` (0.95 by default), so
  together they form a two-sided ``2 * confidence - 1`` interval (90% by default). The verdict
  needs exactly these: "pass" asks whether ``lower`` clears ``-margin``, "fail" whether head is
  significantly worse.
* ``p_worse`` is the one-sided p-value of the null "mean effect >= 0" against "head is worse"
  (mean effect < 0). It is what Holm's procedure adjusts across metrics and suites. It is the
  larger of the method's own p-value and the exact one-sided sign test on the cases that changed
  (see "Guarding the fail decision" below).

Methods (and why):

* **Paired pass/fail data** (:func:`paired_binary`) and the **pairwise judge** (:func:`net_benefit`):
  Tango's asymptotic score interval for a difference of paired proportions (T. Tango, "Equivalence
  test and confidence interval for the difference in proportions for the paired-sample design",
  Statistics in Medicine 17:891-908, 1998). Score intervals invert the score test, never leave
  [-1, 1], and unlike the Wald interval stay honest when few cases change (zero discordant cases
  still give a bound of width ``z^2 / (n + z^2)``, not zero). At ``Delta = 0`` the score test is
  McNemar's test.
  Fagerland, Lydersen & Laake (Statistical Analysis of Contingency Tables, 2017, ch. 8) recommend it
  among the paired-difference intervals; the tests reproduce their worked example.
* **Sample-averaged pass rates** (k samples per case give fractions like 2/3): Tango's interval on
  *effective counts* (Rao & Scott, "A simple method for the analysis of clustered binary data",
  Biometrics 48:577-585, 1992). Averaging samples shrinks the per-case variance below what
  Tango's 0/1 model assumes; the design effect ``rho = sum(d^2) / sum(|d|)`` (1 for 0/1 data)
  measures by how much, and dividing the counts and ``n`` by ``rho`` gives an interval whose
  variance matches the observed one. At ``Delta = 0`` this reduces exactly to the clustered
  McNemar statistic ``sum(d) / sqrt(sum(d^2))`` of Durkalski et al. ("Analysis of clustered
  matched-pair data", Statistics in Medicine 22:2417-2428, 2003).
* **Graded scores** (:func:`paired_graded`): a seeded percentile bootstrap of the mean with
  Hesterberg's small-sample *expansion* (T. Hesterberg, "What teachers should know about the
  bootstrap", The American Statistician 69:371-386, 2015): the tail probability is widened so
  that for normal data the bound equals the Student-t bound. The plain percentile bootstrap is
  too narrow at the case counts promptreview sees (n of 8-100), which would make A/A comparisons
  fail too often. Quantiles use the ``(B + 1)`` convention of Davison & Hinkley (Bootstrap Methods
  and their Application, 1997, sec. 5.2).
* **Tiny samples** (fewer than :data:`MIN_CASES` cases): graded bounds are Student-t bounds (the
  bootstrap has too few distinct resamples), and the verdict refuses to certify a margin.

Guarding the fail decision. Prompt evals usually change only a handful of cases between base and
head, and with few changed cases every asymptotic test over-rejects: with 4 changed cases all
going the same way McNemar's z is -2.0 (one-sided p = 0.023), yet under "no change" that
happens 1 time in 16. A false "worse" blocks a harmless pull request, so ``p_worse`` is never
smaller than the exact one-sided sign test on the per-case signs, i.e. the exact conditional
McNemar test for 0/1 data (see Fagerland, Lydersen & Laake, "The McNemar test for binary
matched-pairs data: mid-p and asymptotic are better than exact conditional", BMC Medical
Research Methodology 13:91, 2013, who show the exact test is conservative, which is the point
here). The sign test is exact whenever head and base are exchangeable, so the guard keeps the
size at or below the nominal level in A/A comparisons; with many changed cases it agrees with
the asymptotic test, and with 4 or fewer changed cases nothing can be declared worse at 5%.
The bounds stay the methods' own, so an upper bound slightly below 0 need not mean "worse".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "MIN_CASES",
    "Bound",
    "average_samples",
    "cases_needed",
    "friendly_count",
    "holm",
    "net_benefit",
    "paired_binary",
    "paired_graded",
    "planned_effect",
]

MIN_CASES = 5
"""With fewer paired cases no margin is certified and graded bounds are Student-t bounds."""

BOOTSTRAP_RESAMPLES = 2000
"""Bootstrap resamples for graded scores: Monte Carlo error of a 5% tail is about 0.5 points of
probability, small against the effects a margin is about, and it stays fast in pure Python."""

_STD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Bound:
    """The mean paired effect (head - base) of one metric, with one-sided bounds.

    ``lower`` and ``upper`` are each one-sided bounds at the requested confidence (a 95% lower
    bound and a 95% upper bound; together a 90% interval). ``p_worse`` is the one-sided p-value
    for "head is worse" (null: mean effect >= 0). ``n`` counts paired cases. ``method`` names the
    statistic, for the report.
    """

    estimate: float
    lower: float
    upper: float
    p_worse: float
    n: int
    method: str


def average_samples(per_case: Iterable[Sequence[float]]) -> tuple[float, ...]:
    """Average each case's samples, so the case (not the sample) is the unit of analysis.

    Samples of one case share its difficulty; treating them as independent cases would make
    every interval too narrow. Cases with no samples (all errored) must be dropped by the caller
    beforehand, because an error says nothing about the prompt.
    """
    means = []
    for samples in per_case:
        if not samples:
            raise ValueError("a case with no samples cannot be averaged; drop errored cases first")
        means.append(math.fsum(samples) / len(samples))
    return tuple(means)


# --------------------------------------------------------------------------------------------
# Paired proportions: Tango's score interval


def paired_binary(base: Sequence[float], head: Sequence[float], confidence: float = 0.95) -> Bound:
    """Bound the change in pass rate from paired per-case pass values in [0, 1].

    Values are 0/1 pass flags, or fractions when each case was sampled k times and averaged.
    For 0/1 data this is Tango's (1998) score interval on the discordant counts ``b`` (base passed,
    head failed) and ``c`` (head passed, base failed). For fractions it is the same interval on
    Rao-Scott effective counts (see the module docstring), which keeps the benefit of sampling
    each case several times without pretending the samples are separate cases.
    """
    if len(base) != len(head):
        raise ValueError(f"base has {len(base)} cases but head has {len(head)}; pairs must line up")
    for value in (*base, *head):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"pass values must lie in [0, 1], got {value!r}")
    return _paired_differences([h - b for b, h in zip(base, head, strict=True)], confidence)


def net_benefit(wins: int, ties: int, losses: int, confidence: float = 0.95) -> Bound:
    """Bound the judge's net benefit of head, ``(wins - losses) / n``, with ties counting 0.

    Among n cases, "head wins" and "base wins" are two disjoint outcomes of one multinomial, so
    their difference has the same structure as a difference of paired proportions (wins play the
    role of cases only head passes, losses of cases only base passes, ties of concordant cases).
    Hence Tango's score interval applies unchanged. Symmetric data (wins == losses) give an
    interval centred at 0.
    """
    if min(wins, ties, losses) < 0:
        raise ValueError("wins, ties and losses must be counts (>= 0)")
    n = wins + ties + losses
    method = "Tango score interval (wins vs losses, ties count 0); p guarded by exact sign test"
    if n == 0:
        return Bound(0.0, -1.0, 1.0, 1.0, 0, "no cases")
    lower, upper, p_worse = _tango(float(wins), float(losses), float(n), confidence)
    p_worse = max(p_worse, _sign_test(negatives=losses, positives=wins))
    return Bound((wins - losses) / n, lower, upper, p_worse, n, method)


def _paired_differences(diffs: Sequence[float], confidence: float) -> Bound:
    """Tango's interval for per-case differences in [-1, 1], with the Rao-Scott adjustment."""
    n = len(diffs)
    if n == 0:
        return Bound(0.0, -1.0, 1.0, 1.0, 0, "no cases")
    gained, lost, n_eff, rho = _effective_counts(diffs)
    method = "Tango score interval"
    if rho < 1.0 - 1e-12:
        method += f" on Rao-Scott effective counts (design effect {rho:.2f})"
    lower, upper, p_worse = _tango(gained, lost, n_eff, confidence)
    p_worse = max(p_worse, _signs_p(diffs))
    method += "; p guarded by exact sign test"
    return Bound((gained - lost) / n_eff, lower, upper, p_worse, n, method)


def _effective_counts(diffs: Sequence[float]) -> tuple[float, float, float, float]:
    """(gained, lost, n) for Tango, divided by the Rao-Scott design effect; and that effect.

    ``gained`` sums the positive differences (head passes where base failed), ``lost`` the
    negative ones. ``rho = sum(d^2) / sum(|d|)`` is 1 for 0/1 data (d^2 == |d|), so only averaged
    samples are adjusted; with no discordant case there is nothing to estimate it from and the
    unadjusted (wider) analysis is kept.
    """
    gained = math.fsum(d for d in diffs if d > 0)
    lost = -math.fsum(d for d in diffs if d < 0)
    discordant = gained + lost
    rho = min(1.0, math.fsum(d * d for d in diffs) / discordant) if discordant > 0 else 1.0
    return gained / rho, lost / rho, len(diffs) / rho, rho


def _tango_variance(gained: float, lost: float, n: float, delta: float) -> float:
    """Per-pair variance of the difference under ``p12 - p21 = delta``: ``2*q21 + delta*(1 - delta)``.

    ``q21`` is the maximum likelihood estimate of p21 restricted to that difference (Tango 1998,
    eq. 5): ``q21 = (sqrt(B^2 - 4AC) - B) / (2A)`` with ``A = 2n``,
    ``B = -n12 - n21 + (2n - n12 + n21) * delta``, ``C = -n21 * delta * (1 - delta)``, where
    n12 = gained and n21 = lost.
    """
    a = 2.0 * n
    b = -gained - lost + (2.0 * n - gained + lost) * delta
    c = -lost * delta * (1.0 - delta)
    q21 = (math.sqrt(max(0.0, b * b - 4.0 * a * c)) - b) / (2.0 * a)
    return max(0.0, 2.0 * q21 + delta * (1.0 - delta))


def _tango(gained: float, lost: float, n: float, confidence: float) -> tuple[float, float, float]:
    """Tango's score bounds and the one-sided p-value for ``Delta = (gained - lost) / n < 0``.

    Tango (1998), eq. (4): ``T(D) = (n12 - n21 - n*D) / sqrt(n * V(D))`` with the restricted
    variance V of :func:`_tango_variance`. T decreases in D; the bounds solve ``T(D) = +-z``, and
    ``p_worse = Phi(T(0))``, which is McNemar's statistic ``(n12 - n21) / sqrt(n12 + n21)``.
    """
    z = _STD_NORMAL.inv_cdf(confidence)
    estimate = (gained - lost) / n

    def score(delta: float) -> float:
        variance = n * _tango_variance(gained, lost, n, delta)
        numerator = gained - lost - n * delta
        if variance <= 0.0:
            return math.copysign(math.inf, numerator) if numerator else 0.0
        return numerator / math.sqrt(variance)

    lower = _solve_decreasing(score, z, -1.0, estimate)
    upper = _solve_decreasing(score, -z, estimate, 1.0)
    p_worse = 1.0 if gained + lost == 0 else _STD_NORMAL.cdf(score(0.0))
    return lower, upper, p_worse


def _solve_decreasing(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """Find x in [lo, hi] with f(x) = target for a decreasing f, clamping to the ends."""
    if f(lo) <= target:
        return lo
    if f(hi) >= target:
        return hi
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def _signs_p(diffs: Sequence[float]) -> float:
    return _sign_test(negatives=sum(d < 0 for d in diffs), positives=sum(d > 0 for d in diffs))


def _sign_test(negatives: int, positives: int) -> float:
    """Exact one-sided sign test: P(at least ``negatives`` of the changed cases got worse | no change)."""
    changed = negatives + positives
    if changed == 0:
        return 1.0
    tail = sum(math.comb(changed, k) for k in range(negatives, changed + 1))
    return tail / 2.0**changed


# --------------------------------------------------------------------------------------------
# Graded scores: expanded percentile bootstrap


def paired_graded(
    deltas: Sequence[float],
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Bound:
    """Bound the mean of per-case score differences (head - base) with a seeded bootstrap.

    Percentile bootstrap of the mean with Hesterberg's (2015) expansion: the tail used is
    ``alpha' = Phi(-sqrt(n / (n - 1)) * t_{n-1, confidence})`` instead of ``alpha``, which removes
    the percentile method's known narrowness at small n (for normal data it reproduces the
    t-bound), while keeping the bootstrap's robustness to skewed, tie-heavy score differences.
    The bootstrap p-value inverts the same rule at 0: the tail ``(#{mean* >= 0} + 1) / (B + 1)``
    mapped back through the expansion (so it is below ``1 - confidence`` exactly when ``upper < 0``);
    ``p_worse`` is the larger of that and the exact sign test (module docstring). The same seed and
    data always give the same bound.

    With fewer than :data:`MIN_CASES` cases the bootstrap has too few distinct resamples to mean
    anything: the bounds are Student-t bounds (infinite for one case) and ``p_worse`` is the exact
    sign test alone.
    """
    n = len(deltas)
    if n == 0:
        return Bound(0.0, -math.inf, math.inf, 1.0, 0, "no cases")
    mean = math.fsum(deltas) / n
    sign_p = _signs_p(deltas)
    if n < MIN_CASES:
        if n == 1:
            return Bound(mean, -math.inf, math.inf, sign_p, 1, "single case: no bound")
        half = _t_ppf(confidence, n - 1) * math.sqrt(_sample_variance(deltas) / n)
        method = f"Student t bound and exact sign test (fewer than {MIN_CASES} cases)"
        return Bound(mean, mean - half, mean + half, sign_p, n, method)

    tail = _expanded_tail(1.0 - confidence, n)
    values = list(deltas).__getitem__
    indices = _uniform_indices(random.Random(seed), n, n * resamples)
    means = sorted(sum(map(values, indices[i : i + n])) / n for i in range(0, n * resamples, n))
    # (B + 1) quantile convention: the k-th smallest of B replicates estimates the k/(B+1) quantile.
    k_low = min(resamples, max(1, math.floor(tail * (resamples + 1))))
    k_high = min(resamples, max(1, math.ceil((1.0 - tail) * (resamples + 1))))
    lower, upper = means[k_low - 1], means[k_high - 1]
    # Compare with a tolerance: float sums of equal values can land an ulp either side of 0.
    not_worse = sum(m >= -1e-12 for m in means)
    p_worse = max(sign_p, _unexpand_tail((not_worse + 1) / (resamples + 1), n))
    method = (
        f"percentile bootstrap of the mean, Hesterberg-expanded ({resamples} resamples, seed {seed}); "
        "p guarded by exact sign test"
    )
    return Bound(mean, lower, upper, p_worse, n, method)


def _uniform_indices(rng: random.Random, n: int, count: int) -> Sequence[int]:
    """``count`` independent uniform draws from ``range(n)``.

    For n <= 256 (most suites) random bytes are filtered and mapped in C by ``bytes.translate``:
    bytes at or above the largest multiple of n are rejected, so ``byte % n`` stays exactly uniform.
    That is about twice as fast as :meth:`random.Random.choices`, which the A/A simulations in
    the tests feel; larger suites use ``choices``.
    """
    if n > 256:
        return rng.choices(range(n), k=count)
    limit = 256 - 256 % n
    to_index = bytes(b % n for b in range(256))
    rejected = bytes(range(limit, 256))
    drawn = b""
    while len(drawn) < count:
        missing = count - len(drawn)
        drawn += rng.randbytes(missing * 256 // limit + 16).translate(to_index, rejected)
    return drawn[:count]


def _sample_variance(values: Sequence[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def _expanded_tail(alpha: float, n: int) -> float:
    """Hesterberg's expanded percentile tail: Phi(-sqrt(n/(n-1)) * t_{n-1, 1-alpha})."""
    return _STD_NORMAL.cdf(-math.sqrt(n / (n - 1)) * _t_ppf(1.0 - alpha, n - 1))


def _unexpand_tail(tail: float, n: int) -> float:
    """Invert :func:`_expanded_tail`: the alpha whose expanded tail equals ``tail``."""
    if tail >= 1.0:
        return 1.0
    return _t_cdf(_STD_NORMAL.inv_cdf(tail) * math.sqrt((n - 1) / n), n - 1)


# --------------------------------------------------------------------------------------------
# Student t distribution (no scipy): CDF from the regularized incomplete beta function.


def _t_cdf(t: float, dof: int) -> float:
    """P(T <= t) for Student's t with ``dof`` degrees of freedom."""
    x = dof / (dof + t * t)
    half_tail = 0.5 * _betainc(dof / 2.0, 0.5, x)
    return 1.0 - half_tail if t > 0 else half_tail


@lru_cache(maxsize=512)
def _t_ppf(p: float, dof: int) -> float:
    """Quantile of Student's t, by bisection on the CDF (only a handful of distinct calls per run)."""
    lo, hi = -1.0, 1.0
    while _t_cdf(lo, dof) > p:
        lo *= 2.0
    while _t_cdf(hi, dof) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if _t_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes 6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1.0) / (a + b + 2.0):
        # The continued fraction converges fast only below the mean; use the symmetry otherwise.
        return 1.0 - _betainc(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a


# --------------------------------------------------------------------------------------------
# Multiplicity and planning


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (S. Holm, "A simple sequentially
    rejective multiple test procedure", Scandinavian Journal of Statistics 6:65-70, 1979).

    Sort ascending; the i-th smallest (1-based) gets ``(m - i + 1) * p``, made non-decreasing
    along the sorted order and capped at 1. Rejecting every hypothesis whose adjusted p-value is
    below alpha controls the family-wise error rate at alpha under any dependence, which is what
    a gate over many metrics and suites needs: one false "worse" blocks a merge.
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def planned_effect(effects: Sequence[float]) -> float:
    """The true effect a sample-size hint assumes: the observed gain discounted for its noise, or 0.

    An observed drop (or nothing) plans on "no change": planning at a drop makes the hint jump by
    orders of magnitude when one case moves the mean towards ``-margin``. An observed gain ``m``
    with standard error ``se`` plans on ``m * z^2 / (1 + z^2)`` with ``z = m / se``: the posterior
    mean of the effect under a normal prior centred at 0 whose spread is the gain itself. A gain
    within its noise (z = 1) counts half, a clear one (z = 3) 90%, so a clean improvement in a few
    cases is told it needs a few more cases, not hundreds, while the hint moves smoothly (one case
    more or less changes it by well under a factor of 2 at 30 cases) instead of switching from
    "no change" to "the whole gain" at some threshold.
    """
    n = len(effects)
    mean = math.fsum(effects) / n if n else 0.0
    if n < 2 or mean <= 0:
        return 0.0
    se2 = _sample_variance(effects) / n
    return mean * mean * mean / (mean * mean + se2)


def friendly_count(n: int) -> int:
    """``n`` rounded up to two significant figures (52, 390, 1,000, 9,700): a sample-size hint is
    a rough plan, and "about 9,616 cases" claims a precision it does not have."""
    if n < 100:
        return n
    step = 10 ** (len(str(n)) - 2)
    return -(-n // step) * step


def cases_needed(
    effects: Sequence[float],
    margin: float,
    *,
    proportions: bool,
    confidence: float = 0.95,
    power: float = 0.8,
) -> int | None:
    """Roughly how many cases would certify ``lower bound > -margin``, from the observed data.

    ``effects`` are the per-case paired effects (head - base; the judge's +1/0/-1 outcomes for
    the pairwise metric). The standard non-inferiority sample size (Nam, "Establishing equivalence
    of two treatments and sample size requirements in matched-pairs design", Biometrics
    53:1422-1430, 1997; Liu et al., Statistics in Medicine 21:231-245, 2002) is

        N = ((z_c * sd0 + z_p * sd1) / (margin + D))^2

    with ``z_c = Phi^-1(confidence)``, ``z_p = Phi^-1(power)`` (80% by default: with N cases the
    bound clears the margin four times in five), ``D`` the planned true effect, ``sd1`` the
    per-case standard deviation at ``D`` and ``sd0`` the one at the margin (``-margin``). For paired
    proportions (``proportions=True``: pass/fail and pairwise) both come from Tango's restricted
    variance on the same (Rao-Scott-adjusted) counts as :func:`paired_binary`, which matters when
    few cases changed: with no discordant case ``sd1 = 0`` but ``sd0^2 = margin * (1 - margin)``, so
    N = z_c^2 (1 - margin) / margin, about 52 cases for a 5-point margin, exactly what the score
    bound needs. For graded means ``sd0 = sd1`` = the sample standard deviation.

    The planned effect is :func:`planned_effect`: an observed improvement discounted for its noise,
    else no change (head as good as base). Planning at an observed drop makes the hint jump by
    orders of magnitude when one case moves the mean towards ``-margin`` (and "no number would do"
    beyond it), which nobody can act on; planning at 0 makes it depend on the spread alone, so it
    moves smoothly. A clear improvement *is* planned on, so a clean gain in a few cases is told it
    needs a few more cases, not hundreds. The report states the assumption.

    Returns None only when there is nothing to plan from (no cases, or fewer than two graded
    cases). Never less than :data:`MIN_CASES`.
    """
    n = len(effects)
    if n == 0 or margin <= 0:
        return None
    planned = planned_effect(effects)
    distance = margin + planned
    if proportions:
        gained, lost, n_eff, rho = _effective_counts(effects)
        sd1 = math.sqrt(rho * _tango_variance(gained, lost, n_eff, planned))
        sd0 = math.sqrt(rho * _tango_variance(gained, lost, n_eff, -margin))
    else:
        if n < 2:
            return None
        sd0 = sd1 = math.sqrt(_sample_variance(effects))
    z_c = _STD_NORMAL.inv_cdf(confidence)
    z_p = _STD_NORMAL.inv_cdf(power)
    needed = ((z_c * sd0 + z_p * sd1) / distance) ** 2
    return max(MIN_CASES, math.ceil(needed - 1e-9))
