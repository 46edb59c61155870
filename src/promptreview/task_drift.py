"""Whether head's prompt asks for something other than base's, told to the reader of the report.

The which-is-better judge reads the task as the base defines it (base's rendered prompt for the
case, base's case data and base's criteria): otherwise a PR that changes what the prompt asks for
would be judged by its own new rules. The cost is that a head answer following a new instruction
the base does not state is judged against the base's task; the report says so, and names the
instruction lines head adds and drops, so a reviewer can tell an intended change of task from a
regression. This is a textual comparison of the two prompts' instructions (template text, case
variables left as placeholders), not a judgement of their meaning.
"""

from __future__ import annotations

import difflib
import re

from promptreview.suite import Prompt

_SHOWN = 3  # instruction lines quoted per side
_CLIP = 100


def instruction_changes(base: Prompt, head: Prompt) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(lines head adds, lines head drops) of the prompts' instruction text; None when the same."""
    a, b = _lines(base), _lines(head)
    if a == b:
        return None
    added: list[str] = []
    dropped: list[str] = []
    for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        tag, i1, i2, j1, j2 = op
        if tag in ("replace", "delete"):
            dropped += a[i1:i2]
        if tag in ("replace", "insert"):
            added += b[j1:j2]
    return tuple(added), tuple(dropped)


def drift_note(base: Prompt, head: Prompt) -> str | None:
    """The report's sentence, or None when the two prompts' instructions are the same."""
    changes = instruction_changes(base, head)
    if changes is None:
        return None
    added, dropped = changes
    parts = []
    if added:
        parts.append("head's prompt adds " + _quote(added))
    if dropped:
        parts.append("drops " + _quote(dropped))
    detail = "; ".join(parts) if parts else "its wording differs"
    return ("the two prompts ask for different things (" + detail + "); the which-is-better judge read "
            "the task as the base defines it, so head answers that follow only head's new instructions "
            "are judged by the base's")


def _lines(prompt: Prompt) -> list[str]:
    out = []
    for m in prompt.messages:
        for line in m.content.splitlines():
            text = re.sub(r"\s+", " ", line).strip()
            if text:
                out.append(f"{m.role}: {text}" if m.role != "user" else text)
    return out


def _quote(lines: tuple[str, ...]) -> str:
    shown = [f"“{line[:_CLIP]}{'…' if len(line) > _CLIP else ''}”" for line in lines[:_SHOWN]]
    more = f" and {len(lines) - _SHOWN} more line(s)" if len(lines) > _SHOWN else ""
    return ", ".join(shown) + more
