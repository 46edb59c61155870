"""LLM-graded metrics: ``rubric`` (1-5 against criteria) and ``feedback`` (acts on review points).

Both ask the suite's judge model for a small JSON verdict, with the instructions (and the
criteria, which come from the base revision's config) in the system message and everything the
PR or the model produced fenced in delimited blocks in the user message (see ``judging``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptreview.metrics.context import MetricContext, MetricError, make_result, transcript
from promptreview.metrics.judging import (
    judge_blocks,
    parse_grade,
    parse_json_object,
    shorten,
    strip_hidden,
    untrusted_notice,
)
from promptreview.metrics.options import Options, validator
from promptreview.metrics.registry import metric
from promptreview.results import MetricResult

GRADE_FORMAT = '{"reason": "<one short sentence>", "grade": <whole number from 1 to 5>}'
GRADE_REPLY_RULE = f"Reply with only a JSON object and no other text: {GRADE_FORMAT}"
GRADE_MAX_TOKENS = 400

_RUBRIC_SYSTEM = """\
You are a careful, strict grader. Grade the ANSWER a model gave to the TASK against these criteria:

{criteria}

{notice}

Grade scale:
5 - meets every criterion fully.
4 - meets the criteria, with only minor shortcomings.
3 - meets them partly; at least one clear shortcoming.
2 - mostly fails them.
1 - fails them entirely, or does not address the task.

Judge only against the criteria: length and style count only where the criteria mention them.
{reply_rule}"""

_FEEDBACK_SYSTEM = """\
You check whether an ANSWER acts on review feedback. Reviewers gave FEEDBACK on an earlier answer to \
the same TASK, as numbered points. For each point decide whether the new ANSWER acts on it: "yes" when \
the answer does what the point asks or no longer has the problem it names, "no" when it ignores the \
point or acts on it only in part.

{notice}

Reply with only a JSON object and no other text, with exactly one entry per feedback point, in order:
{{"points": [{{"point": <number>, "addressed": "yes" or "no"}}, ...]}}"""


def task_blocks(ctx: MetricContext) -> list[tuple[str, str]]:
    """The TASK block (the rendered input the model saw), when there is one."""
    return [("TASK", transcript(ctx.messages))] if ctx.messages else []


async def ask_for_grade(
    ctx: MetricContext, system: str, blocks: Sequence[tuple[str, str]]
) -> tuple[int, str]:
    """Ask the judge for a 1-5 grade on the labelled blocks; ``(grade, judge's reason)``."""
    return await judge_blocks(
        ctx, system, blocks, parse_grade, expect=f"a JSON object {GRADE_FORMAT}", max_tokens=GRADE_MAX_TOKENS
    )


def grade_result(ctx: MetricContext, grade: int, reason: str, passed: bool) -> MetricResult:
    """A graded result: score (grade - 1) / 4, so 1 -> 0.0 and 5 -> 1.0; the raw grade is kept."""
    return make_result(
        ctx, passed, f"grade {grade}/5: {shorten(reason, 300)}", (grade - 1) / 4, grade=float(grade)
    )


# --- rubric -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RubricOptions:
    criteria: str
    min: int


def _parse_rubric(args: Mapping[str, Any]) -> _RubricOptions:
    o = Options(args, ("value", "criteria", "min"))
    criteria = o.text("criteria", required=True, shorthand=True, allow_empty=False)
    minimum = o.integer("min", 4, low=1, high=5)
    assert criteria is not None and minimum is not None
    return _RubricOptions(criteria, minimum)


@metric("rubric", kind="graded", needs_llm=True, judge_calls=1, validate=validator(_parse_rubric))
async def rubric(ctx: MetricContext) -> MetricResult:
    """The judge grades the answer 1-5 against ``criteria``; passes at ``min``.

    Args: ``criteria`` (str, required; the shorthand value), ``min`` (int 1-5, default 4).
    Score (grade - 1) / 4; the result carries ``grade``. The judge sees the task and the answer.
    """
    opts = _parse_rubric(ctx.args)
    blocks = [*task_blocks(ctx), ("ANSWER", ctx.answer)]
    system = _RUBRIC_SYSTEM.format(
        criteria=strip_hidden(opts.criteria).strip(),
        notice=untrusted_notice([name for name, _ in blocks]),
        reply_rule=GRADE_REPLY_RULE,
    )
    grade, reason = await ask_for_grade(ctx, system, blocks)
    return grade_result(ctx, grade, reason, grade >= opts.min)


# --- feedback ---------------------------------------------------------------------------------


def _parse_feedback(args: Mapping[str, Any]) -> float:
    threshold = Options(args, ("threshold",)).number("threshold", 1.0, low=0.0, high=1.0)
    assert threshold is not None
    return threshold


def parse_points(reply: str, count: int) -> tuple[bool, ...] | None:
    """Per-point verdicts from ``{"points": [{"point": i, "addressed": "yes"|"no"}, ...]}``, or None.

    Exactly ``count`` entries in order; a ``point`` number, when given, must match its position.
    """
    data = parse_json_object(reply)
    entries = data.get("points") if data else None
    if not isinstance(entries, list) or len(entries) != count:
        return None
    verdicts: list[bool] = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or entry.get("point", position) != position:
            return None
        addressed = entry.get("addressed")
        if isinstance(addressed, str) and addressed.strip().casefold() in ("yes", "no"):
            verdicts.append(addressed.strip().casefold() == "yes")
        elif isinstance(addressed, bool):
            verdicts.append(addressed)
        else:
            return None
    return tuple(verdicts)


@metric("feedback", kind="graded", needs_llm=True, judge_calls=1, validate=validator(_parse_feedback))
async def feedback(ctx: MetricContext) -> MetricResult:
    """The judge says, per point of ``case.feedback``, whether the answer acts on it.

    Args: ``threshold`` (0-1, default 1.0: every point). Score is the fraction of points acted on;
    passes when it reaches the threshold. A case with no feedback points gives an error result.
    """
    threshold = _parse_feedback(ctx.args)
    points = ctx.case.feedback
    if not points:
        raise MetricError("the case has no feedback points")
    numbered = "\n".join(f"{i}. {point}" for i, point in enumerate(points, start=1))
    blocks = [*task_blocks(ctx), ("FEEDBACK", numbered), ("ANSWER", ctx.answer)]
    system = _FEEDBACK_SYSTEM.format(notice=untrusted_notice([name for name, _ in blocks]))
    verdicts = await judge_blocks(
        ctx,
        system,
        blocks,
        lambda reply: parse_points(reply, len(points)),
        expect='a JSON object {"points": [{"point": <number>, "addressed": "yes" or "no"}, ...]} '
        f"with exactly {len(points)} entries",
        max_tokens=200 + 30 * len(points),
    )
    done = sum(verdicts)
    score = done / len(points)
    passed = done >= math.ceil(threshold * len(points) - 1e-9)
    missed = [
        f"{i} {shorten(p, 60)!r}" for i, (p, ok) in enumerate(zip(points, verdicts, strict=True), 1) if not ok
    ]
    reason = f"acted on {done}/{len(points)} points" + (f"; not on: {', '.join(missed)}" if missed else "")
    return make_result(ctx, passed, reason, score)
