"""How much of the judge's preference answer length explains: a length-controlled win rate.

LLM judges prefer longer answers (AlpacaEval's length-controlled win rate exists because of it:
Dubois et al., 2024, "Length-Controlled AlpacaEval"). Following that method, we fit a logistic
model of the judge's preference for head against the length difference of the two answers,

    logit P(head preferred) = theta + phi * tanh(log(len_head / len_base))

and read the preference *at equal length* (``theta``) as the length-controlled result: the
length-controlled net benefit is ``2 * sigmoid(theta) - 1`` (wins minus losses per case, on the
same scale as the raw which-is-better metric). Ties count as half a preference, as in AlpacaEval.

One review has one pair of prompts, so when every head answer is shorter (or longer) the data
cannot tell quality from length; the fit is regularised (a weak normal prior on both
coefficients, i.e. a MAP estimate with a Laplace interval) so that such a confounded run gives a
wide interval around ``theta`` instead of a confident number; and when fewer than a fifth of the
cases have a favoured side whose answer is not clearly longer, the fit would only extrapolate, so
the run is called *confounded*. The verdict reads :attr:`LengthControl.explains_preference`: the
favoured side's answers were the longer ones in most decisive cases, and either the run is
confounded or the preference is not significant once length is controlled (with the judge
favouring longer answers). Then the preference alone does not fail the suite (nor passes it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Prior standard deviations (logit scale) of the intercept and the length slope. The intercept's
# is the tighter one: when length and side are confounded, the preference is put on length (the
# known bias) rather than on the prompt; a few dozen cases whose lengths vary still identify it.
# Tuned by seeded simulation (tests/test_length_control.py): a length-only judge on uniformly
# shorter answers is "explained" in 100/100 runs, a real regression at similar lengths in 0/100.
_PRIOR_SD_THETA = 1.0
_PRIOR_SD_PHI = 3.0
_Z = 1.959964  # two-sided 95%
MIN_JUDGED = 8  # fewer decisive-or-tied judged cases than this: nothing is fitted
LONGER_SHARE = 2 / 3  # "the favoured side's answers were the longer ones" in at least this share
CLEARLY_LONGER = 0.15  # log length ratio above which one answer is "clearly longer" (about 16%)
MIN_COUNTER_SHARE = 0.2  # fewer counter-examples to "favoured = longer" than this: confounded


@dataclass(frozen=True)
class LengthControl:
    """The length-controlled view of one suite's which-is-better results."""

    n: int  # judged cases used (identical answers and missing verdicts left out)
    raw_net: float  # mean outcome, +1 head wins ... -1 base wins
    lc_net: float  # length-controlled net benefit: preference at equal length
    lc_lower: float  # two-sided 95% interval of lc_net
    lc_upper: float
    slope: float  # phi: > 0 means the judge favours the longer answer
    longer_share: float | None  # share of decisive cases won by the longer answer
    counter_share: float  # share of cases where the favoured side's answer was not clearly longer

    @property
    def confounded(self) -> bool:
        """Too few cases where the favoured side was not also the longer one to tell the two apart:
        the fit would extrapolate to equal length, so its interval is not trusted."""
        return self.counter_share < MIN_COUNTER_SHARE

    @property
    def explains_preference(self) -> bool:
        """Whether answer length alone can account for the judge's preference."""
        if self.raw_net == 0 or self.longer_share is None or self.longer_share < LONGER_SHARE:
            return False
        if self.confounded:
            return True
        still_significant = self.lc_lower > 0 if self.raw_net > 0 else self.lc_upper < 0
        return not still_significant and self.slope > 0


def length_control(outcomes: Sequence[float], base_lengths: Sequence[int],
                   head_lengths: Sequence[int]) -> LengthControl | None:
    """Fit the model to per-case outcomes (+1/0/-1, or sample means) and answer lengths (chars)."""
    if not len(outcomes) == len(base_lengths) == len(head_lengths):
        raise ValueError("outcomes and lengths must have one entry per case")
    n = len(outcomes)
    if n < MIN_JUDGED:
        return None
    ratios = [math.log((h + 1) / (b + 1)) for b, h in zip(base_lengths, head_lengths, strict=True)]
    xs = [math.tanh(r) for r in ratios]
    ys = [(o + 1) / 2 for o in outcomes]
    theta, phi, cov = _fit(xs, ys)
    se = math.sqrt(max(cov[0][0], 0.0))
    decisive = [(x, o) for x, o in zip(xs, outcomes, strict=True) if o != 0 and x != 0]
    longer = sum(1 for x, o in decisive if (x > 0) == (o > 0))
    raw = sum(outcomes) / n
    favoured = 1.0 if raw >= 0 else -1.0  # +1: head's side; ratios are log(head / base)
    counter = sum(1 for r in ratios if favoured * r <= CLEARLY_LONGER)
    return LengthControl(
        n=n,
        raw_net=raw,
        lc_net=_net(theta),
        lc_lower=_net(theta - _Z * se),
        lc_upper=_net(theta + _Z * se),
        slope=phi,
        longer_share=longer / len(decisive) if decisive else None,
        counter_share=counter / n,
    )


def _net(logit: float) -> float:
    return 2.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0))) - 1.0


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, list[list[float]]]:
    """MAP logistic regression by Newton's method; returns (theta, phi, posterior covariance)."""
    lam = (1 / _PRIOR_SD_THETA**2, 1 / _PRIOR_SD_PHI**2)
    theta = phi = 0.0
    cov = [[_PRIOR_SD_THETA**2, 0.0], [0.0, _PRIOR_SD_PHI**2]]
    for _ in range(100):
        g0, g1 = -lam[0] * theta, -lam[1] * phi
        h00, h01, h11 = lam[0], 0.0, lam[1]
        for x, y in zip(xs, ys, strict=True):
            p = 1.0 / (1.0 + math.exp(-(theta + phi * x)))
            g0 += y - p
            g1 += (y - p) * x
            w = p * (1.0 - p)
            h00 += w
            h01 += w * x
            h11 += w * x * x
        det = h00 * h11 - h01 * h01
        cov = [[h11 / det, -h01 / det], [-h01 / det, h00 / det]]
        step0 = cov[0][0] * g0 + cov[0][1] * g1
        step1 = cov[1][0] * g0 + cov[1][1] * g1
        theta += step0
        phi += step1
        if abs(step0) + abs(step1) < 1e-9:
            break
    return theta, phi, cov
