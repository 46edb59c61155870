"""Shared pytest fixtures: the loopback servers, one fresh instance per test.

``src`` and ``tests`` are importable through ``pythonpath`` in pyproject.toml (and pytest's
rootdir handling), so ``from servers.github_server import ...`` and ``import promptreview`` work.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli_harness import API_KEY as CLI_API_KEY
from servers.github_server import GitHubServer, running_github_server
from servers.openai_server import OpenAIServer


@pytest.fixture
def fake_github() -> Iterator[GitHubServer]:
    """A loopback GitHub; the test fails if any request or answer broke GitHub's contract."""
    with running_github_server() as server:
        yield server


@pytest.fixture
def fake_openai() -> Iterator[OpenAIServer]:
    """A loopback OpenAI-compatible endpoint with a little latency, like a real one."""
    with OpenAIServer(latency_ms=2) as server:
        yield server


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean, known environment: our test key, no endpoint or Actions leaking in from outside."""
    monkeypatch.setenv("OPENAI_API_KEY", CLI_API_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("PROMPTREVIEW_DEBUG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
