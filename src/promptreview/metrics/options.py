"""Typed, checked reading of a metric's arguments, shared by config-time validation and scoring.

Each metric module writes one small ``parse(args) -> Options dataclass`` function with these
readers. The same function runs at config-parse time (through ``validator``, which turns a bad
option into a ``ConfigError`` naming the file, line and field) and at scoring time on the rendered
args, so the defaults and the checks cannot drift apart.

A scalar or list written right after the metric name (``contains: "refund"``) arrives as the
``value`` key; each metric says which of its options that shorthand stands for.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from promptreview.errors import ConfigError, Location
from promptreview.suite import MetricSpec

SHORTHAND = "value"
COMMON_KEYS = frozenset({"name", "gate"})  # every metric accepts these; they live on MetricSpec


class OptionError(ValueError):
    """One option is wrong; ``key`` is the option's name as written in the config."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


def did_you_mean(word: str, known: Collection[str]) -> str:
    """' (did you mean "x"?)' when a known word is close to ``word``, else ''."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


T = TypeVar("T")


def parsed_once(parse: Callable[[Mapping[str, Any]], T]) -> Callable[[Mapping[str, Any]], T]:
    """Memoise a metric's ``parse(args)`` on the identity of the args mapping.

    Why: scoring parses a metric's options once per answer, and for untemplated options that is
    the same mapping (the spec's) every time; at 10,000 cases the repeats cost more than the
    metric. Safe because the memo keeps the mapping itself (its id cannot be reused while it is
    cached), parse results are frozen, errors are never cached, and per-case rendered options
    are fresh mappings that simply miss. Bounded: the memo is emptied past 256 entries.
    """
    memo: dict[int, tuple[Mapping[str, Any], T]] = {}

    def parse_once(args: Mapping[str, Any]) -> T:
        hit = memo.get(id(args))
        if hit is not None and hit[0] is args:
            return hit[1]
        value = parse(args)
        if len(memo) >= 256:
            memo.clear()
        memo[id(args)] = (args, value)
        return value

    return parse_once


class Options:
    """A metric's args with typed getters; keys the metric does not know are rejected up front."""

    def __init__(self, args: Mapping[str, Any], known: Collection[str]) -> None:
        allowed = set(known) | COMMON_KEYS
        for key in args:
            if key not in allowed:
                listing = ", ".join(sorted(set(known) - {SHORTHAND})) or "none"
                raise OptionError(
                    str(key), f"unknown option{did_you_mean(str(key), allowed)}; options: {listing}"
                )
        self._args = args

    def _take(self, key: str, shorthand: bool) -> tuple[str, Any]:
        """(key as written, value) for ``key``, or for the shorthand ``value`` standing in for it."""
        if shorthand and SHORTHAND in self._args:
            if key in self._args:
                raise OptionError(key, f"give either {key} or the shorthand value, not both")
            return key, self._args[SHORTHAND]
        return key, self._args.get(key)

    def text(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        shorthand: bool = False,
        allow_empty: bool = True,
    ) -> str | None:
        name, value = self._take(key, shorthand)
        if value is None:
            if required:
                raise OptionError(name, "is required")
            return default
        if not isinstance(value, str):
            raise OptionError(name, f"must be a string, not {_type_name(value)}")
        if not allow_empty and not value:
            raise OptionError(name, "must not be empty")
        return value

    def texts(self, key: str, *, required: bool = False, shorthand: bool = False) -> tuple[str, ...]:
        """A string or a non-empty list of strings, as a tuple."""
        name, value = self._take(key, shorthand)
        if value is None:
            if required:
                raise OptionError(name, "is required")
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            raise OptionError(name, "must be a string or a non-empty list of strings")
        for item in items:
            if not isinstance(item, str) or not item:
                raise OptionError(
                    name, "must be a string or a non-empty list of strings (empty string found)"
                )
        return tuple(items)

    def flag(self, key: str, default: bool) -> bool:
        value = self._args.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise OptionError(key, f"must be true or false, not {_type_name(value)}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        shorthand: bool = False,
        required: bool = False,
    ) -> float | None:
        name, value = self._take(key, shorthand)
        if value is None:
            if required:
                raise OptionError(name, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise OptionError(name, f"must be a number, not {_type_name(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(name, f"must be {_range(low, high)}, not {value}")
        return float(value)

    def integer(
        self,
        key: str,
        default: int | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
        shorthand: bool = False,
        required: bool = False,
    ) -> int | None:
        name, value = self._take(key, shorthand)
        if value is None:
            if required:
                raise OptionError(name, "is required")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(name, f"must be a whole number, not {_type_name(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(name, f"must be {_range(low, high)}, not {value}")
        return value

    def one_of(self, key: str, choices: Collection[str], default: str) -> str:
        value = self._args.get(key, default)
        if value not in choices:
            raise OptionError(
                key,
                f"must be one of {', '.join(sorted(choices))}, not {value!r}"
                f"{did_you_mean(str(value), choices)}",
            )
        return str(value)

    def raw(self, key: str, *, shorthand: bool = False) -> tuple[str, Any]:
        """(name as written, value) with no type check, for options with several accepted shapes."""
        return self._take(key, shorthand)


def validator(parse: Callable[[Mapping[str, Any]], object]) -> Callable[[MetricSpec], None]:
    """A registry ``validate`` hook that runs ``parse`` on the configured args.

    Args still hold unrendered templates here; parsers only check what templates cannot change
    (types, ranges, unknown keys) or skip checks on text that looks templated.
    """

    def validate(spec: MetricSpec) -> None:
        try:
            parse(spec.args)
        except OptionError as err:
            raise option_config_error(spec, err) from None

    return validate


def option_config_error(spec: MetricSpec, err: OptionError) -> ConfigError:
    """A ConfigError pointing at the metric's location, with the option as the field."""
    return ConfigError(
        f"metric {spec.kind}: option {err.key}: {err.message}", field_location(spec.location, err.key)
    )


def field_location(location: Location | None, key: str) -> Location | None:
    if location is None:
        return None
    return replace(location, field=f"{location.field}.{key}" if location.field else key)


def looks_templated(text: str) -> bool:
    """True when ``text`` still holds template syntax, so its final value is only known per case."""
    return "{{" in text or "{%" in text


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _range(low: float | None, high: float | None) -> str:
    if low is None:
        return f"at most {high:g}"
    if high is None:
        return f"at least {low:g}"
    return f"between {low:g} and {high:g}"
