"""JSON from a repository file (prompt, cases), with errors that name the file and the line.

The twin of ``safe_yaml`` for JSON and JSONL: the standard library parser is already safe (no
tags, no aliases), so what this adds is a size cap and the one-line error message format.
"""

from __future__ import annotations

import json
from typing import Any

from promptreview.errors import ConfigError, Location

MAX_BYTES = 5_000_000


def load_json(text: str, path: str, *, line: int | None = None) -> Any:
    """Parse ``text``; ``line`` is the file line ``text`` starts on (one JSONL record)."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"file is larger than {MAX_BYTES:,} characters", Location(path, line))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = exc.lineno if line is None else line + exc.lineno - 1
        raise ConfigError(f"invalid JSON: {exc.msg} (column {exc.colno})", Location(path, where)) from None
    except RecursionError:
        raise ConfigError("JSON is nested too deeply", Location(path, line)) from None
