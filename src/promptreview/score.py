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
from promptreview.materialize import ARG_ERROR, PreparedCase, PreparedSuite, PreparedVersion
from promptreview.metrics import registry
from promptreview.metrics.context import LLM, MetricContext
from promptreview.metrics.registry import MetricDef
from promptreview.models.types import Message
from promptreview.results import Answer, CaseResult, MetricResult, SampleResult, shared_result
from promptreview.run import CaseAnswers
from promptreview.suite import Case, MetricSpec


async def score_suite(
    suite: PreparedSuite,
    answers: dict[tuple[str, str], CaseAnswers],
    llm: LLM,
    read_base_file: Callable[[str], str | None],
    delimiter: str,
    width: int = 64,
) -> dict[str, tuple[CaseResult, ...]]:
    """Scored results per version name ("base", "head"), one CaseResult per case, in case order.

    Cases whose metrics call a model are scored ``width`` at a time (``aio.map_bounded``)."""
    out: dict[str, tuple[CaseResult, ...]] = {}
    base_answers = answers.get((suite.name, "base"))
    # What every case shares is looked up once per suite, not once per case and metric.
    suite_specs = _resolve(suite.metrics)
    same: dict[tuple[int, ...], tuple[MetricResult, ...]] = {}
    for version in suite.versions():
        per_case = answers[(suite.name, version.name)]
        def job(
            ci: int, version: PreparedVersion = version, per_case: CaseAnswers = per_case
        ) -> Awaitable[CaseResult]:
            return _score_case(
                suite,
                version.cases[ci],
                per_case[ci],
                base_answers[ci] if base_answers and version.name == "head" else None,
                llm,
                read_base_file,
                delimiter,
                suite_specs,
                same,
            )

        indexes = range(len(version.cases))
        if suite_specs.calls_model or any(_calls_model(pc.case.metrics) for pc in version.cases):
            out[version.name] = tuple(await map_bounded(job, indexes, width))
        else:
            # Nothing here waits on the network: awaiting in turn costs no task per case.
            out[version.name] = tuple([await job(ci) for ci in indexes])
    return out


class _Resolved:
    """Metric specs with their registry entries, and whether any of them waits on the model."""

    __slots__ = ("calls_model", "entries")

    def __init__(self, entries: tuple[tuple[MetricSpec, MetricDef | None, str | None], ...]) -> None:
        self.entries = entries  # (spec, its registry entry or None when unknown, case data it needs)
        self.calls_model = any(d is None or d.needs_llm or d.needs_embeddings for _, d, _ in entries)


def _resolve(specs: Sequence[MetricSpec]) -> _Resolved:
    entries = []
    for spec in specs:
        try:
            definition: MetricDef | None = registry.get(spec.kind)
        except ConfigError:
            definition = None  # scored as an error result by registry.score_one
        entries.append((spec, definition, _NEEDS.get(spec.kind)))
    return _Resolved(tuple(entries))


def _calls_model(specs: Sequence[MetricSpec]) -> bool:
    """Whether any of ``specs`` waits on the model (judge or embeddings); unknown kinds count as yes."""
    return _resolve(specs).calls_model if specs else False


async def _score_case(
    suite: PreparedSuite,
    pc: PreparedCase,
    samples: Sequence[Answer],
    base_samples: Sequence[Answer] | None,
    llm: LLM,
    read_base_file: Callable[[str], str | None],
    delimiter: str,
    suite_specs: _Resolved,
    same: dict[tuple[int, ...], tuple[MetricResult, ...]],
) -> CaseResult:
    resolved = suite_specs
    if pc.case.metrics:
        resolved = _Resolved(suite_specs.entries + _resolve(pc.case.metrics).entries)
    model_metrics = resolved.calls_model
    plan = suite.plan.suite
    results = []
    for answer in samples:
        if not answer.ok:
            results.append(SampleResult(answer))
            continue
        base_text = None
        if base_samples is not None:
            match = next((b for b in base_samples if b.sample == answer.sample), None)
            base_text = match.text if match else None
        text = answer.text or ""
        jobs = [
            _score_metric(
                pc, spec, definition, need, text, answer.messages, base_text, llm, read_base_file,
                delimiter, plan.judge, plan.embedding_model,
            )
            for spec, definition, need in resolved.entries
        ]
        # Awaiting in turn costs no task per metric when none of them waits on the model.
        scored = tuple(await asyncio.gather(*jobs)) if model_metrics else tuple([await j for j in jobs])
        results.append(SampleResult(answer, _same_tuple(scored, same)))
    return CaseResult(pc.case.id, tuple(results))


async def _score_metric(
    pc: PreparedCase,
    spec: MetricSpec,
    definition: MetricDef | None,
    need: str | None,
    answer: str,
    messages: tuple[Message, ...],
    base_text: str | None,
    llm: LLM,
    read_base_file: Callable[[str], str | None],
    delimiter: str,
    judge_model: str,
    embedding_model: str,
) -> MetricResult:
    args = pc.args_for(spec) if pc.rendered else spec.args
    kind = definition.kind if definition is not None else registry.get(spec.kind).kind
    if need is not None:
        missing = _missing_case_data(spec, pc.case, args)
        if missing:
            return shared_result(
                spec.name, 0.0, False, kind=kind, gate=spec.gate, skipped=f"case has no {missing}"
            )
    if ARG_ERROR in args:
        return shared_result(
            spec.name,
            0.0,
            False,
            kind=kind,
            gate=spec.gate,
            error=f"metric argument did not render: {args[ARG_ERROR]}",
        )
    ctx = MetricContext(
        case=pc.case,
        answer=answer,
        messages=messages,
        spec=spec,
        args=args,
        llm=llm,
        judge_model=judge_model,
        embedding_model=embedding_model,
        read_file=read_base_file,
        base_answer=base_text,
        delimiter=delimiter,
        kind=kind,
    )
    return await registry.score_one(ctx, definition)


# Metrics that compare against case data do not apply to cases without it: such a case is left out
# of that metric (reported as not applicable), not counted as an error or a failure.
_NEEDS = {"similar": "expected", "equivalent": "expected", "label": "label", "feedback": "feedback"}


_SAME_LIMIT = 1024


def _same_tuple(
    scored: tuple[MetricResult, ...], same: dict[tuple[int, ...], tuple[MetricResult, ...]]
) -> tuple[MetricResult, ...]:
    """One tuple for every sample whose results are the same (shared) objects.

    Why: results are shared (``results.shared_result``), but each sample still held its own tuple
    of them, about 3.4 MB at 50,000 cases. Keyed by identity, which is safe because ``same``
    holds the tuple and so keeps its objects, and their ids, alive; bounded, so free-text
    results (judge reasons) that never repeat stop being remembered.
    """
    key = tuple(map(id, scored))
    found = same.get(key)
    if found is not None:
        return found
    if len(same) < _SAME_LIMIT:
        same[key] = scored
    return scored


def _missing_case_data(spec: MetricSpec, case: Case, args: Mapping[str, Any]) -> str | None:
    need = _NEEDS.get(spec.kind)
    if need is None or ("value" in args and need == "expected"):
        return None
    return None if getattr(case, need) else f"`{need}`"
