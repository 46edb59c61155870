"""Production log records, read one at a time, in the shapes teams actually export.

Supported JSONL shapes (auto-detected per line):

* **OpenAI chat-completion log**: ``{"request": {"model", "messages"}, "response": {"choices":
  [{"message"}]}, "feedback": {...}}`` (``request``/``response`` may also be named
  ``input``/``output`` when they hold the same objects);
* **LangSmith run** (``Client.list_runs`` / bulk export): ``inputs.messages`` (OpenAI dicts or
  LangChain serialised messages, possibly nested one list deep), ``outputs`` with ``choices``,
  ``generations`` or ``output``; feedback from ``feedback`` (a list of ``{key, score, comment}``)
  or ``feedback_stats`` (``{key: {avg}}``);
* **Langfuse trace or generation** (UI export, Observations API): ``input`` (a message list, or
  ``{messages}``), ``output`` (a message, ``{content}`` or text), ``scores`` (``{name, value,
  comment, source}``, where ``source`` ANNOTATION is a person, EVAL a model, API the app's own
  user feedback).

CSV rows are records too; which column holds what is given by field mapping flags. Why one
value for all: selection, template matching and PII masking then never care where a record
came from, and a 100,000-line log is read as a stream, never loaded whole.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptreview.errors import ConfigError, Location

# Field names a mapping flag may set (``--field NAME=PATH``).
FIELD_NAMES = ("input", "answer", "thumbs", "accepted", "score", "comment", "grade", "tags", "id")
MAX_LINE_CHARS = 1_000_000


@dataclass(frozen=True)
class Feedback:
    """What people and graders said about one production answer, normalised.

    ``score`` and ``grade`` are in [0, 1] (a 1-5 or 1-10 rating is rescaled); None when absent.
    """

    thumbs_down: bool = False
    thumbs_up: bool = False
    accepted: bool | None = None
    score: float | None = None  # an annotator's rating
    grade: float | None = None  # another model's grade
    comments: tuple[str, ...] = ()

    @property
    def user_negative(self) -> bool:
        return self.thumbs_down or self.accepted is False


@dataclass(frozen=True)
class Record:
    """One production call: the messages sent, the answer, feedback, and where it came from."""

    line: int
    messages: tuple[tuple[str, str], ...]  # (role, content)
    answer: str | None
    feedback: Feedback = field(default_factory=Feedback)
    tags: tuple[str, ...] = ()
    id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)  # the parsed line, for --var paths

    @property
    def last_user(self) -> str:
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        return self.messages[-1][1] if self.messages else ""


def parse_mapping_flags(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``["a=b", ...]`` to ``{"a": "b"}``, with a one-line error for a malformed item."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"{flag} takes NAME=PATH, not {item!r}")
        out[name.strip()] = path.strip()
    return out


def read_records(path: Path, fields: Mapping[str, str] | None = None) -> Iterator[Record]:
    """Stream the records of a JSONL or CSV log (by extension); bad lines are errors naming the line."""
    if not path.is_file():
        raise ConfigError(f"log file not found: {path}")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        yield from records_from_lines(fh, str(path), fields)


def records_from_lines(
    lines: Iterable[str], name: str, fields: Mapping[str, str] | None = None
) -> Iterator[Record]:
    """Records from the lines of a log called ``name`` (``.csv``: CSV, else JSONL)."""
    fields = dict(fields or {})
    unknown = [k for k in fields if k not in FIELD_NAMES]
    if unknown:
        raise ConfigError(f"--field {unknown[0]}: not a record field (use one of {', '.join(FIELD_NAMES)})")
    if name.lower().endswith(".csv"):
        yield from _csv_records(lines, name, fields)
    else:
        yield from _jsonl_records(lines, name, fields)


def _jsonl_records(lines: Iterable[str], name: str, fields: Mapping[str, str]) -> Iterator[Record]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise ConfigError("line is longer than 1,000,000 characters", Location(name, n))
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc.msg} (column {exc.colno})", Location(name, n)) from None
        if not isinstance(data, dict):
            raise ConfigError("each line must be a JSON object", Location(name, n))
        yield record_from_json(data, n, fields)


def _csv_records(lines: Iterable[str], name: str, fields: Mapping[str, str]) -> Iterator[Record]:
    reader = csv.DictReader(lines)
    columns = [c.strip() for c in reader.fieldnames or ()]
    for field_name, column in fields.items():
        if column not in columns:
            raise ConfigError(
                f"--field {field_name}={column}: no such column (columns: {', '.join(columns)})",
                Location(name, 1),
            )
    for row in reader:
        clean = {(k or "").strip(): v for k, v in row.items() if k is not None}
        yield _csv_record(clean, reader.line_num, fields)


def _pick(row: Mapping[str, Any], fields: Mapping[str, str], name: str, *defaults: str) -> Any:
    if name in fields:
        return lookup(row, fields[name])
    for d in defaults:
        if d in row and row[d] not in (None, ""):
            return row[d]
    return None


def _csv_record(row: Mapping[str, str], line: int, fields: Mapping[str, str]) -> Record:
    text = _pick(row, fields, "input", "input", "prompt", "question", "message")
    answer = _pick(row, fields, "answer", "output", "response", "answer", "completion")
    tags_raw = _pick(row, fields, "tags", "tags")
    feedback = _feedback_from_flat(
        {
            "thumbs": _pick(row, fields, "thumbs", "thumbs", "rating"),
            "accepted": _pick(row, fields, "accepted", "accepted"),
            "score": _pick(row, fields, "score", "score", "annotator_score"),
            "comment": _pick(row, fields, "comment", "comment", "feedback", "annotator_comment"),
            "grade": _pick(row, fields, "grade", "grade", "model_grade"),
        }
    )
    messages = (("user", str(text)),) if text not in (None, "") else ()
    tags = tuple(t.strip() for t in str(tags_raw).split("|") if t.strip()) if tags_raw else ()
    rid = _pick(row, fields, "id", "id")
    return Record(
        line,
        messages,
        None if answer is None else str(answer),
        feedback,
        tags,
        None if rid in (None, "") else str(rid),
        dict(row),
    )


def record_from_json(data: Mapping[str, Any], line: int, fields: Mapping[str, str] | None = None) -> Record:
    """Recognise the shape of one JSON record (see the module docstring)."""
    fields = fields or {}
    if "request" in data or "response" in data:
        messages, answer = _openai_log(data)
        feedback = _feedback_from_flat(data.get("feedback"))
        tags = _tags(data.get("tags") or (data.get("metadata") or {}).get("tags"))
    elif "inputs" in data or "outputs" in data or "run_type" in data:
        messages, answer = _langsmith_run(data)
        feedback = _langsmith_feedback(data)
        tags = _tags(data.get("tags"))
    else:
        messages, answer = _langfuse(data)
        feedback = _langfuse_feedback(data)
        tags = _tags(data.get("tags"))
    # A --field flag wins over what the shape says.
    if "input" in fields:
        value = lookup(data, fields["input"])
        messages = (("user", _text(value)),) if value is not None else messages
    if "answer" in fields:
        value = lookup(data, fields["answer"])
        answer = _text(value) if value is not None else answer
    overrides = {
        k: lookup(data, fields[k]) for k in ("thumbs", "accepted", "score", "comment", "grade") if k in fields
    }
    if overrides:
        feedback = _merge(feedback, _feedback_from_flat(overrides))
    if "tags" in fields:
        tags = _tags(lookup(data, fields["tags"]))
    rid = lookup(data, fields["id"]) if "id" in fields else data.get("id")
    return Record(line, messages, answer, feedback, tags, None if rid is None else str(rid), data)


# --- shapes -------------------------------------------------------------------------------------


def _openai_log(data: Mapping[str, Any]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    request = data.get("request") or {}
    response = data.get("response") or {}
    messages = _messages(request.get("messages") if isinstance(request, dict) else None)
    return messages, _answer_of(response)


def _langsmith_run(data: Mapping[str, Any]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    inputs = data.get("inputs") or {}
    raw = inputs.get("messages") if isinstance(inputs, dict) else None
    if raw is None and isinstance(inputs, dict):
        raw = inputs.get("prompts") or inputs.get("input") or inputs.get("question")
    if isinstance(raw, list) and raw and isinstance(raw[0], list):
        raw = raw[0]  # LangChain batches: [[messages of call 1], ...]
    messages = _messages(raw)
    return messages, _answer_of(data.get("outputs"))


def _langfuse(data: Mapping[str, Any]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    # A trace export holds the model call as one of its observations: the messages sent are there.
    for obs in data.get("observations") or ():
        if isinstance(obs, dict) and str(obs.get("type", "")).upper() == "GENERATION":
            messages, answer = _langfuse(obs)
            if messages:
                return messages, answer if answer is not None else _answer_of(data.get("output"))
    raw = data.get("input")
    if isinstance(raw, dict) and "messages" in raw:
        raw = raw["messages"]
    return _messages(raw), _answer_of(data.get("output"))


def _messages(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (("user", raw),)
    if isinstance(raw, dict):
        return (("user", _text(raw.get("content", raw))),)
    out: list[tuple[str, str]] = []
    if isinstance(raw, list):
        for m in raw:
            if isinstance(m, str):
                out.append(("user", m))
            elif isinstance(m, dict):
                out.append((_role(m), _text(_content(m))))
    return tuple(out)


_LC_ROLES = {
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "SystemMessage": "system",
    "human": "user",
    "ai": "assistant",
    "system": "system",
}


def _role(m: Mapping[str, Any]) -> str:
    if "role" in m:
        return str(m["role"]).lower()
    if isinstance(m.get("id"), list) and m["id"]:  # LangChain serialised message
        return _LC_ROLES.get(str(m["id"][-1]), "user")
    return _LC_ROLES.get(str(m.get("type", "")), "user")


def _content(m: Mapping[str, Any]) -> Any:
    if "kwargs" in m and isinstance(m["kwargs"], dict):
        return m["kwargs"].get("content")
    if "data" in m and isinstance(m["data"], dict):
        return m["data"].get("content")
    return m.get("content")


def _answer_of(out: Any) -> str | None:
    if out is None:
        return None
    if isinstance(out, str):
        return out
    if isinstance(out, list):
        return _answer_of(out[0]) if out else None
    if not isinstance(out, dict):
        return str(out)
    if "choices" in out and isinstance(out["choices"], list) and out["choices"]:
        choice = out["choices"][0]
        if isinstance(choice, dict):
            msg = choice.get("message")
            if isinstance(msg, dict):
                return _text(msg.get("content"))
            if "text" in choice:
                return _text(choice["text"])
    if "generations" in out:
        gens = out["generations"]
        while isinstance(gens, list) and gens and isinstance(gens[0], list):
            gens = gens[0]
        if isinstance(gens, list) and gens and isinstance(gens[0], dict):
            g = gens[0]
            if "text" in g:
                return _text(g["text"])
            if isinstance(g.get("message"), dict):
                return _text(_content(g["message"]))
    for key in ("content", "output", "text", "answer"):
        if key in out:
            return _answer_of(out[key])
    if "kwargs" in out:
        return _text(_content(out))
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
    if isinstance(value, dict) and "content" in value:
        return _text(value["content"])
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _tags(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return tuple(t.strip() for t in raw.replace("|", ",").split(",") if t.strip())
    if isinstance(raw, list):
        return tuple(str(t) for t in raw)
    return ()


# --- feedback -----------------------------------------------------------------------------------


def rescale(value: Any) -> float | None:
    """A rating to [0, 1]: 0-1 as is, 1-5 and 1-10 scales rescaled, booleans 0/1."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "null"):
            return None
        if text in ("true", "yes", "good", "pass", "correct"):
            return 1.0
        if text in ("false", "no", "bad", "fail", "incorrect"):
            return 0.0
        try:
            value = float(text)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    v = float(value)
    if 0.0 <= v <= 1.0:
        return v
    if 1.0 < v <= 5.0:
        return (v - 1.0) / 4.0
    if 5.0 < v <= 10.0:
        return (v - 1.0) / 9.0
    return None


def _thumbs(value: Any) -> tuple[bool, bool]:
    """(down, up) from "down"/"up", 👎/👍, -1/1, 0/1, false/true."""
    if value is None:
        return False, False
    if isinstance(value, bool):
        return (not value, value)
    if isinstance(value, int | float):
        return (value <= 0, value > 0)
    text = str(value).strip().lower()
    if text in (
        "down",
        "thumbs_down",
        "thumbs-down",
        "👎",
        "-1",
        "0",
        "bad",
        "negative",
        "dislike",
        "false",
        "no",
    ):
        return True, False
    if text in ("up", "thumbs_up", "thumbs-up", "👍", "1", "+1", "good", "positive", "like", "true", "yes"):
        return False, True
    return False, False


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "accepted", "y"):
        return True
    if text in ("false", "no", "0", "rejected", "n"):
        return False
    return None


def _comments(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    text = str(value).strip()
    return (text,) if text else ()


def _feedback_from_flat(raw: Any) -> Feedback:
    """Our own shape: ``{thumbs, accepted, score, comment, grade}`` (annotator / grader nested too)."""
    if not isinstance(raw, dict):
        return Feedback()
    down, up = _thumbs(raw.get("thumbs", raw.get("rating")))
    score = rescale(raw.get("score"))
    comments = list(_comments(raw.get("comment")))
    annotator = raw.get("annotator")
    if isinstance(annotator, dict):
        score = rescale(annotator.get("score")) if score is None else score
        comments += _comments(annotator.get("comment"))
    grade_raw = raw.get("grade", raw.get("model_grade"))
    if isinstance(grade_raw, dict):
        grade_raw = grade_raw.get("score")
    return Feedback(down, up, _bool(raw.get("accepted")), score, rescale(grade_raw), tuple(comments))


def _merge(a: Feedback, b: Feedback) -> Feedback:
    return Feedback(
        a.thumbs_down or b.thumbs_down,
        a.thumbs_up or b.thumbs_up,
        b.accepted if b.accepted is not None else a.accepted,
        b.score if b.score is not None else a.score,
        b.grade if b.grade is not None else a.grade,
        tuple(dict.fromkeys(a.comments + b.comments)),
    )


_USER_KEYS = ("thumbs", "user_score", "user-feedback", "user_feedback", "thumbs_up", "helpful", "user")
_GRADER_HINTS = ("eval", "grade", "judge", "llm", "correctness", "model")


def _kind_of(key: str) -> str:
    k = key.lower()
    if any(h == k or h in k for h in _USER_KEYS):
        return "user"
    if any(h in k for h in _GRADER_HINTS):
        return "grader"
    return "annotator"


def _apply(fb: Feedback, kind: str, value: Any, comment: Any) -> Feedback:
    scaled = rescale(value) if not isinstance(value, str) or rescale(value) is not None else None
    add = _comments(comment)
    if kind == "user":
        down, up = _thumbs(value)
        return _merge(fb, Feedback(down, up, comments=add))
    if kind == "grader":
        return _merge(fb, Feedback(grade=scaled, comments=add))
    return _merge(fb, Feedback(score=scaled, comments=add))


def _langsmith_feedback(data: Mapping[str, Any]) -> Feedback:
    fb = _feedback_from_flat(data.get("feedback")) if isinstance(data.get("feedback"), dict) else Feedback()
    items = data.get("feedback")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                fb = _apply(
                    fb,
                    _kind_of(str(item.get("key", ""))),
                    item.get("score", item.get("value")),
                    item.get("comment"),
                )
    stats = data.get("feedback_stats")
    if isinstance(stats, dict):
        for key, st in stats.items():
            if isinstance(st, dict) and "avg" in st:
                fb = _apply(fb, _kind_of(str(key)), st.get("avg"), None)
    return fb


def _langfuse_feedback(data: Mapping[str, Any]) -> Feedback:
    fb = _feedback_from_flat(data.get("feedback"))
    for item in data.get("scores") or ():
        if not isinstance(item, dict):
            continue
        source = str(item.get("source", "")).upper()
        name = str(item.get("name", ""))
        if source == "ANNOTATION":
            kind = "annotator"
        elif source == "EVAL":
            kind = "grader"
        else:
            kind = _kind_of(name) if _kind_of(name) != "annotator" else "user"
        value = item.get("value", item.get("stringValue"))
        fb = _apply(fb, kind, value, item.get("comment"))
    return fb


def lookup(data: Any, path: str) -> Any:
    """``a.b[0].c`` / ``messages[-1].content`` into parsed JSON; None when a step is missing."""
    node = data
    for part in _split_path(path):
        if isinstance(part, int):
            if not isinstance(node, list) or not -len(node) <= part < len(node):
                return None
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    return node


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in path.split("."):
        while "[" in chunk and chunk.endswith("]"):
            head, _, rest = chunk.partition("[")
            if head:
                parts.append(head)
            index, _, chunk = rest.partition("]")
            try:
                parts.append(int(index))
            except ValueError:
                parts.append(index.strip("'\""))
            chunk = chunk.lstrip(".")
        if chunk:
            parts.append(chunk)
    return parts
