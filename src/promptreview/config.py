"""Parsing ``promptreview.yml`` into typed values, once, at the edge.

Every error names the file, the line and the field, so a user can fix a config from the message
alone. Metric arguments are checked against the metric registry here, before any model call.
Suites are also discovered implicitly from GitHub Models ``*.prompt.yml`` files, so a repository
that only has those gets a base-vs-head review with no config at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from promptreview.errors import ConfigError, Location
from promptreview.models.params import ParamError, check_params
from promptreview.revision import Revision, normalize_path
from promptreview.safe_yaml import line_of, load_yaml
from promptreview.suite import Config, CoverageSpec, Defaults, GateSpec, MetricSpec, SuiteSpec

CONFIG_NAMES = ("promptreview.yml", "promptreview.yaml", ".promptreview.yml", ".github/promptreview.yml")
GH_MODELS_SUFFIXES = (".prompt.yml", ".prompt.yaml")

_TOP_KEYS = {"version", "defaults", "suites", "prompts", "discover"}
_DEFAULT_KEYS = {
    "model",
    "judge",
    "embedding_model",
    "embedding-model",
    "samples",
    "concurrency",
    "timeout",
    "deadline",
    "max_calls",
    "max-calls",
    "max_cost",
    "max-cost",
    "prices",
    "params",
    "compare",
    "gate",
    "requests_per_minute",
    "requests-per-minute",
}
_SUITE_KEYS = {
    "prompt",
    "cases",
    "metrics",
    "model",
    "judge",
    "embedding_model",
    "embedding-model",
    "samples",
    "system",
    "params",
    "compare",
    "gate",
    "description",
    "coverage",
}
_GATE_KEYS = {
    "margin",
    "on_inconclusive",
    "on-inconclusive",
    "min_pass_rate",
    "min-pass-rate",
    "max_error_rate",
    "max-error-rate",
    "confidence",
}
_METRIC_OPTION_KEYS = {"name", "gate"}


def find_config(rev: Revision, explicit: str | None = None) -> str | None:
    """The config path at this revision: the explicit one, else the first default name present."""
    if explicit:
        return normalize_path(explicit)
    for name in CONFIG_NAMES:
        if rev.read(name) is not None:
            return name
    return None


def load_config(rev: Revision, explicit: str | None = None, *, discover_only: bool = False) -> Config:
    """Read and validate the config at ``rev`` (implicit gh-models suites when there is none).

    ``discover_only`` treats the revision as having no config (the planner's view of a base that
    lacks the config file an explicit ``--config`` names)."""
    path = None if discover_only else find_config(rev, explicit)
    if path is None:
        return Config(
            None, Defaults(), _discover(rev, Defaults(), set(), ("**/*.prompt.yml", "**/*.prompt.yaml"))
        )
    text = rev.read(path)
    if text is None:
        raise ConfigError(f"config file not found at {rev.label or rev.short}", Location(path))
    return parse_config(text, path, rev)


def parse_config(text: str, path: str, rev: Revision | None = None) -> Config:
    data = load_yaml(text, path)
    if data is None:
        data = {}
    _expect_mapping(data, path, None, "top level")
    _check_keys(data, _TOP_KEYS, path, None)
    version = data.get("version", 1)
    if version != 1:
        raise ConfigError(
            f"unsupported version {version!r}; this promptreview reads version 1",
            Location(path, line_of(data, "version"), "version"),
        )
    raw_defaults = data.get("defaults") or {}
    _expect_mapping(raw_defaults, path, line_of(data, "defaults"), "defaults")
    _check_keys(raw_defaults, _DEFAULT_KEYS, path, "defaults")
    defaults = _parse_defaults(raw_defaults, path)
    raw_suites = data.get("suites") or {}
    _expect_mapping(raw_suites, path, line_of(data, "suites"), "suites")
    suites = [
        _parse_suite(str(name), body, path, defaults, raw_defaults, line_of(raw_suites, name))
        for name, body in raw_suites.items()
    ]
    globs_raw = data.get("prompts", ["**/*.prompt.yml", "**/*.prompt.yaml"])
    if not isinstance(globs_raw, list) or not all(isinstance(g, str) for g in globs_raw):
        raise ConfigError(
            "must be a list of glob patterns", Location(path, line_of(data, "prompts"), "prompts")
        )
    globs = tuple(globs_raw)
    if rev is not None and data.get("discover", True):
        claimed = {s.prompt for s in suites}
        suites.extend(_discover(rev, defaults, claimed, globs, {s.name for s in suites}))
    return Config(path, defaults, tuple(suites), globs)


def _parse_defaults(raw: Mapping[str, Any], path: str) -> Defaults:
    def get(*names: str) -> Any:
        for n in names:
            if n in raw:
                return raw[n]
        return None

    d = Defaults()
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in (get("prices") or {}).items():
        loc = Location(path, line_of(get("prices"), model), f"defaults.prices.{model}")
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(x) for x in pair)):
            raise ConfigError("price must be [input_usd_per_1M_tokens, output_usd_per_1M_tokens]", loc)
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    return Defaults(
        model=_str(get("model"), d.model, path, raw, "model"),
        judge=_str(get("judge"), d.judge, path, raw, "judge"),
        embedding_model=_str(
            get("embedding_model", "embedding-model"), d.embedding_model, path, raw, "embedding_model"
        ),
        samples=_int(get("samples"), d.samples, path, raw, "samples", lo=1, hi=50),
        concurrency=_int(get("concurrency"), d.concurrency, path, raw, "concurrency", lo=1, hi=512),
        timeout_s=_num(get("timeout"), d.timeout_s, path, raw, "timeout", lo=0.1),
        deadline_s=_num(get("deadline"), d.deadline_s, path, raw, "deadline", lo=1),
        max_calls=_opt_int(get("max_calls", "max-calls"), path, raw, "max_calls"),
        max_cost_usd=_opt_num(get("max_cost", "max-cost"), path, raw, "max_cost"),
        requests_per_minute=_opt_num(get("requests_per_minute", "requests-per-minute"), path, raw,
                                     "requests_per_minute", lo=0.1, hi=100_000),
        prices=prices,
    )


def _parse_suite(
    name: str,
    body: Any,
    path: str,
    defaults: Defaults,
    raw_defaults: Mapping[str, Any],
    line: int | None,
) -> SuiteSpec:
    field = f"suites.{name}"
    _expect_mapping(body, path, line, field)
    _check_keys(body, _SUITE_KEYS, path, field)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(
            "every suite needs `prompt: path/to/prompt`", Location(path, line, f"{field}.prompt")
        )
    prompt_path = normalize_path(prompt)
    if prompt_path is None:
        raise ConfigError(
            f"prompt path {prompt!r} must stay inside the repository",
            Location(path, line_of(body, "prompt"), f"{field}.prompt"),
        )
    cases = body.get("cases")
    cases_path: str | None = None
    if cases is not None:
        if not isinstance(cases, str):
            raise ConfigError(
                "`cases` must be a path to a YAML, JSONL or CSV file",
                Location(path, line_of(body, "cases"), f"{field}.cases"),
            )
        cases_path = normalize_path(cases)
        if cases_path is None:
            raise ConfigError(
                f"cases path {cases!r} must stay inside the repository",
                Location(path, line_of(body, "cases"), f"{field}.cases"),
            )
    elif not prompt_path.endswith(GH_MODELS_SUFFIXES):
        raise ConfigError(
            "a suite needs `cases:` unless its prompt is a GitHub Models *.prompt.yml with testData",
            Location(path, line, f"{field}.cases"),
        )
    metrics = parse_metrics(body.get("metrics") or [], path, f"{field}.metrics", line_of(body, "metrics"))
    compare_raw = body.get("compare", raw_defaults.get("compare", {}))
    compare_enabled, criteria = _parse_compare(compare_raw, path, body, field)
    gate = parse_gate(
        body.get("gate", raw_defaults.get("gate")) or {}, path, f"{field}.gate", line_of(body, "gate")
    )
    params = body.get("params", raw_defaults.get("params")) or {}
    where = body if "params" in body else raw_defaults
    _expect_mapping(params, path, line_of(where, "params"), f"{field}.params")
    params = _checked_params(params, path, f"{field}.params")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        raise ConfigError(
            "`system` must be a string (a template)", Location(path, line_of(body, "system"), field)
        )
    judge_raw, judge_labels = _parse_judge(body, path, field)
    return SuiteSpec(
        name=name,
        prompt=prompt_path,
        cases=cases_path,
        metrics=metrics,
        model=_opt_str(body.get("model"), path, body, f"{field}.model"),
        judge=_str(judge_raw, defaults.judge, path, body, f"{field}.judge"),
        judge_labels=judge_labels,
        coverage=_parse_coverage(body.get("coverage"), path, body, field),
        embedding_model=_str(
            body.get("embedding_model", body.get("embedding-model")),
            defaults.embedding_model,
            path,
            body,
            f"{field}.embedding_model",
        ),
        samples=_int(body.get("samples"), defaults.samples, path, body, f"{field}.samples", lo=1, hi=50),
        system=system,
        params=dict(params),
        compare_criteria=criteria,
        compare=compare_enabled,
        gate=gate,
        location=Location(path, line, field),
        cases_location=Location(path, line_of(body, "cases") or line, f"{field}.cases") if cases else None,
    )


def _parse_judge(body: Mapping[str, Any], path: str, field: str) -> tuple[Any, str | None]:
    """``judge: MODEL`` or ``judge: {model: MODEL, labels: PATH}``."""
    raw = body.get("judge")
    if not isinstance(raw, Mapping):
        return raw, None
    _check_keys(raw, {"model", "labels"}, path, f"{field}.judge")
    labels = raw.get("labels")
    if labels is not None:
        norm = normalize_path(labels) if isinstance(labels, str) else None
        if norm is None:
            raise ConfigError(
                "`labels` is a path inside the repository to a JSONL file of labelled pairs",
                Location(path, line_of(raw, "labels"), f"{field}.judge.labels"),
            )
        labels = norm
    return raw.get("model"), labels


def _parse_coverage(raw: Any, path: str, body: Mapping[str, Any], field: str) -> CoverageSpec | None:
    if raw is None:
        return None
    where = Location(path, line_of(body, "coverage"), f"{field}.coverage")
    if isinstance(raw, str):
        raw = {"inputs": raw}
    _expect_mapping(raw, path, where.line, where.field)
    _check_keys(raw, {"inputs", "radius"}, path, f"{field}.coverage")
    inputs = raw.get("inputs")
    norm = normalize_path(inputs) if isinstance(inputs, str) else None
    if norm is None:
        raise ConfigError("`inputs` is a path inside the repository to a production log (JSONL, CSV)", where)
    radius = _num(raw.get("radius"), 0.8, path, raw, f"{field}.coverage.radius", lo=0.0, hi=1.0)
    return CoverageSpec(norm, radius)


def _checked_params(params: Mapping[str, Any], path: str, field: str) -> dict[str, Any]:
    """Only known sampling parameters within bounds (see ``models/params.py`` for why)."""
    try:
        return check_params(params)
    except ParamError as exc:
        raise ConfigError(str(exc), Location(path, line_of(params, exc.key), f"{field}.{exc.key}")) from None


def _parse_compare(raw: Any, path: str, body: Mapping[str, Any], field: str) -> tuple[bool, str]:
    default = SuiteSpec.__dataclass_fields__["compare_criteria"].default
    if raw is False:
        return False, str(default)
    if raw is True or raw is None:
        return True, str(default)
    if isinstance(raw, str):
        return True, raw
    _expect_mapping(raw, path, line_of(body, "compare"), f"{field}.compare")
    _check_keys(raw, {"criteria", "enabled"}, path, f"{field}.compare")
    criteria = raw.get("criteria", default)
    if not isinstance(criteria, str) or not criteria.strip():
        raise ConfigError(
            "`criteria` must be a non-empty string",
            Location(path, line_of(raw, "criteria"), f"{field}.compare.criteria"),
        )
    return bool(raw.get("enabled", True)), criteria


def parse_gate(raw: Any, path: str, field: str, line: int | None) -> GateSpec:
    _expect_mapping(raw, path, line, field)
    _check_keys(raw, _GATE_KEYS, path, field)

    def pick(*names: str) -> Any:
        return next((raw[n] for n in names if n in raw), None)

    on_inc = pick("on_inconclusive", "on-inconclusive") or "neutral"
    if on_inc not in ("neutral", "fail", "pass"):
        raise ConfigError(
            f"on_inconclusive must be neutral, fail or pass, not {on_inc!r}",
            Location(path, line_of(raw, "on_inconclusive") or line, f"{field}.on_inconclusive"),
        )
    margin = _opt_num(pick("margin"), path, raw, f"{field}.margin", lo=0.0, hi=4.0)
    return GateSpec(
        margin=margin,
        on_inconclusive=on_inc,
        min_pass_rate=_opt_num(
            pick("min_pass_rate", "min-pass-rate"), path, raw, f"{field}.min_pass_rate", lo=0.0, hi=1.0
        ),
        max_error_rate=_num(
            pick("max_error_rate", "max-error-rate"),
            0.2,
            path,
            raw,
            f"{field}.max_error_rate",
            lo=0.0,
            hi=1.0,
        ),
        confidence=_confidence(pick("confidence"), path, raw, f"{field}.confidence"),
    )


# The verdict's bounds, Holm's alpha and the sample-size hints are all computed at this level.
SUPPORTED_CONFIDENCE = 0.95


def _confidence(v: Any, path: str, data: Any, field: str) -> float:
    """Refused unless it is the level the verdict really uses: a `confidence: 0.99` that was
    accepted and then silently decided at 95% would be a gate the user believes is stricter
    than it is."""
    value = _num(v, SUPPORTED_CONFIDENCE, path, data, field, lo=0.5, hi=0.999)
    if value != SUPPORTED_CONFIDENCE:
        raise ConfigError(
            f"only {SUPPORTED_CONFIDENCE} is supported (the verdict's bounds and tests are computed at "
            f"95%), got {value}; remove the key or set it to {SUPPORTED_CONFIDENCE}",
            _loc(path, data, field),
        )
    return value


def parse_metrics(raw: Any, path: str, field: str, line: int | None) -> tuple[MetricSpec, ...]:
    """Metric list entries: ``- is-json``, ``- contains: "x"``, ``- similar: {threshold: 0.8}``
    or promptfoo-style ``- type: contains`` / ``value: x``. A scalar argument arrives as
    ``args["value"]``; ``name`` and ``gate`` are options every metric accepts."""
    if not isinstance(raw, list):
        raise ConfigError("`metrics` must be a list", Location(path, line, field))
    specs = [
        _parse_metric(item, path, f"{field}[{i}]", line_of(raw, i) or line) for i, item in enumerate(raw)
    ]
    seen: set[str] = set()
    for s in specs:  # point at the second of the two: that is the line to edit
        if s.name in seen:
            raise ConfigError(f"two metrics are named {s.name!r}; give one a `name:`", s.location)
        seen.add(s.name)
    return tuple(specs)


def _parse_metric(item: Any, path: str, field: str, line: int | None) -> MetricSpec:
    from promptreview.metrics import registry

    loc = Location(path, line, field)
    if isinstance(item, str):
        kind, args = item, {}
    elif isinstance(item, Mapping) and "type" in item:
        kind = item["type"]
        args = {k: v for k, v in item.items() if k != "type"}
    elif isinstance(item, Mapping) and len([k for k in item if k not in _METRIC_OPTION_KEYS]) == 1:
        kind = next(k for k in item if k not in _METRIC_OPTION_KEYS)
        value = item[kind]
        args = dict(value) if isinstance(value, Mapping) else ({} if value is None else {"value": value})
        args.update({k: item[k] for k in _METRIC_OPTION_KEYS if k in item})
    else:
        raise ConfigError("a metric is `- name` or `- name: argument` (one metric per list item)", loc)
    if not isinstance(kind, str):
        raise ConfigError("metric type must be a string", loc)
    definition = registry.get(kind, loc)
    name = args.pop("name", None) or kind
    gate = args.pop("gate", definition.default_gate)
    if not isinstance(gate, bool):
        raise ConfigError("`gate` must be true or false", loc)
    spec = MetricSpec(kind=kind, args=args, name=str(name), gate=gate, location=loc)
    definition.validate(spec)
    return spec


def _discover(
    rev: Revision,
    defaults: Defaults,
    claimed: set[str],
    globs: tuple[str, ...],
    taken_names: set[str] | None = None,
) -> list[SuiteSpec]:
    """Each GitHub Models prompt file not used by a configured suite is a suite by itself."""
    taken = set(taken_names or ())
    found: list[SuiteSpec] = []
    paths = sorted({p for g in globs for p in rev.glob(g)})
    for p in paths:
        if p in claimed or not p.endswith(GH_MODELS_SUFFIXES):
            continue
        name = p
        if name in taken:
            continue
        taken.add(name)
        found.append(
            SuiteSpec(
                name=name,
                prompt=p,
                cases=None,
                metrics=(),
                model=None,
                judge=defaults.judge,
                embedding_model=defaults.embedding_model,
                samples=defaults.samples,
                location=Location(p),
                implicit=True,
            )
        )
    return found


# --- small typed readers that name the field on error -------------------------------------------


def _expect_mapping(value: Any, path: str, line: int | None, field: str | None) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, got {_describe(value)}", Location(path, line, field))


def _check_keys(data: Mapping[str, Any], allowed: set[str], path: str, field: str | None) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            extra = f"; did you mean `{hint[0]}`?" if hint else f"; known keys: {', '.join(sorted(allowed))}"
            where = f"{field}.{key}" if field else str(key)
            raise ConfigError(f"unknown key `{key}`{extra}", Location(path, line_of(data, key), where))


def _describe(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__.replace("Yaml", "").lower()


def _loc(path: str, data: Any, field: str) -> Location:
    return Location(
        path, line_of(data, field.rsplit(".", 1)[-1]) if isinstance(data, Mapping) else None, field
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _str(v: Any, default: str, path: str, data: Any, field: str) -> str:
    if v is None:
        return default
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"must be a non-empty string, got {_describe(v)}", _loc(path, data, field))
    return v


def _opt_str(v: Any, path: str, data: Any, field: str) -> str | None:
    return None if v is None else _str(v, "", path, data, field)


def _num(
    v: Any, default: float, path: str, data: Any, field: str, lo: float | None = None, hi: float | None = None
) -> float:
    if v is None:
        return default
    if not _is_number(v):
        raise ConfigError(f"must be a number, got {_describe(v)}", _loc(path, data, field))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"must be between {lo} and {hi}, got {v}", _loc(path, data, field))
    return float(v)


def _opt_num(
    v: Any, path: str, data: Any, field: str, lo: float | None = None, hi: float | None = None
) -> float | None:
    return None if v is None else _num(v, 0.0, path, data, field, lo, hi)


def _int(v: Any, default: int, path: str, data: Any, field: str, lo: int, hi: int) -> int:
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(f"must be a whole number from {lo} to {hi}, got {v!r}", _loc(path, data, field))
    return v


def _opt_int(v: Any, path: str, data: Any, field: str) -> int | None:
    return None if v is None else _int(v, 0, path, data, field, lo=1, hi=10_000_000)
