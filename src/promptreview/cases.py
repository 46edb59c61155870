"""Eval cases from YAML, JSONL or CSV files, parsed into ``Case`` values with their file lines.

Case lines matter: the check run annotates the line of every regressed case, so a reviewer lands
on the case in the diff view.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from promptreview.config import parse_metrics
from promptreview.errors import ConfigError, Location
from promptreview.safe_json import load_json
from promptreview.safe_yaml import line_of, load_yaml
from promptreview.suite import Case

# ``source`` records where a case came from (cases import, generate); the review ignores it.
RESERVED = (
    "id", "vars", "expected", "label", "feedback", "tags", "must_pass", "metrics", "description", "source",
)
_RESERVED = frozenset(RESERVED)
MAX_CASES = 50_000  # peak memory is about 2 KB a case over the process (bench/bench_whole.py 50k)


def parse_cases(text: str, path: str) -> tuple[Case, ...]:
    lower = path.lower()
    items: Iterable[tuple[Any, int | None]]
    if lower.endswith(".jsonl"):
        items, count = _jsonl(text, path)
    else:
        if lower.endswith(".csv"):
            held = _csv(text, path)
        elif lower.endswith(".json"):
            held = _json(text, path)
        else:
            held = _yaml(text, path)
        items, count = held, len(held)
    if count > MAX_CASES:
        raise ConfigError(
            f"{count} cases is more than the {MAX_CASES} one review can take; use --shard",
            Location(path),
        )
    cases = [_case(raw, line, path, i) for i, (raw, line) in enumerate(items)]
    seen: dict[str, Case] = {}
    for i, c in enumerate(cases):
        if c.id in seen:
            raise ConfigError(
                f"duplicate case id {c.id!r} (first at line {seen[c.id].location.line})",  # type: ignore[union-attr]
                Location(path, c.location.line, f"cases[{i}]"),  # type: ignore[union-attr]
            )
        seen[c.id] = c
    return tuple(cases)


def _yaml(text: str, path: str) -> list[tuple[Any, int | None]]:
    data = load_yaml(text, path)
    if isinstance(data, Mapping) and "cases" in data:
        data = data["cases"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError("a cases file is a list of cases (or a mapping with `cases:`)", Location(path, 1))
    return [(item, line_of(data, i)) for i, item in enumerate(data)]


def _json(text: str, path: str) -> list[tuple[Any, int | None]]:
    data = load_json(text, path)
    if isinstance(data, Mapping) and "cases" in data:
        data = data["cases"]
    if not isinstance(data, list):
        raise ConfigError("a JSON cases file is a list of cases", Location(path, 1))
    return [(item, None) for item in data]


def _jsonl(text: str, path: str) -> tuple[Iterator[tuple[Any, int | None]], int]:
    """The records, parsed one at a time as the cases are built, and how many there are.

    Why lazily: every parsed line (two dicts and their keys) held until the last case was built
    was about 30 MB at 50,000 cases, the high-water mark of preparing a large suite.
    """
    lines = text.splitlines()
    count = sum(1 for line in lines if _is_record(line))
    records = (
        (load_json(line, path, line=n), n) for n, line in enumerate(lines, start=1) if _is_record(line)
    )
    return records, count


def _is_record(line: str) -> bool:
    """A JSONL line that holds a record: blank and whitespace-only lines are skipped."""
    return bool(line) and not line.isspace()


def _csv(text: str, path: str) -> list[tuple[Any, int | None]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return []
    items: list[tuple[Any, int | None]] = []
    line = 1
    for row in reader:
        line = reader.line_num
        if None in row:
            raise ConfigError("row has more cells than the header", Location(path, line))
        items.append((_csv_row(row), line))
    return items


def _csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """CSV columns are vars, except the reserved ones; ``vars.x`` columns are vars too."""
    out: dict[str, Any] = {"vars": {}}
    for key, value in row.items():
        key = key.strip()
        if key.startswith("vars."):
            out["vars"][key[5:]] = value
        elif key in ("feedback", "tags"):
            out[key] = [p.strip() for p in value.split("|") if p.strip()] if value else []
        elif key == "must_pass":
            out[key] = value.strip().lower() in ("1", "true", "yes", "y")
        elif key in _RESERVED:
            out[key] = value if value != "" else None
        else:
            out["vars"][key] = value
    return out


def _case(raw: Any, line: int | None, path: str, i: int) -> Case:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "each case is a mapping (vars, expected, label, feedback...)", Location(path, line, f"cases[{i}]")
        )
    if "vars" in raw:
        vars_ = raw["vars"]
        if vars_ is None:
            vars_ = {}
        if not isinstance(vars_, Mapping):
            raise ConfigError(
                "`vars` must be a mapping of name: value",
                Location(path, line_of(raw, "vars") or line, f"cases[{i}].vars"),
            )
        unknown = [k for k in raw if k not in _RESERVED]
        if unknown:
            raise ConfigError(
                f"unknown key `{unknown[0]}` next to `vars` (put variables inside `vars`)",
                Location(path, line_of(raw, unknown[0]) or line, f"cases[{i}].{unknown[0]}"),
            )
    else:
        # Short form: every key that is not reserved is a variable (like gh-models testData).
        vars_ = {k: v for k, v in raw.items() if k not in _RESERVED}
    case_id = raw.get("id")
    feedback = raw.get("feedback")
    if feedback is None:
        points: tuple[str, ...] = ()
    elif isinstance(feedback, str):
        points = (feedback,)
    elif isinstance(feedback, list) and all(isinstance(p, str | int | float) for p in feedback):
        points = tuple(str(p) for p in feedback)
    else:
        raise ConfigError(
            "`feedback` is a string or a list of strings",
            Location(path, line_of(raw, "feedback") or line, f"cases[{i}].feedback"),
        )
    tags = raw.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    must_pass = raw.get("must_pass", False)
    if not isinstance(must_pass, bool):
        raise ConfigError(
            "`must_pass` must be true or false",
            Location(path, line_of(raw, "must_pass") or line, f"cases[{i}].must_pass"),
        )
    metrics = ()
    if raw.get("metrics"):
        metrics = parse_metrics(raw["metrics"], path, f"cases[{i}].metrics", line_of(raw, "metrics") or line)
    expected = raw.get("expected")
    label = raw.get("label")
    return Case(
        id=str(case_id) if case_id not in (None, "") else f"#{i + 1}",
        vars=_vars(vars_),
        expected=None
        if expected is None
        else (expected if isinstance(expected, str) else json.dumps(expected)),
        label=None if label is None else str(label),
        feedback=points,
        tags=tuple(str(t) for t in tags),
        must_pass=must_pass,
        metrics=metrics,
        # file:line already finds the case; the field is kept only where there is no line (a
        # JSON array). Why: a "cases[i]" string per case was about 3 MB at 50,000 cases.
        location=Location(path, line) if line is not None else Location(path, None, f"cases[{i}]"),
    )


def _vars(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The case's own vars dict, its names interned.

    Why: a parser makes a new string for every key of every record (the JSON parser shares keys
    only within one document, and each JSONL line is one), so 50,000 cases held 100,000 copies
    of "topic" and "n"; interned, every case shares one of each (about 5 MB at 50,000 cases).
    """
    return {sys.intern(k) if k.__class__ is str else k: v for k, v in raw.items()}
