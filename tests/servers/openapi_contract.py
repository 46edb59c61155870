"""GitHub's own OpenAPI description, as the contract the loopback GitHub server is held to.

The fake GitHub server (``github_server.py``) is only worth something if it answers the way
api.github.com does. This module turns ``tests/fixtures/github/openapi-subset.json`` (GitHub's
description of the 18 REST operations we use, see that directory's README) into:

* a router: "METHOD /path" -> operation + path parameters;
* request validation: the JSON body against the operation's ``requestBody`` schema;
* response validation: every body against the documented schema of the status being sent;
* response templates: GitHub's own ``examples`` for the operation, deep-copied.

The subset is loaded and converted once per process, lazily, and each compiled validator is
cached: the server is started per test in many end-to-end tests, so it must start in
microseconds, not re-read a 1.7 MB file.

OpenAPI 3.0 is not JSON Schema: ``nullable: true`` is mapped to an added ``"null"`` type (as
``validate_fixtures.py`` in the fixtures directory does), and ``example(s)``,
``discriminator`` and ``x-*`` keys are dropped.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SUBSET_ENV = "PROMPTREVIEW_GITHUB_FIXTURES"
SUBSET_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "openapi-subset.json"

# {basehead} ("main...feature/x") and {path} ("prompts/a.txt", or "" for the root) may hold
# slashes; every other path parameter is one segment.
_SLASHY_PARAMS = {"basehead": ".+", "path": ".*"}

Json = Any


def find_subset_file() -> Path:
    """openapi-subset.json: ``$PROMPTREVIEW_GITHUB_FIXTURES`` or the copy vendored under tests/fixtures."""
    override = os.environ.get(SUBSET_ENV)
    if override:
        return Path(override) / "openapi-subset.json"
    return SUBSET_FILE


def to_json_schema(node: Json) -> Json:
    """Map an OpenAPI 3.0 schema onto JSON Schema draft 7 (same rules as validate_fixtures.py)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: to_json_schema(value)
        for key, value in node.items()
        if key not in ("example", "examples", "discriminator") and not key.startswith("x-")
    }
    if out.pop("nullable", False):
        if "type" in out:
            kind = out["type"]
            out["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass(frozen=True)
class SchemaProblem:
    """One way a JSON document breaks a schema, with the path GitHub-style error text needs."""

    path: tuple[str | int, ...]
    message: str
    validator: str
    missing: tuple[str, ...] = ()  # required properties that were absent, also inside oneOf/anyOf

    def render(self) -> str:
        where = "/".join(str(p) for p in self.path) or "(root)"
        absent = (
            f" (missing: {', '.join(self.missing)})" if self.missing and self.validator != "required" else ""
        )
        return f"{where}: {self.message}{absent}"


@dataclass(frozen=True)
class Operation:
    """One documented REST operation ("METHOD /path") and what the description says about it."""

    key: str
    method: str
    path: str
    operation_id: str
    docs_url: str
    enabled_for_apps: bool
    pattern: re.Pattern[str]
    spec: Mapping[str, Json]

    def query_parameters(self) -> dict[str, Json]:
        return {p["name"]: p.get("schema", {}) for p in self.spec.get("parameters", []) if p["in"] == "query"}

    def request_schema(self) -> Json | None:
        body = self.spec.get("requestBody") or {}
        return ((body.get("content") or {}).get("application/json") or {}).get("schema")

    def response_schema(self, status: int) -> Json | None:
        """The JSON schema documented for ``status`` (2xx from ``responses``, others from errorResponses)."""
        documented = self.spec.get("responses", {}).get(str(status)) or self.spec.get(
            "errorResponses", {}
        ).get(str(status))
        content = (documented or {}).get("content") or {}
        return (content.get("application/json") or {}).get("schema")

    def documents_status(self, status: int) -> bool:
        return str(status) in self.spec.get("responses", {}) or str(status) in self.spec.get(
            "errorResponses", {}
        )

    def example(self, status: int, name: str | None = None) -> Json:
        """A deep copy of GitHub's example for ``status`` (the first one unless ``name`` is given)."""
        examples = self.spec["responses"][str(status)]["content"]["application/json"]["examples"]
        chosen = examples[name] if name is not None else next(iter(examples.values()))
        return copy.deepcopy(chosen["value"])

    def example_names(self, status: int) -> list[str]:
        content = self.spec["responses"][str(status)]["content"]["application/json"]
        return list(content.get("examples", {}))


def _path_pattern(template: str) -> re.Pattern[str]:
    regex = re.escape(template)
    for name, body in _SLASHY_PARAMS.items():
        regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>{body})")
    regex = re.sub(r"\\\{([a-z_]+)\\\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(regex)


class Contract:
    """The loaded subset: routing, cached validators, examples and limits."""

    def __init__(self, subset: Mapping[str, Json], source: Path) -> None:
        self.source = source
        self.limits: Mapping[str, Json] = subset.get("limits", {})
        self.operations: dict[str, Operation] = {
            key: Operation(
                key=key,
                method=spec["method"],
                path=spec["path"],
                operation_id=spec["operationId"],
                docs_url=spec.get("externalDocs", {}).get("url", "https://docs.github.com/rest"),
                enabled_for_apps=bool(spec.get("x-github", {}).get("enabledForGitHubApps", True)),
                pattern=_path_pattern(spec["path"]),
                spec=spec,
            )
            for key, spec in subset["operations"].items()
        }
        self._validators: dict[tuple[str, str], jsonschema.Draft7Validator] = {}
        self._lock = threading.Lock()

    # -- routing -------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving ``method path`` and its (still URL-encoded) path parameters."""
        for operation in self.operations.values():
            if operation.method != method:
                continue
            found = operation.pattern.fullmatch(path)
            if found:
                return operation, found.groupdict()
        return None

    def operation(self, key: str) -> Operation:
        return self.operations[key]

    # -- validation ----------------------------------------------------------------------
    def validator_for(self, cache_key: tuple[str, str], schema: Json) -> jsonschema.Draft7Validator:
        """Convert and compile ``schema`` once per process; later calls reuse the compiled validator."""
        with self._lock:
            validator = self._validators.get(cache_key)
            if validator is None:
                validator = jsonschema.Draft7Validator(to_json_schema(schema))
                self._validators[cache_key] = validator
            return validator

    def request_problems(self, operation: Operation, body: Json) -> list[SchemaProblem]:
        schema = operation.request_schema()
        if schema is None:
            return []
        return problems(self.validator_for((operation.key, "request"), schema), body)

    def response_problems(self, operation: Operation, status: int, body: Json) -> list[SchemaProblem]:
        schema = operation.response_schema(status)
        if schema is None:
            return []
        return problems(self.validator_for((operation.key, f"response {status}"), schema), body)

    def subschema_problems(
        self, operation_key: str, status: int, pointer: Iterable[str], body: Json
    ) -> list[SchemaProblem]:
        """Validate against a schema nested in another operation's response (see BORROWED_SCHEMAS)."""
        schema = self.operations[operation_key].response_schema(status)
        for step in pointer:
            schema = schema[step]
        cache_key = (operation_key, f"response {status} /" + "/".join(pointer))
        return problems(self.validator_for(cache_key, schema), body)

    def query_problems(self, operation: Operation, query: Mapping[str, str]) -> list[SchemaProblem]:
        """Declared integer query parameters must parse as integers; GitHub ignores unknown ones."""
        found = []
        for name, schema in operation.query_parameters().items():
            if name in query and schema.get("type") == "integer" and not re.fullmatch(r"-?\d+", query[name]):
                found.append(SchemaProblem(("query", name), f"{query[name]!r} is not an integer", "type"))
        return found


def problems(validator: jsonschema.Draft7Validator, instance: Json) -> list[SchemaProblem]:
    """All schema errors of ``instance``, sorted by path so reports are stable."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [_problem(error) for error in errors]


def _problem(error: jsonschema.ValidationError) -> SchemaProblem:
    kind = str(error.validator)
    if kind in ("oneOf", "anyOf"):
        missing = tuple(
            name for sub in error.context or () if sub.validator == "required" for name in _required(sub)
        )
        return SchemaProblem(tuple(error.absolute_path), f'No subschema in "{kind}" matched.', kind, missing)
    return SchemaProblem(tuple(error.absolute_path), _shortened(error), kind, _required(error))


def _required(error: jsonschema.ValidationError) -> tuple[str, ...]:
    if error.validator != "required":
        return ()
    return tuple(re.findall(r"'([^']+)' is a required property", error.message))


def _shortened(error: jsonschema.ValidationError) -> str:
    """jsonschema quotes the whole instance; a 65536-character summary would drown the reason."""
    shown = repr(error.instance)
    if len(shown) <= 80:
        return error.message
    return error.message.replace(shown, f"{shown[:60]}... ({len(shown)} chars)")


def github_invalid_request_message(found: Iterable[SchemaProblem]) -> str:
    """The text GitHub puts in a 422 when a body fails its JSON schema.

    GitHub reports schema failures as ``"Invalid request.\\n\\n..."`` with one line per
    problem, e.g. ``"annotation_level", "path" weren't supplied.`` (humanmade/linter-bot#71)
    or ``For 'links/0/schema', nil is not an object.`` (jekyll/Utterson#29).
    """
    lines: list[str] = []
    absent: dict[tuple[str | int, ...], list[str]] = {}  # one line per object, as GitHub groups them
    for problem in found:
        if problem.validator in ("oneOf", "anyOf"):
            lines.append(problem.message)
            lines.append(_not_supplied(problem.missing))
        elif problem.validator == "required":
            absent.setdefault(problem.path, []).extend(problem.missing)
        else:
            where = "/".join(["properties", *(str(p) for p in problem.path)])
            lines.append(f"For '{where}', {problem.message}.")
    lines.extend(_not_supplied(names) for names in absent.values())
    return "Invalid request.\n\n" + "\n".join(line for line in lines if line)


def _not_supplied(names: Iterable[str]) -> str:
    ordered = sorted(names)
    if not ordered:
        return ""
    quoted = ", ".join(f'"{name}"' for name in ordered)
    return f"{quoted} {'weren' if len(ordered) > 1 else 'wasn'}'t supplied."


# Operations PyGithub calls in our flows that are *not* in the subset. Where GitHub's schema
# for the same object is nested in a subset operation, the extra response is validated
# against it; otherwise only the listed top-level keys are required ("loose").
BORROWED_SCHEMAS: dict[str, tuple[str, int, tuple[str, ...]]] = {
    # repo.get_commit(sha): the "commit" schema is compare's base_commit
    "GET /repos/{owner}/{repo}/commits/{ref}": (
        "GET /repos/{owner}/{repo}/compare/{basehead}",
        200,
        ("properties", "base_commit"),
    ),
    # issue.get_comment(id): same "issue-comment" schema as the update response
    "GET /repos/{owner}/{repo}/issues/comments/{comment_id}": (
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
        200,
        (),
    ),
    # repo.get_check_run(id): same "check-run" schema as the update response
    "GET /repos/{owner}/{repo}/check-runs/{check_run_id}": (
        "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}",
        200,
        (),
    ),
    # comment.get_reactions(): items are the "reaction" schema of the create response
    "GET /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions": (
        "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        201,
        (),
    ),
}

LOOSE_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    # repo.get_issue(n): the issue schema is not in the subset.
    "GET /repos/{owner}/{repo}/issues/{issue_number}": (
        "id",
        "node_id",
        "url",
        "html_url",
        "number",
        "state",
        "title",
        "user",
        "comments_url",
        "created_at",
        "updated_at",
        "author_association",
    ),
}

EXTRA_OPERATIONS: tuple[str, ...] = (*BORROWED_SCHEMAS, *LOOSE_REQUIRED_KEYS)


def extra_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """Match one of EXTRA_OPERATIONS; returns its key and path parameters."""
    for key in EXTRA_OPERATIONS:
        verb, template = key.split(" ", 1)
        if verb != method:
            continue
        found = _compiled_extra(template).fullmatch(path)
        if found:
            return key, found.groupdict()
    return None


@cache
def _compiled_extra(template: str) -> re.Pattern[str]:
    return _path_pattern(template)


def extra_response_problems(key: str, body: Json) -> list[SchemaProblem]:
    """Check an extra operation's 2xx body: borrowed schema when there is one, else required keys."""
    if key in BORROWED_SCHEMAS:
        source, status, pointer = BORROWED_SCHEMAS[key]
        if key.endswith("/reactions") and isinstance(body, list):
            return [
                p for item in body for p in load_contract().subschema_problems(source, status, pointer, item)
            ]
        return load_contract().subschema_problems(source, status, pointer, body)
    if not isinstance(body, dict):
        return [SchemaProblem((), "expected a JSON object", "type")]
    return [
        SchemaProblem((), f"{name!r} is a required property (loose check)", "required")
        for name in LOOSE_REQUIRED_KEYS[key]
        if name not in body
    ]


@cache
def load_contract() -> Contract:
    """The process-wide contract, parsed on first use."""
    source = find_subset_file()
    with source.open(encoding="utf-8") as handle:
        return Contract(json.load(handle), source)
