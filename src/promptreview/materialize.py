"""Turn a planned suite into concrete, rendered inputs for each version.

Reads prompt and case files from each revision (never from a checkout of PR code), picks the
cases both versions run on (base's, as base defines them, plus head's added ones reported apart:
see :mod:`promptreview.case_diff`), and renders every message and templated metric argument in
the sandboxed renderer, in one batch. A case whose template fails is kept with its error, so the run
goes on and the report says what happened to it.

What the head revision breaks in its own prompt is collected as ``head_faults`` (DESIGN.md
section 10): a head prompt or cases file that cannot be parsed, a case that renders at base but
not at head, a GitHub Models placeholder no case fills, a variable every case gives that head's
prompt stopped reading. Those fail the suite; a file broken on the base side stays an ``error``
(the PR did not cause it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from promptreview.case_diff import CaseChanges, gate_cases
from promptreview.cases import parse_cases
from promptreview.errors import ConfigError, Location
from promptreview.models.types import Message
from promptreview.plan import ModelChoice, SuitePlan
from promptreview.prompts import parse_prompt
from promptreview.render import Renderer, RenderJob, render_gh_models
from promptreview.revision import Revision
from promptreview.suite import Case, Defaults, MetricSpec, Prompt
from promptreview.task_drift import drift_note
from promptreview.variables import dropped_variables, unmatched_placeholders

VersionName = Literal["base", "head"]
T = TypeVar("T")


# The key a rendering error is kept under, as scoring and `validate` read it.
ARG_ERROR = "__error__"


@dataclass(frozen=True, slots=True)
class PreparedCase:
    """A case with its messages rendered for one version.

    ``rendered`` holds only the templated metric arguments, as ``(metric name, key, text)``
    (``key`` is ``ARG_ERROR`` when the template failed); :meth:`args_for` lays them over the
    spec's own arguments when a metric is scored. Why triples and not a dict of argument dicts
    per case: that was about 330 bytes a case (16 MB at 50,000 cases), the triples a third.
    """

    case: Case
    messages: tuple[Message, ...] = ()
    error: str | None = None
    rendered: tuple[tuple[str, str, Any], ...] = ()

    def args_for(self, spec: MetricSpec) -> Mapping[str, Any]:
        """The arguments ``spec`` is scored with for this case."""
        args: dict[str, Any] | None = None
        for name, key, value in self.rendered:
            if name == spec.name:
                args = dict(spec.args) if args is None else args
                args[key] = value
        return spec.args if args is None else args


@dataclass(frozen=True)
class PreparedVersion:
    name: VersionName
    revision: str
    prompt: Prompt
    model: str
    params: Mapping[str, Any]
    cases: tuple[PreparedCase, ...]


@dataclass(frozen=True)
class PreparedSuite:
    plan: SuitePlan
    cases: tuple[Case, ...]
    metrics: tuple[MetricSpec, ...]  # suite-level metrics, from base; case metrics live on each case
    base: PreparedVersion | None
    head: PreparedVersion | None
    notes: tuple[str, ...] = ()
    error: str | None = None
    head_faults: tuple[str, ...] = ()  # what the PR broke in this suite's prompt; fails the suite
    case_changes: CaseChanges = field(default_factory=CaseChanges)  # added cases: extra evidence

    @property
    def name(self) -> str:
        return self.plan.suite.name

    def versions(self) -> list[PreparedVersion]:
        return [v for v in (self.base, self.head) if v is not None]

    def scored(self) -> PreparedSuite:
        """This suite once its answers are scored: the versions without their rendered cases.

        Why: nothing reads a rendered case after scoring (each answer carries the messages it was
        asked with), and holding them to the end of the review was about 5 MB at 50,000 cases.
        """
        return replace(
            self,
            base=replace(self.base, cases=()) if self.base else None,
            head=replace(self.head, cases=()) if self.head else None,
        )


def prepare_suite(
    plan: SuitePlan, base: Revision, head: Revision, defaults: Defaults, renderers: Mapping[str, Renderer]
) -> PreparedSuite:
    """Read and render one suite for both sides; a broken file becomes a suite-level error.

    ``renderers`` maps "base"/"head" to the renderer of that revision, so each side's templates
    include that side's partials.
    """
    if plan.head_fault is not None:
        return PreparedSuite(plan, (), (), None, None, head_faults=(plan.head_fault,))
    try:
        return _prepare(plan, base, head, defaults, renderers)
    except HeadFault as exc:
        if plan.status == "single":  # `promptreview run`: no pull request to blame
            return PreparedSuite(plan, (), (), None, None, error=exc.original)
        # ``error`` too: the file is broken, which the CLI reports as a configuration error.
        return PreparedSuite(plan, (), (), None, None, error=exc.original, head_faults=(str(exc),))
    except ConfigError as exc:
        return PreparedSuite(plan, (), (), None, None, error=str(exc))


class HeadFault(ConfigError):
    """A file the head revision broke (its prompt or cases cannot be parsed): the PR's doing."""

    def __init__(self, what: str, cause: ConfigError) -> None:
        self.original = str(cause)
        super().__init__(f"at head, the {what} cannot be used: {cause}")


def _at_head(what: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except HeadFault:
        raise
    except ConfigError as exc:
        raise HeadFault(what, exc) from None


def _prepare(
    plan: SuitePlan, base: Revision, head: Revision, defaults: Defaults, renderers: Mapping[str, Renderer]
) -> PreparedSuite:
    suite = plan.suite
    notes: list[str] = []
    base_prompt = _load_prompt(base, plan.base_prompt, suite.system) if plan.base_prompt else None
    head_prompt = (
        _at_head("prompt file", lambda: _load_prompt(head, plan.head_prompt, suite.system))  # type: ignore[arg-type]
        if plan.head_prompt
        else None
    )
    gate_prompt = base_prompt or head_prompt
    assert gate_prompt is not None
    read_cases = _CaseReader()
    cases, case_changes = _choose_cases(plan, base, head, base_prompt, head_prompt, notes, read_cases)
    # Evaluators inside a gh-models file are part of the gate: they come from the base version.
    metrics = _with_health_signals(suite.metrics + gate_prompt.metrics)
    if base_prompt and head_prompt and _evaluators(base_prompt) != _evaluators(head_prompt):
        notes.append(
            "this change edits the prompt file's evaluators; the base version's evaluators were used"
        )
    if base_prompt and head_prompt and suite.compare:
        drift = drift_note(base_prompt, head_prompt)
        if drift is not None:
            notes.append(drift)
    if not cases:
        if suite.implicit:  # a GitHub Models prompt file that is not an eval: nothing to run, no mistake
            notes.append("the prompt file has no testData, so there is nothing to evaluate")
            return PreparedSuite(plan, (), metrics, None, None, tuple(notes))
        raise no_cases_error(suite.cases, suite.prompt)
    all_metrics = {m.name: m for m in metrics}
    prepared: dict[str, PreparedVersion] = {}
    for name, rev, prompt in (("base", base, base_prompt), ("head", head, head_prompt)):
        if prompt is None:
            continue
        choice = (plan.base_model if name == "base" else plan.head_model) or ModelChoice(
            suite.model, defaults.model, dict(suite.params))
        model = choice.resolve(prompt.model)
        params = {**dict(prompt.params), **dict(choice.params)}
        rendered = _render_cases(prompt, cases, all_metrics, renderers[name])
        prepared[name] = PreparedVersion(name, rev.label, prompt, model, params, rendered)  # type: ignore[arg-type]
    base_v, head_v = prepared.get("base"), prepared.get("head")
    faults = _head_faults(
        base_v, head_v, cases, _head_cases(plan, head, head_prompt, read_cases), base, head, plan.status
    )
    return PreparedSuite(plan, cases, metrics, base_v, head_v, tuple(notes), head_faults=faults,
                         case_changes=case_changes)


def _head_cases(
    plan: SuitePlan, head: Revision, head_prompt: Prompt | None, read_cases: _CaseReader
) -> tuple[Case, ...]:
    """The cases as head defines them (whatever the suite runs on): they tell an intended removal
    of a variable (head's cases drop it too) from a prompt that silently stopped reading it."""
    if plan.status == "single":
        return ()  # `promptreview run`: no head faults to look for (see _head_faults)
    if plan.suite.cases:
        return read_cases(head, plan.suite.cases) or ()
    return head_prompt.cases if head_prompt else ()


def _head_faults(
    base: PreparedVersion | None,
    head: PreparedVersion | None,
    cases: tuple[Case, ...],
    head_cases: tuple[Case, ...],
    base_rev: Revision,
    head_rev: Revision,
    plan_status: str,
) -> tuple[str, ...]:
    """What head broke: cases that render at base but not at head, unfilled placeholders, dropped inputs."""
    if head is None or head.name != "head" or plan_status == "single":
        return ()  # `promptreview run`: one revision, no pull request to blame
    faults: list[str] = []
    broken = [
        (pc.case.id, pc.error)
        for ci, pc in enumerate(head.cases)
        if pc.error is not None and (base is None or base.cases[ci].error is None)
    ]
    if broken:
        first_id, first_error = broken[0]
        where = "" if base is None else " that render at base"
        faults.append(
            f"at head, the prompt does not render for {len(broken)} of {len(cases)} cases{where} "
            f"(case `{first_id}`: {first_error})"
        )
    unfilled = [
        n for n in unmatched_placeholders(head.prompt, cases)
        if base is None or n not in unmatched_placeholders(base.prompt, cases)
    ]
    if unfilled:
        shown = ", ".join(f"`{{{{{n}}}}}`" for n in unfilled[:5])
        faults.append(
            f"at head, {shown} in `{head.prompt.path}` matches no variable of any case, so the model "
            "would be sent the braces as literal text"
        )
    if base is not None:
        dropped = [
            v for v in dropped_variables(base.prompt, head.prompt, cases, base_rev.read, head_rev.read)
            if head_cases and all(v in c.vars for c in head_cases)
        ]
        if dropped:
            shown = ", ".join(f"`{v}`" for v in dropped[:5])
            faults.append(
                f"at head, the prompt no longer uses {shown}, which the base prompt uses and every case "
                "gives, so the model never sees that input; if that is intended, remove it from the "
                "cases in the same change"
            )
    return tuple(faults)


def no_cases_error(cases_path: str | None, prompt_path: str) -> ConfigError:
    """A suite with nothing to run, said where the fix goes (``validate`` says the same)."""
    if cases_path:
        return ConfigError("the cases file has no cases (empty, or an empty list)", Location(cases_path, 1))
    return ConfigError("the prompt file has no testData, so the suite has no cases", Location(prompt_path))


# Health signals every suite reports (never gated unless configured with `gate: true`): they cost
# no model call and tell a reviewer when a change makes answers refuse, hedge or balloon.
HEALTH_SIGNALS = ("refusal", "verbosity")


def _with_health_signals(metrics: tuple[MetricSpec, ...]) -> tuple[MetricSpec, ...]:
    taken = {m.kind for m in metrics} | {m.name for m in metrics}
    extra = tuple(MetricSpec(kind=k, args={}, name=k, gate=False) for k in HEALTH_SIGNALS if k not in taken)
    return metrics + extra


def _evaluators(prompt: Prompt) -> list[tuple[str, dict[str, Any], str, bool]]:
    """What an evaluator *is*, without where it sits in the file (moving it is not an edit)."""
    return [(m.kind, dict(m.args), m.name, m.gate) for m in prompt.metrics]


def _load_prompt(rev: Revision, path: str, system: str | None) -> Prompt:
    text = rev.read(path)
    if text is None:
        raise ConfigError(f"prompt file not found at {rev.label}", Location(path))
    return parse_prompt(text, path, system)


def _choose_cases(
    plan: SuitePlan,
    base: Revision,
    head: Revision,
    base_prompt: Prompt | None,
    head_prompt: Prompt | None,
    notes: list[str],
    read_cases: _CaseReader,
) -> tuple[tuple[Case, ...], CaseChanges]:
    """The base's cases as base defines them, then head's added cases (see :mod:`case_diff`).

    A suite with no cases at base (a new prompt, a one-revision run) runs on head's cases.
    """
    suite = plan.suite
    if suite.cases:
        cases_path = suite.cases
        head_cases = (_at_head("cases file", lambda: read_cases(head, cases_path))
                      if plan.head_prompt else None)
        if head_cases == ():
            # An emptied cases file is the PR's configuration mistake, like an unparseable one:
            # named at its line, even though the base's cases would still decide the gate.
            raise HeadFault("cases file", no_cases_error(cases_path, suite.prompt))
        base_cases = read_cases(base, suite.cases) if plan.base_prompt else None
        if head_cases is None and base_cases is None:
            where = "" if plan.status == "single" else " at base or head"
            raise ConfigError(
                f"cases file {suite.cases} not found{where}", suite.cases_location or Location(suite.cases)
            )
    else:
        head_cases = head_prompt.cases if head_prompt else None
        base_cases = base_prompt.cases if base_prompt else None
    if base_cases is None:
        return head_cases or (), CaseChanges()
    if head_cases is None:
        notes.append("the cases file is missing at head; the base's cases were used")
        head_cases = ()
    return gate_cases(base_cases, head_cases)


class _CaseReader:
    """Reads and parses a cases file at most once per text for one suite.

    Why: parsing is the costliest step of a cached run (about 25 us a case), and one suite used
    to parse the same file up to three times: base's and head's copies (usually the same text)
    and head's again for the head-fault checks. Only this suite's preparation holds the memo, so
    nothing outlives it (the App prepares many repositories in one process).
    """

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, str], tuple[Case, ...]] = {}

    def __call__(self, rev: Revision, path: str) -> tuple[Case, ...] | None:
        text = rev.read(path)
        if text is None:
            return None
        key = (path, text)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self._parsed[key] = parse_cases(text, path)
        return parsed


def render_problems(
    prompt: Prompt, cases: tuple[Case, ...], metrics: Mapping[str, MetricSpec], renderer: Renderer
) -> list[tuple[Case, str]]:
    """``(case, error)`` for every case whose messages or templated metric arguments fail to
    render (an undefined variable, a filter error...), rendered exactly as a run renders them."""
    problems = []
    for pc in _render_cases(prompt, cases, metrics, renderer):
        if pc.error is not None:
            problems.append((pc.case, pc.error))
        specs = {**metrics, **{m.name: m for m in pc.case.metrics}}
        for name, key, error in pc.rendered:
            if key == ARG_ERROR:
                # The renderer counts lines inside the argument; the metric's own line says more.
                spec = specs.get(name)
                what = str(error).split(": ", 1)[-1]
                where = spec.location if spec is not None and spec.location else prompt.path
                problems.append((pc.case, f"{where}: metric {name!r}: {what}"))
    return problems


def template_context(case: Case) -> dict[str, Any]:
    """Prompt templates see the case's vars, at top level and as ``vars`` — nothing else."""
    return {**dict(case.vars), "vars": dict(case.vars)}


def metric_context(case: Case) -> dict[str, Any]:
    return {**template_context(case), "expected": case.expected, "label": case.label}


# Cases rendered per batch: each job carries its own context dicts, so one batch of all cases held
# a few kilobytes per case at once; batches keep that bounded (and a batch is still one round
# trip to the sandbox worker for the templates that need it).
RENDER_BATCH = 2000


def _render_cases(
    prompt: Prompt, cases: tuple[Case, ...], metrics: Mapping[str, MetricSpec], renderer: Renderer
) -> tuple[PreparedCase, ...]:
    prepared: list[PreparedCase] = []
    for start in range(0, len(cases), RENDER_BATCH):
        prepared.extend(_render_batch(prompt, cases, start, metrics, renderer))
    return tuple(prepared)


def _templated_args(
    specs: Iterable[MetricSpec], prompt_path: str
) -> list[tuple[MetricSpec, str, str, str]]:
    """``(spec, key, template, where)`` for every metric argument that is a template."""
    out = []
    for spec in specs:
        if spec.kind.startswith("gh-"):
            continue
        for key, value in spec.args.items():
            if isinstance(value, str) and ("{{" in value or "{%" in value):
                out.append((spec, key, value, spec.location.file if spec.location else prompt_path))
    return out


def _render_batch(
    prompt: Prompt,
    all_cases: tuple[Case, ...],
    start: int,
    metrics: Mapping[str, MetricSpec],
    renderer: Renderer,
) -> list[PreparedCase]:
    cases = all_cases[start : start + RENDER_BATCH]
    jinja = prompt.substitution == "jinja"
    # The suite's templated arguments are the same for every case: found once, not per case.
    suite_specs = tuple(metrics.values())
    suite_args = _templated_args(suite_specs, prompt.path)
    jobs: list[RenderJob] = []
    for ci, case in enumerate(cases):
        if jinja:
            context = template_context(case)  # render_many copies it for each job
            for mi, msg in enumerate(prompt.messages):
                jobs.append(RenderJob(f"{ci}:m:{mi}", msg.content, prompt.path, context))
        templated = suite_args + _templated_args(case.metrics, prompt.path) if case.metrics else suite_args
        if templated:
            context = metric_context(case)
            for spec, key, value, where in templated:
                jobs.append(RenderJob(f"{ci}:a:{spec.name}:{key}", value, where, context))
    # Outcomes come back in job order: each case takes its own from the front.
    outcomes = iter(renderer.render_many(jobs) if jobs else ())
    del jobs
    prepared = []
    for case in cases:
        error = None
        messages: list[Message] = []
        for msg in prompt.messages:
            if not jinja:
                messages.append(Message(msg.role, render_gh_models(msg.content, case.vars)))  # type: ignore[arg-type]
                continue
            out = next(outcomes)
            if out.error is not None:
                error = error or out.error
            else:
                messages.append(Message(msg.role, out.text or ""))  # type: ignore[arg-type]
        templated = suite_args + _templated_args(case.metrics, prompt.path) if case.metrics else suite_args
        rendered = []
        for spec, key, _, _ in templated:
            out = next(outcomes)
            rendered.append(
                (spec.name, key, out.text) if out.error is None else (spec.name, ARG_ERROR, out.error)
            )
        prepared.append(PreparedCase(case, tuple(messages) if error is None else (), error, tuple(rendered)))
    return prepared
