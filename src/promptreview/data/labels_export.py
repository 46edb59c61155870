"""``promptreview cases import report.json``: the verdicts people gave on a PR (``/prefer``,
``/tie``) become labelled pairs for ``judge-check``, so the labels grow with use.

Each settled case becomes one line of the labels file: the task (the rendered input), the base
answer as ``a``, the head answer as ``b``, and the person's preference (base → a, head → b).
Pairs already in the file (same id) are not added twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptreview.data.pii import scan_value
from promptreview.errors import ConfigError
from promptreview.metrics.context import transcript

DEFAULT_LABELS = "evals/labels.jsonl"


def is_review_json(path: Path) -> bool:
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:200]
    except OSError:
        return False
    return '"schema_version"' in head


def export_labels(report: Path, out: Path, suite: str | None, *, keep_pii: bool) -> tuple[int, int, int]:
    """(pairs added, already there, personal data hits masked) — appended to ``out`` as JSONL."""
    from promptreview.report.jsonio import ReportFormatError, loads

    try:
        result = loads(report.read_text(encoding="utf-8"))
    except (ReportFormatError, ValueError) as exc:
        raise ConfigError(f"{report}: not a promptreview review JSON ({exc})") from None
    existing: set[str] = set()
    if out.is_file():
        for line in out.read_text(encoding="utf-8").splitlines():
            try:
                existing.add(str(json.loads(line).get("id")))
            except (ValueError, AttributeError):
                continue
    rows: list[dict[str, Any]] = []
    skipped = hits = 0
    for s in result.suites:
        if suite and s.name != suite:
            continue
        by_id = {c.case_id: c for c in s.cases}
        for v in s.settled:
            c = by_id.get(v.case_id)
            if c is None or c.base is None or c.head is None or not c.base.samples or not c.head.samples:
                continue
            base, head = c.base.samples[0].answer, c.head.samples[0].answer
            if base.text is None or head.text is None:
                continue
            pair_id = f"{s.name}:{v.case_id}@{(result.head_sha or 'local')[:12]}"
            if pair_id in existing:
                skipped += 1
                continue
            row, found = scan_value(
                {"task": transcript(head.messages), "a": base.text, "b": head.text}, mask=not keep_pii
            )
            hits += sum(found.values())
            rows.append(
                {
                    "id": pair_id,
                    **row,
                    "preference": {"base": "a", "head": "b", "tie": "tie"}[v.prefer],
                    "source": {"from": "prefer", "by": v.by, "pr": result.pr_number, "judge": v.judge},
                }
            )
            existing.add(pair_id)
    if rows:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(rows), skipped, hits
