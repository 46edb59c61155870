"""Which production records become candidate cases, in the order the seed's practice gives:

1. answers users rejected (thumbs down, not accepted);
2. answers an annotator rated low;
3. answers another model graded low;
4. inputs no existing case resembles (embedding distance above the radius);
5. inputs from the tags the suite's cases cover least;

then ``--limit``. Steps 1-3 need no model call; 4 needs embeddings of a bounded sample of the
remaining records, so a 100,000-line log costs a few batches of embeddings, not 100,000.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptreview.data.records import Record

LOW = 0.5  # a rescaled score or grade below this is "disliked"

_KINDS = ("user feedback", "annotator", "grader")


@dataclass
class Candidate:
    record: Record
    vars: dict[str, Any]
    key: str  # identity of the input: the vars text
    bucket: int  # 0 user, 1 annotator, 2 grader, 3 unlabelled
    severity: float  # lower is worse, within the bucket
    reason: str = ""  # shown on the case: "thumbs down", "annotator score 0.25", ...
    kind: str = ""  # what the summary counts: user feedback, annotator, grader, outlier, tag


def bucket_of(record: Record) -> tuple[int, float, str]:
    fb = record.feedback
    if fb.user_negative:
        return 0, 0.0, "thumbs down" if fb.thumbs_down else "not accepted"
    if fb.score is not None and fb.score < LOW:
        return 1, fb.score, f"annotator score {fb.score:.2f}"
    if fb.grade is not None and fb.grade < LOW:
        return 2, fb.grade, f"model grade {fb.grade:.2f}"
    return 3, 1.0, ""


@dataclass
class Pool:
    """The candidates kept while streaming: all flagged ones (bounded), a sample of the rest."""

    limit: int
    sample_size: int
    seed: int = 0
    flagged: dict[str, Candidate] = field(default_factory=dict)
    sample: list[Candidate] = field(default_factory=list)
    seen_unflagged: int = 0
    tags_seen: Counter[str] = field(default_factory=Counter)
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def add(self, record: Record, values: dict[str, Any], key: str) -> None:
        bucket, severity, reason = bucket_of(record)
        self.tags_seen.update(record.tags)
        if bucket < 3:
            old = self.flagged.get(key)
            cand = Candidate(record, values, key, bucket, severity, reason, _KINDS[bucket])
            if old is None or (bucket, severity) < (old.bucket, old.severity):
                if old is not None:  # keep every comment given on the same input
                    cand.record = _with_comments(record, old.record)
                self.flagged[key] = cand
            else:
                old.record = _with_comments(old.record, record)
            if len(self.flagged) > 4 * self.limit + 1000:
                self._prune()
            return
        # Reservoir sample (Algorithm R) of unflagged inputs: outlier and tag candidates.
        self.seen_unflagged += 1
        cand = Candidate(record, values, key, 3, 1.0)
        if len(self.sample) < self.sample_size:
            self.sample.append(cand)
        else:
            j = self._rng.randrange(self.seen_unflagged)
            if j < self.sample_size:
                self.sample[j] = cand

    def _prune(self) -> None:
        keep = sorted(self.flagged.values(), key=_order)[: 2 * self.limit]
        self.flagged = {c.key: c for c in keep}

    def flagged_in_order(self) -> list[Candidate]:
        return sorted(self.flagged.values(), key=_order)


def _order(c: Candidate) -> tuple[int, float, int]:
    return (c.bucket, c.severity, c.record.line)


def _with_comments(keep: Record, other: Record) -> Record:
    from dataclasses import replace

    comments = tuple(dict.fromkeys(keep.feedback.comments + other.feedback.comments))
    return replace(keep, feedback=replace(keep.feedback, comments=comments))


def least_covered_tags(
    candidates: list[Candidate], case_tags: Mapping[str, int], slots: int
) -> list[Candidate]:
    """Round-robin over tags, least covered by existing cases first (ties: most seen in production)."""
    by_tag: dict[str, list[Candidate]] = {}
    for c in candidates:
        for t in c.record.tags:
            by_tag.setdefault(t, []).append(c)
    order = sorted(by_tag, key=lambda t: (case_tags.get(t, 0), -len(by_tag[t]), t))
    chosen: list[Candidate] = []
    taken: set[str] = set()
    while len(chosen) < slots and any(by_tag[t] for t in order):
        for t in order:
            while by_tag[t] and by_tag[t][0].key in taken:
                by_tag[t].pop(0)
            if by_tag[t] and len(chosen) < slots:
                c = by_tag[t].pop(0)
                c.reason = f"tag {t!r} ({case_tags.get(t, 0)} existing case(s))"
                c.kind = "under-covered tag"
                chosen.append(c)
                taken.add(c.key)
    return chosen
