"""The data commands' argument parsers and thin handlers (``cases import``, ``coverage``,
``generate``, ``judge-check``); ``cli.py`` only registers them. Heavy imports stay inside the
handlers so ``promptreview --help`` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # data.embed imports asyncio (~60 ms): not for `promptreview --help`
    from promptreview.data.embed import EndpointOptions


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cases = sub.add_parser("cases", help="grow a suite's cases from production logs")
    cases_sub = cases.add_subparsers(dest="cases_command", metavar="ACTION")
    imp = cases_sub.add_parser("import", help="production records (JSONL, CSV) to candidate cases")
    imp.add_argument(
        "logs",
        help="JSONL (OpenAI, LangSmith or Langfuse shape) or CSV log; or a review "
        "JSON (compare --json, the action's report.json): its /prefer verdicts become labels",
    )
    imp.add_argument("--suite", help="the suite whose template variables to map to (required for logs)")
    imp.add_argument("--limit", type=int, default=20, help="at most this many cases (default 20)")
    imp.add_argument(
        "--out",
        metavar="PATH",
        help="YAML file to write or append to (default: next to the suite's cases, NAME.imported.yaml)",
    )
    imp.add_argument("--keep-pii", action="store_true", help="do not mask emails, phones, cards, keys")
    imp.add_argument(
        "--radius",
        type=float,
        default=0.8,
        help="cosine similarity within which an existing case 'covers' an input (default 0.8)",
    )
    imp.add_argument(
        "--field",
        action="append",
        metavar="NAME=PATH",
        help="where a record keeps input/answer/thumbs/accepted/score/comment/grade/tags/id "
        "(a CSV column, or a JSON path like feedback.rating)",
    )
    imp.add_argument(
        "--var",
        action="append",
        metavar="NAME=PATH",
        help="take template variable NAME from this record path instead of matching the template",
    )
    imp.add_argument("--dry-run", action="store_true", help="print the summary, write nothing")
    _endpoint_args(imp)
    imp.set_defaults(func=_cmd_cases_import)
    cases.set_defaults(func=lambda a: _usage(cases))

    cov = sub.add_parser("coverage", help="share of production inputs the suite's cases cover")
    cov.add_argument("suite", help="suite name")
    cov.add_argument("--inputs", required=True, metavar="LOGS", help="production log (JSONL or CSV)")
    cov.add_argument(
        "--radius",
        type=float,
        default=0.8,
        help="cosine similarity within which a case covers an input (default 0.8)",
    )
    cov.add_argument("--top", type=int, default=5, help="how many uncovered clusters to list (default 5)")
    cov.add_argument("--field", action="append", metavar="NAME=PATH", help="as for cases import")
    cov.add_argument("--json", metavar="PATH", help="write the figures as JSON here")
    _endpoint_args(cov)
    cov.set_defaults(func=_cmd_coverage)

    gen = sub.add_parser(
        "generate", help="new cases from the suite's prompt (rules and inverse rules) or from documents"
    )
    gen.add_argument("suite", help="suite name")
    gen.add_argument("--count", type=int, default=10, help="how many cases (default 10)")
    gen.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        metavar="FILE",
        help="Markdown, text or HTML files (or folders of them): question / reference-answer "
        "pairs grounded in their passages",
    )
    gen.add_argument(
        "--var",
        metavar="NAME",
        help="with --from: the template variable that takes the question (default: the only free-text one)",
    )
    gen.add_argument(
        "--set",
        dest="fixed",
        action="append",
        metavar="NAME=VALUE",
        help="give template variable NAME this value in every new case",
    )
    gen.add_argument(
        "--out", metavar="PATH", help="YAML file to write or append to (a .prompt.yml: its testData)"
    )
    gen.add_argument("--model", help="the model that writes the cases (default: the suite's judge)")
    gen.add_argument(
        "--threshold",
        type=float,
        default=0.9,
        help="cosine similarity above which a new case is a duplicate (default 0.9)",
    )
    gen.add_argument("--dry-run", action="store_true", help="show the plan and cost estimate, call nothing")
    _endpoint_args(gen)
    gen.set_defaults(func=_cmd_generate)

    jc = sub.add_parser("judge-check", help="measure the judge against human-labelled pairs")
    jc.add_argument(
        "--labels",
        metavar="PATH",
        help="JSONL of {task, a, b, preference: a|b|tie} (default: the suite's judge.labels, "
        "else evals/labels.jsonl)",
    )
    jc.add_argument("--suite", help="use this suite's judge model, criteria and labels")
    jc.add_argument("--judge", help="judge model (default: the suite's, else the config's default)")
    jc.add_argument("--json", metavar="PATH", help="write every pair's outcome as JSON here")
    _endpoint_args(jc)
    jc.set_defaults(func=_cmd_judge_check)


def _endpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", default=".", help="repository directory (default: .)")
    p.add_argument("--config", help="config path inside the repo (default: promptreview.yml)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    p.add_argument("--cache", metavar="PATH", help="cache file (default: .promptreview/cache.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _endpoint(args: argparse.Namespace) -> EndpointOptions:
    from promptreview.data.embed import EndpointOptions

    return EndpointOptions(
        base_url=args.base_url, cache_path=args.cache, no_cache=args.no_cache, env=dict(os.environ)
    )


def _cmd_cases_import(args: argparse.Namespace) -> int:
    from promptreview.data.importer import ImportOptions, import_cases
    from promptreview.data.labels_export import DEFAULT_LABELS, export_labels, is_review_json
    from promptreview.data.records import parse_mapping_flags
    from promptreview.errors import ConfigError

    repo = Path(args.repo)
    if is_review_json(Path(args.logs)):
        out = Path(args.out) if args.out else repo / DEFAULT_LABELS
        added, known, hits = export_labels(Path(args.logs), out, args.suite, keep_pii=args.keep_pii)
        print(
            f"{added} labelled pair(s) from people's /prefer and /tie verdicts appended to {out}"
            + (f" ({known} already there)" if known else "")
            + (f"; {hits} personal data string(s) {'kept' if args.keep_pii else 'masked'}" if hits else "")
        )
        return 0
    if not args.suite:
        raise ConfigError(
            "cases import LOGS needs --suite NAME (the suite whose variables the records map to)"
        )
    opts = ImportOptions(
        suite=args.suite,
        logs=Path(args.logs),
        limit=args.limit,
        out=Path(args.out) if args.out else None,
        keep_pii=args.keep_pii,
        radius=args.radius,
        fields=parse_mapping_flags(args.field, "--field"),
        var_paths=parse_mapping_flags(args.var, "--var"),
        config_path=args.config,
        dry_run=args.dry_run,
    )
    result = import_cases(repo, opts, _endpoint(args))
    print(result.summary())
    # Nothing usable in a non-empty log is a failure a script should notice.
    return 1 if result.records and not result.mapped else 0


def _cmd_coverage(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from promptreview.data.coverage import format_report
    from promptreview.data.records import parse_mapping_flags
    from promptreview.data.run_coverage import coverage_of_log

    report = coverage_of_log(
        Path(args.repo),
        args.suite,
        Path(args.inputs),
        args.radius,
        args.top,
        parse_mapping_flags(args.field, "--field"),
        args.config,
        _endpoint(args),
    )
    print(format_report(report, Path(args.inputs).name))
    if args.json:
        body = {**dataclasses.asdict(report), "share": report.share}
        Path(args.json).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _cmd_judge_check(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from promptreview.data.labels import format_agreement
    from promptreview.data.run_labels import check_judge

    report, source = check_judge(
        Path(args.repo), args.labels, args.suite, args.judge, args.config, _endpoint(args)
    )
    print(format_agreement(report, source))
    if args.json:
        body = {
            "labels": source,
            "n": report.n,
            "agree": report.agree,
            "agreement": report.agreement,
            "kappa": report.kappa,
            "consistency": report.consistency,
            "unusable": len(report.unusable),
            "pairs": [dataclasses.asdict(o) for o in report.outcomes],
        }
        Path(args.json).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if report.n else 1


def _cmd_generate(args: argparse.Namespace) -> int:
    from promptreview.data.generate import GenerateOptions, generate
    from promptreview.errors import ConfigError

    fixed: dict[str, str] = {}
    for item in args.fixed or []:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"--set {item}: expected NAME=VALUE")
        fixed[name.strip()] = value
    opts = GenerateOptions(
        suite=args.suite,
        count=args.count,
        out=Path(args.out) if args.out else None,
        model=args.model,
        threshold=args.threshold,
        dry_run=args.dry_run,
        config_path=args.config,
        sources=tuple(args.sources or ()),
        var=args.var,
        fixed=fixed,
    )
    result = generate(Path(args.repo), opts, _endpoint(args))
    print(result.summary())
    return 0
