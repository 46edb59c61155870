"""Typed, frozen values parsed once at the edge: config, suites, prompts, cases, metric specs.

Everything after parsing trusts these values; parse errors name file, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from promptreview.errors import Location

PromptFormat = Literal["text", "chat", "gh-models"]
OnInconclusive = Literal["neutral", "fail", "pass"]


@dataclass(frozen=True)
class MetricSpec:
    """One configured metric: which registry entry, its arguments and whether it gates.

    ``kind`` is the registry name (``contains``, ``json-schema``, ``rubric``...). ``args`` is the
    mapping written in the config (plain data). ``gate`` says whether the verdict uses it;
    health signals default to reported-only.
    """

    kind: str
    args: Mapping[str, Any]
    name: str
    gate: bool = True
    location: Location | None = None


@dataclass(frozen=True)
class MessageTemplate:
    """One message of a prompt; ``content`` is template source, rendered per case."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Case:
    """One eval case. ``vars`` is the only thing templates can see (besides ``expected``...)."""

    id: str
    vars: Mapping[str, Any]
    expected: str | None = None
    label: str | None = None
    feedback: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    must_pass: bool = False
    metrics: tuple[MetricSpec, ...] = ()
    location: Location | None = None


@dataclass(frozen=True)
class Prompt:
    """A prompt file read at one revision, in any of the supported formats.

    ``substitution`` says how templates are filled: ``jinja`` (sandboxed Jinja2) for our own
    formats, ``gh-models`` (plain ``{{key}}`` replacement, exactly as ``gh models eval`` does).
    """

    path: str
    format: PromptFormat
    messages: tuple[MessageTemplate, ...]
    substitution: Literal["jinja", "gh-models"] = "jinja"
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    # Cases and metrics carried inside the prompt file itself (GitHub Models testData/evaluators).
    cases: tuple[Case, ...] = ()
    metrics: tuple[MetricSpec, ...] = ()
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class GateSpec:
    """How a suite's verdict is decided; always taken from the base revision."""

    margin: float | None = None  # None: per-metric-type defaults (0.05 / 0.10 / 0.25)
    on_inconclusive: OnInconclusive = "neutral"
    min_pass_rate: float | None = None
    max_error_rate: float = 0.2
    confidence: float = 0.95


@dataclass(frozen=True)
class CoverageSpec:
    """``coverage: {inputs: PATH, radius: R}``: production inputs whose coverage the report shows."""

    inputs: str
    radius: float = 0.8


@dataclass(frozen=True)
class SuiteSpec:
    """One suite as configured: which prompt, which cases, how to score and gate it."""

    name: str
    prompt: str
    cases: str | None
    metrics: tuple[MetricSpec, ...]
    model: str | None  # None: the prompt file's own model, else defaults.model
    judge: str
    embedding_model: str
    samples: int = 1
    system: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    compare_criteria: str = "correct, complete, helpful and concise"
    compare: bool = True
    gate: GateSpec = field(default_factory=GateSpec)
    location: Location | None = None
    implicit: bool = False  # made from a bare *.prompt.yml with no promptreview.yml entry
    cases_location: Location | None = None  # the `cases:` line: where a missing cases file is reported
    coverage: CoverageSpec | None = None  # informational: never gates
    judge_labels: str | None = None  # `judge: {labels: PATH}`: human-labelled pairs to measure the judge on


@dataclass(frozen=True)
class Defaults:
    model: str = "openai/gpt-4o-mini"
    judge: str = "openai/gpt-4.1"
    embedding_model: str = "openai/text-embedding-3-small"
    samples: int = 1
    concurrency: int = 8
    timeout_s: float = 60.0
    deadline_s: float = 1800.0
    max_calls: int | None = None
    max_cost_usd: float | None = None
    requests_per_minute: float | None = None  # pace calls for endpoints with per-minute limits
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The whole promptreview.yml (or the implicit one made from *.prompt.yml files)."""

    path: str | None
    defaults: Defaults
    suites: tuple[SuiteSpec, ...]
    prompt_globs: tuple[str, ...] = ("**/*.prompt.yml", "**/*.prompt.yaml")
