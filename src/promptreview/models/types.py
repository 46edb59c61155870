"""Values that cross the model seam.

The engine builds ChatRequest values and gets Completion values back; it never sees the openai
package. That keeps the cache key, cost accounting and error handling in one place, and lets
tests drive the engine against the loopback server with the real client.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from promptreview.models.pricing import conservative_cost

# ``json.dumps`` with options builds a new encoder on every call; the cache key needs one per
# request (10,000 of them in a large cached run), so one encoder is kept. Same bytes as
# ``json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))``.
_KEY_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))

Role = Literal["system", "user", "assistant"]
Purpose = Literal["answer", "judge"]

# Why a call failed, in words the report can group by. "rate_limit" and "quota" are kept apart
# because the first is worth retrying later and the second is not.
ErrorKind = Literal[
    "rate_limit", "quota", "auth", "timeout", "deadline", "server", "invalid_response",
    "length", "content_filter", "connection", "bad_request", "budget", "cancelled",
]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion call, fully rendered.

    ``params`` holds only what is sent to the endpoint besides model and messages
    (temperature, max_tokens, top_p, response_format, seed), as sorted (key, value) pairs so the
    request stays hashable and its cache key stable.
    """

    model: str
    messages: tuple[Message, ...]
    params: tuple[tuple[str, Any], ...] = ()
    sample: int = 0
    purpose: Purpose = "answer"
    # The cache key, computed on first use (a slot, not a __dict__: one request a call, 50,000 of
    # them alive at once in a large run). Not compared or hashed: it follows from the fields.
    _key: str | None = field(default=None, init=False, repr=False, compare=False)

    @staticmethod
    def make(
        model: str,
        messages: tuple[Message, ...] | list[Message],
        params: dict[str, Any] | None = None,
        sample: int = 0,
        purpose: Purpose = "answer",
    ) -> ChatRequest:
        items = tuple(sorted((k, _freeze(v)) for k, v in (params or {}).items() if v is not None))
        return ChatRequest(model, tuple(messages), items, sample, purpose)

    def params_dict(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self.params}

    def cache_key(self) -> str:
        """Content address of the call: same model, parameters, messages and sample index.

        Computed once per request (the plan's cache count and the call itself both ask).
        """
        known = self._key
        if known is not None:
            return known
        payload = {
            "model": self.model,
            "messages": [[m.role, m.content] for m in self.messages],
            "params": [[k, _thaw(v)] for k, v in self.params],
            "sample": self.sample,
        }
        key = hashlib.sha256(_KEY_JSON.encode(payload).encode("utf-8")).hexdigest()
        object.__setattr__(self, "_key", key)
        return key


def shared_finish_reason(value: Any) -> Any:
    """``value`` as the one interned copy when it is a short string ("stop", "length"...).

    Why: every answer carries one, decoded afresh from each reply or cache row: 50,000 copies
    of "stop" are 2.6 MB. Anything else an endpoint sends is passed on as it is.
    """
    return sys.intern(value) if type(value) is str and len(value) <= 32 else value


@dataclass(frozen=True, slots=True)
class Completion:
    """What came back from one call: an answer or an error with its reason, never both."""

    text: str | None
    error: str | None = None
    error_kind: ErrorKind | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    attempts: int = 1
    # False when the price table does not know the model: cost_usd is then 0 and means "unknown".
    priced: bool = True
    # What the model wrote before it was cut off (error_kind "length"): not an answer, but it shows
    # how close it came, which helps someone choosing a new max_tokens.
    partial_text: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass(frozen=True)
class Embeddings:
    vectors: tuple[tuple[float, ...], ...] = ()
    error: str | None = None
    error_kind: ErrorKind | None = None
    cached: bool = False
    prompt_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class CallStats:
    """Running totals for one purpose (answers or judge), summed into the report.

    Tokens, cost and latency count what this run spent: a cache hit adds to ``cache_hits`` and
    ``cost_saved_usd`` instead (its Completion still carries the original numbers, so per-answer
    health signals such as latency compare like with like).
    """

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    cost_saved_usd: float = 0.0
    unpriced: int = 0  # calls whose model is not in the price table: "cost unknown"
    unpriced_usd: float = 0.0  # what those calls count against max-cost, at the conservative price

    def add(self, c: Completion) -> None:
        self.calls += 1
        if not c.ok:
            self.errors += 1
            kind = c.error_kind or "other"
            self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1
        if c.cached:
            self.cache_hits += 1
            self.cost_saved_usd += c.cost_usd
            return
        if not c.priced:
            self.unpriced += 1
            self.unpriced_usd += conservative_cost(c.prompt_tokens, c.completion_tokens)
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens
        self.cost_usd += c.cost_usd
        self.latency_s += c.latency_s


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return ("__dict__", tuple(sorted((k, _freeze(x)) for k, x in v.items())))
    if isinstance(v, list | tuple):
        return ("__list__", tuple(_freeze(x) for x in v))
    return v


def _thaw(v: Any) -> Any:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "__dict__":
        return {k: _thaw(x) for k, x in v[1]}
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "__list__":
        return [_thaw(x) for x in v[1]]
    return v
