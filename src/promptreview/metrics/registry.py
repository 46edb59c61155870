"""The metric registry: the config's metric name -> one small async function and what it needs.

Adding a metric is one function with the ``@metric`` decorator in its family's module (promptfoo's
``src/assertions/`` layout). The rest of the engine only asks the registry: ``get`` to validate a
config and plan calls, ``score_one`` to score an answer without ever crashing the run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from promptreview.errors import ConfigError, Location
from promptreview.metrics.context import MetricContext, MetricError
from promptreview.metrics.judging import JudgeError
from promptreview.metrics.options import OptionError, Options, did_you_mean, validator
from promptreview.results import MetricResult, MetricValueKind, shared_result
from promptreview.suite import MetricSpec

MetricFn = Callable[[MetricContext], Awaitable[MetricResult]]
Validator = Callable[[MetricSpec], None]


def _no_options(args: Mapping[str, Any]) -> None:
    Options(args, ())


@dataclass(frozen=True)
class MetricDef:
    """One registered metric.

    ``judge_calls`` is the number of chat calls per scored answer (retries of unreadable verdicts
    not counted), and ``needs_embeddings`` means one embeddings call per answer; the plan stage
    multiplies these out before any call is made. ``validate`` raises ``ConfigError`` at
    config-parse time.
    """

    name: str
    fn: MetricFn
    kind: MetricValueKind
    needs_llm: bool
    needs_embeddings: bool
    judge_calls: int
    validate: Validator

    @property
    def default_gate(self) -> bool:
        """Whether a spec that does not say ``gate:`` gates: health signals only report."""
        return self.kind != "signal"


_REGISTRY: dict[str, MetricDef] = {}


def metric(
    name: str,
    *,
    kind: MetricValueKind,
    needs_llm: bool = False,
    needs_embeddings: bool = False,
    judge_calls: int = 0,
    validate: Validator | None = None,
) -> Callable[[MetricFn], MetricFn]:
    """Register the decorated function under ``name`` (the spelling used in the config).

    Without ``validate`` the metric accepts no options besides ``name`` and ``gate``.
    """

    def register(fn: MetricFn) -> MetricFn:
        if name in _REGISTRY:
            raise RuntimeError(f"metric {name!r} is registered twice")
        _REGISTRY[name] = MetricDef(
            name, fn, kind, needs_llm, needs_embeddings, judge_calls, validate or validator(_no_options)
        )
        return fn

    return register


def get(name: str, location: Location | None = None) -> MetricDef:
    """The metric registered as ``name``; an unknown name is a ConfigError listing the known ones.

    The listing leaves out the ``gh-*`` kinds: they stand for evaluators in ``.prompt.yml`` files
    and are never what someone writing promptreview.yml meant.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = [n for n in names() if not n.startswith("gh-")]
        raise ConfigError(
            f"unknown metric {name!r}{did_you_mean(name, known)}; known metrics: {', '.join(known)}",
            location,
        ) from None


def names() -> list[str]:
    """Every registered metric name, sorted."""
    return sorted(_REGISTRY)


def validate(spec: MetricSpec) -> None:
    """Check one configured metric: known name and valid options (raises ConfigError)."""
    get(spec.kind, location=spec.location).validate(spec)


async def score_one(ctx: MetricContext, definition: MetricDef | None = None) -> MetricResult:
    """Score one answer with ``ctx.spec``'s metric; any failure becomes a result with ``error`` set.

    Expected failures (``MetricError``, ``JudgeError``, a bad rendered option) keep their message;
    anything else is a bug in a metric and is labelled with its exception type, but still does not
    take down the run. The result's name, kind and gate always come from the spec and registry.
    ``definition`` is ``get(ctx.spec.kind)`` when the caller has looked it up already (the score
    stage does once per suite, not once per answer).
    """
    if definition is None:
        try:
            definition = get(ctx.spec.kind)
        except ConfigError as err:
            return _error_result(ctx, "binary", str(err))
    try:
        result = await definition.fn(ctx)
    except (MetricError, JudgeError) as err:
        return _error_result(ctx, definition.kind, str(err))
    except OptionError as err:
        return _error_result(ctx, definition.kind, f"option {err.key}: {err.message}")
    except Exception as err:
        return _error_result(ctx, definition.kind, f"{type(err).__name__}: {err}")
    if result.error is None and not (math.isfinite(result.score) and 0.0 <= result.score <= 1.0):
        return _error_result(ctx, definition.kind, f"metric produced a score outside [0, 1]: {result.score}")
    spec = ctx.spec
    if result.metric == spec.name and result.kind == definition.kind and result.gate == spec.gate:
        return result
    return dataclasses.replace(result, metric=spec.name, kind=definition.kind, gate=spec.gate)


def _error_result(ctx: MetricContext, kind: MetricValueKind, error: str) -> MetricResult:
    return shared_result(ctx.spec.name, 0.0, False, error, kind, ctx.spec.gate, error)
