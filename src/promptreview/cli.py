"""The command line: thin commands over the pipeline modules.

Imports of the heavy machinery (openai, PyGithub, jinja2) happen inside the commands, so
``promptreview --help`` starts fast. Every failure a user can cause ends as one line on stderr and
an exit code, never a traceback (set PROMPTREVIEW_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("promptreview: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report_error(exc)


def _report_error(exc: Exception) -> int:
    from promptreview.errors import PromptReviewError

    if os.environ.get("PROMPTREVIEW_DEBUG"):
        raise exc
    if isinstance(exc, PromptReviewError):
        print(f"promptreview: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"promptreview: internal error: {type(exc).__name__}: {exc} "
        "(set PROMPTREVIEW_DEBUG=1 for details, and please report it)",
        file=sys.stderr,
    )
    return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="promptreview",
        description="Review prompt changes like code: run eval suites on base and head, judge which "
        "answers are better, and decide pass / fail / inconclusive.",
    )
    from promptreview import __version__

    p.add_argument("--version", action="version", version=f"promptreview {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the suites of one revision and print a summary")
    run.add_argument("--rev", help="git revision to read (default: the working tree)")
    _common(run)
    run.set_defaults(func=_cmd_run)

    cmp_ = sub.add_parser("compare", help="review base vs head: the full report, locally")
    cmp_.add_argument("--base", required=True, help="base revision (e.g. main, origin/main, a SHA)")
    cmp_.add_argument("--head", help="head revision (default: the working tree)")
    cmp_.add_argument("--markdown", metavar="PATH", help="write the PR comment Markdown here")
    cmp_.add_argument("--html", metavar="PATH", help="write the full report as HTML here")
    cmp_.add_argument("--shard", metavar="I/N", help="run only slice I of N of the cases (merge later)")
    cmp_.add_argument("--all", action="store_true", help="run every suite, changed or not")
    cmp_.add_argument("--prefer", action="append", metavar="CASE=head|base|tie",
                      help="settle a case yourself: your verdict replaces the judge's (repeatable)")
    cmp_.add_argument(
        "--comment", action="store_true", help="print the PR comment Markdown instead of the terminal summary"
    )
    _common(cmp_)
    cmp_.set_defaults(func=_cmd_compare)

    merge = sub.add_parser("merge", help="combine shard JSON results into one report")
    merge.add_argument("files", nargs="+", help="JSON files written by compare --shard --json")
    merge.add_argument("--json", metavar="PATH")
    merge.add_argument("--markdown", metavar="PATH")
    merge.add_argument("--html", metavar="PATH")
    merge.add_argument("--comment", action="store_true", help="print the PR comment Markdown")
    merge.set_defaults(func=_cmd_merge)

    val = sub.add_parser("validate", help="check config, prompts and cases without calling any model")
    val.add_argument("--rev", help="git revision to read (default: the working tree)")
    val.add_argument("--config", help="config path (default: promptreview.yml)")
    val.add_argument("--repo", default=".", help="repository directory (default: .)")
    val.set_defaults(func=_cmd_validate)

    act = sub.add_parser("action", help="entrypoint of the GitHub Action (reads the Actions environment)")
    act.set_defaults(func=_cmd_action)

    srv = sub.add_parser("serve", help="run the GitHub App: webhooks in, reviews out")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080; 0: any free)")
    srv.add_argument("--workers", type=int, help="jobs run at once, embedded queue (PROMPTREVIEW_WORKERS)")
    srv.set_defaults(func=_cmd_serve)

    wrk = sub.add_parser("worker", help="run GitHub App jobs from the Redis queue (PROMPTREVIEW_QUEUE)")
    wrk.add_argument("--workers", type=int, help="jobs this process runs at once (PROMPTREVIEW_WORKERS)")
    wrk.set_defaults(func=_cmd_worker)

    init = sub.add_parser("init", help="write a starter promptreview.yml and workflow")
    init.add_argument("--repo", default=".", help="repository directory (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_cmd_init)

    from promptreview.data.commands import add_commands

    add_commands(sub)  # cases import, coverage, generate, judge-check
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", default=".", help="repository directory (default: .)")
    p.add_argument("--config", help="config path inside the repo (default: promptreview.yml)")
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--json", metavar="PATH", help="write the machine-readable result here")
    p.add_argument("--model", help="model under test for every suite (overrides config)")
    p.add_argument("--judge", help="judge model (overrides config)")
    p.add_argument("--samples", type=int, help="answers per case per version")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)")
    p.add_argument("--concurrency", type=int, help="concurrent model calls")
    p.add_argument("--timeout", type=float, help="seconds per model call")
    p.add_argument("--deadline", type=float, help="seconds for the whole review")
    p.add_argument("--max-calls", type=int, help="refuse to start if more model calls are planned")
    p.add_argument("--max-cost", type=float, help="stop when the estimated cost in USD passes this")
    p.add_argument("--rpm", type=float, help="at most this many model requests a minute (pacing)")
    p.add_argument("--cache", metavar="PATH", help="cache file (default: .promptreview/cache.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--fresh", action="store_true", help="ignore cached answers (and refresh them)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")


def _options(args: argparse.Namespace, **extra: object) -> object:
    from promptreview.review import ReviewOptions

    shard = None
    if getattr(args, "shard", None):
        shard = _parse_shard(args.shard)
    if not args.no_cache:
        _check_cache(Path(args.repo), args.cache)
    return ReviewOptions(
        config_path=args.config,
        only_suite=args.suite,
        fresh=args.fresh,
        no_cache=args.no_cache,
        cache_path=args.cache,
        base_url=args.base_url,
        api_key=None,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        deadline_s=args.deadline,
        max_calls=args.max_calls,
        max_cost_usd=args.max_cost,
        requests_per_minute=args.rpm,
        samples=args.samples,
        model=args.model,
        judge=args.judge,
        shard=shard,
        env=dict(os.environ),
        **extra,  # type: ignore[arg-type]
    )


def _check_cache(repo: Path, explicit: str | None) -> None:
    """In CI the repository is the PR's checkout: a cache file it ships must not supply answers."""
    from promptreview.models.cache import default_cache_path
    from promptreview.trusted_state import check_cache_path

    check_cache_path(repo, Path(explicit) if explicit else default_cache_path(repo))


def _parse_shard(text: str) -> tuple[int, int]:
    from promptreview.errors import PromptReviewError

    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise PromptReviewError(f"--shard takes I/N like 2/4, not {text!r}") from None
    if not 1 <= i <= n:
        raise PromptReviewError(f"--shard {text}: I must be between 1 and N")
    return i, n


class _Progress:
    """One updating line per stage on stderr (a terminal only), and the plan up front."""

    def __init__(self) -> None:
        self._stage = ""
        self._pct = -1
        self._open = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "plan":
            sys.stderr.write(f"plan: about {total} model calls ({done} answers already cached)\n")
            return
        if stage != self._stage:
            self.finish()
            self._stage, self._pct = stage, -1
        pct = int(done * 100 / total) if total else 100
        if pct != self._pct:
            self._pct = pct
            sys.stderr.write(f"\r{stage}: {done}/{total} ({pct}%)")
            sys.stderr.flush()
            self._open = True

    def finish(self) -> None:
        if self._open:
            sys.stderr.write("\n")
            self._open = False


def _progress(enabled: bool) -> _Progress | None:
    return _Progress() if enabled else None


def _color(args: argparse.Namespace) -> bool:
    if args.color == "always":
        return True
    if args.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _cmd_run(args: argparse.Namespace) -> int:
    from promptreview.review import review

    progress = _progress(sys.stderr.isatty())
    result = review(Path(args.repo), None, args.rev, _options(args), progress)  # type: ignore[arg-type]
    if progress:
        progress.finish()
    return _emit(result, args, mode="run")


def _cmd_compare(args: argparse.Namespace) -> int:
    from promptreview.review import review

    progress = _progress(sys.stderr.isatty())
    human = _prefer_flags(args.prefer)
    opts = _options(args, all_suites=args.all, human_verdicts=human)
    result = review(Path(args.repo), args.base, args.head, opts, progress)  # type: ignore[arg-type]
    if progress:
        progress.finish()
    return _emit(result, args, mode="compare")


def _prefer_flags(items: list[str] | None) -> tuple[tuple[str, str, str], ...]:
    from promptreview.errors import PromptReviewError

    out = []
    for item in items or ():
        case, _, side = item.rpartition("=")
        if not case or side not in ("head", "base", "tie"):
            raise PromptReviewError(f"--prefer takes CASE=head, CASE=base or CASE=tie, not {item!r}")
        out.append((case, side, "you (--prefer)"))
    return tuple(out)


def _cmd_merge(args: argparse.Namespace) -> int:
    from promptreview.merge import merge_files

    result = merge_files([Path(f) for f in args.files])
    args.color = "never"
    return _emit(result, args, mode="compare")


def _emit(result: object, args: argparse.Namespace, mode: str) -> int:
    from promptreview import report
    from promptreview.models.client import secret_values
    from promptreview.report.sanitize import scrub, scrubber

    # Every file and line we print is scrubbed of the keys in the environment: answers, errors
    # and rendered prompts may carry one (a 401 body, a model echoing its input).
    secrets = secret_values(os.environ)
    if getattr(args, "json", None):
        from promptreview.report.jsonio import iter_json

        target = Path(args.json)
        target.parent.mkdir(parents=True, exist_ok=True)
        clean = scrubber(secrets)  # the pattern built once, not once per case
        with target.open("w", encoding="utf-8") as fh:
            for chunk in iter_json(result):  # type: ignore[arg-type]
                # A chunk is the frame between suites or one whole case: no string spans two.
                fh.write(clean(chunk))
    if getattr(args, "markdown", None):
        _write(args.markdown, report.render_comment(result, secrets=secrets))  # type: ignore[arg-type]
    if getattr(args, "html", None):
        _write(args.html, report.render_html(result, secrets=secrets))  # type: ignore[arg-type]
    if getattr(args, "comment", False):
        print(report.render_comment(result, secrets=secrets))  # type: ignore[arg-type]
    else:
        print(report.render_terminal(result, color=_color(args), secrets=secrets))  # type: ignore[arg-type]
    broken = [s.error for s in result.suites if s.error]  # type: ignore[attr-defined]
    endpoint = _endpoint_failures(result)
    for line in (*broken, *endpoint.values()):
        print(f"promptreview: error: {scrub(line, secrets)}", file=sys.stderr)
    if broken or "auth" in endpoint:
        # The report covers what could run, but the configuration needs fixing first: that is
        # exit 2 (like every configuration error), never 3 (inconclusive) or a pass.
        return EXIT_USAGE
    return exit_code(result.verdict.conclusion, result.verdict.verdict)  # type: ignore[attr-defined]


# Endpoint failures that say nothing about the prompt but everything about the setup: each is
# named once on stderr with the endpoint's URL and its own message.
_ENDPOINT_KINDS = ("auth", "quota", "connection")


def _endpoint_failures(result: object) -> dict[str, str]:
    """The first answer error of each endpoint-level kind in the review, by kind."""
    found: dict[str, str] = {}
    for suite in result.suites:  # type: ignore[attr-defined]
        for case in suite.cases:
            for side in (case.base, case.head):
                for sample in side.samples if side else ():
                    kind = sample.answer.error_kind
                    if kind in _ENDPOINT_KINDS and kind not in found:
                        found[kind] = sample.answer.error or kind
    return found


def exit_code(conclusion: str, verdict: str) -> int:
    """success -> 0, failure -> 1, neutral (inconclusive / nothing evaluated) -> 3."""
    if conclusion == "success":
        return EXIT_PASS
    if conclusion == "failure":
        return EXIT_FAIL
    return EXIT_INCONCLUSIVE


def _write(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def _cmd_validate(args: argparse.Namespace) -> int:
    from promptreview.validate import validate_repo

    errors, warnings, summary = validate_repo(Path(args.repo), args.rev, args.config)
    for line in errors:
        print(line, file=sys.stderr)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(summary)
    return EXIT_USAGE if errors else EXIT_PASS


def _cmd_action(args: argparse.Namespace) -> int:
    from promptreview.action import run_action

    return run_action(dict(os.environ))


def _app_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if getattr(args, "workers", None) is not None:
        env["PROMPTREVIEW_WORKERS"] = str(args.workers)
    return env


def _cmd_serve(args: argparse.Namespace) -> int:
    from promptreview.app.config import AppConfig
    from promptreview.app.server import serve

    config = AppConfig.from_env(_app_env(args), need_secret=True)
    return serve(config, args.host, args.port)


def _cmd_worker(args: argparse.Namespace) -> int:
    from promptreview.app.config import AppConfig, ConfigError
    from promptreview.app.server import work

    config = AppConfig.from_env(_app_env(args), need_secret=False)
    if config.embedded:
        raise ConfigError(
            "PROMPTREVIEW_QUEUE is not set: `promptreview worker` takes jobs from Redis "
            "(redis://...); with the embedded queue, `promptreview serve` runs the jobs itself"
        )
    return work(config)


def _cmd_init(args: argparse.Namespace) -> int:
    from promptreview.init import write_starter

    for line in write_starter(Path(args.repo), force=args.force):
        print(line)
    return EXIT_PASS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
