"""Talking to the Actions runner: workflow commands on stdout and the environment files.

The runner reads every stdout line as a possible workflow command (``::error::``, ``::add-mask::``,
``::set-env``...), so text we do not control (model answers, case data, file names, suite names)
must never reach the log raw: a model answer containing ``::add-mask::`` or ``::error::`` would
otherwise act. Three defences, per RUNTIME.md §5-6:

* command messages and properties are escaped the way ``@actions/core`` escapes them, so they
  stay on one line and cannot end a property early;
* free-form untrusted text goes between ``::stop-commands::TOKEN`` and ``::TOKEN::`` with a
  fresh random token, so nothing inside can be read as a command;
* every line is scrubbed of the secrets we know (the runner masks them too, once
  ``::add-mask::`` has been sent; this covers the lines before that and encoded forms).

``GITHUB_OUTPUT`` values use the multiline ``name<<DELIMITER`` form with a random delimiter that
is checked not to occur in the value. The step summary is capped at GitHub's 1 MiB per step.
"""

from __future__ import annotations

import secrets as _random
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from promptreview.report.sanitize import scrub

STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes per step (RUNTIME.md §5)
MIN_SECRET_LENGTH = 8  # shorter values are not masked: masking "x" would mangle every line
_TRUNCATED_NOTE = "\n\n*(The summary was cut at GitHub's 1 MiB step-summary limit.)*\n"


def escape_data(text: str) -> str:
    """A command's message: ``%``, CR and LF escaped, so it stays one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command property value: also ``:`` and ``,``, which would end the property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class WorkflowLog:
    """The step's log: plain lines, annotations, groups, masks, all secret-scrubbed."""

    def __init__(self, stream: TextIO | None = None, secrets: Iterable[str] = ()) -> None:
        self._stream = stream or sys.stdout
        self._secrets: list[str] = []
        self.add_secrets(secrets)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def add_secrets(self, values: Iterable[str]) -> None:
        """Mask each value in the runner's log from now on, and scrub it from our own lines."""
        for value in values:
            if not value or len(value.strip()) < MIN_SECRET_LENGTH or value in self._secrets:
                continue
            self._secrets.append(value)
            # One line per command: a multi-line secret is masked line by line.
            for line in value.splitlines():
                if len(line.strip()) >= MIN_SECRET_LENGTH:
                    self._write(f"::add-mask::{escape_data(line)}", scrub_secrets=False)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    # -- plain lines ---------------------------------------------------------------------------
    def info(self, message: str) -> None:
        """Lines of our own wording, which may quote short untrusted names (a suite, a path).

        Only a line *starting* with ``::`` can be a command, so such a message goes through
        :meth:`untrusted`; long untrusted text should go there directly.
        """
        lines = message.splitlines() or [""]
        if any(line.lstrip().startswith("::") for line in lines):
            self.untrusted(message)
            return
        for line in lines:
            self._write(line)

    def untrusted(self, text: str, *, title: str | None = None) -> None:
        """Print text we do not control; between stop-commands markers nothing in it can act."""
        if title:
            self.info(title)
        token = _random.token_hex(16)
        while token in text:  # pragma: no cover - 128 random bits
            token = _random.token_hex(16)
        self._write(f"::stop-commands::{token}")
        for line in text.splitlines():
            self._write(line)
        self._write(f"::{token}::")

    # -- annotations and groups ------------------------------------------------------------------
    def notice(self, message: str, **properties: str | int | None) -> None:
        self.command("notice", message, **properties)

    def warning(self, message: str, **properties: str | int | None) -> None:
        self.command("warning", message, **properties)

    def error(self, message: str, **properties: str | int | None) -> None:
        self.command("error", message, **properties)

    def debug(self, message: str) -> None:
        self.command("debug", message)

    def group(self, title: str) -> None:
        self.command("group", title)

    def endgroup(self) -> None:
        self._write("::endgroup::")

    def command(self, name: str, message: str, **properties: str | int | None) -> None:
        """``::name key=value,...::message`` with both parts escaped (and scrubbed)."""
        props = ",".join(
            f"{key}={escape_property(self.scrub(str(value)))}"
            for key, value in properties.items()
            if value is not None and value != ""
        )
        head = f"::{name} {props}::" if props else f"::{name}::"
        self._write(head + escape_data(self.scrub(message)), scrub_secrets=False)

    def _write(self, line: str, *, scrub_secrets: bool = True) -> None:
        self._stream.write((self.scrub(line) if scrub_secrets else line) + "\n")
        self._stream.flush()


def _delimiter(value: str) -> str:
    token = "ghadelimiter_" + _random.token_hex(16)
    while token in value:  # pragma: no cover - 128 random bits
        token = "ghadelimiter_" + _random.token_hex(16)
    return token


def format_outputs(values: Mapping[str, str]) -> str:
    """``GITHUB_OUTPUT`` text: every value in the multiline heredoc form with a random delimiter."""
    chunks = []
    for name, value in values.items():
        if not name or "\n" in name or "<<" in name or "=" in name:
            raise ValueError(f"not a valid output name: {name!r}")
        delimiter = _delimiter(value)
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


def write_outputs(path: str | None, values: Mapping[str, str]) -> bool:
    """Append the outputs to the ``GITHUB_OUTPUT`` file; False when there is none (not in Actions)."""
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(format_outputs(values))
    return True


def write_step_summary(path: str | None, markdown: str, *, limit: int = STEP_SUMMARY_LIMIT) -> bool:
    """Append Markdown to the step summary without passing ``limit`` bytes for the whole step.

    Past the limit GitHub drops the *entire* summary, so an oversized text is cut (at a line
    boundary, with a note) rather than written whole.
    """
    if not path:
        return False
    target = Path(path)
    used = target.stat().st_size if target.exists() else 0
    room = limit - used
    data = markdown.encode("utf-8")
    if len(data) > room:
        note = _TRUNCATED_NOTE.encode("utf-8")
        keep = data[: max(room - len(note), 0)]
        cut = keep.rfind(b"\n")
        keep = keep[: cut + 1] if cut > 0 else keep
        data = keep.decode("utf-8", "ignore").encode("utf-8") + note if room > len(note) else b""
    with target.open("ab") as handle:
        handle.write(data)
    return True
