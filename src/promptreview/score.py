"""The score stage: every answer goes through the suite's metrics (and its case's own metrics).

Metric errors (a judge call that failed, an argument that did not render) are kept as errors on
the result, never counted as failures of the prompt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from promptreview.aio import map_bounded
from promptreview.errors import ConfigError
from promptreview.materialize import PreparedCase, PreparedSuite, PreparedVersion
from promptreview.metrics import registry
from promptreview.metrics.context import LLM, MetricContext
from promptreview.results import Answer, CaseResult, MetricResult, SampleResult
from promptreview.suite import Case, MetricSpec


async def score_suite(
    suite: PreparedSuite,
    answers: dict[tuple[str, str], list[list[Answer]]],
    llm: LLM,
    read_base_file: Callable[[str], str | None],
    delimiter: str,
    width: int = 64,
) -> dict[str, tuple[CaseResult, ...]]:
    """Scored results per version name ("base", "head"), one CaseResult per case, in case order.

    Cases whose metrics call a model are scored ``width`` at a time (``aio.map_bounded``)."""
    out: dict[str, tuple[CaseResult, ...]] = {}
    base_answers = answers.get((suite.name, "base"))
    for version in suite.versions():
        per_case = answers[(suite.name, version.name)]
        def job(
            ci: int, version: PreparedVersion = version, per_case: list[list[Answer]] = per_case
        ) -> Awaitable[CaseResult]:
            return _score_case(
                suite,
                version,
                version.cases[ci],
                per_case[ci],
                base_answers[ci] if base_answers and version.name == "head" else None,
                llm,
                read_base_file,
                delimiter,
            )

        indexes = range(len(version.cases))
        if _calls_model(suite.metrics) or any(_calls_model(pc.case.metrics) for pc in version.cases):
            out[version.name] = tuple(await map_bounded(job, indexes, width))
        else:
            # Nothing here waits on the network: awaiting in turn costs no task per case.
            out[version.name] = tuple([await job(ci) for ci in indexes])
    return out


def _calls_model(specs: Sequence[MetricSpec]) -> bool:
    """Whether any of ``specs`` waits on the model (judge or embeddings); unknown kinds count as yes."""
    for spec in specs:
        try:
            d = registry.get(spec.kind)
        except ConfigError:
            return True
        if d.needs_llm or d.needs_embeddings:
            return True
    return False


async def _score_case(
    suite: PreparedSuite,
    version: PreparedVersion,
    pc: PreparedCase,
    samples: Sequence[Answer],
    base_samples: Sequence[Answer] | None,
    llm: LLM,
    read_base_file: Callable[[str], str | None],
    delimiter: str,
) -> CaseResult:
    specs = (*suite.metrics, *pc.case.metrics)
    model_metrics = _calls_model(specs)
    results = []
    for answer in samples:
        base_text = None
        if base_samples is not None:
            match = next((b for b in base_samples if b.sample == answer.sample), None)
            base_text = match.text if match else None
        if not answer.ok:
            results.append(SampleResult(answer))
            continue
        jobs = [
            _score_metric(suite, pc, spec, answer, base_text, llm, read_base_file, delimiter)
            for spec in specs
        ]
        # Awaiting in turn costs no task per metric when none of them waits on the model.
        scored = tuple(await asyncio.gather(*jobs)) if model_metrics else tuple([await j for j in jobs])
        results.append(SampleResult(answer, scored))
    return CaseResult(pc.case.id, tuple(results))


async def _score_metric(
    suite: PreparedSuite,
    pc: PreparedCase,
    spec: MetricSpec,
    answer: Answer,
    base_text: str | None,
    llm: LLM,
    read_base_file: Callable[[str], str | None],
    delimiter: str,
) -> MetricResult:
    args = pc.metric_args.get(spec.name, spec.args)
    kind = registry.get(spec.kind).kind
    missing = _missing_case_data(spec, pc.case, args)
    if missing:
        return MetricResult(
            spec.name, 0.0, False, kind=kind, gate=spec.gate, skipped=f"case has no {missing}"
        )
    if "__error__" in args:
        return MetricResult(
            spec.name,
            0.0,
            False,
            kind=kind,
            gate=spec.gate,
            error=f"metric argument did not render: {args['__error__']}",
        )
    ctx = MetricContext(
        case=pc.case,
        answer=answer.text or "",
        messages=answer.messages,
        spec=spec,
        args=args,
        llm=llm,
        judge_model=suite.plan.suite.judge,
        embedding_model=suite.plan.suite.embedding_model,
        read_file=read_base_file,
        base_answer=base_text,
        delimiter=delimiter,
        kind=kind,
    )
    return await registry.score_one(ctx)


# Metrics that compare against case data do not apply to cases without it: such a case is left out
# of that metric (reported as not applicable), not counted as an error or a failure.
_NEEDS = {"similar": "expected", "equivalent": "expected", "label": "label", "feedback": "feedback"}


def _missing_case_data(spec: MetricSpec, case: Case, args: Mapping[str, Any]) -> str | None:
    need = _NEEDS.get(spec.kind)
    if need is None or ("value" in args and need == "expected"):
        return None
    return None if getattr(case, need) else f"`{need}`"
