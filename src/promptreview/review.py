"""The review pipeline, end to end: changes -> plan -> materialize -> run -> score -> compare ->
verdict. The CLI (``run``, ``compare``) and the action call this; it returns a ``ReviewResult``
and does no printing of its own (progress goes through a callback).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptreview.aio import map_bounded
from promptreview.changes import ChangeSet, diff
from promptreview.data.in_review import suite_figures
from promptreview.errors import BudgetExceeded, PromptReviewError
from promptreview.judge import judge_pair
from promptreview.materialize import PreparedSuite, prepare_suite
from promptreview.models.types import ChatRequest, Completion, Embeddings
from promptreview.plan import Plan, SuitePlan, make_plan
from promptreview.results import CaseComparison, CaseResult, PairwiseResult, pairwise_score
from promptreview.review_result import ReviewResult, SuiteResult, Usage
from promptreview.revision import Revision
from promptreview.run import CaseAnswers, plan_calls, run_calls
from promptreview.score import score_suite
from promptreview.settle import look_note, settle, verdicts_for, worth_a_look
from promptreview.summarize import added_cases_summary, case_values, classify, summarize
from promptreview.verdict import SuiteEvidence, decide

if TYPE_CHECKING:  # the client module is imported only when a review runs
    from promptreview.models.client import ModelClient

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class ReviewOptions:
    config_path: str | None = None
    only_suite: str | None = None
    fresh: bool = False  # ignore cached answers (they are refreshed)
    no_cache: bool = False  # neither read nor write the cache
    cache_path: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    concurrency: int | None = None
    timeout_s: float | None = None
    deadline_s: float | None = None
    max_calls: int | None = None
    max_cost_usd: float | None = None
    requests_per_minute: float | None = None
    samples: int | None = None
    model: str | None = None
    judge: str | None = None
    shard: tuple[int, int] | None = None  # (i, n), 1-based
    all_suites: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    repo_name: str | None = None
    pr_number: int | None = None
    run_url: str | None = None
    diff_url: str | None = None
    # People's verdicts (/prefer, /tie, compare --prefer): (CASE or SUITE:CASE, head|base|tie, who).
    human_verdicts: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class PlannedReview:
    """The revisions and the plan of a review, before any rendering or model call.

    Planning is cheap (git reads only), so a caller can look at it first (the action posts nothing
    when no suite is affected) and then hand it to :func:`review` instead of planning twice.
    """

    base: Revision
    head: Revision
    plan: Plan
    single: bool


def plan_review(
    repo: Path, base_rev: str | None, head_rev: str | None, options: ReviewOptions
) -> PlannedReview:
    """Resolve the revisions and plan the review (``base_rev`` None: a one-revision run)."""
    head = Revision.at(repo, head_rev, "head")
    if base_rev is None:
        plan = _single_revision_plan(head, options)
        base = head
    else:
        base = Revision.at(repo, base_rev, "base")
        plan = make_plan(base, head, diff(base, head), options.config_path, all_suites=options.all_suites)
    if options.only_suite:
        plan = plan.only(options.only_suite)
    return PlannedReview(base, head, _apply_overrides(plan, options), single=base_rev is None)


def review(
    repo: Path,
    base_rev: str | None,
    head_rev: str | None,
    options: ReviewOptions,
    progress: ProgressFn | None = None,
    planned: PlannedReview | None = None,
) -> ReviewResult:
    """Compare ``base_rev`` and ``head_rev`` (None head: the working tree). ``base_rev`` None runs
    one revision alone (``promptreview run``): every suite is head-only and judged by its floors.
    ``planned`` reuses a plan from :func:`plan_review` for the same arguments."""
    started = time.monotonic()
    planned = planned or plan_review(repo, base_rev, head_rev, options)
    prepared = _prepare_all(planned.plan, planned.base, planned.head)
    if options.shard:
        prepared = [_shard(p, *options.shard) for p in prepared]
    result = _run_async(
        _evaluate(
            planned.plan, prepared, planned.base, planned.head, options, progress, single=planned.single
        )
    )
    return replace(result, duration_s=time.monotonic() - started)


def _run_async(coro: Coroutine[Any, Any, ReviewResult]) -> ReviewResult:
    """Run the evaluation on a fresh event loop.

    Not ``asyncio.run``: when its SIGINT handler is removed at the end, the handler's repr (which
    holds the finished main task) is built, and with it the repr of the whole ReviewResult —
    tens of milliseconds on a fully cached run, which must take well under half a second.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _single_revision_plan(rev: Revision, options: ReviewOptions) -> Plan:
    from promptreview.config import load_config

    config = load_config(rev, options.config_path)
    suites = tuple(
        SuitePlan(s, "single", None, s.prompt, ("run",))
        for s in config.suites
        if rev.read(s.prompt) is not None
    )
    return Plan(suites, (), ChangeSet(()), config)


def _apply_overrides(plan: Plan, options: ReviewOptions) -> Plan:
    """CLI/action overrides (model, judge, samples) apply to every suite of this run."""
    if not (options.model or options.judge or options.samples):
        return plan
    suites = []
    for sp in plan.suites:
        s = sp.suite
        s = replace(
            s,
            model=options.model or s.model,
            judge=options.judge or s.judge,
            samples=options.samples or s.samples,
        )
        sides = {}
        if options.model:  # an explicit --model applies to both sides
            sides = {
                k: replace(c, model=options.model)
                for k in ("base_model", "head_model")
                if (c := getattr(sp, k)) is not None
            }
        suites.append(replace(sp, suite=s, **sides))
    return replace(plan, suites=tuple(suites))


def _prepare_all(plan: Plan, base: Revision, head: Revision) -> list[PreparedSuite]:
    from promptreview.render import Renderer

    files = [p for sp in plan.suites for p in (sp.base_prompt, sp.head_prompt, sp.suite.cases) if p]
    base.prefetch(files)
    head.prefetch(files)
    with Renderer(base.read) as base_renderer, Renderer(head.read) as head_renderer:
        renderers = {"base": base_renderer, "head": head_renderer}
        prepared = [
            # A removed prompt has nothing to evaluate: no rendering, no calls.
            PreparedSuite(sp, (), (), None, None)
            if sp.status == "removed" and sp.head_fault is None
            else prepare_suite(sp, base, head, plan.config.defaults, renderers)
            for sp in plan.suites
        ]
    # The cases are parsed: their files' text is not read again.
    cases_files = [sp.suite.cases for sp in plan.suites if sp.suite.cases]
    base.release(cases_files)
    head.release(cases_files)
    return prepared


def _shard(p: PreparedSuite, i: int, n: int) -> PreparedSuite:
    """A deterministic slice of the cases: stable across machines, independent of case order."""

    def mine(case_id: str) -> bool:
        digest = hashlib.sha256(f"{p.name}\x00{case_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % n == i - 1

    keep = [ci for ci, c in enumerate(p.cases) if mine(c.id)]

    def cut(v: object) -> object:
        if v is None:
            return None
        return replace(v, cases=tuple(v.cases[ci] for ci in keep))  # type: ignore[attr-defined]

    return replace(p, cases=tuple(p.cases[ci] for ci in keep), base=cut(p.base), head=cut(p.head))  # type: ignore[arg-type]


async def _evaluate(
    plan: Plan,
    prepared: list[PreparedSuite],
    base: Revision,
    head: Revision,
    options: ReviewOptions,
    progress: ProgressFn | None,
    single: bool,
) -> ReviewResult:
    from promptreview.models.client import open_client

    defaults = plan.config.defaults
    runnable = [p for p in prepared if p.error is None and p.plan.status != "removed" and p.versions()]
    slots = plan_calls(runnable)
    n_slots = len(slots)
    async with open_client(defaults, options, repo_root=str(head.repo)) as client:
        hits = client.prefetch([s.request for s in slots if s is not None and s.request is not None])
        planned = _planned_calls(runnable, slots) + _label_calls(runnable, base.read)
        budget = options.max_calls or defaults.max_calls
        if budget is not None and planned - hits > budget:
            raise BudgetExceeded(
                f"this review would make about {planned - hits} model calls "
                f"({planned} planned, {hits} cached), over the max-calls budget of {budget}; "
                "raise max-calls or narrow the run (/rerun SUITE, --shard)"
            )
        if progress:
            progress("plan", hits, planned)
        answered = judged = 0

        def tick(n: int) -> None:
            nonlocal answered
            answered += n
            if progress:
                progress("answers", answered, n_slots)

        def tick_judge() -> None:
            nonlocal judged
            judged += 1
            if progress:
                expected = planned - n_slots
                progress("judging", judged, max(expected, judged))

        answers = await run_calls(
            slots, runnable, client.complete, tick, client.take_cached, width=client.concurrency
        )  # consumes slots: each request is freed once answered
        del runnable  # from here on ``prepared`` alone holds the suites, so scoring can free them
        llm = _CountingJudge(client, tick_judge)
        outcomes = await asyncio.gather(
            *(
                _evaluate_suite(prepared, i, answers, llm, base, single, options.human_verdicts)
                for i in range(len(prepared))
            )
        )
        suites = [o[0] for o in outcomes]
        evidence = [o[1] for o in outcomes]
        # Coverage of production inputs and the judge's agreement with human labels (never gate).
        figures = await asyncio.gather(
            *(suite_figures(p, s.cases, llm, base.read) for p, s in zip(prepared, suites, strict=True))
        )
        suites = [
            replace(s, coverage=c, judge_agreement=j) for s, (c, j) in zip(suites, figures, strict=True)
        ]
        usage = Usage(
            base=client.stats_for("answer", "base"),
            head=client.stats_for("answer", "head"),
            judge=client.stats_for("judge", None),
            planned_calls=planned,
            cache_hits=hits,
            priced=client.priced,
        )
    verdict = decide(evidence)
    suites = [replace(s, verdict=v) for s, v in zip(suites, verdict.suites, strict=True)]
    return ReviewResult(
        repo=options.repo_name,
        base_label=base.label if not single else "",
        base_sha=None if single else base.rev,
        head_label=head.label,
        head_sha=None if head.is_worktree else head.rev,
        config_path=plan.config.path,
        config_rev=None if single else base.rev,
        suites=tuple(suites),
        verdict=verdict,
        changes=plan.changes.changes,
        unaffected=plan.unaffected,
        usage=usage,
        duration_s=0.0,
        notes=tuple(n for n in (plan.config_note,) if n),
        pr_number=options.pr_number,
        run_url=options.run_url,
        diff_url=options.diff_url,
        shard=f"{options.shard[0]}/{options.shard[1]}" if options.shard else None,
    )


async def _evaluate_suite(
    prepared: list[PreparedSuite],
    index: int,
    answers: dict[tuple[str, str], CaseAnswers],
    llm: _CountingJudge,
    base: Revision,
    single: bool,
    human: Sequence[tuple[str, str, str]] = (),
) -> tuple[SuiteResult, SuiteEvidence]:
    """Score, judge and summarize suite ``prepared[index]`` (suites run concurrently: their judge
    calls overlap). Once scored, the suite is replaced in ``prepared`` by :meth:`PreparedSuite.scored`,
    which frees its rendered cases for what comes after (comparing, summarizing, the report)."""
    p = prepared[index]
    if p.error is not None or p.plan.status == "removed" or not p.versions():
        removed = p.plan.status == "removed"
        evidence = SuiteEvidence(
            p.name, (), 0, 0, head_only=True, removed=removed, error=p.error, head_faults=p.head_faults
        )
        return _unevaluated_suite(p), evidence
    delimiter = ""  # judges derive a content-hash delimiter, which keeps judge calls cacheable
    scored = await score_suite(p, answers, llm, base.read, delimiter, width=llm.width)
    prepared[index] = p = p.scored()
    comparisons = await _compare(p, scored, llm.complete, delimiter, llm.width)
    # People's verdicts replace the judge's for the cases they settled (/prefer, /tie).
    comparisons, settled = settle(comparisons, verdicts_for(p.name, human))
    summaries, pairwise, evidence = summarize(
        p.name,
        comparisons,
        p.plan.suite.gate,
        p.base is None,
        p.plan.suite.compare and not single,
        single_revision=single,
    )
    evidence = replace(evidence, head_faults=p.head_faults)
    result = _suite_result(p, comparisons, summaries, pairwise)
    unsettled = [c for c in comparisons if c.case_id not in {v.case_id for v in settled}]
    look = look_note(worth_a_look(unsettled, p.metrics))
    notes = (*result.notes, look) if look and not single else result.notes
    return replace(result, settled=settled, notes=notes), evidence


class _CountingJudge:
    """The model client as metrics and the pairwise judge see it, counting judge calls for progress."""

    def __init__(self, client: ModelClient, on_judge: Callable[[], None]) -> None:
        self._client = client
        self._on_judge = on_judge
        self.width = 2 * client.concurrency  # cases scored or judged at once: enough to fill the client

    async def complete(self, req: ChatRequest, *, tag: str | None = None) -> Completion:
        completion = await self._client.complete(req, tag=tag)
        if req.purpose == "judge":
            self._on_judge()
        return completion

    async def embed(self, model: str, texts: Sequence[str]) -> Embeddings:
        return await self._client.embed(model, texts)


def _planned_calls(suites: Sequence[PreparedSuite], slots: Sequence[object]) -> int:
    """Answers + metric judge calls + pairwise judge calls (both orders), before cache hits."""
    from promptreview.metrics import registry

    total = sum(1 for s in slots if s is not None and s.request is not None)  # type: ignore[attr-defined]
    for p in suites:
        samples = p.plan.suite.samples
        per_answer = sum(registry.get(m.kind).judge_calls for m in p.metrics)
        for v in p.versions():
            for pc in v.cases:
                case_calls = per_answer + sum(registry.get(m.kind).judge_calls for m in pc.case.metrics)
                total += case_calls * samples
        if p.base is not None and p.head is not None and p.plan.suite.compare:
            total += 2 * len(p.cases) * samples
    return total


def _label_calls(suites: Sequence[PreparedSuite], read: Callable[[str], str | None]) -> int:
    """Judge calls the ``judge: {labels}`` figure makes: both orders of every labelled pair whose
    answers differ (identical answers are a tie without a call). Read from base, as the figure is;
    a file that cannot be read or parsed makes no calls (the figure reports the error)."""
    from promptreview.data.labels import parse_labels

    total = 0
    for p in suites:
        path = p.plan.suite.judge_labels
        text = read(path) if path and p.cases else None
        if text is None:
            continue
        try:
            pairs = parse_labels(text, path)  # type: ignore[arg-type]
        except PromptReviewError:
            continue
        total += 2 * sum(1 for pair in pairs if pair.a != pair.b)
    return total


async def _compare(
    p: PreparedSuite,
    scored: dict[str, tuple[CaseResult, ...]],
    complete: object,
    delimiter: str,
    width: int = 64,
) -> list[CaseComparison]:
    base_results = scored.get("base")
    head_results = scored.get("head")
    suite = p.plan.suite

    async def one(ci: int) -> CaseComparison:
        case = p.cases[ci]
        b = base_results[ci] if base_results else None
        h = head_results[ci] if head_results else None
        pairwise: list[PairwiseResult] = []
        if b is not None and h is not None and suite.compare:
            jobs = []
            for bs, hs in zip(b.samples, h.samples, strict=True):
                if bs.answer.ok and hs.answer.ok:
                    jobs.append(
                        judge_pair(
                            complete,
                            suite.judge,
                            # The task as base defines it (base's prompt, base's case): a PR that
                            # changes what is asked is not judged by its own new rules.
                            bs.answer.messages,
                            case.expected,  # type: ignore[arg-type]
                            suite.compare_criteria,
                            bs.answer.text or "",
                            hs.answer.text or "",
                            delimiter,
                            bs.answer.sample,
                        )
                    )
            pairwise = list(await asyncio.gather(*jobs))
        bv, hv = case_values(b), case_values(h)
        pw = pairwise_score(pairwise)
        change, moved = classify(bv, hv, pw, h is not None and h.errored, b is not None and b.errored)
        loc = case.location
        return CaseComparison(
            case.id,
            b,
            h,
            tuple(pairwise),
            change,
            moved,
            loc.file if loc else None,
            loc.line if loc else None,
            case.must_pass,
            case.label,
            case.id in added,
        )

    added = set(p.case_changes.added)
    if base_results and head_results and suite.compare:
        return await map_bounded(one, range(len(p.cases)), width)
    return [await one(ci) for ci in range(len(p.cases))]  # no judge calls: no task per case


def _unevaluated_suite(p: PreparedSuite) -> SuiteResult:
    """A suite with no cases run: its prompt was removed, or it could not be read at all."""
    from promptreview.review_result import PairwiseSummary

    sp = p.plan
    return SuiteResult(
        name=p.name,
        status=sp.status,
        reasons=sp.reasons,
        base_prompt=sp.base_prompt,
        head_prompt=sp.head_prompt,
        prompt_format="unknown",
        model_base=None,
        model_head=None,
        cases_total=0,
        cases=(),
        metrics=(),
        pairwise=PairwiseSummary(),
        verdict=None,  # type: ignore[arg-type]  # filled in after decide()
        notes=p.notes,
        definition_changes=sp.definition_changes,
        error=p.error,
        head_faults=p.head_faults,
    )


def _suite_result(
    p: PreparedSuite, comparisons: list[CaseComparison], summaries: tuple[object, ...], pairwise: object
) -> SuiteResult:
    sp = p.plan
    notes = list(p.notes)
    if sp.definition_changes:
        notes.insert(
            0,
            "this change edits the suite's definition ("
            + "; ".join(sp.definition_changes)
            + "); the base revision's definition was used",
        )
    errors_by_kind: dict[str, int] = {}
    errs = {"base": 0, "head": 0}
    for c in comparisons:
        for side, res in (("base", c.base), ("head", c.head)):
            if res is None:
                continue
            for s in res.samples:
                if not s.answer.ok:
                    errs[side] += 1
                    kind = f"{side}:{s.answer.error_kind or 'other'}"
                    errors_by_kind[kind] = errors_by_kind.get(kind, 0) + 1
    fmt = (p.head or p.base).prompt.format  # type: ignore[union-attr]
    return SuiteResult(
        name=p.name,
        status=sp.status,
        reasons=sp.reasons,
        base_prompt=sp.base_prompt,
        head_prompt=sp.head_prompt,
        prompt_format=fmt,
        model_base=p.base.model if p.base else None,
        model_head=p.head.model if p.head else None,
        cases_total=sum(1 for c in comparisons if not c.added),
        cases=tuple(comparisons),
        metrics=summaries,  # type: ignore[arg-type]
        pairwise=pairwise,
        verdict=None,  # type: ignore[arg-type]
        errors_base=errs["base"],
        errors_head=errs["head"],
        errors_by_kind=errors_by_kind,
        notes=tuple(notes),
        definition_changes=sp.definition_changes,
        gate=sp.suite.gate,
        compare_enabled=sp.suite.compare,
        head_faults=p.head_faults,
        case_changes=p.case_changes,
        added_cases=added_cases_summary(comparisons),
    )
