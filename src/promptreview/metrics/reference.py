"""Reference-based metrics: the answer against ``case.expected`` (or a configured ``value``).

``similar`` is cheap and deterministic given the embeddings, but it rewards wording as much as
facts; ``equivalent`` asks the judge about the facts themselves and is graded, so "same facts,
one minor omission" scores between a match and a contradiction. A case with no reference gives
an error result (not a failure): the metric cannot say anything about it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptreview.metrics.context import MetricContext, MetricError, make_result
from promptreview.metrics.graded import GRADE_REPLY_RULE, ask_for_grade, grade_result, task_blocks
from promptreview.metrics.judging import untrusted_notice
from promptreview.metrics.options import Options, validator
from promptreview.metrics.registry import metric
from promptreview.results import MetricResult

_EQUIVALENT_SYSTEM = """\
You are a careful, strict grader. Decide whether the ANSWER states the same facts as the REFERENCE \
answer to the same TASK. Wording, order, formatting and tone do not matter; the facts do: claims, \
numbers, names, dates, steps, conclusions.

{notice}

Grade scale:
5 - the same facts: nothing missing, nothing contradicting.
4 - the same key facts; a minor detail is missing, or a harmless detail is added that agrees with \
the reference.
3 - some key facts are missing, or it adds claims the reference does not support.
2 - most key facts are missing or wrong.
1 - it contradicts the reference, or is about something else.

{reply_rule}"""


def reference_text(ctx: MetricContext, value: str | None) -> str:
    """The configured ``value`` when given, else the case's expected answer."""
    reference = value if value is not None else ctx.case.expected
    if reference is None:
        raise MetricError("the case has no expected answer to compare with")
    return reference


# --- similar ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SimilarOptions:
    value: str | None
    threshold: float
    model: str | None


def _parse_similar(args: Mapping[str, Any]) -> _SimilarOptions:
    o = Options(args, ("value", "threshold", "model"))
    threshold = o.number("threshold", 0.8, low=-1.0, high=1.0)
    assert threshold is not None
    return _SimilarOptions(o.text("value"), threshold, o.text("model", allow_empty=False))


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; raises MetricError for vectors it is undefined on."""
    if len(a) != len(b) or not a:
        raise MetricError(f"embeddings have different or zero dimensions ({len(a)} and {len(b)})")
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0.0:
        raise MetricError("an embedding vector is all zeros")
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm


@metric("similar", kind="graded", needs_embeddings=True, validate=validator(_parse_similar))
async def similar(ctx: MetricContext) -> MetricResult:
    """Cosine similarity of the answer's and the reference's embeddings.

    Args: ``value`` (str, default ``case.expected``), ``threshold`` (default 0.8),
    ``model`` (embedding model, default the suite's). Score is the cosine clipped to [0, 1];
    passes when the cosine reaches the threshold. One embeddings call per answer.
    """
    opts = _parse_similar(ctx.args)
    reference = reference_text(ctx, opts.value)
    if not ctx.answer.strip():
        return make_result(ctx, False, "the answer is empty", 0.0)
    embeddings = await ctx.llm.embed(opts.model or ctx.embedding_model, [ctx.answer, reference])
    if not embeddings.ok:
        kind = f" ({embeddings.error_kind})" if embeddings.error_kind else ""
        raise MetricError(f"embeddings call failed{kind}: {embeddings.error}")
    if len(embeddings.vectors) != 2:
        raise MetricError(f"embeddings call returned {len(embeddings.vectors)} vectors for 2 texts")
    similarity = cosine(*embeddings.vectors)
    score = min(1.0, max(0.0, similarity))
    reason = f"cosine similarity {similarity:.3f} (threshold {opts.threshold:g})"
    return make_result(ctx, similarity >= opts.threshold, reason, score)


# --- equivalent -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EquivalentOptions:
    value: str | None
    threshold: float


def _parse_equivalent(args: Mapping[str, Any]) -> _EquivalentOptions:
    o = Options(args, ("value", "threshold"))
    threshold = o.number("threshold", 0.75, low=0.0, high=1.0)
    assert threshold is not None
    return _EquivalentOptions(o.text("value"), threshold)


@metric("equivalent", kind="graded", needs_llm=True, judge_calls=1, validate=validator(_parse_equivalent))
async def equivalent(ctx: MetricContext) -> MetricResult:
    """The judge grades 1-5 whether the answer states the same facts as the reference.

    Args: ``value`` (str, default ``case.expected``), ``threshold`` (0-1, default 0.75, i.e.
    grade 4 or better). Score (grade - 1) / 4; the result carries ``grade``.
    """
    opts = _parse_equivalent(ctx.args)
    reference = reference_text(ctx, opts.value)
    blocks = [*task_blocks(ctx), ("REFERENCE", reference), ("ANSWER", ctx.answer)]
    system = _EQUIVALENT_SYSTEM.format(
        notice=untrusted_notice([name for name, _ in blocks]), reply_rule=GRADE_REPLY_RULE
    )
    grade, reason = await ask_for_grade(ctx, system, blocks)
    return grade_result(ctx, grade, reason, (grade - 1) / 4 >= opts.threshold - 1e-9)
