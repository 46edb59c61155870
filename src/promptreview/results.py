"""Values produced by the run, score and compare stages for one revision or a pair of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from promptreview.models.types import Completion, Message

Version = Literal["base", "head"]
MetricValueKind = Literal["binary", "graded", "signal"]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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
    skipped: str | None = None  # the metric does not apply to this case (e.g. no reference): left out


def shared_result(
    metric: str,
    score: float,
    passed: bool,
    reason: str = "",
    kind: MetricValueKind = "binary",
    gate: bool = True,
    error: str | None = None,
    grade: float | None = None,
    label: str | None = None,
    skipped: str | None = None,
) -> MetricResult:
    """A :class:`MetricResult`, one shared object for equal ones: how every result is made.

    Why: most deterministic checks say the same thing for most answers ("contains every value",
    "no refusal or hedging found"), and every case held its own copy of each: about a third of a
    kilobyte a case, tens of megabytes at 50,000 cases. Results are frozen, so sharing is safe,
    and looking a plain tuple up costs a fifth of building a frozen dataclass (and its hash).
    The table is bounded: past ``_SHARED_LIMIT`` distinct results (free-text reasons, judge
    grades) it starts again, so a long-lived App process holds at most that many.
    """
    key = (metric, score, passed, reason, kind, gate, error, grade, label, skipped)
    result = _SHARED.get(key)
    if result is None:
        result = MetricResult(metric, score, passed, reason, kind, gate, error, grade, label, skipped)
        if len(_SHARED) >= _SHARED_LIMIT:
            _SHARED.clear()
        _SHARED[key] = result
    return result


_SHARED: dict[tuple[object, ...], MetricResult] = {}
_SHARED_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class SampleResult:
    answer: Answer
    metrics: tuple[MetricResult, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseResult:
    """All samples of one case on one version, scored."""

    case_id: str
    samples: tuple[SampleResult, ...] = field(default_factory=tuple)

    @property
    def errored(self) -> bool:
        return all(not s.answer.ok for s in self.samples) if self.samples else True


# --- comparing base and head ----------------------------------------------------------------------

Outcome = Literal["head", "base", "tie"]
CaseChange = Literal["regressed", "improved", "same", "error", "new", "removed"]


@dataclass(frozen=True, slots=True)
class Judgement:
    """One pairwise judge call: which neutral label won, and why (the judge's own words)."""

    order: Literal["base-first", "head-first"]
    winner: Outcome | None  # None: unparseable after a retry, or the call failed
    reason: str = ""
    error: str | None = None
    cached: bool = False


@dataclass(frozen=True, slots=True)
class PairwiseResult:
    """Which-is-better for one sample of one case, judged in both orders.

    A side wins only when it wins in both orders; disagreement is a tie. ``identical`` means the
    two answers were the same text, so no judge call was made.
    """

    sample: int
    outcome: Outcome
    judgements: tuple[Judgement, ...] = ()
    identical: bool = False
    consistent: bool = True
    unparseable: bool = False
    error: str | None = None

    @property
    def reason(self) -> str:
        return next((j.reason for j in self.judgements if j.reason), "")

    @property
    def missing(self) -> bool:
        """No usable verdict: the call failed, a verdict was unreadable, or the orders disagreed.

        Missing evidence is left out of the pairing, never counted as a tie: ties pull the
        interval towards "no difference", so a broken judge would certify a change.
        """
        if self.identical:
            return False
        return self.error is not None or self.unparseable or not self.consistent


@dataclass(frozen=True, slots=True)
class CaseComparison:
    """One case on both sides: results, pairwise judgements and the per-metric paired deltas."""

    case_id: str
    base: CaseResult | None
    head: CaseResult | None
    pairwise: tuple[PairwiseResult, ...] = ()
    change: CaseChange = "same"
    changed_metrics: tuple[str, ...] = ()  # metrics whose pass flag moved, worst first
    file: str | None = None
    line: int | None = None
    must_pass: bool = False
    label: str | None = None  # the case's expected label, for per-label accuracy counts
    added: bool = False  # only in head's cases: extra evidence, outside the gated statistics

    @property
    def pairwise_score(self) -> float | None:
        """+1 head better, -1 base better, averaged over samples with a usable verdict; None when
        no sample has one (never judged, or every verdict missing)."""
        return pairwise_score(self.pairwise)


_OUTCOME_VALUE = {"head": 1.0, "base": -1.0, "tie": 0.0}


def pairwise_score(pairwise: Sequence[PairwiseResult]) -> float | None:
    """:attr:`CaseComparison.pairwise_score` of these judgements, for a caller that has no
    comparison yet (the compare stage classifies a case before it builds one)."""
    if not pairwise:
        return None
    judged = [p for p in pairwise if not p.missing]
    if not judged:
        return None
    return sum(_OUTCOME_VALUE[p.outcome] for p in judged) / len(judged)
