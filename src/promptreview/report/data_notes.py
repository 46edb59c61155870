"""Suite notes about the eval data and the people in the loop: coverage of production inputs,
the judge's agreement with human labels, and the cases a person settled on the PR.

Plain sentences like the other suite notes; untrusted parts (paths, examples, case ids, logins)
are quoted in backticks, which the prose filter shows as escaped code.
"""

from __future__ import annotations

from promptreview.review_result import SuiteResult

_EXAMPLE_CHARS = 80


def _quote(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    text = " ".join(text.replace("`", "'").split())
    return "`" + (text if len(text) <= limit else text[: limit - 1] + "…") + "`"


def data_notes(suite: SuiteResult) -> list[str]:
    notes: list[str] = []
    cov = suite.coverage
    if cov is not None:
        if cov.error:
            notes.append(f"Coverage of {_quote(cov.inputs)} could not be measured: {cov.error}.")
        elif cov.total:
            share = cov.covered / cov.total * 100
            sentence = (
                f"Coverage: {share:.0f}% of {cov.total:,} production inputs ({_quote(cov.inputs)}) "
                f"have a case within similarity {cov.radius:.2f}"
            )
            if cov.largest_gap and cov.gap_example:
                sentence += (
                    f"; the largest uncovered cluster has {cov.largest_gap:,}, e.g. {_quote(cov.gap_example)}"
                )
            notes.append(sentence + ".")
    agree = suite.judge_agreement
    if agree is not None:
        if agree.error and not agree.n:
            notes.append(f"The judge could not be checked against {_quote(agree.labels)}: {agree.error}.")
        elif agree.n:
            kappa = f"; Cohen's kappa {agree.kappa:.2f}" if agree.kappa is not None else ""
            unusable = (f"; the judge gave no usable answer for {agree.unusable} of {agree.pairs} pairs, "
                        "left out" if agree.unusable else "")
            notes.append(
                f"Judge agrees with your labels {agree.agree / agree.n * 100:.0f}% (n={agree.n}{kappa}; "
                f"{_quote(agree.labels)}){unusable}."
            )
        elif agree.unusable:
            # No verdict at all is not a 0% agreement or a 0% order-consistent judge: say what happened.
            notes.append(f"The judge could not be checked against {_quote(agree.labels)}: the judge gave no "
                         f"usable answer ({agree.unusable} of {agree.pairs} pair{'s' * (agree.pairs != 1)}).")
    if suite.settled:
        parts = [
            f"{_quote(v.case_id, 60)} → {v.prefer} by {_quote(v.by, 40)}"
            + (f" (the judge said {v.judge})" if v.judge and v.judge != v.prefer else "")
            for v in suite.settled
        ]
        notes.append(f"Settled by a person, replacing the judge: {'; '.join(parts)}.")
    return notes
