"""``promptreview cases import``: production records to candidate cases, for a person to review.

Streams the log once (memory stays bounded by ``--limit`` and the outlier sample, not by the
log), maps each record back to the suite's template variables, keeps what the selection order
wants (see ``selection``), masks personal data, and writes the chosen cases to a YAML file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptreview.data.casefile import write_cases
from promptreview.data.embed import EmbeddingError, EndpointOptions, embed_matrix, nearest, run_sync
from promptreview.data.pii import PiiReport, scan_value
from promptreview.data.records import Record, lookup, read_records
from promptreview.data.selection import Candidate, Pool, least_covered_tags
from promptreview.data.suite_data import SuiteData, load_suite_data
from promptreview.data.template_match import TemplateMatcher, matcher_for, template_variables, vars_text
from promptreview.errors import ConfigError

ANSWER_CHARS = 600


@dataclass(frozen=True)
class ImportOptions:
    suite: str
    logs: Path
    limit: int = 20
    out: Path | None = None
    keep_pii: bool = False
    radius: float = 0.8  # cosine: an input with no case this close is an outlier
    fields: Mapping[str, str] = field(default_factory=dict)
    var_paths: Mapping[str, str] = field(default_factory=dict)
    config_path: str | None = None
    sample_size: int = 2000
    dry_run: bool = False


@dataclass
class ImportResult:
    records: int = 0
    mapped: int = 0
    unmapped: int = 0
    duplicates_of_cases: int = 0
    unmapped_examples: list[str] = field(default_factory=list)
    chosen: list[dict[str, Any]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    pii: PiiReport = field(default_factory=PiiReport)
    masked: bool = True
    out: Path | None = None
    action: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"read {self.records} record(s): {self.mapped} mapped to the suite's variables, "
            f"{self.unmapped} not"
        ]
        for example in self.unmapped_examples:
            lines.append(f"  not mapped: {example}")
        if self.duplicates_of_cases:
            lines.append(f"{self.duplicates_of_cases} record(s) repeat an existing case's input (skipped)")
        if self.chosen:
            by = ", ".join(f"{n} {r}" for r, n in self.reasons.items())
            lines.append(f"chose {len(self.chosen)} candidate case(s): {by}")
        else:
            lines.append("chose no candidate cases")
        if self.pii.total:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.pii.counts.items()))
            verb = "masked" if self.masked else "KEPT (--keep-pii): review before committing"
            lines.append(f"personal data found: {kinds}; {verb}")
            for cid, found in self.pii.cases.items():
                lines.append(f"  {cid}: {', '.join(found)}")
        lines.extend(self.notes)
        if self.out is not None and self.chosen:
            lines.append(f"{self.action} {self.out}: review the cases, then commit them in a pull request")
        return "\n".join(lines)


def import_cases(repo: Path, opts: ImportOptions, endpoint: EndpointOptions) -> ImportResult:
    data = load_suite_data(repo, opts.suite, opts.config_path)
    if opts.limit < 1:
        raise ConfigError("--limit must be at least 1")
    matcher = matcher_for(data.prompt, data.read)
    wanted = template_variables(data.prompt)
    missing = [v for v in wanted if v not in opts.var_paths]
    if opts.var_paths and not missing:
        matcher = TemplateMatcher((), ())  # unused: every variable has a path
    existing = {vars_text(c.vars) for c in data.cases}
    pool = Pool(opts.limit, max(opts.sample_size, 20 * opts.limit))
    result = ImportResult(masked=not opts.keep_pii)
    for record in read_records(opts.logs, opts.fields):
        result.records += 1
        values, problem = _vars_of(record, matcher, opts.var_paths, missing)
        if values is None:
            result.unmapped += 1
            if len(result.unmapped_examples) < 5:
                result.unmapped_examples.append(f"{opts.logs.name}:{record.line}: {problem}")
            continue
        result.mapped += 1
        key = vars_text(values)
        if key in existing:
            result.duplicates_of_cases += 1
            continue
        pool.add(record, values, key)
    chosen = pool.flagged_in_order()[: opts.limit]
    slots = opts.limit - len(chosen)
    rest = [c for c in pool.sample if c.key not in {x.key for x in chosen}]
    if slots and rest:
        outliers, note = _outliers(data, chosen, rest, slots, opts.radius, endpoint)
        if note:
            result.notes.append(note)
        chosen += outliers
        slots -= len(outliers)
        rest = [c for c in rest if c.key not in {x.key for x in outliers}]
    if slots and rest:
        case_tags = Counter(t for c in data.cases for t in c.tags)
        chosen += least_covered_tags(rest, case_tags, slots)
    result.chosen = [_to_case(c, opts, result.pii, {x.id for x in data.cases}) for c in chosen]
    result.reasons = Counter(c.kind for c in chosen)
    result.out = opts.out or _default_out(data)
    if not opts.dry_run and result.chosen:
        header = (
            f"candidate cases from {opts.logs.name} (promptreview cases import); review each before merging"
        )
        result.action = write_cases(result.out, result.chosen, header=header)
    elif opts.dry_run:
        result.action = "would write (dry run)"
    return result


def _vars_of(
    record: Record, matcher: TemplateMatcher, var_paths: Mapping[str, str], missing: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    values: dict[str, Any] = {}
    for name, path in var_paths.items():
        value = lookup(record.raw, path)
        if value is None:
            return None, f"--var {name}={path}: not in the record"
        values[name] = value
    if var_paths and not missing:
        return values, None
    if not record.messages:
        return None, "no messages in the record"
    found, problem = matcher.match(record.messages)
    if found is None:
        return None, problem
    return {**found, **values}, None


def _outliers(
    data: SuiteData,
    chosen: list[Candidate],
    pool: list[Candidate],
    slots: int,
    radius: float,
    endpoint: EndpointOptions,
) -> tuple[list[Candidate], str | None]:
    import numpy as np

    from promptreview.models.client import open_client

    texts_cases = [vars_text(c.vars) for c in data.cases] + [c.key for c in chosen]
    texts_pool = [c.key for c in pool]

    async def go() -> tuple[Any, Any]:
        async with open_client(data.config.defaults, endpoint, repo_root=str(data.repo)) as client:
            corpus = await embed_matrix(client, data.suite.embedding_model, texts_cases)
            queries = await embed_matrix(client, data.suite.embedding_model, texts_pool)
            return corpus, queries

    try:
        corpus, queries = run_sync(go())
    except EmbeddingError as exc:
        return [], f"outliers not chosen: {exc}"
    best, _ = nearest(queries, corpus) if len(texts_cases) else (np.full(len(pool), -1.0), None)
    order = np.argsort(best, kind="stable")
    out: list[Candidate] = []
    picked: list[int] = []
    for i in order:
        if best[i] >= radius or len(out) >= slots:
            break
        # Two outliers that resemble each other are one gap in the suite: take the first.
        if picked and float((queries[picked] @ queries[i]).max()) >= radius:
            continue
        cand = pool[int(i)]
        cand.reason = f"outlier (nearest case {max(float(best[i]), 0.0):.2f})"
        cand.kind = "outlier"
        out.append(cand)
        picked.append(int(i))
    return out, None


def _to_case(c: Candidate, opts: ImportOptions, pii: PiiReport, taken: set[str]) -> dict[str, Any]:
    mask = not opts.keep_pii
    found: Counter[str] = Counter()
    values, hits = scan_value(dict(c.vars), mask=mask)
    found.update(hits)
    comments, hits = scan_value(list(c.record.feedback.comments), mask=mask)
    found.update(hits)
    answer, hits = scan_value((c.record.answer or "")[:ANSWER_CHARS], mask=mask)
    found.update(hits)
    digest = hashlib.sha256(c.key.encode("utf-8")).hexdigest()[:8]
    case_id = f"imported-{digest}"
    n = 2
    while case_id in taken:
        case_id, n = f"imported-{digest}-{n}", n + 1
    taken.add(case_id)
    case: dict[str, Any] = {"id": case_id, "vars": values}
    if comments:
        case["feedback"] = comments
    if c.record.tags:
        case["tags"] = list(c.record.tags)
    source: dict[str, Any] = {
        "from": "import",
        "log": opts.logs.name,
        "line": c.record.line,
        "reason": c.reason,
    }
    if c.record.id:
        source["record"] = c.record.id
    if answer:
        source["answer"] = answer
    case["source"] = source
    pii.add(case_id, found)
    return case


def _default_out(data: SuiteData) -> Path:
    base = Path(data.cases_path)
    stem = base.name.split(".")[0] or "cases"
    return data.repo / base.parent / f"{stem}.imported.yaml"
