"""``promptreview merge``: combine the JSON results of ``compare --shard i/n`` jobs into one review.

Shards hold disjoint slices of each suite's cases, so the merged result concatenates the cases
and recomputes summaries and the verdict from them with the same code a single job uses: the
statistics are over all cases, not an average of shard verdicts.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from promptreview.errors import PromptReviewError
from promptreview.models.types import CallStats
from promptreview.report.jsonio import ReportFormatError, from_json
from promptreview.review_result import ReviewResult, SuiteResult, Usage
from promptreview.summarize import added_cases_summary, summarize
from promptreview.verdict import SuiteEvidence, decide


def merge_files(paths: list[Path]) -> ReviewResult:
    results = []
    for p in paths:
        try:
            results.append(from_json(json.loads(p.read_text("utf-8"))))
        except (OSError, json.JSONDecodeError, ReportFormatError) as exc:
            raise PromptReviewError(f"{p}: not a promptreview JSON result ({exc})") from None
    return merge(results)


def merge(results: list[ReviewResult]) -> ReviewResult:
    if not results:
        raise PromptReviewError("nothing to merge")
    first = results[0]
    for r in results[1:]:
        if (r.base_sha, r.head_sha) != (first.base_sha, first.head_sha):
            raise PromptReviewError(
                "the shards compare different revisions; merge results of one review only"
            )
    by_name: dict[str, list[SuiteResult]] = {}
    for r in results:
        for s in r.suites:
            by_name.setdefault(s.name, []).append(s)
    suites: list[SuiteResult] = []
    evidence: list[SuiteEvidence] = []
    for name, parts in by_name.items():
        s0 = parts[0]
        cases = tuple(c for part in parts for c in part.cases)
        head_only = s0.status == "added" or s0.base_prompt is None
        metrics, pairwise, ev = summarize(name, cases, s0.gate, head_only, s0.compare_enabled)
        ev = replace(ev, head_faults=tuple(dict.fromkeys(f for part in parts for f in part.head_faults)))
        errors_by_kind: dict[str, int] = {}
        for part in parts:
            for k, v in part.errors_by_kind.items():
                errors_by_kind[k] = errors_by_kind.get(k, 0) + v
        suites.append(
            replace(
                s0,
                cases=cases,
                cases_total=sum(1 for c in cases if not c.added),
                added_cases=added_cases_summary(cases),
                metrics=metrics,
                pairwise=pairwise,
                errors_base=sum(p.errors_base for p in parts),
                errors_head=sum(p.errors_head for p in parts),
                errors_by_kind=errors_by_kind,
            )
        )
        evidence.append(ev)
    verdict = decide(evidence)
    suites = [replace(s, verdict=v) for s, v in zip(suites, verdict.suites, strict=True)]
    usage = Usage(
        base=_sum(r.usage.base for r in results),
        head=_sum(r.usage.head for r in results),
        judge=_sum(r.usage.judge for r in results),
        planned_calls=sum(r.usage.planned_calls for r in results),
        cache_hits=sum(r.usage.cache_hits for r in results),
        priced=all(r.usage.priced for r in results),
    )
    return replace(
        first,
        suites=tuple(suites),
        verdict=verdict,
        usage=usage,
        shard=None,
        duration_s=max(r.duration_s for r in results),
    )


_SUMMED = ("calls", "cache_hits", "errors", "prompt_tokens", "completion_tokens", "cost_usd", "latency_s")


def _sum(stats: object) -> CallStats:
    total = CallStats()
    for s in stats:  # type: ignore[attr-defined]
        for f in (
            "calls",
            "cache_hits",
            "errors",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "latency_s",
            "unpriced",
            "unpriced_usd",
        ):
            setattr(total, f, getattr(total, f) + getattr(s, f))
        for k, v in s.errors_by_kind.items():
            total.errors_by_kind[k] = total.errors_by_kind.get(k, 0) + v
    return total
