"""``promptreview coverage SUITE --inputs LOGS``: the CLI's side of coverage (working tree, own client)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from promptreview.data.coverage import CoverageReport, input_texts, measure
from promptreview.data.embed import EndpointOptions, run_sync
from promptreview.data.records import read_records
from promptreview.data.suite_data import last_user_messages, load_suite_data
from promptreview.data.template_match import matcher_for
from promptreview.errors import ConfigError


def coverage_of_log(
    repo: Path,
    suite: str,
    logs: Path,
    radius: float,
    top: int,
    fields: Mapping[str, str],
    config_path: str | None,
    endpoint: EndpointOptions,
) -> CoverageReport:
    from promptreview.models.client import open_client

    if not 0.0 < radius <= 1.0:
        raise ConfigError("--radius is a cosine similarity between 0 and 1")
    data = load_suite_data(repo, suite, config_path)
    matcher = matcher_for(data.prompt, data.read)
    inputs, unmapped, space = input_texts(read_records(logs, fields), matcher)
    rendered = last_user_messages(data) if space == "messages" else {}

    async def go() -> CoverageReport:
        async with open_client(data.config.defaults, endpoint, repo_root=str(data.repo)) as client:
            return await measure(
                client,
                data.suite.embedding_model,
                inputs,
                space,
                data.cases,
                lambda c: rendered.get(c.id, ""),
                radius,
                unmapped=unmapped,
                top=top,
            )

    return run_sync(go())  # type: ignore[no-any-return]
