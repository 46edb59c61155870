"""Embeddings for the data commands, through the same client and cache as every review call.

Vectors come back as one normalised numpy matrix, so nearest-case search over thousands of
inputs is a matrix product rather than a Python loop (numpy: see the README's dependency notes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptreview.errors import PromptReviewError

if TYPE_CHECKING:
    import numpy as np

    from promptreview.models.client import ModelClient


@dataclass(frozen=True)
class EndpointOptions:
    """What ``open_client`` reads from a review's options, for commands that are not reviews."""

    base_url: str | None = None
    api_key: str | None = None
    cache_path: str | None = None
    no_cache: bool = False
    fresh: bool = False
    concurrency: int | None = None
    timeout_s: float | None = None
    deadline_s: float | None = None
    requests_per_minute: float | None = None
    max_cost_usd: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)


class EmbeddingError(PromptReviewError):
    """The embeddings endpoint failed; similarity-based steps cannot run."""


async def embed_matrix(client: ModelClient, model: str, texts: Sequence[str]) -> np.ndarray:
    """Unit-length rows, one per text (an empty text gets a zero row)."""
    import numpy as np

    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    result = await client.embed(model, list(texts))
    if not result.ok:
        raise EmbeddingError(f"embeddings with {model} failed: {result.error}")
    mat = np.asarray(result.vectors, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return mat / norms


def nearest(queries: np.ndarray, corpus: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: (best cosine, index of the best corpus row); -1 similarity when empty."""
    import numpy as np

    n = queries.shape[0]
    if corpus.shape[0] == 0 or n == 0:
        return np.full(n, -1.0, dtype=np.float32), np.full(n, -1, dtype=np.int64)
    best = np.empty(n, dtype=np.float32)
    where = np.empty(n, dtype=np.int64)
    for i in range(0, n, chunk):
        sims = queries[i : i + chunk] @ corpus.T
        where[i : i + chunk] = sims.argmax(axis=1)
        best[i : i + chunk] = sims.max(axis=1)
    return best, where


def run_sync(coro: Any) -> Any:
    """Run a coroutine on a fresh loop (the CLI commands are synchronous)."""
    return asyncio.run(coro)
