"""Human-labelled pairs and the judge measured against them (``promptreview judge-check``).

A labels file (``evals/labels.jsonl``) holds one pair per line: ``{"task", "a", "b",
"preference": "a" | "b" | "tie", "reference"?, "criteria"?, "id"?}`` (``answer_a``/``answer_b``
and ``human``/``label`` are read too). Each pair is judged by the configured judge in both orders
(the review's own ``judge_pair``, so the same prompt, delimiters and caching), and compared with
the person's preference: agreement, Cohen's kappa over the three labels, position consistency
(the two orders agreed) and the list of disagreements.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from promptreview.errors import ConfigError, Location
from promptreview.judge import judge_pair
from promptreview.models.types import ChatRequest, Completion, Message

LABELS = ("a", "tie", "b")
_ALIASES = {"a": "a", "b": "b", "tie": "tie", "base": "a", "head": "b", "equal": "tie", "same": "tie"}
DEFAULT_CRITERIA = "correct, complete, helpful and concise"


@dataclass(frozen=True)
class LabelledPair:
    id: str
    task: str
    a: str
    b: str
    preference: str  # a | b | tie
    reference: str | None = None
    criteria: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class PairOutcome:
    pair: LabelledPair
    judge: str | None  # a | b | tie; None when the judge call failed or gave no usable answer
    consistent: bool
    reason: str = ""
    error: str | None = None
    unusable: bool = False  # the judge answered, but no verdict could be read from it (after a retry)


@dataclass(frozen=True)
class AgreementReport:
    outcomes: tuple[PairOutcome, ...]

    @property
    def judged(self) -> list[PairOutcome]:
        return [o for o in self.outcomes if o.judge is not None]

    @property
    def n(self) -> int:
        return len(self.judged)

    @property
    def agree(self) -> int:
        return sum(1 for o in self.judged if o.judge == o.pair.preference)

    @property
    def agreement(self) -> float | None:
        return self.agree / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        return cohen_kappa([o.pair.preference for o in self.judged], [o.judge or "" for o in self.judged])

    @property
    def consistency(self) -> float | None:
        return sum(1 for o in self.judged if o.consistent) / self.n if self.n else None

    @property
    def disagreements(self) -> list[PairOutcome]:
        return [o for o in self.judged if o.judge != o.pair.preference]

    @property
    def errors(self) -> list[PairOutcome]:
        """Pairs whose judge call failed (the provider, not the judge, is at fault)."""
        return [o for o in self.outcomes if o.judge is None and not o.unusable]

    @property
    def unusable(self) -> list[PairOutcome]:
        """Pairs the judge answered without a readable verdict: no answer, so neither agreement nor
        position consistency counts them (an unreadable reply is not "inconsistent")."""
        return [o for o in self.outcomes if o.unusable]


def cohen_kappa(human: Sequence[str], judge: Sequence[str]) -> float | None:
    """(p_o - p_e) / (1 - p_e) over the labels used; None with no pairs, 1.0 when both are constant
    and equal (p_e = 1: no disagreement to measure)."""
    n = len(human)
    if n == 0:
        return None
    observed = sum(1 for h, j in zip(human, judge, strict=True) if h == j) / n
    ch, cj = Counter(human), Counter(judge)
    expected = sum(ch[k] * cj[k] for k in set(ch) | set(cj)) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def parse_labels(text: str, path: str) -> tuple[LabelledPair, ...]:
    pairs: list[LabelledPair] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = Location(path, n)
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc.msg}", where) from None
        if not isinstance(raw, dict):
            raise ConfigError("each line is a JSON object {task, a, b, preference}", where)
        task = raw.get("task", raw.get("input"))
        a = raw.get("a", raw.get("answer_a"))
        b = raw.get("b", raw.get("answer_b"))
        pref = raw.get("preference", raw.get("human", raw.get("label")))
        for name, value in (("task", task), ("a", a), ("b", b)):
            if not isinstance(value, str):
                raise ConfigError(f"`{name}` must be a string", Location(path, n, name))
        label = _ALIASES.get(str(pref).strip().lower()) if pref is not None else None
        if label is None:
            raise ConfigError(
                f"`preference` must be a, b or tie, not {pref!r}", Location(path, n, "preference")
            )
        ref = raw.get("reference")
        crit = raw.get("criteria")
        pairs.append(
            LabelledPair(
                str(raw.get("id") or f"#{n}"),
                task,
                a,
                b,
                label,  # type: ignore[arg-type]
                ref if isinstance(ref, str) else None,
                crit if isinstance(crit, str) else None,
                n,
            )
        )
    return tuple(pairs)


Complete = Callable[[ChatRequest], Awaitable[Completion]]


async def judge_labels(
    complete: Complete, judge_model: str, pairs: Sequence[LabelledPair], criteria: str | None = None
) -> AgreementReport:
    """Judge every pair in both orders with the review's judge; A plays base, B plays head."""

    async def one(p: LabelledPair) -> PairOutcome:
        task = (Message("user", p.task),)
        res = await judge_pair(
            complete,
            judge_model,
            task,
            p.reference,
            p.criteria or criteria or DEFAULT_CRITERIA,
            p.a,
            p.b,
            "",
            0,
        )
        if res.error:
            return PairOutcome(p, None, False, error=res.error)
        if res.unparseable:
            return PairOutcome(p, None, False, error="the judge gave no usable answer", unusable=True)
        verdict = {"base": "a", "head": "b", "tie": "tie"}[res.outcome]
        return PairOutcome(p, verdict, res.consistent, res.reason)

    return AgreementReport(tuple(await asyncio.gather(*(one(p) for p in pairs))))


def format_agreement(report: AgreementReport, source: str) -> str:
    if not report.outcomes:
        return f"{source}: no labelled pairs"
    lines = []
    if report.n:
        kappa = report.kappa
        lines.append(
            f"judge agrees with your labels {report.agreement * 100:.0f}% (n={report.n}, "  # type: ignore[operator]
            f"{report.agree} of {report.n}); Cohen's kappa {kappa:.2f}; "
            f"position consistency {report.consistency * 100:.0f}%"  # type: ignore[operator]
        )
    total = len(report.outcomes)
    of_total = f"of {total} pair{'s' if total != 1 else ''}"
    if report.unusable:
        # Not a 0% agreement or a 0% order-consistent judge: no verdict at all, counted apart.
        ids = ", ".join(o.pair.id for o in report.unusable[:5]) + (" ..." if len(report.unusable) > 5 else "")
        lines.append(f"judge gave no usable answer ({len(report.unusable)} {of_total}: {ids}); "
                     "left out of agreement and position consistency")
    if report.errors:
        lines.append(f"{len(report.errors)} {of_total} could not be judged: {report.errors[0].error}")
    if report.disagreements:
        lines.append("disagreements:")
        for o in report.disagreements:
            where = f"{source}:{o.pair.line}" if o.pair.line else source
            why = f": {o.reason}" if o.reason else ""
            lines.append(f"  {o.pair.id} ({where}): you said {o.pair.preference}, the judge {o.judge}{why}")
    return "\n".join(lines)
