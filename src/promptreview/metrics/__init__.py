"""Metrics: one small async function per metric, registered under its config name.

Families live in their own modules (``deterministic``, ``reference``, ``graded``, ``ghmodels``,
``signals``); importing this package registers all of them. The engine uses only the registry
(``get``, ``names``, ``validate``, ``score_one``) and the ``MetricContext`` it fills in. Judge
prompt safety helpers shared with the pairwise judge are in ``judging``. Reference: docs/metrics.md.
"""

# Imported for their side effect: each module registers its metrics.
from promptreview.metrics import deterministic, ghmodels, graded, reference, signals  # noqa: F401
from promptreview.metrics.context import LLM, MetricContext, MetricError
from promptreview.metrics.registry import MetricDef, MetricFn, get, metric, names, score_one, validate

__all__ = [
    "LLM",
    "MetricContext",
    "MetricDef",
    "MetricError",
    "MetricFn",
    "get",
    "metric",
    "names",
    "score_one",
    "validate",
]
