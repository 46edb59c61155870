"""The cases a review is decided on come from base; what the PR did to them is named, not used.

A PR that breaks some cases could otherwise flip FAIL to PASS by editing those cases (same ids,
easier vars), deleting them, renaming a ``must_pass`` case, or adding many easy cases beside the
broken ones. So, exactly like the gate: every base case runs on both versions as base defines it
(vars, expected, label, feedback, ``must_pass``, case-level metrics). Head's own edits, removals
and renames are reported by name; cases that exist only in head are *added*: they run on both
versions too, but as extra evidence reported apart, never pooled with the base cases in the gated
statistics (300 easy cases cannot dilute 4 broken ones). A ``must_pass`` that head declares on a
case it adds still holds: it can only make the review stricter.

Matching is by content first (a case whose vars, expected, label and feedback are unchanged is
the same case, whatever its id: that is how a rename is recognised), then by id (same id, new
content: edited). Positional ids (``#3``, for cases without an ``id``) shift when a case is
inserted, so moves between them are not reported as renames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from promptreview.suite import Case

__all__ = ["CaseChanges", "gate_cases"]


@dataclass(frozen=True)
class CaseChanges:
    """What head did to the base's cases (ids), for the headline. Base's versions were used."""

    edited: tuple[str, ...] = ()  # same id, different definition at head
    removed: tuple[str, ...] = ()  # deleted at head (still run, as base defines them)
    renamed: tuple[tuple[str, str], ...] = ()  # (base id, head id), same content
    added: tuple[str, ...] = ()  # only in head: extra evidence, reported apart (ids as run)

    @property
    def touches_base(self) -> bool:
        """Whether head edited, removed or renamed any case the verdict is decided on."""
        return bool(self.edited or self.removed or self.renamed)


def gate_cases(base: Sequence[Case], head: Sequence[Case]) -> tuple[tuple[Case, ...], CaseChanges]:
    """The cases to run: every base case as base defines it, then head's added cases.

    Added cases keep head's definition; an added id that collides with a base id (positional ids)
    is made unique with a ``head:`` prefix so every case in the suite has its own id.
    """
    head_by_content: dict[str, list[Case]] = {}
    for c in head:
        head_by_content.setdefault(_content(c), []).append(c)
    matched_head: set[str] = set()
    renamed: list[tuple[str, str]] = []
    unmatched_base: list[Case] = []
    for b in base:
        candidates = [h for h in head_by_content.get(_content(b), []) if h.id not in matched_head]
        same_id = next((h for h in candidates if h.id == b.id), None)
        match = same_id or (candidates[0] if candidates else None)
        if match is None:
            unmatched_base.append(b)
            continue
        matched_head.add(match.id)
        if match.id != b.id:
            if not (_positional(b.id) and _positional(match.id)):
                renamed.append((b.id, match.id))
        elif _definition(match) != _definition(b):
            unmatched_base.append(b)  # same content, but must_pass / metrics / tags changed
            matched_head.discard(match.id)
    head_by_id = {h.id: h for h in head}
    edited: list[str] = []
    removed: list[str] = []
    for b in unmatched_base:
        h = head_by_id.get(b.id)
        if h is not None and h.id not in matched_head:
            matched_head.add(h.id)
            edited.append(b.id)
        else:
            removed.append(b.id)
    base_ids = {b.id for b in base}
    added: list[Case] = []
    for h in head:
        if h.id in matched_head:
            continue
        added.append(h if h.id not in base_ids else replace(h, id=f"head:{h.id}"))
    changes = CaseChanges(tuple(edited), tuple(removed), tuple(renamed), tuple(c.id for c in added))
    return tuple(base) + tuple(added), changes


def _positional(case_id: str) -> bool:
    return case_id.startswith("#")


def _content(c: Case) -> str:
    """What the case asks: the same content under another id is the same case, renamed."""
    return json.dumps([_plain(c.vars), c.expected, c.label, list(c.feedback)], sort_keys=True, default=str)


def _definition(c: Case) -> tuple[Any, ...]:
    """Everything base defines about a case besides its content and where it sits in the file."""
    metrics = [(m.kind, json.dumps(_plain(m.args), sort_keys=True, default=str), m.name, m.gate)
               for m in c.metrics]
    return (c.must_pass, tuple(metrics), tuple(c.tags))


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
