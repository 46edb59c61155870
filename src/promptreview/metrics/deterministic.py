"""Deterministic checks: text matching, JSON shape, length and label accuracy.

No model calls. Every check here is binary: score 1.0 when it passes, 0.0 when it fails.

Text comparisons work on NFC-normalised text (an "é" typed as one code point or as "e" + accent is
the same letter); ``ignore_case: true`` compares Unicode case-folded text, so "STRASSE" matches
"Straße". JSON checks are strict by default: the whole answer (surrounding whitespace aside) must
be JSON, because an application that parses the reply would choke on a Markdown fence; set
``allow_fences: true`` to accept an answer that is exactly one fenced code block.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from promptreview.metrics.context import MetricContext, MetricError, make_result
from promptreview.metrics.judging import shorten, unfence
from promptreview.metrics.options import OptionError, Options, looks_templated, parsed_once, validator
from promptreview.metrics.registry import metric
from promptreview.results import MetricResult

# Python's re has no timeout. Patterns come from the base revision's config, answers from the
# model, so the guard is: bounded pattern size, no nested unbounded quantifiers (the shape behind
# exponential backtracking, checked on the parsed pattern) and a bounded answer length, which
# keeps the polynomial worst cases that remain to a fraction of a second.
MAX_PATTERN_CHARS = 1000
MAX_REGEX_INPUT_CHARS = 32_768
MAX_SCHEMA_ERRORS_SHOWN = 3
MAX_LABEL_CHARS = 60
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _fold(text: str, ignore_case: bool) -> str:
    """Text ready for comparison: NFC, and case-folded when case is ignored."""
    text = _nfc(text)
    return text.casefold() if ignore_case else text


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(repr(shorten(v, 60)) for v in values)


# --- equals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EqualsOptions:
    value: str | None
    ignore_case: bool
    trim: bool


def _parse_equals(args: Mapping[str, Any]) -> _EqualsOptions:
    o = Options(args, ("value", "ignore_case", "trim"))
    return _EqualsOptions(o.text("value"), o.flag("ignore_case", False), o.flag("trim", True))


@metric("equals", kind="binary", validate=validator(_parse_equals))
async def equals(ctx: MetricContext) -> MetricResult:
    """The answer is exactly the expected text.

    Args: ``value`` (str, default ``case.expected``), ``ignore_case`` (bool, false),
    ``trim`` (bool, true: ignore surrounding whitespace on both sides, as models add newlines).
    """
    opts = _parse_equals(ctx.args)
    expected = opts.value if opts.value is not None else ctx.case.expected
    if expected is None:
        raise MetricError("equals has no value and the case has no expected answer")
    answer = ctx.answer.strip() if opts.trim else ctx.answer
    target = expected.strip() if opts.trim else expected
    if _fold(answer, opts.ignore_case) == _fold(target, opts.ignore_case):
        return make_result(ctx, True, "answer equals the expected text")
    return make_result(ctx, False, f"answer differs from the expected text {shorten(target, 80)!r}")


# --- contains family --------------------------------------------------------------------------

ContainsMode = Literal["all", "any", "none"]


@dataclass(frozen=True)
class _ContainsOptions:
    values: tuple[str, ...]
    ignore_case: bool


@parsed_once
def _parse_contains(args: Mapping[str, Any]) -> _ContainsOptions:
    o = Options(args, ("value", "ignore_case"))
    return _ContainsOptions(o.texts("value", required=True), o.flag("ignore_case", False))


def _check_contains(ctx: MetricContext, mode: ContainsMode) -> MetricResult:
    opts = _parse_contains(ctx.args)
    haystack = _fold(ctx.answer, opts.ignore_case)
    found = [v for v in opts.values if _fold(v, opts.ignore_case) in haystack]
    missing = [v for v in opts.values if v not in found]
    if mode == "all":
        passed, reason = not missing, f"missing: {_quoted(missing)}" if missing else "contains every value"
    elif mode == "any":
        passed = bool(found)
        reason = f"contains {_quoted(found[:1])}" if found else f"contains none of: {_quoted(missing)}"
    else:
        passed, reason = (
            not found,
            f"contains forbidden: {_quoted(found)}" if found else "contains none of them",
        )
    return make_result(ctx, passed, reason)


_contains_validate = validator(_parse_contains)


@metric("contains", kind="binary", validate=_contains_validate)
async def contains(ctx: MetricContext) -> MetricResult:
    """The answer contains the value (every value, when a list is given).

    Args: ``value`` (str or list of str, required), ``ignore_case`` (bool, false).
    """
    return _check_contains(ctx, "all")


@metric("contains-all", kind="binary", validate=_contains_validate)
async def contains_all(ctx: MetricContext) -> MetricResult:
    """The answer contains every one of the values. Args as ``contains``."""
    return _check_contains(ctx, "all")


@metric("contains-any", kind="binary", validate=_contains_validate)
async def contains_any(ctx: MetricContext) -> MetricResult:
    """The answer contains at least one of the values. Args as ``contains``."""
    return _check_contains(ctx, "any")


@metric("not-contains", kind="binary", validate=_contains_validate)
async def not_contains(ctx: MetricContext) -> MetricResult:
    """The answer contains none of the values. Args as ``contains``."""
    return _check_contains(ctx, "none")


# --- starts-with / ends-with ------------------------------------------------------------------


@dataclass(frozen=True)
class _AffixOptions:
    values: tuple[str, ...]
    ignore_case: bool
    trim: bool


def _parse_affix(args: Mapping[str, Any]) -> _AffixOptions:
    o = Options(args, ("value", "ignore_case", "trim"))
    return _AffixOptions(o.texts("value", required=True), o.flag("ignore_case", False), o.flag("trim", True))


@metric("starts-with", kind="binary", validate=validator(_parse_affix))
async def starts_with(ctx: MetricContext) -> MetricResult:
    """The answer starts with the value (with any of them, when a list is given).

    Args: ``value`` (str or list, required), ``ignore_case`` (bool, false),
    ``trim`` (bool, true: leading whitespace of the answer is ignored).
    """
    opts = _parse_affix(ctx.args)
    answer = _fold(ctx.answer.lstrip() if opts.trim else ctx.answer, opts.ignore_case)
    hit = next((v for v in opts.values if answer.startswith(_fold(v, opts.ignore_case))), None)
    if hit is not None:
        return make_result(ctx, True, f"starts with {hit!r}")
    return make_result(
        ctx, False, f"starts with {shorten(ctx.answer.lstrip(), 40)!r}, not {_quoted(opts.values)}"
    )


@metric("ends-with", kind="binary", validate=validator(_parse_affix))
async def ends_with(ctx: MetricContext) -> MetricResult:
    """The answer ends with the value (with any of them, when a list is given).

    Args: ``value`` (str or list, required), ``ignore_case`` (bool, false),
    ``trim`` (bool, true: trailing whitespace of the answer is ignored).
    """
    opts = _parse_affix(ctx.args)
    answer = _fold(ctx.answer.rstrip() if opts.trim else ctx.answer, opts.ignore_case)
    hit = next((v for v in opts.values if answer.endswith(_fold(v, opts.ignore_case))), None)
    if hit is not None:
        return make_result(ctx, True, f"ends with {hit!r}")
    tail = ctx.answer.rstrip()[-40:]
    return make_result(ctx, False, f"ends with {tail!r}, not {_quoted(opts.values)}")


# --- regex ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RegexOptions:
    pattern: str
    flags: str


def _parse_regex(args: Mapping[str, Any]) -> _RegexOptions:
    o = Options(args, ("value", "pattern", "flags"))
    pattern = o.text("pattern", required=True, shorthand=True, allow_empty=False)
    assert pattern is not None
    flags = o.text("flags", "") or ""
    bad = sorted(set(flags) - set(_REGEX_FLAGS))
    if bad:
        raise OptionError(
            "flags",
            f"unknown flag(s) {''.join(bad)!r}; use any of i (ignore case), "
            "m (multiline), s (dot matches newline), x (verbose)",
        )
    if not looks_templated(pattern):
        compile_pattern(pattern, flags)  # a bad pattern is a config error, not a failure per case
    return _RegexOptions(pattern, flags)


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str, flags: str = "") -> re.Pattern[str]:
    """Compile a configured pattern, refusing ones that could backtrack for minutes.

    Raises OptionError (key ``pattern``) naming the problem.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise OptionError("pattern", f"is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}")
    flag_bits = 0
    for flag in flags:
        flag_bits |= _REGEX_FLAGS[flag]
    try:
        compiled = re.compile(pattern, flag_bits)
    except re.error as err:
        raise OptionError("pattern", f"is not a valid regular expression: {err}") from None
    if has_nested_quantifier(pattern, flag_bits):
        raise OptionError(
            "pattern",
            "has a repeated group that itself repeats, like (a+)+, which can take exponential time; "
            "rewrite it, or make the inner repeat possessive (a++) or atomic ((?>a+))",
        )
    return compiled


def has_nested_quantifier(pattern: str, flags: int = 0) -> bool:
    """True when a repeat with an unbounded repeat inside it (or inside an unbounded one) exists.

    Possessive repeats and atomic groups do not give characters back, so they are barriers.
    Overlapping alternatives under a repeat ((a|a)*) are not detected: the answer-length cap bounds
    what they can cost.
    """
    try:
        from re import _constants as c  # type: ignore[attr-defined]
        from re import _parser as parser  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - layout of CPython's private modules changed
        return False
    repeats = {c.MAX_REPEAT, c.MIN_REPEAT}

    def children(value: Any) -> list[Any]:
        if isinstance(value, parser.SubPattern):
            return [value]
        if isinstance(value, tuple | list):
            return [sub for item in value for sub in children(item)]
        return []

    def walk(items: Any, outer: bool | None) -> bool:
        # outer: None outside any repeat, else whether the enclosing repeat is unbounded.
        for op, av in items:
            if op in repeats:
                _low, high, body = av
                if high > 1:
                    unbounded = high == c.MAXREPEAT
                    if outer is not None and (outer or unbounded):
                        return True
                    if walk(body, unbounded):
                        return True
                    continue
            barrier = op in (c.POSSESSIVE_REPEAT, c.ATOMIC_GROUP)
            if any(walk(sub, None if barrier else outer) for sub in children(av)):
                return True
        return False

    return walk(parser.parse(pattern, flags), None)


@metric("regex", kind="binary", validate=validator(_parse_regex))
async def regex(ctx: MetricContext) -> MetricResult:
    """The pattern matches somewhere in the answer (``re.search``).

    Args: ``pattern`` (str, required; the shorthand value), ``flags`` (str of i, m, s, x).
    Guarded: patterns over 1000 characters and nested unbounded quantifiers are refused, and only
    the first 32,768 characters of the answer are searched.
    """
    opts = _parse_regex(ctx.args)
    compiled = compile_pattern(opts.pattern, opts.flags)
    text = ctx.answer[:MAX_REGEX_INPUT_CHARS]
    note = f" (first {MAX_REGEX_INPUT_CHARS} characters searched)" if len(ctx.answer) > len(text) else ""
    match = compiled.search(text)
    if match:
        return make_result(ctx, True, f"matches at {match.start()}: {shorten(match.group(0), 60)!r}{note}")
    return make_result(ctx, False, f"no match for /{shorten(opts.pattern, 80)}/{note}")


# --- JSON -------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_answer(answer: str, allow_fences: bool) -> Any:
    """The JSON value the answer is; raises ValueError with a short reason when it is not.

    ``NaN`` and ``Infinity`` are refused: Python accepts them, JSON parsers elsewhere do not.
    """
    text = answer.strip()
    if allow_fences:
        text = unfence(text) or text
    if not text:
        raise ValueError("the answer is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        hint = (
            " (it is wrapped in a code fence; set allow_fences: true to accept that)"
            if (not allow_fences and unfence(text) is not None)
            else ""
        )
        raise ValueError(f"{err.msg} at line {err.lineno} column {err.colno}{hint}") from None


def _parse_is_json(args: Mapping[str, Any]) -> bool:
    return Options(args, ("allow_fences",)).flag("allow_fences", False)


@metric("is-json", kind="binary", validate=validator(_parse_is_json))
async def is_json(ctx: MetricContext) -> MetricResult:
    """The answer is one valid JSON value.

    Args: ``allow_fences`` (bool, false: accept an answer that is exactly one ```json fence).
    """
    try:
        value = parse_json_answer(ctx.answer, _parse_is_json(ctx.args))
    except ValueError as err:
        return make_result(ctx, False, f"not JSON: {err}")
    return make_result(ctx, True, f"valid JSON ({type(value).__name__})")


@dataclass(frozen=True)
class _SchemaOptions:
    schema: str | Mapping[str, Any]  # a repo path (read at the base revision) or the schema itself
    allow_fences: bool


def _parse_json_schema(args: Mapping[str, Any]) -> _SchemaOptions:
    o = Options(args, ("value", "schema", "allow_fences"))
    key, schema = o.raw("schema", shorthand=True)
    if schema is None:
        raise OptionError(
            key, "is required: a schema file path in the repository, or the schema as a mapping"
        )
    if isinstance(schema, Mapping):
        _check_schema(schema, key)
    elif not isinstance(schema, str) or not schema.strip():
        raise OptionError(key, "must be a schema file path or a mapping")
    return _SchemaOptions(schema, o.flag("allow_fences", False))


def _check_schema(schema: Mapping[str, Any], key: str) -> None:
    try:
        _validator_for(json.dumps(schema, sort_keys=True))
    except ValueError as err:
        raise OptionError(key, str(err)) from None


@functools.lru_cache(maxsize=64)
def _validator_for(schema_json: str) -> Any:
    """A compiled validator for the schema (the draft chosen by ``$schema``, 2020-12 by default).

    Cached by the schema's text, so a file read once per answer is compiled once per run.
    Raises ValueError when the schema itself is invalid.
    """
    import jsonschema  # imported here: it is slow to import and only this metric needs it

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as err:
        where = err.json_path if hasattr(err, "json_path") else "$"
        raise ValueError(f"not a valid JSON Schema at {where}: {shorten(err.message, 160)}") from None
    return cls(schema)


def _load_schema(ctx: MetricContext, schema: str | Mapping[str, Any]) -> str:
    """The schema as canonical JSON text, read from the base revision when given as a path."""
    if isinstance(schema, Mapping):
        return json.dumps(schema, sort_keys=True)
    text = ctx.read_file(schema)
    if text is None:
        raise MetricError(f"schema file {schema!r} not found at the base revision")
    try:
        data = _decode_schema_file(schema, text)
    except ValueError as err:
        raise MetricError(f"schema file {schema!r} cannot be read: {shorten(str(err), 160)}") from None
    if not isinstance(data, dict):
        raise MetricError(f"schema file {schema!r} does not hold an object")
    return json.dumps(data, sort_keys=True)


def _decode_schema_file(path: str, text: str) -> Any:
    """JSON, or YAML for ``.yaml``/``.yml`` paths (safe loader: plain data only)."""
    if not path.endswith((".yaml", ".yml")):
        return json.loads(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {err}") from None


def _schema_problems(validator_: Any, value: Any) -> list[str]:
    errors = sorted(validator_.iter_errors(value), key=lambda e: (e.json_path, e.message))
    shown = [f"{e.json_path}: {shorten(e.message, 120)}" for e in errors[:MAX_SCHEMA_ERRORS_SHOWN]]
    if len(errors) > MAX_SCHEMA_ERRORS_SHOWN:
        shown.append(f"(+{len(errors) - MAX_SCHEMA_ERRORS_SHOWN} more)")
    return shown


@metric("json-schema", kind="binary", validate=validator(_parse_json_schema))
async def json_schema(ctx: MetricContext) -> MetricResult:
    """The answer is JSON that validates against the schema.

    Args: ``schema`` (the shorthand value): a repository path (``.json``, or ``.yaml``/``.yml``)
    read at the base revision, or the schema inline as a mapping; ``allow_fences`` (bool, false).
    The reason names each failing location as a JSON path (``$.items[0].price: ...``).
    ``format`` keywords are annotations only, as the JSON Schema spec makes them by default.
    """
    opts = _parse_json_schema(ctx.args)
    try:
        validator_ = _validator_for(_load_schema(ctx, opts.schema))
    except ValueError as err:
        raise MetricError(f"schema {_schema_name(opts.schema)}: {err}") from None
    try:
        value = parse_json_answer(ctx.answer, opts.allow_fences)
    except ValueError as err:
        return make_result(ctx, False, f"not JSON: {err}")
    problems = _schema_problems(validator_, value)
    if problems:
        return make_result(ctx, False, "; ".join(problems))
    return make_result(ctx, True, f"valid against {_schema_name(opts.schema)}")


def _schema_name(schema: str | Mapping[str, Any]) -> str:
    return schema if isinstance(schema, str) else "the inline schema"


# --- length -----------------------------------------------------------------------------------

LengthUnit = Literal["chars", "words"]


@dataclass(frozen=True)
class _LengthOptions:
    limit: int
    unit: LengthUnit


def read_unit(o: Options, default: LengthUnit) -> LengthUnit:
    """The ``unit`` option: ``chars`` or ``words``."""
    return "words" if o.one_of("unit", ("chars", "words"), default) == "words" else "chars"


def _length_parser(bound: Literal["max", "min"]) -> Callable[[Mapping[str, Any]], _LengthOptions]:
    def parse(args: Mapping[str, Any]) -> _LengthOptions:
        o = Options(args, ("value", bound, "unit"))
        limit = o.integer(bound, required=True, low=0, shorthand=True)
        assert limit is not None
        return _LengthOptions(limit, read_unit(o, "chars"))

    return parse


def measure(text: str, unit: LengthUnit) -> int:
    """Length of the trimmed answer in Unicode characters (NFC) or whitespace-separated words."""
    return len(text.split()) if unit == "words" else len(_nfc(text.strip()))


_parse_max_length = parsed_once(_length_parser("max"))
_parse_min_length = parsed_once(_length_parser("min"))


@metric("max-length", kind="binary", validate=validator(_parse_max_length))
async def max_length(ctx: MetricContext) -> MetricResult:
    """The answer is at most ``max`` long.

    Args: ``max`` (int >= 0, required; the shorthand value), ``unit`` (``chars`` | ``words``, chars).
    """
    opts = _parse_max_length(ctx.args)
    size = measure(ctx.answer, opts.unit)
    return make_result(ctx, size <= opts.limit, f"{size} {opts.unit}, limit {opts.limit}")


@metric("min-length", kind="binary", validate=validator(_parse_min_length))
async def min_length(ctx: MetricContext) -> MetricResult:
    """The answer is at least ``min`` long.

    Args: ``min`` (int >= 0, required; the shorthand value), ``unit`` (``chars`` | ``words``, chars).
    """
    opts = _parse_min_length(ctx.args)
    size = measure(ctx.answer, opts.unit)
    return make_result(ctx, size >= opts.limit, f"{size} {opts.unit}, minimum {opts.limit}")


# --- label accuracy ---------------------------------------------------------------------------

_LABEL_DECORATION = " \t\r\n\"'`*_.,:;!?()[]{}<>“”‘’«»"


def normalize_label(text: str) -> str:
    """Comparable form of a label: NFKC, case-folded, single spaces, no quotes or punctuation around.

    So "Positive", " **positive**." and "POSITIVE\\n" are the same label.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).strip(_LABEL_DECORATION).strip()


def _parse_label(args: Mapping[str, Any]) -> tuple[str, ...]:
    return Options(args, ("value", "labels")).texts("labels", shorthand=True)


@metric("label", kind="binary", validate=validator(_parse_label))
async def label(ctx: MetricContext) -> MetricResult:
    """Classification accuracy: the normalised answer is the case's ``label``.

    Args: ``labels`` (list of str, optional; the shorthand value): the label set, used to report
    the predicted label in its canonical spelling. The result's ``label`` is the predicted label
    (the answer itself, trimmed to 60 characters, when it is none of the known labels), so the
    report can count per-label outcomes.
    """
    if ctx.case.label is None:
        raise MetricError("the case has no label")
    labels = _parse_label(ctx.args)
    answer = normalize_label(ctx.answer)
    known = {normalize_label(x): x for x in (*labels, ctx.case.label)}
    predicted = known.get(answer) or shorten(ctx.answer.strip(), MAX_LABEL_CHARS)
    if answer == normalize_label(ctx.case.label):
        return make_result(ctx, True, f"predicted {predicted!r}", label=predicted)
    return make_result(ctx, False, f"predicted {predicted!r}, expected {ctx.case.label!r}", label=predicted)
