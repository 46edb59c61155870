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
import operator
import types
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any, Literal, TextIO, Union, get_args, get_origin, get_type_hints

from promptreview.review_result import ReviewResult

__all__ = [
    "SCHEMA_VERSION",
    "ReportFormatError",
    "dumps",
    "from_json",
    "iter_json",
    "loads",
    "report_schema",
    "to_json",
    "validate_report",
    "write_json",
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
    if indent is None:
        return json.dumps(to_json(result), ensure_ascii=False, allow_nan=False)
    return "".join(iter_json(result))


def write_json(result: ReviewResult, fh: TextIO) -> None:
    """Write the report to ``fh`` a case at a time (never the whole text in memory at once)."""
    for chunk in iter_json(result):
        fh.write(chunk)


def iter_json(result: ReviewResult) -> Iterator[str]:
    """The text of :func:`dumps` in pieces: the review is indented, each case is one line.

    Why: Python's JSON encoder is only fast (C) without ``indent``, and indenting 10,000 cases cost
    seconds. Cases, the bulk, are encoded one at a time, compactly, one per line, so the file is
    still readable and diffable, and the whole report never exists as one string or one dict.
    """
    frame_dict: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name in _field_names(type(result)) or ():
        if name != "suites":
            frame_dict[name] = _encode(getattr(result, name))
            continue
        suites = []
        for i, suite in enumerate(result.suites):
            names = _field_names(type(suite)) or ()
            encoded = {n: f"{_HOLE}{i}" if n == "cases" else _encode(getattr(suite, n)) for n in names}
            suites.append(encoded)
        frame_dict[name] = suites
    frame = json.dumps(frame_dict, ensure_ascii=False, indent=2, allow_nan=False)
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    # The C encoder walks a case itself, asking _shallow only for each dataclass's fields; a case
    # holding a non-finite float (rare: JSON cannot say it) goes through _encode instead.
    encode_fast = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=_shallow).encode
    for i, suite in enumerate(result.suites):
        hole = json.dumps(f"{_HOLE}{i}")
        at = frame.index(hole)
        line = frame[frame.rindex("\n", 0, at) + 1 : at]
        pad = " " * (len(line) - len(line.lstrip(" ")))
        yield frame[:at]
        frame = frame[at + len(hole) :]
        if not suite.cases:
            yield "[]"
            continue
        sep = "[\n"
        for case in suite.cases:
            try:
                text = encode_fast(case)
            except ValueError:
                text = encode(_encode(case))
            yield sep + pad + "  " + text
            sep = ",\n"
        yield "\n" + pad + "]"
    yield frame


def _shallow(value: Any) -> dict[str, Any]:
    kind = type(value)
    getter = _getters.get(kind)
    if getter is None:
        names = _field_names(kind)
        if names is None:
            raise TypeError(f"cannot write {kind.__name__} values to a report")
        fetch = operator.attrgetter(*names)
        getter = _getters[kind] = (names, fetch if len(names) > 1 else lambda v, f=fetch: (f(v),))
    names, fetch = getter
    return dict(zip(names, fetch(value), strict=True))


_getters: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


# A placeholder for a suite's cases in the indented frame; no real string field can contain it.
_HOLE = "\x00promptreview-cases-"


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
    """JSON-ready form of a result value; dispatches on the exact type first (the common cases),
    with each dataclass's field names looked up once per class, not once per value."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    names = _field_names(kind)
    if names is not None:
        return {name: _encode(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    if dataclasses.is_dataclass(kind):
        return tuple(f.name for f in dataclasses.fields(kind))
    return None


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
