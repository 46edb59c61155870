"""When the which-is-better judge's verdicts are too few or too unstable to measure anything.

A verdict that could not be read, a judge call that failed, and a pair of verdicts that disagree
between the two answer orders are *missing evidence* (:attr:`PairwiseResult.missing`). Left out of
the pairing, they cannot narrow the interval around "no difference"; but when many are missing,
or the judge mostly flips with the order, the verdicts that remain are not a sample of anything
either. Then the metric is **unmeasured**: it cannot let the suite pass (nor fail it), and the
headline says why.
"""

from __future__ import annotations

CONSISTENCY_WARNING = 0.70  # DESIGN.md §5: below this share of order-consistent verdicts, warn
MAX_MISSING_SHARE = 0.20  # more cases than this without a usable verdict: unmeasured
MIN_FOR_CONSISTENCY = 5  # the consistency rule needs this many readable judged cases


def unmeasured_reason(
    cases: int, readable: int, consistency: float | None,
    unparseable: int, inconsistent: int, errors: int, missing: int,
) -> str | None:
    """Why the which-is-better metric measures nothing, or None when it does.

    ``cases``: cases compared (identical answers included); ``readable``: judged cases with two
    readable verdicts in at least one sample; ``missing``: cases with no usable verdict; the other
    counts are per sample, for the sentence.
    """
    low = consistency is not None and consistency < CONSISTENCY_WARNING
    if readable >= MIN_FOR_CONSISTENCY and low:
        return (f"the judge gave the same verdict in both answer orders for only {consistency * 100:.0f}% "
                f"of {readable} judged cases (below {CONSISTENCY_WARNING * 100:.0f}%), so its verdicts "
                "follow the position, not the answers")
    if cases and missing / cases > MAX_MISSING_SHARE:
        why = [f"{n} {what}" for n, what in ((unparseable, "unreadable"),
                                             (inconsistent, "with disagreeing orders"),
                                             (errors, "failed judge calls")) if n]
        detail = f" ({', '.join(why)})" if why else ""
        return (f"{missing} of {cases} cases have no usable judge verdict{detail}, more than "
                f"{MAX_MISSING_SHARE * 100:.0f}%")
    return None
