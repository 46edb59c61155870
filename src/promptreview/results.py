"""Values produced by the run, score and compare stages for one revision or a pair of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from promptreview.models.types import Completion, Message

Version = Literal["base", "head"]
MetricValueKind = Literal["binary", "graded", "signal"]


@dataclass(frozen=True)
class Answer:
    """One sample of one case on one version: the rendered input and what the model said.

    A render failure or a call failure is kept as ``error`` (with ``error_kind``) so the report can
    say what happened to that case while the rest of the run goes on.
    """

    case_id: str
    sample: int
    messages: tuple[Message, ...] = ()
    completion: Completion | None = None
    error: str | None = None
    error_kind: str | None = None

    @property
    def text(self) -> str | None:
        return self.completion.text if self.completion and self.completion.ok else None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass(frozen=True)
class MetricResult:
    """A metric's judgement of one answer: score in [0, 1], pass flag, short reason.

    ``kind`` tells the verdict which paired statistic fits (binary pass/fail, graded score) and
    ``signal`` marks reported-only health signals. ``error`` is set when the metric could not be
    computed (judge call failed...): that is never counted as a failure of the prompt.
    """

    metric: str
    score: float
    passed: bool
    reason: str = ""
    kind: MetricValueKind = "binary"
    gate: bool = True
    error: str | None = None
    grade: float | None = None  # raw 1-5 grade for rubric-style metrics
    label: str | None = None  # predicted label for label accuracy


@dataclass(frozen=True)
class SampleResult:
    answer: Answer
    metrics: tuple[MetricResult, ...] = ()


@dataclass(frozen=True)
class CaseResult:
    """All samples of one case on one version, scored."""

    case_id: str
    samples: tuple[SampleResult, ...] = field(default_factory=tuple)

    @property
    def errored(self) -> bool:
        return all(not s.answer.ok for s in self.samples) if self.samples else True
