"""People settle what the judge can't: a human verdict replaces the judge's for a case.

The verdicts come from ``/prefer head CASE``, ``/prefer base CASE`` and ``/tie CASE`` on the PR
(``github/prefer.py``) or ``compare --prefer CASE=head`` locally. Each replaces every sample's
pairwise outcome of that case (the judge's own judgements are kept, so the report can say what
the judge had said); the case's classification and the suite's wins / ties / losses and verdict
are then computed from it as from any judged case. Answers and judge calls are unchanged, so a
review recomputed this way is answered from the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from promptreview.results import CaseComparison, PairwiseResult
from promptreview.review_result import HumanVerdict
from promptreview.suite import MetricSpec
from promptreview.summarize import case_values, classify

SIDES = ("head", "base", "tie")


def verdicts_for(suite: str, given: Sequence[tuple[str, str, str]]) -> dict[str, tuple[str, str]]:
    """``case id -> (verdict, who)`` for one suite; ``SUITE:CASE`` keys only for that suite.

    Later entries win, so a second command on the same case corrects the first.
    """
    out: dict[str, tuple[str, str]] = {}
    for key, side, who in given:
        if side not in SIDES:
            continue
        prefix, sep, rest = key.partition(":")
        if sep and prefix == suite:
            out[rest] = (side, who)
        elif not (sep and key.startswith(suite + ":")):
            out[key] = (side, who)
    return out


def settle(
    comparisons: Sequence[CaseComparison], verdicts: dict[str, tuple[str, str]]
) -> tuple[list[CaseComparison], tuple[HumanVerdict, ...]]:
    """Apply the verdicts to the cases they name that have both answers; the rest are untouched."""
    out: list[CaseComparison] = []
    settled: list[HumanVerdict] = []
    for c in comparisons:
        given = verdicts.get(c.case_id)
        if given is None or c.base is None or c.head is None:
            out.append(c)
            continue
        side, who = given
        judge = _judge_said(c)
        samples = c.pairwise or (PairwiseResult(0, "tie"),)
        pairwise = tuple(
            replace(p, outcome=side, identical=False, consistent=True, unparseable=False, error=None)  # type: ignore[arg-type]
            for p in samples
        )
        settled_case = replace(c, pairwise=pairwise)
        change, moved = classify(
            case_values(c.base),
            case_values(c.head),
            settled_case.pairwise_score,
            c.head.errored,
            c.base.errored,
        )
        out.append(replace(settled_case, change=change, changed_metrics=moved))
        settled.append(HumanVerdict(c.case_id, side, who, judge))
    return out, tuple(settled)


def _judge_said(c: CaseComparison) -> str | None:
    if not c.pairwise:
        return None
    score = c.pairwise_score
    if score is None:
        return "tie"  # the judge gave no usable verdict (orders disagreed, unreadable): undecided
    return "head" if score > 0 else "base" if score < 0 else "tie"


LOOK_LIMIT = 5


def worth_a_look(
    comparisons: Sequence[CaseComparison], specs: Sequence[MetricSpec], limit: int = LOOK_LIMIT
) -> list[tuple[str, str]]:
    """The few cases a person should look at, with why: the judge's two orders disagreed, the
    judge contradicted a deterministic check, or a 1-5 grade sits on the pass line."""
    from promptreview.metrics import registry

    deterministic = {s.name for s in specs if not _needs_llm(registry, s.kind) and s.gate}
    minimum = {s.name: int(s.args.get("min", 4)) for s in specs if s.kind == "rubric"}
    found: list[tuple[str, str]] = []
    for c in comparisons:
        why = _why(c, deterministic, minimum)
        if why:
            found.append((c.case_id, why))
        if len(found) >= limit:
            break
    return found


def _needs_llm(registry: object, kind: str) -> bool:
    try:
        d = registry.get(kind)  # type: ignore[attr-defined]
    except Exception:
        return True
    return bool(d.needs_llm or d.needs_embeddings or d.kind == "signal")


def _why(c: CaseComparison, deterministic: set[str], minimum: dict[str, int]) -> str | None:
    if c.base is None or c.head is None:
        return None
    if any(
        not p.identical and not p.consistent and p.error is None and not p.unparseable for p in c.pairwise
    ):
        return "the judge's two orders disagreed"
    score = c.pairwise_score
    if score:
        winner, loser = (c.head, c.base) if score > 0 else (c.base, c.head)
        side = "head" if score > 0 else "base"
        for name in sorted(deterministic):
            if _all_pass(loser, name) and _any_fail(winner, name):
                return f"the judge preferred {side}, but {side} fails `{name}`"
    for name, low in minimum.items():
        for s in c.head.samples:
            for m in s.metrics:
                if m.metric == name and m.grade is not None and m.grade in (low, low - 1):
                    return f"head's `{name}` grade {m.grade:.0f} sits on the pass line (min {low})"
    return None


def _results(side: object, name: str) -> list[object]:
    return [m for s in side.samples for m in s.metrics if m.metric == name and m.error is None]  # type: ignore[attr-defined]


def _all_pass(side: object, name: str) -> bool:
    results = _results(side, name)
    return bool(results) and all(m.passed for m in results)  # type: ignore[attr-defined]


def _any_fail(side: object, name: str) -> bool:
    return any(not m.passed and not m.skipped for m in _results(side, name))  # type: ignore[attr-defined]


def look_note(items: Sequence[tuple[str, str]]) -> str | None:
    if not items:
        return None
    listed = "; ".join(f"`{case}` ({why})" for case, why in items)
    return (
        f"Worth a human look: {listed}. A maintainer can settle a case with `/prefer head CASE`, "
        "`/prefer base CASE` or `/tie CASE`."
    )
