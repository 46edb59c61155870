"""``promptreview judge-check``: the CLI's side (working tree, own client and cache)."""

from __future__ import annotations

from pathlib import Path

from promptreview.config import load_config
from promptreview.data.embed import EndpointOptions, run_sync
from promptreview.data.labels import AgreementReport, judge_labels, parse_labels
from promptreview.errors import ConfigError
from promptreview.revision import Revision

DEFAULT_LABELS = "evals/labels.jsonl"


def check_judge(
    repo: Path,
    labels: str | None,
    suite_name: str | None,
    judge: str | None,
    config_path: str | None,
    endpoint: EndpointOptions,
) -> tuple[AgreementReport, str]:
    from promptreview.models.client import open_client

    rev = Revision.at(repo, None)
    config = load_config(rev, config_path)
    suite = None
    if suite_name:
        suite = next((s for s in config.suites if s.name == suite_name), None)
        if suite is None:
            raise ConfigError(
                f"no suite named {suite_name!r} (suites: {', '.join(s.name for s in config.suites)})"
            )
    elif labels is None:
        suite = next((s for s in config.suites if s.judge_labels), None)
    path = labels or (suite.judge_labels if suite else None) or DEFAULT_LABELS
    file = Path(path) if Path(path).is_absolute() else repo / path
    if not file.is_file():
        raise ConfigError(f"labels file not found: {path} (JSONL of {{task, a, b, preference}})")
    pairs = parse_labels(file.read_text(encoding="utf-8"), path)
    model = judge or (suite.judge if suite else config.defaults.judge)
    criteria = suite.compare_criteria if suite else None

    async def go() -> AgreementReport:
        async with open_client(config.defaults, endpoint, repo_root=str(rev.repo)) as client:
            return await judge_labels(client.complete, model, pairs, criteria)

    return run_sync(go()), path  # type: ignore[no-any-return]
