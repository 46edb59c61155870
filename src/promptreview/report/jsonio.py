"""ReviewResult to and from JSON: the artifact, and what ``promptreview merge`` reads back from shards.

The mapping is driven by the dataclasses' own type hints, so it round-trips every field exactly
(``from_json(to_json(r)) == r``) and follows the types as they grow. The documented contract is
``schemas/report.schema.json``; a test keeps the two in step (every dataclass field must be in the
schema, and the schema forbids unknown properties).

JSON has no infinity or NaN, and a one-sided bound can be infinite, so non-finite floats are
written as the strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
from importlib import resources
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from promptreview.review_result import ReviewResult

__all__ = [
    "SCHEMA_VERSION",
    "ReportFormatError",
    "dumps",
    "from_json",
    "loads",
    "report_schema",
    "to_json",
    "validate_report",
]

SCHEMA_VERSION = 1
_NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


class ReportFormatError(ValueError):
    """A JSON report that does not match the schema promptreview writes; says where and why."""


def to_json(result: ReviewResult) -> dict[str, Any]:
    """A JSON-ready dict of the whole review, with ``schema_version`` first."""
    return {"schema_version": SCHEMA_VERSION, **_encode(result)}


def from_json(data: dict[str, Any], *, validate: bool = True) -> ReviewResult:
    """Read a report written by :func:`to_json` (validated against the schema unless told not to)."""
    if not isinstance(data, dict):
        raise ReportFormatError("a promptreview report must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportFormatError(
            f"unsupported report schema_version {version!r}; this promptreview reads version {SCHEMA_VERSION}"
        )
    if validate:
        validate_report(data)
    body = {k: v for k, v in data.items() if k != "schema_version"}
    return _decode(ReviewResult, body, "$")


def dumps(result: ReviewResult, *, indent: int | None = 2) -> str:
    return json.dumps(to_json(result), ensure_ascii=False, indent=indent, allow_nan=False)


def loads(text: str) -> ReviewResult:
    return from_json(json.loads(text))


@functools.cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`to_json`'s output."""
    text = resources.files("promptreview").joinpath("schemas/report.schema.json").read_text("utf-8")
    return json.loads(text)


def validate_report(data: dict[str, Any]) -> None:
    """Raise :class:`ReportFormatError` naming the first place ``data`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "$" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
        raise ReportFormatError(f"invalid promptreview report at {where}: {error.message}")


# --- encoding -----------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


# --- decoding -----------------------------------------------------------------------------------


def _decode(tp: Any, data: Any, path: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, path)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _decode_union(tp, data, path)
    if origin is Literal:
        if data not in get_args(tp):
            raise ReportFormatError(f"{path}: {data!r} is not one of {list(get_args(tp))}")
        return data
    if origin is tuple:
        return _decode_tuple(tp, data, path)
    if origin is dict:
        _, value_type = get_args(tp)
        _expect(data, dict, path)
        return {k: _decode(value_type, v, f"{path}[{k!r}]") for k, v in data.items()}
    return _decode_scalar(tp, data, path)


def _decode_dataclass(tp: type, data: Any, path: str) -> Any:
    _expect(data, dict, path)
    hints = _hints(tp)
    known = {f.name for f in dataclasses.fields(tp)}
    unknown = set(data) - known
    if unknown:
        raise ReportFormatError(f"{path}: unknown field(s) {sorted(unknown)} for {tp.__name__}")
    kwargs = {name: _decode(hints[name], value, f"{path}.{name}") for name, value in data.items()}
    try:
        return tp(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ReportFormatError(f"{path}: {exc}") from None


def _decode_union(tp: Any, data: Any, path: str) -> Any:
    options = [a for a in get_args(tp) if a is not type(None)]
    if data is None:
        if type(None) in get_args(tp):
            return None
        raise ReportFormatError(f"{path}: null is not allowed here")
    errors = []
    for option in options:
        try:
            return _decode(option, data, path)
        except ReportFormatError as exc:
            errors.append(str(exc))
    raise ReportFormatError(errors[0] if len(errors) == 1 else f"{path}: no type fits: {'; '.join(errors)}")


def _decode_tuple(tp: Any, data: Any, path: str) -> tuple[Any, ...]:
    _expect(data, list, path)
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
    if len(args) != len(data):
        raise ReportFormatError(f"{path}: expected {len(args)} items, got {len(data)}")
    return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True)))


def _decode_scalar(tp: Any, data: Any, path: str) -> Any:
    if tp is Any:
        return data
    if tp is float:
        if isinstance(data, str) and data in _NON_FINITE:
            return _NON_FINITE[data]
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
        raise ReportFormatError(f"{path}: expected a number, got {data!r}")
    if tp is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        raise ReportFormatError(f"{path}: expected an integer, got {data!r}")
    if tp is bool or tp is str:
        _expect(data, tp, path)
        return data
    raise ReportFormatError(f"{path}: cannot read values of type {tp!r}")


def _expect(data: Any, kind: type, path: str) -> None:
    if not isinstance(data, kind):
        raise ReportFormatError(f"{path}: expected {kind.__name__}, got {type(data).__name__}")


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    """Resolved field types; the modules use postponed annotations, so they are strings until now."""
    return get_type_hints(tp)

