"""Structured logs for the server and its workers: one JSON object per line on stderr.

Every line of a job carries its delivery id, job id, repository, PR and SHA, so a log search
for any of them finds the whole story. :class:`JobLog` is the core's log interface
(``WorkflowLog``) speaking JSON instead of workflow commands: the core logs the same events in
both front doors, and secrets (the installation token, the model key) are scrubbed from every
line exactly as in the Action.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from promptreview.github.workflow_log import MIN_SECRET_LENGTH, WorkflowLog
from promptreview.report.sanitize import scrub

_lock = threading.Lock()


def emit(
    level: str, message: str, stream: TextIO | None = None, secrets: Iterable[str] = (), **fields: Any
) -> None:
    """Write one JSON log line; ``fields`` with a None value are left out."""
    record: dict[str, Any] = {"ts": round(time.time(), 3), "level": level, "msg": scrub(message, secrets)}
    record.update({k: v for k, v in fields.items() if v is not None})
    line = json.dumps(record, ensure_ascii=False)
    with _lock:
        out = stream or sys.stderr
        out.write(line + "\n")
        out.flush()


class JobLog(WorkflowLog):
    """The core's log for one App job: the job's context on every line, secrets scrubbed."""

    def __init__(self, context: Mapping[str, Any], secrets: Iterable[str] = (), stream: TextIO | None = None):
        self.context = dict(context)
        self._out = stream
        super().__init__(stream or sys.stderr, secrets=secrets)

    def add_secrets(self, values: Iterable[str]) -> None:
        """Scrub these from every line; no ``::add-mask::`` lines, this log is not a runner's."""
        for value in values:
            if value and len(value.strip()) >= MIN_SECRET_LENGTH and value not in self._secrets:
                self._secrets.append(value)

    def bind(self, **fields: Any) -> None:
        self.context.update({k: v for k, v in fields.items() if v is not None})

    def _emit(self, level: str, message: str) -> None:
        emit(level, message, self._out, self._secrets, **self.context)

    def info(self, message: str) -> None:
        self._emit("info", message)

    def untrusted(self, text: str, *, title: str | None = None) -> None:
        self._emit("info", (title + "\n" if title else "") + text)  # JSON-escaped: cannot act

    def command(self, name: str, message: str, **properties: str | int | None) -> None:
        level = {"notice": "info", "warning": "warning", "error": "error", "debug": "debug"}.get(name)
        if level is not None:
            self._emit(level, message)

    def group(self, title: str) -> None:
        self._emit("info", title)

    def endgroup(self) -> None:
        return None
