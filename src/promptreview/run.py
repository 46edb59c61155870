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


def plan_calls(suites: Sequence[PreparedSuite]) -> list[CallSlot]:
    slots: list[CallSlot] = []
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


async def run_calls(
    slots: Sequence[CallSlot],
    suites: Sequence[PreparedSuite],
    complete: Callable[..., Awaitable[Completion]],
    progress: Progress | None = None,
    cached: Callable[..., Completion | None] | None = None,
    width: int | None = None,
) -> dict[tuple[str, str], list[list[Answer]]]:
    """Answers per (suite, version): a list per case of its samples' answers, in order.

    ``cached(request, tag=...)`` answers from the cache without a call (a cached re-run then
    creates no task per call); everything else goes through ``complete``, from ``width`` workers
    (the client's concurrency; see ``aio.map_bounded``).
    """
    by_name = {s.name: s for s in suites}
    out: dict[tuple[str, str], list[list[Answer]]] = {}
    for s in suites:
        for v in s.versions():
            out[(s.name, v.name)] = [[] for _ in v.cases]

    async def one(slot: CallSlot) -> tuple[CallSlot, Answer]:
        version = _version(by_name[slot.suite], slot.version)
        pc = version.cases[slot.case_index]
        if slot.request is None:
            answer = Answer(pc.case.id, slot.sample, error=f"template error: {pc.error}", error_kind="render")
        else:
            completion = await complete(slot.request, tag=slot.version)
            answer = _answer(pc.case.id, slot, completion, version)
        if progress:
            progress(1)
        return slot, answer

    results: list[tuple[CallSlot, Answer]] = []
    pending = []
    versions = {(s.name, v.name): v for s in suites for v in s.versions()}
    for slot in slots:
        hit = cached(slot.request, tag=slot.version) if cached is not None and slot.request else None
        if hit is None:
            pending.append(slot)
            continue
        version = versions[(slot.suite, slot.version)]
        results.append((slot, _answer(version.cases[slot.case_index].case.id, slot, hit, version)))
        if progress:
            progress(1)
    if pending:
        results.extend(await map_bounded(one, pending, width or len(pending)))
    for slot, answer in results:
        out[(slot.suite, slot.version)][slot.case_index].append(answer)
    for answers in out.values():
        for per_case in answers:
            if len(per_case) > 1:
                per_case.sort(key=lambda a: a.sample)
    return out


def _version(suite: PreparedSuite, name: str) -> PreparedVersion:
    v = suite.base if name == "base" else suite.head
    assert v is not None
    return v


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
