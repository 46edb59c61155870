"""The data figures a review shows per suite: coverage of production inputs (``coverage:
{inputs}``) and the judge's agreement with human labels (``judge: {labels}``).

Both files are read from the base revision when there is one: like the gate, they are how the
suite is measured, so the PR under review does not choose them. Embeddings and judge calls go
through the review's client and cache. Neither figure gates; a failure becomes a line in the
report, never a failed review.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from promptreview.errors import PromptReviewError
from promptreview.review_result import CoverageFigure, JudgeAgreement

if TYPE_CHECKING:
    from promptreview.materialize import PreparedSuite
    from promptreview.results import CaseComparison, CaseResult


async def suite_figures(
    p: PreparedSuite,
    comparisons: Sequence[CaseComparison],
    client: Any,
    read: Callable[[str], str | None],
) -> tuple[CoverageFigure | None, JudgeAgreement | None]:
    """``comparisons``: the suite's scored cases, whose answers carry the messages each case was
    asked with (the rendered cases are released once scored)."""
    suite = p.plan.suite
    if p.error is not None or not p.cases:
        return None, None
    coverage = await _coverage(p, comparisons, client, read) if suite.coverage else None
    agreement = await _agreement(p, client, read) if suite.judge_labels else None
    return coverage, agreement


async def _coverage(
    p: PreparedSuite, comparisons: Sequence[CaseComparison], client: Any, read: Callable[[str], str | None]
) -> CoverageFigure:
    from promptreview.data.coverage import input_texts, measure
    from promptreview.data.records import records_from_lines
    from promptreview.data.template_match import matcher_for

    spec = p.plan.suite.coverage
    assert spec is not None
    # Production ran the base prompt: its logs are mapped back with the base's templates.
    version = p.base or p.head
    assert version is not None
    text = read(spec.inputs)
    if text is None:
        return CoverageFigure(
            spec.inputs, radius=spec.radius, error="the inputs file is not in the repository"
        )
    side = "base" if p.base is not None else "head"
    messages = {c.case_id: _last_user(_asked(getattr(c, side))) for c in comparisons}
    try:
        matcher = matcher_for(version.prompt, read)
        inputs, unmapped, space = input_texts(records_from_lines(text.splitlines(), spec.inputs), matcher)
        report = await measure(
            client,
            p.plan.suite.embedding_model,
            inputs,
            space,
            p.cases,
            lambda c: messages.get(c.id, ""),
            spec.radius,
            unmapped=unmapped,
            top=1,
        )
    except PromptReviewError as exc:
        return CoverageFigure(spec.inputs, radius=spec.radius, error=str(exc))
    gap = report.clusters[0] if report.clusters else None
    return CoverageFigure(
        spec.inputs,
        report.total,
        report.covered,
        spec.radius,
        report.space,
        gap.size if gap else 0,
        gap.example if gap else None,
    )


def _asked(result: CaseResult | None) -> tuple[Any, ...]:
    """The messages a case was asked with at one version (none when it did not render)."""
    if result is None or not result.samples:
        return ()
    return result.samples[0].answer.messages


def _last_user(messages: Any) -> str:
    users = [m.content for m in messages if m.role == "user"]
    return users[-1] if users else ""


async def _agreement(p: PreparedSuite, client: Any, read: Callable[[str], str | None]) -> JudgeAgreement:
    from promptreview.data.labels import judge_labels, parse_labels

    suite = p.plan.suite
    path = suite.judge_labels
    assert path is not None
    text = read(path)
    if text is None:
        return JudgeAgreement(path, error="the labels file is not in the repository")
    try:
        pairs = parse_labels(text, path)
    except PromptReviewError as exc:
        return JudgeAgreement(path, error=str(exc))
    report = await judge_labels(client.complete, suite.judge, pairs, suite.compare_criteria)
    error = report.errors[0].error if report.errors and not report.n else None
    return JudgeAgreement(path, report.n, report.agree, report.kappa, report.consistency, error,
                          unusable=len(report.unusable), pairs=len(report.outcomes))
