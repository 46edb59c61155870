"""Realistic ReviewResult values for report tests, built through the real summarize and verdict stages.

Tests describe a review in a few words (``suite("support", cases=40, regressions=6)``) and get the
same nested values a real run produces: answers, metric results, pairwise judgements, metric
summaries and a verdict decided by :func:`promptreview.verdict.decide`, so the report is tested
against numbers that agree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from promptreview.changes import Change
from promptreview.models.types import CallStats, Completion, Message
from promptreview.results import (
    Answer,
    CaseComparison,
    CaseResult,
    Judgement,
    MetricResult,
    PairwiseResult,
    SampleResult,
)
from promptreview.review_result import PairwiseSummary, ReviewResult, SuiteResult, Usage
from promptreview.suite import GateSpec
from promptreview.summarize import summarize
from promptreview.verdict import SuiteEvidence, decide

METRICS = ("contains", "rubric")


def completion(text: str | None, *, error_kind: str | None = None, latency_s: float = 0.8) -> Completion:
    if error_kind is not None:
        return Completion(None, error=f"{error_kind} error from the provider", error_kind=error_kind,  # type: ignore[arg-type]
                          latency_s=latency_s)
    return Completion(text, finish_reason="stop", latency_s=latency_s, prompt_tokens=120,
                      completion_tokens=max(1, len(text or "") // 4), cost_usd=0.00021)


def answer(case_id: str, text: str | None, *, sample: int = 0, error_kind: str | None = None) -> Answer:
    messages = (Message("user", f"Question for {case_id}"),)
    c = completion(text, error_kind=error_kind)
    if error_kind is not None:
        return Answer(case_id, sample, messages, c, error=c.error, error_kind=error_kind)
    return Answer(case_id, sample, messages, c)


def metric_results(passed: bool, *, reason: str = "") -> tuple[MetricResult, ...]:
    """``contains`` carries the pass/fail; ``rubric`` is a graded 1-5 score that follows it."""
    contains = MetricResult("contains", 1.0 if passed else 0.0, passed,
                            reason or ("found 'refund policy'" if passed else "missing 'refund policy'"))
    grade = 5.0 if passed else 2.0
    rubric = MetricResult("rubric", (grade - 1) / 4, grade >= 4, "polite and cites the policy" if passed
                          else "does not cite the policy", kind="graded", grade=grade)
    return (contains, rubric)


def side(case_id: str, text: str | None, passed: bool, *, error_kind: str | None = None,
         reason: str = "", samples: int = 1, broken_metric: str | None = None) -> CaseResult:
    """One side of a case; ``broken_metric`` names a metric whose every call failed on this side."""
    out = []
    for k in range(samples):
        a = answer(case_id, text, sample=k, error_kind=error_kind)
        metrics = () if error_kind else tuple(
            replace(m, error="the grader call failed (server error)") if m.metric == broken_metric else m
            for m in metric_results(passed, reason=reason))
        out.append(SampleResult(a, metrics))
    return CaseResult(case_id, tuple(out))


def judged(
    outcome: str, reason: str, *, samples: int = 1, consistent: bool = True
) -> tuple[PairwiseResult, ...]:
    if outcome == "identical":
        return tuple(PairwiseResult(k, "tie", identical=True) for k in range(samples))
    first = outcome if consistent else ("head" if outcome != "head" else "base")
    return tuple(
        PairwiseResult(
            k, outcome if consistent else "tie",  # type: ignore[arg-type]
            (Judgement("base-first", first, reason), Judgement("head-first", outcome, reason)),  # type: ignore[arg-type]
            consistent=consistent,
        )
        for k in range(samples)
    )


@dataclass
class CaseSpec:
    """One case in words; ``kind`` is regressed | improved | same | error | new | removed."""

    case_id: str
    kind: str = "same"
    base_text: str = "Our refund policy allows returns within 30 days."
    head_text: str = "Our refund policy allows returns within 30 days."
    judge_reason: str = "Both answers state the same policy."
    metric_reason: str = ""
    file: str | None = "evals/support.yaml"
    line: int | None = None
    must_pass: bool = False
    error_kind: str = "rate_limit"
    error_side: str = "head"
    samples: int = 1
    consistent: bool = True
    broken_metric: str | None = None  # a metric that errored on every call of ``broken_side``
    broken_side: str = "base"


def comparison(spec: CaseSpec) -> CaseComparison:
    base_ok, head_ok = {"regressed": (True, False), "improved": (False, True)}.get(spec.kind, (True, True))
    outcome = {"regressed": "base", "improved": "head"}.get(spec.kind, "tie")
    if spec.kind == "same" and spec.base_text == spec.head_text:
        outcome = "identical"
    errored = spec.kind == "error"
    base = None if spec.kind == "new" else side(
        spec.case_id, spec.base_text, base_ok, reason=spec.metric_reason, samples=spec.samples,
        error_kind=spec.error_kind if errored and spec.error_side == "base" else None,
        broken_metric=spec.broken_metric if spec.broken_side == "base" else None)
    head = None if spec.kind == "removed" else side(
        spec.case_id, spec.head_text, head_ok, reason=spec.metric_reason, samples=spec.samples,
        error_kind=spec.error_kind if errored and spec.error_side == "head" else None,
        broken_metric=spec.broken_metric if spec.broken_side == "head" else None)
    pairwise = () if (base is None or head is None or errored) else judged(
        outcome, spec.judge_reason, samples=spec.samples, consistent=spec.consistent)
    changed = METRICS if spec.kind in ("regressed", "improved") else ()
    return CaseComparison(spec.case_id, base, head, pairwise, spec.kind, changed,  # type: ignore[arg-type]
                          spec.file, spec.line, spec.must_pass)


@dataclass
class SuiteWords:
    """A suite in words: how many cases of each kind, and how to gate it."""

    name: str
    cases: int = 30
    regressions: int = 0
    improvements: int = 0
    errors: int = 0
    status: str = "modified"  # modified | added | removed
    answer_chars: int = 120
    gate: GateSpec = field(default_factory=GateSpec)
    overrides: dict[int, dict[str, object]] = field(default_factory=dict)  # case index -> CaseSpec fields
    notes: tuple[str, ...] = ()
    prompt: str | None = None
    error: str | None = None


def case_specs(words: SuiteWords) -> list[CaseSpec]:
    kinds = (["regressed"] * words.regressions + ["improved"] * words.improvements + ["error"] * words.errors)
    kinds += ["same"] * max(0, words.cases - len(kinds))
    if words.status == "added":
        kinds = ["new"] * words.cases
    specs = []
    for i, kind in enumerate(kinds):
        base_seed = f"Base answer {i}: our refund policy allows returns within 30 days."
        base_text = _text(base_seed, words.answer_chars)
        head_text = _text(f"Head answer {i}: returns are possible.", words.answer_chars) if kind in (
            "regressed", "improved") else base_text
        spec = CaseSpec(f"{words.name}-case-{i:03d}", kind, base_text, head_text,
                        judge_reason=_judge_reason(kind), line=4 + 6 * i)
        for key, value in words.overrides.get(i, {}).items():
            setattr(spec, key, value)
        specs.append(spec)
    return specs


def _text(seed: str, chars: int) -> str:
    words = (seed + " ") * (chars // (len(seed) + 1) + 1)
    return words[:chars].rstrip()


def _judge_reason(kind: str) -> str:
    return {
        "regressed": "Answer A cites the 30-day refund window; answer B omits it.",
        "improved": "Answer B is more complete and cites the policy.",
    }.get(kind, "Both answers are equivalent.")


def build_suite(words: SuiteWords) -> tuple[SuiteResult, SuiteEvidence]:
    """Run the real summarize stage; the verdict is filled in by :func:`build_review`."""
    comparisons = tuple(comparison(s) for s in case_specs(words)) if words.status != "removed" else ()
    head_only = words.status == "added"
    if words.status == "removed" or words.error:
        evidence = SuiteEvidence(words.name, (), 0, 0, head_only=True, removed=words.status == "removed",
                                 error=words.error)
        metrics: tuple = ()
        pairwise = PairwiseSummary()
    else:
        metrics, pairwise, evidence = summarize(words.name, comparisons, words.gate, head_only, True)
    errors_by_kind: dict[str, int] = {}
    for c in comparisons:
        for name, res in (("base", c.base), ("head", c.head)):
            for s in res.samples if res else ():
                if not s.answer.ok:
                    key = f"{name}:{s.answer.error_kind}"
                    errors_by_kind[key] = errors_by_kind.get(key, 0) + 1
    prompt = words.prompt or f"prompts/{words.name}.md.j2"
    suite = SuiteResult(
        name=words.name, status=words.status,  # type: ignore[arg-type]
        reasons=("prompt changed",) if words.status == "modified" else (f"prompt {words.status}",),
        base_prompt=None if words.status == "added" else prompt,
        head_prompt=None if words.status == "removed" else prompt,
        prompt_format="template", model_base="openai/gpt-4o-mini", model_head="openai/gpt-4o-mini",
        cases_total=len(comparisons), cases=comparisons, metrics=metrics, pairwise=pairwise,
        verdict=None,  # type: ignore[arg-type]
        errors_base=sum(v for k, v in errors_by_kind.items() if k.startswith("base:")),
        errors_head=sum(v for k, v in errors_by_kind.items() if k.startswith("head:")),
        errors_by_kind=errors_by_kind, notes=words.notes, error=words.error,
    )
    return suite, evidence


def stats(calls: int, *, hits: int = 0, errors: dict[str, int] | None = None) -> CallStats:
    errors = errors or {}
    return CallStats(calls=calls, cache_hits=hits, errors=sum(errors.values()), prompt_tokens=calls * 120,
                     completion_tokens=calls * 40, cost_usd=calls * 0.00021, latency_s=(calls - hits) * 0.8,
                     errors_by_kind=dict(errors))


def build_review(suites: Sequence[SuiteWords], **overrides: object) -> ReviewResult:
    built = [build_suite(w) for w in suites]
    verdict = decide([ev for _, ev in built])
    results = tuple(replace(s, verdict=v) for (s, _), v in zip(built, verdict.suites, strict=True))
    cases = sum(s.cases_total for s in results)
    head_errors = {k.split(":")[1]: v for s in results for k, v in s.errors_by_kind.items()
                   if k.startswith("head:")}
    defaults: dict[str, object] = dict(
        repo="acme/support-bot", base_label="main", base_sha="1111111aaaaaaabbbbbbbcccccccdddddddeeee",
        head_label="refund-wording", head_sha="2222222aaaaaaabbbbbbbcccccccdddddddeeee",
        config_path="promptreview.yml", config_rev="1111111aaaaaaabbbbbbbcccccccdddddddeeee",
        suites=results, verdict=verdict,
        changes=(
            *(Change("modified", s.head_prompt or s.base_prompt or "") for s in results),
            Change("renamed", "prompts/partials/tone.j2", "prompts/partials/voice.j2"),
        ),
        unaffected=("billing", "onboarding"),
        usage=Usage(base=stats(cases, hits=cases // 2), head=stats(cases, errors=head_errors),
                    judge=stats(cases * 2, hits=4), planned_calls=cases * 4, cache_hits=cases // 2 + 4),
        duration_s=193.4, pr_number=42,
        run_url="https://github.com/acme/support-bot/actions/runs/123456",
        diff_url="https://github.com/acme/support-bot/pull/42/files",
    )
    defaults.update(overrides)
    return ReviewResult(**defaults)  # type: ignore[arg-type]


def one_suite_review(**words: object) -> ReviewResult:
    """The common case in tests: one modified suite described by keyword arguments."""
    return build_review([SuiteWords(**{"name": "support-answers", **words})])  # type: ignore[arg-type]
