"""The run stage: every case x sample x version becomes one model call, all sent concurrently.

Concurrency, retries, the deadline and the cache live in the model client; this module only
builds the requests and keeps each answer (or its error) with its case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from promptreview.aio import map_bounded
from promptreview.materialize import PreparedSuite, PreparedVersion
from promptreview.models.types import ChatRequest, Completion
from promptreview.results import Answer

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class CallSlot:
    """Where one planned call belongs: which suite, version, case and sample."""

    suite: str
    version: str
    case_index: int
    sample: int
    request: ChatRequest | None  # None: the case failed to render, no call


def plan_calls(suites: Sequence[PreparedSuite]) -> list[CallSlot | None]:
    slots: list[CallSlot | None] = []
    for s in suites:
        samples = s.plan.suite.samples
        for v in s.versions():
            # Every case of a version shares model and parameters: frozen once, not per call.
            proto = ChatRequest.make(v.model, (), dict(v.params), purpose="answer")
            model, params = proto.model, proto.params
            for ci, pc in enumerate(v.cases):
                for k in range(samples):
                    req = None
                    if pc.error is None:
                        req = ChatRequest(model, pc.messages, params, k, "answer")
                    slots.append(CallSlot(s.name, v.name, ci, k, req))
    return slots


class CaseAnswers:
    """One suite version's answers, flat: case ``ci``'s samples are ``[ci * samples, (ci + 1) * samples)``.

    Why flat: a list per case (grown by appends, then sorted by sample) was about 100 bytes a
    case, 5 MB at 50,000 cases; each answer goes straight to its place instead.
    """

    __slots__ = ("_flat", "samples")

    def __init__(self, cases: int, samples: int) -> None:
        self.samples = samples
        self._flat: list[Answer | None] = [None] * (cases * samples)

    def put(self, case_index: int, sample: int, answer: Answer) -> None:
        self._flat[case_index * self.samples + sample] = answer

    def __getitem__(self, case_index: int) -> list[Answer]:
        """Case ``case_index``'s answers in sample order."""
        k = self.samples
        return [a for a in self._flat[case_index * k : (case_index + 1) * k] if a is not None]

    def __len__(self) -> int:
        return len(self._flat) // self.samples if self.samples else 0


async def run_calls(
    slots: list[CallSlot | None],
    suites: Sequence[PreparedSuite],
    complete: Callable[..., Awaitable[Completion]],
    progress: Progress | None = None,
    cached: Callable[..., Completion | None] | None = None,
    width: int | None = None,
) -> dict[tuple[str, str], CaseAnswers]:
    """Answers per (suite, version), by case and sample.

    ``cached(request, tag=...)`` answers from the cache without a call (a cached re-run then
    creates no task per call); everything else goes through ``complete``, from ``width`` workers
    (the client's concurrency; see ``aio.map_bounded``).

    ``slots`` is consumed: each entry is set to None once its answer is in, so a request (its
    messages stay with the answer) and its cache key are freed as the run goes rather than all
    held until the last call returns (about 14 MB at 50,000 calls).
    """
    out: dict[tuple[str, str], CaseAnswers] = {}
    versions: dict[tuple[str, str], PreparedVersion] = {}
    for s in suites:
        for v in s.versions():
            out[(s.name, v.name)] = CaseAnswers(len(v.cases), s.plan.suite.samples)
            versions[(s.name, v.name)] = v

    def keep(slot: CallSlot, answer: Answer) -> None:
        out[(slot.suite, slot.version)].put(slot.case_index, slot.sample, answer)
        if progress:
            progress(1)

    async def one(i: int) -> None:
        slot = slots[i]
        assert slot is not None
        slots[i] = None
        version = versions[(slot.suite, slot.version)]
        pc = version.cases[slot.case_index]
        if slot.request is None:
            error = f"template error: {pc.error}"
            keep(slot, Answer(pc.case.id, slot.sample, error=error, error_kind="render"))
        else:
            completion = await complete(slot.request, tag=slot.version)
            keep(slot, _answer(pc.case.id, slot, completion, version))

    pending: list[int] = []
    for i, slot in enumerate(slots):
        assert slot is not None
        hit = cached(slot.request, tag=slot.version) if cached is not None and slot.request else None
        if hit is None:
            pending.append(i)
            continue
        slots[i] = None
        version = versions[(slot.suite, slot.version)]
        keep(slot, _answer(version.cases[slot.case_index].case.id, slot, hit, version))
    if pending:
        await map_bounded(one, pending, width or len(pending))
    return out


def _answer(case_id: str, slot: CallSlot, c: Completion, version: PreparedVersion) -> Answer:
    assert slot.request is not None
    if c.ok and version.prompt.substitution == "gh-models":
        # gh-models trims the response before any evaluator sees it (FORMAT.md §4).
        c = dataclasses.replace(c, text=(c.text or "").strip())
    if not c.ok:
        return Answer(
            case_id,
            slot.sample,
            slot.request.messages,
            c,
            error=c.error or "no answer",
            error_kind=c.error_kind or "invalid_response",
        )
    return Answer(case_id, slot.sample, slot.request.messages, c)
