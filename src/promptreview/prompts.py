"""Prompt files in the formats teams already keep, parsed into one typed ``Prompt`` value.

- text templates (``.txt .md .j2 .jinja .prompt``): Jinja2, rendered to one user message;
- chat files (``.yaml .yml .json``): a list of ``{role, content}`` messages whose contents are templates;
- GitHub Models prompt files (``*.prompt.yml``): read exactly as ``gh models eval`` reads them
  (shared/fixtures/gh-models/FORMAT.md), so existing repos get base-vs-head review with no config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from promptreview.errors import ConfigError, Location
from promptreview.models.params import ParamError, check_params
from promptreview.safe_json import load_json
from promptreview.safe_yaml import line_of, load_yaml
from promptreview.suite import Case, MessageTemplate, MetricSpec, Prompt

TEXT_SUFFIXES = (".txt", ".md", ".j2", ".jinja", ".jinja2", ".prompt", ".tmpl")
CHAT_SUFFIXES = (".yaml", ".yml", ".json")
GH_MODELS_SUFFIXES = (".prompt.yml", ".prompt.yaml")
ROLES = ("system", "user", "assistant")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def prompt_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith(GH_MODELS_SUFFIXES):
        return "gh-models"
    if lower.endswith(CHAT_SUFFIXES):
        return "chat"
    return "text"


def parse_prompt(text: str, path: str, system: str | None = None) -> Prompt:
    """Parse a prompt file's text; ``system`` is the suite's optional system template."""
    fmt = prompt_format(path)
    if fmt == "gh-models":
        return parse_gh_models(text, path)
    if fmt == "chat":
        return _parse_chat(text, path, system)
    messages = (MessageTemplate("user", text),)
    if system:
        messages = (MessageTemplate("system", system), *messages)
    return Prompt(path=path, format="text", messages=messages)


def _parse_chat(text: str, path: str, system: str | None) -> Prompt:
    data: Any = load_json(text, path) if path.lower().endswith(".json") else load_yaml(text, path)
    if isinstance(data, Mapping) and "messages" in data:
        data = data["messages"]
    if not isinstance(data, list) or not data:
        raise ConfigError(
            "a chat prompt file is a non-empty list of {role, content} messages", Location(path, 1)
        )
    messages = [_message(m, path, i, data) for i, m in enumerate(data)]
    if system:
        messages.insert(0, MessageTemplate("system", system))
    return Prompt(path=path, format="chat", messages=tuple(messages))


def _message(item: Any, path: str, i: int, parent: Any) -> MessageTemplate:
    loc = Location(path, line_of(parent, i), f"messages[{i}]")
    if not isinstance(item, Mapping):
        raise ConfigError("each message is a mapping with `role` and `content`", loc)
    role = item.get("role")
    if not isinstance(role, str) or role.lower() not in ROLES:
        raise ConfigError(
            f"unknown message role: {role!r} (use system, user or assistant)",
            Location(path, line_of(item, "role") or loc.line, f"messages[{i}].role"),
        )
    content = item.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        content = _go_scalar(content, Location(path, line_of(item, "content"), f"messages[{i}].content"))
    return MessageTemplate(role.lower(), content)


# --- GitHub Models prompt files -----------------------------------------------------------------

_GH_PARAM_TYPES = {
    "maxTokens": ("max_tokens", int),
    "temperature": ("temperature", float),
    "topP": ("top_p", float),
}
# What gh-models reads from a prompt file and its modelParameters; anything else it drops silently
# (``promptreview validate`` warns about it).
GH_MODELS_KEYS = (
    "name", "description", "model", "modelParameters", "messages", "testData", "evaluators",
    "responseFormat", "jsonSchema",
)
GH_MODELS_PARAMS = tuple(_GH_PARAM_TYPES)


def parse_gh_models(text: str, path: str) -> Prompt:
    """Read a ``*.prompt.yml`` with gh-models' rules (FORMAT.md §2): unknown keys ignored, string
    fields take any scalar as text, typed fields reject quoted numbers, responseFormat/jsonSchema
    validated at load."""
    data = load_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            "a GitHub Models prompt file is a mapping (name, model, messages, testData...)", Location(path, 1)
        )

    def loc(key: str) -> Location:
        return Location(path, line_of(data, key), key)

    name = _go_string(data.get("name"), loc("name"))
    description = _go_string(data.get("description"), loc("description"))
    model = _go_string(data.get("model"), loc("model")) or None
    params = _gh_params(data.get("modelParameters"), path, data)
    _check_gh_params(params, data.get("modelParameters"), path)
    params.update(_gh_response_format(data, path))
    raw_messages = data.get("messages") or []
    if not isinstance(raw_messages, list):
        raise ConfigError("`messages` must be a list of {role, content}", loc("messages"))
    messages = tuple(_message(m, path, i, raw_messages) for i, m in enumerate(raw_messages))
    raw_tests = data.get("testData") or []
    if not isinstance(raw_tests, list):
        raise ConfigError("`testData` must be a list of mappings", loc("testData"))
    cases = _unique_ids(tuple(_gh_case(item, i, path, raw_tests) for i, item in enumerate(raw_tests)))
    raw_evals = data.get("evaluators") or []
    if not isinstance(raw_evals, list):
        raise ConfigError("`evaluators` must be a list", loc("evaluators"))
    metrics = _gh_evaluators(raw_evals, path)
    return Prompt(
        path=path,
        format="gh-models",
        messages=messages,
        substitution="gh-models",
        model=model,
        params=params,
        cases=cases,
        metrics=metrics,
        name=name or None,
        description=description or None,
    )


def _gh_params(raw: Any, path: str, parent: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "`modelParameters` must be a mapping",
            Location(path, line_of(parent, "modelParameters"), "modelParameters"),
        )
    out: dict[str, Any] = {}
    for key, (wire, kind) in _GH_PARAM_TYPES.items():
        if key not in raw or raw[key] is None:
            continue
        value = raw[key]
        where = Location(path, line_of(raw, key), f"modelParameters.{key}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"must be a number, got {type(value).__name__} {value!r}", where)
        if kind is int:
            if float(value) != int(value):
                raise ConfigError(f"must be a whole number, got {value!r}", where)
            value = int(value)
        out[wire] = kind(value)
    return out


_GH_NAMES = {wire: key for key, (wire, _kind) in _GH_PARAM_TYPES.items()}


def _check_gh_params(params: dict[str, Any], raw: Any, path: str) -> None:
    """modelParameters within the bounds every suite's params obey (``models/params.py``)."""
    try:
        check_params(params)
    except ParamError as exc:
        key = _GH_NAMES.get(exc.key, exc.key)
        line = line_of(raw, key) if isinstance(raw, Mapping) else None
        message = str(exc).replace(f"`{exc.key}`", f"`{key}`")
        raise ConfigError(message, Location(path, line, f"modelParameters.{key}")) from None


def _gh_response_format(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rf = data.get("responseFormat")
    schema_obj = None
    if "jsonSchema" in data and data["jsonSchema"] is not None:
        raw = data["jsonSchema"]
        where = Location(path, line_of(data, "jsonSchema"), "jsonSchema")
        if not isinstance(raw, str):
            raise ConfigError("jsonSchema must be a JSON string", where)
        try:
            schema_obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON in jsonSchema: {exc.msg}", where) from None
    if rf is None:
        return out
    where = Location(path, line_of(data, "responseFormat"), "responseFormat")
    if rf not in RESPONSE_FORMATS:
        raise ConfigError(
            f"invalid responseFormat: {rf}. Must be 'text', 'json_object', or 'json_schema'", where
        )
    fmt: dict[str, Any] = {"type": rf}
    if rf == "json_schema":
        if schema_obj is None:
            raise ConfigError("jsonSchema is required when responseFormat is 'json_schema'", where)
        for required in ("name", "schema"):
            if not isinstance(schema_obj, Mapping) or required not in schema_obj:
                raise ConfigError(
                    f"jsonSchema must contain '{required}' field",
                    Location(path, line_of(data, "jsonSchema"), "jsonSchema"),
                )
    if schema_obj is not None:
        fmt["json_schema"] = schema_obj
    out["response_format"] = fmt
    return out


def _gh_case(item: Any, i: int, path: str, parent: Any) -> Case:
    where = Location(path, line_of(parent, i), f"testData[{i}]")
    if not isinstance(item, Mapping):
        raise ConfigError("each testData item must be a mapping of variables", where)
    expected = item.get("expected")
    # gh-models rows often carry a `name`: a reviewer recognises "double-charge", not "#3".
    given = next((item[k] for k in ("id", "name") if item.get(k) not in (None, "")), None)
    return Case(
        id=str(given) if given is not None and not isinstance(given, (dict, list)) else f"#{i + 1}",
        vars=dict(item),
        expected=None if expected is None else str(expected),
        location=where,
    )


def _unique_ids(cases: tuple[Case, ...]) -> tuple[Case, ...]:
    """Cases pair up between base and head by id, so a `name` shared by two rows falls back to
    the row number for both (``#4``), which stays unambiguous."""
    counts: dict[str, int] = {}
    for c in cases:
        counts[c.id] = counts.get(c.id, 0) + 1
    return tuple(c if counts[c.id] == 1 else replace(c, id=f"#{i + 1}") for i, c in enumerate(cases))


def _gh_evaluators(raw: list[Any], path: str) -> tuple[MetricSpec, ...]:
    specs: list[MetricSpec] = []
    seen: dict[str, int] = {}
    for i, ev in enumerate(raw):
        where = Location(path, line_of(raw, i), f"evaluators[{i}]")
        if not isinstance(ev, Mapping):
            raise ConfigError("each evaluator is a mapping with a name and string/llm/uses", where)
        name = _go_string(ev.get("name"), where) or f"evaluator {i + 1}"
        # gh-models allows duplicate names; our results are keyed by name, so number repeats.
        seen[name] = seen.get(name, 0) + 1
        display = name if seen[name] == 1 else f"{name} ({seen[name]})"
        if ev.get("string") is not None:
            kind = "gh-string"
        elif ev.get("llm") is not None:
            kind = "gh-llm"
        elif ev.get("uses"):
            kind = "gh-builtin"
        else:
            kind = "gh-string"  # no method: reported per case as gh-models' own error
        specs.append(MetricSpec(kind=kind, args=dict(ev), name=display, gate=True, location=where))
    return tuple(specs)


def _go_string(value: Any, where: Location) -> str:
    """gh-models string fields take any scalar as its source text; a mapping or list is an error."""
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        raise ConfigError(
            f"expected a string, got a {'mapping' if isinstance(value, Mapping) else 'list'}", where
        )
    return _go_scalar(value, where)


def _go_scalar(value: Any, where: Location) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"expected text, got {type(value).__name__}", where)
