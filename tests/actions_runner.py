"""What the GitHub Actions runner does with a step's files and log, for tests to read them the same way.

* :func:`load_payload` — one of GitHub's real webhook payloads (``tests/fixtures/github/events``);
* :func:`parse_outputs` — the runner's reading of ``GITHUB_OUTPUT`` (``name<<DELIM`` or ``name=value``);
* :func:`runner_commands` — which stdout lines the runner would act on as workflow commands,
  honouring ``::stop-commands::TOKEN`` ... ``::TOKEN::``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent / "fixtures" / "github" / "events"


def load_payload(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json``, e.g. ``load_payload("pull_request.opened")``."""
    loaded = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def parse_outputs(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def runner_commands(text: str) -> list[str]:
    acting: list[str] = []
    paused: str | None = None
    for line in text.splitlines():
        if paused is not None:
            paused = None if line == f"::{paused}::" else paused
            continue
        if line.lstrip().startswith("::"):
            head, _, rest = line.lstrip()[2:].partition("::")
            name = head.split(" ", 1)[0]
            if name == "stop-commands":
                paused = rest
            else:
                acting.append(name)
    return acting
