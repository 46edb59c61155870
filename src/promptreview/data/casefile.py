"""Writing candidate cases to a file a person reviews, without disturbing what is already there.

A new file is written whole. Appending goes through ruamel.yaml's round-trip mode, which keeps
the user's comments, key order, quoting and blank lines exactly as they were: PyYAML (our loader
for everything else) drops comments on dump, and a generated PR that rewrites every line of a
hand-kept cases file is one nobody can review. For a GitHub Models ``*.prompt.yml`` the cases go
into its ``testData`` list (gh-models reads every key there as a variable, so where a case came
from is written as a comment above it); JSONL files get lines appended.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from promptreview.errors import ConfigError

GH_SUFFIXES = (".prompt.yml", ".prompt.yaml")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round-trip
    y.preserve_quotes = True
    y.width = 100
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _plain(value: Any) -> Any:
    """Multi-line strings as literal blocks, so a reviewer reads them as written."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value.replace("\r\n", "\n").rstrip("\n") + "\n")
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def gh_test_item(case: Mapping[str, Any]) -> dict[str, Any]:
    """A testData entry: the vars flat, plus ``expected`` (gh-models has no other case keys)."""
    item = dict(case.get("vars") or {})
    if case.get("expected") is not None:
        item["expected"] = case["expected"]
    return item


_SOURCE_KEYS = ("from", "model", "reason", "rule", "log", "line", "file", "lines", "section")


def source_comment(case: Mapping[str, Any]) -> str:
    """Where a testData entry came from; a generated pair's passage follows, so the reviewer can
    check the expected answer against the text it was drawn from."""
    import textwrap

    src = case.get("source") or {}
    parts = [f"{k}: {v}" for k, v in src.items() if k in _SOURCE_KEYS]
    text = f"{case.get('id')}: " + ", ".join(parts) if parts else str(case.get("id"))
    passage = src.get("passage")
    if isinstance(passage, str) and passage.strip():
        body = [
            wrapped
            for para in passage.splitlines()
            for wrapped in (textwrap.wrap(para, 96, replace_whitespace=False) or [""])
        ]
        text += "\npassage:\n" + "\n".join(f"  {line}" if line else "" for line in body)
    return text


def write_cases(path: Path, cases: Sequence[Mapping[str, Any]], *, header: str | None = None) -> str:
    """Write ``cases`` to ``path`` (append when it exists); returns "wrote" or "appended to".

    Appending inserts text: the user's lines stay byte for byte as they were (a round-trip dump
    would still re-wrap long strings), and the new items are dumped in the file's own indentation.
    """
    if not cases:
        return "nothing written to"
    lower = path.name.lower()
    exists = path.is_file()
    if lower.endswith(".csv"):
        raise ConfigError(f"{path}: writing CSV cases is not supported; write to a .yaml file and merge it")
    if lower.endswith(".jsonl"):
        with path.open("a", encoding="utf-8") as fh:
            for c in cases:
                fh.write(json.dumps(dict(c), ensure_ascii=False) + "\n")
        return "appended to" if exists else "wrote"
    gh = lower.endswith(GH_SUFFIXES)
    if not exists:
        if gh:
            raise ConfigError(f"{path}: not found; --out names an existing .prompt.yml or a new .yaml file")
        path.parent.mkdir(parents=True, exist_ok=True)
        head = _comment(header, 0) if header else ""
        path.write_text(head + _items_text([dict(c) for c in cases], cases, 0, gh=False), encoding="utf-8")
        return "wrote"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at, dash, opener = _insertion_point(path, text, lines, gh)
    items = [gh_test_item(c) if gh else dict(c) for c in cases]
    block = opener + (_comment(header, dash) if header else "") + _items_text(items, cases, dash, gh=gh)
    lines[at:at] = [block]
    path.write_text("".join(lines), encoding="utf-8")
    return "appended to"


def _insertion_point(path: Path, text: str, lines: list[str], gh: bool) -> tuple[int, int, str]:
    """(line index to insert at, dash column, text to add first such as ``testData:``)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    try:
        doc = _yaml().load(text)
    except Exception as exc:  # ruamel raises many error types; all mean "not YAML we can extend"
        raise ConfigError(f"{path}: cannot append, not valid YAML ({type(exc).__name__})") from None
    key = "testData" if gh else "cases"
    if doc is None:
        if gh:
            raise ConfigError(f"{path}: an empty .prompt.yml; cannot append testData")
        return len(lines), 0, ""
    if isinstance(doc, CommentedSeq) and not gh:
        return len(lines), _dash_column(doc, lines, 0), ""
    if not isinstance(doc, CommentedMap) or (not gh and key not in doc):
        raise ConfigError(f"{path}: cannot append, the file is neither a list of cases nor has `cases:`")
    if key not in doc:
        return len(lines), 2, f"{key}:\n"
    target = doc[key]
    if not isinstance(target, CommentedSeq) or target.fa.flow_style() or not target:
        raise ConfigError(f"{path}: cannot append to `{key}` as written (write to a new .yaml file instead)")
    keys = list(doc.keys())
    after = keys[keys.index(key) + 1 :]
    at = doc.lc.key(after[0])[0] if after else len(lines)
    while at > 0 and (not lines[at - 1].strip() or lines[at - 1].lstrip().startswith("#")):
        at -= 1  # comments and blank lines before the next key belong to it
    return at, _dash_column(target, lines, doc.lc.key(key)[1] + 2), ""


def _dash_column(seq: Any, lines: list[str], default: int) -> int:
    try:
        line = lines[seq.lc.item(0)[0]]
    except (IndexError, KeyError, AttributeError):
        return default
    stripped = line.lstrip()
    return len(line) - len(stripped) if stripped.startswith("-") else default


def _comment(text: str, indent: int) -> str:
    return "".join(" " * indent + (f"# {line}" if line else "#") + "\n" for line in text.splitlines())


def _items_text(
    items: list[dict[str, Any]], cases: Sequence[Mapping[str, Any]], dash: int, *, gh: bool
) -> str:
    y = _yaml()
    y.width = 4096  # never re-wrap a long answer: a reviewer reads it as one line
    y.indent(mapping=2, sequence=dash + 2, offset=dash)
    out = []
    for item, case in zip(items, cases, strict=True):
        buf = io.StringIO()
        y.dump([_plain(item)], buf)
        out.append((_comment(source_comment(case), dash) if gh else "") + buf.getvalue())
    return "".join(out)
