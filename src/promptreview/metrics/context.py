"""What one metric sees when it scores one answer, and the seam to the model endpoint.

Metric functions take a ``MetricContext`` and return a ``MetricResult``. They never build a client
or read files themselves: the model client arrives as ``llm`` (anything with ``complete`` and
``embed``), and repository files arrive through ``read_file``. That keeps every metric testable
with a twenty-line fake and keeps I/O in the run stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from promptreview.models.types import ChatRequest, Completion, Embeddings, Message
from promptreview.results import MetricResult, MetricValueKind, shared_result
from promptreview.suite import Case, MetricSpec


class LLM(Protocol):
    """The part of the model client metrics use (the real client, or a fake in tests)."""

    async def complete(self, req: ChatRequest) -> Completion: ...

    async def embed(self, model: str, texts: Sequence[str]) -> Embeddings: ...


class MetricError(Exception):
    """The metric could not be computed for this answer (no reference, judge failed...).

    ``score_one`` turns it into a result with ``error`` set, which the verdict never counts as a
    failure of the prompt.
    """


@dataclass(slots=True)
class MetricContext:
    """Everything one metric needs to score one answer of one case.

    Not frozen, unlike the results: one is made for every metric of every answer (40,000 in a
    10,000-case run with four metrics) and lives only for that call, and a frozen dataclass pays
    an ``object.__setattr__`` per field at construction (1.4 us against 0.2 us for these twelve
    fields). Nothing reads a context after its metric returns, so there is nothing to protect.
    """

    case: Case
    answer: str  # the model's answer (already trimmed if the prompt is a gh-models file)
    messages: tuple[Message, ...]  # the rendered input the model saw
    spec: MetricSpec
    args: Mapping[str, Any]  # spec.args with templated strings already rendered for this case
    llm: LLM
    judge_model: str
    embedding_model: str
    read_file: Callable[[str], str | None]  # reads a repo file at the BASE revision
    base_answer: str | None = None  # the base answer for the same case/sample, when scoring head
    delimiter: str = ""  # per-run random token wrapped around untrusted text in judge prompts
    kind: MetricValueKind = "binary"  # the registry's kind for spec.kind, set by the score stage


def make_result(
    ctx: MetricContext,
    passed: bool,
    reason: str,
    score: float | None = None,
    *,
    grade: float | None = None,
    label: str | None = None,
) -> MetricResult:
    """A result for ``ctx``'s metric; a binary metric's score is simply 1.0 or 0.0.

    ``kind`` comes from the context (the score stage sets the registry's), and
    ``registry.score_one`` enforces the metric's definition, so a metric cannot report the wrong kind.
    Equal results are one shared object (``results.shared_result``).
    """
    spec = ctx.spec
    score = (1.0 if passed else 0.0) if score is None else score
    return shared_result(spec.name, score, passed, reason, ctx.kind, spec.gate, grade=grade, label=label)


def transcript(messages: Sequence[Message]) -> str:
    """The rendered input as plain text, for showing a judge what the model was asked."""
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)
