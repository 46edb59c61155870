"""The complete outcome of one review: what the report renders and the JSON artifact holds.

Built by ``review.py`` from the plan, the runs, the scores, the comparison and the verdict. The
report stage only reads it, so every output format (PR comment, check run, step summary, HTML,
JSON) tells the same story.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptreview.case_diff import CaseChanges
from promptreview.changes import Change
from promptreview.models.types import CallStats
from promptreview.plan import SuiteStatus
from promptreview.results import CaseComparison
from promptreview.suite import GateSpec
from promptreview.verdict import ReviewVerdict, SuiteVerdict


@dataclass(frozen=True)
class MetricSummary:
    """One metric over a suite, for both sides. Rates over cases that have an answer."""

    name: str
    kind: str  # binary | graded | grade5 | signal | pairwise
    gate: bool
    n: int  # paired cases with a value on both sides (head-only suites: head cases)
    base_rate: float | None  # pass rate (binary) or mean score (graded), None when base not run
    head_rate: float | None
    base_mean_grade: float | None = None
    head_mean_grade: float | None = None
    errors: int = 0
    label_counts: dict[str, dict[str, int]] | None = (
        None  # label -> {"base": correct, "head": correct, "total": n}
    )


@dataclass(frozen=True)
class PairwiseSummary:
    wins: int = 0  # head better
    ties: int = 0
    losses: int = 0  # base better
    judged: int = 0
    identical: int = 0  # answers identical: tie with no judge call
    consistency: float | None = None  # share of readable judged cases whose two orders agreed
    unparseable: int = 0  # samples whose verdict could not be read after a retry
    errors: int = 0  # samples whose judge call failed
    inconsistent: int = 0  # samples whose two orders disagreed
    missing: int = 0  # judged cases with no usable verdict: left out of W / T / L and of the pairing
    unmeasured: str | None = None  # why which-is-better measured nothing (see judge_quality)
    lc_net: float | None = None  # length-controlled net benefit (see length_control)
    lc_lower: float | None = None
    lc_upper: float | None = None
    length_slope: float | None = None  # > 0: the judge favours the longer answer
    longer_share: float | None = None  # share of decisive cases won by the longer answer
    length_explained: bool = False  # answer length accounts for the judge's preference


@dataclass(frozen=True)
class CoverageFigure:
    """How much of a production sample the suite's cases cover (``coverage: {inputs}``); never gates."""

    inputs: str  # the log's path in the repository
    total: int = 0
    covered: int = 0
    radius: float = 0.8
    space: str = "variables"  # what was compared: template variables, or whole messages
    largest_gap: int = 0  # inputs in the largest uncovered cluster
    gap_example: str | None = None  # one input from it, personal data masked
    error: str | None = None  # why it could not be measured


@dataclass(frozen=True)
class JudgeAgreement:
    """The judge measured on human-labelled pairs (``judge: {labels}``), both orders each."""

    labels: str
    n: int = 0
    agree: int = 0  # pairs where the judge's final verdict equals the human's
    kappa: float | None = None  # Cohen's kappa over base / tie / head style labels
    consistency: float | None = None  # share of judged pairs whose two orders agreed
    error: str | None = None
    unusable: int = 0  # pairs the judge answered with no readable verdict: not in n, agree or consistency
    pairs: int = 0  # labelled pairs in the file (judged, unusable and failed)


@dataclass(frozen=True)
class HumanVerdict:
    """A person settled a case on the PR (``/prefer head CASE``...), replacing the judge's verdict."""

    case_id: str
    prefer: str  # head | base | tie
    by: str  # the GitHub login
    judge: str | None = None  # what the judge had said: head | base | tie (None: not judged)


@dataclass(frozen=True)
class AddedCases:
    """Cases only head has: run on both versions as extra evidence, outside the gated statistics.

    A ``must_pass`` head declares on one of them still fails the suite; the rest is reported."""

    n: int
    base_pass_rate: float | None
    head_pass_rate: float | None
    wins: int = 0  # which-is-better: head preferred
    ties: int = 0
    losses: int = 0  # base preferred
    regressed: tuple[str, ...] = ()
    must_pass_failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteResult:
    name: str
    status: SuiteStatus
    reasons: tuple[str, ...]
    base_prompt: str | None
    head_prompt: str | None
    prompt_format: str
    model_base: str | None
    model_head: str | None
    cases_total: int
    cases: tuple[CaseComparison, ...]
    metrics: tuple[MetricSummary, ...]
    pairwise: PairwiseSummary
    verdict: SuiteVerdict
    errors_base: int = 0
    errors_head: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # plain sentences: "the PR changes this suite's gate; base's gate used"
    definition_changes: tuple[str, ...] = ()
    error: str | None = None  # the suite could not run at all (broken prompt file...)
    gate: GateSpec = field(default_factory=GateSpec)  # the gate used (base's), for merge to recompute
    compare_enabled: bool = True
    coverage: CoverageFigure | None = None
    judge_agreement: JudgeAgreement | None = None
    settled: tuple[HumanVerdict, ...] = ()  # cases people settled with /prefer or /tie
    head_faults: tuple[str, ...] = ()  # what the PR broke in this suite's prompt (fails the suite)
    case_changes: CaseChanges = field(default_factory=CaseChanges)  # what head did to base's cases
    added_cases: AddedCases | None = None


@dataclass(frozen=True)
class Usage:
    base: CallStats
    head: CallStats
    judge: CallStats
    planned_calls: int = 0
    cache_hits: int = 0
    priced: bool = True


@dataclass(frozen=True)
class ReviewResult:
    repo: str | None  # owner/name when known
    base_label: str
    base_sha: str | None
    head_label: str
    head_sha: str | None
    config_path: str | None
    config_rev: str | None  # the revision whose config (gates, judge prompts) was used
    suites: tuple[SuiteResult, ...]
    verdict: ReviewVerdict
    changes: tuple[Change, ...]
    unaffected: tuple[str, ...]
    usage: Usage
    duration_s: float
    notes: tuple[str, ...] = ()
    pr_number: int | None = None
    run_url: str | None = None
    diff_url: str | None = None  # link to the PR's files view / compare view
    shard: str | None = None  # "i/n" when this is one shard's partial result
