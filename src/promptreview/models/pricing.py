"""What a call cost, from a small price table the user can override.

Prices change and differ per provider, so the table is a convenience, not a source of truth:
``promptreview.yml`` can override any entry, and a model we do not know costs 0 with
``priced=False`` so the report says "cost unknown" instead of showing a confident $0.00. Against
the ``max-cost`` budget, though, an unknown model counts at :data:`CONSERVATIVE_PRICE` (an
unpriced model would otherwise make the budget limit nothing), and the report says so.
GitHub Models' free tier is not billed at all; the table shows what the same tokens cost on
OpenAI, which is what a team would pay once it outgrows the free tier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input_per_m: float
    output_per_m: float = 0.0


# OpenAI list prices (USD / 1M tokens, standard tier) as published in 2025.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
}

# What a call to a model with no price counts against max-cost: a frontier model's list price
# (OpenAI o1: $15 / $60 per 1M tokens), above everything in the table, so the budget errs on the
# side of stopping early.
CONSERVATIVE_PRICE = Price(15.00, 60.00)


def conservative_cost(prompt_tokens: int, completion_tokens: int = 0) -> float:
    """USD a call of an unpriced model counts against the budget."""
    p = CONSERVATIVE_PRICE
    return (prompt_tokens * p.input_per_m + completion_tokens * p.output_per_m) / 1_000_000


PriceSpec = Price | tuple[float, float] | list[float] | Mapping[str, Any] | float


def _as_price(model: str, spec: PriceSpec) -> Price:
    if isinstance(spec, Price):
        return spec
    if isinstance(spec, int | float):
        return Price(float(spec))
    if isinstance(spec, tuple | list) and len(spec) in (1, 2):
        return Price(float(spec[0]), float(spec[1]) if len(spec) == 2 else 0.0)
    if isinstance(spec, Mapping):
        return Price(float(spec.get("input", 0.0)), float(spec.get("output", 0.0)))
    raise ValueError(f"price for {model!r} must be [input, output] USD per 1M tokens, got {spec!r}")


def _candidates(model: str) -> list[str]:
    """``openai/gpt-4o-2024-08-06`` -> itself, ``gpt-4o-2024-08-06``, ``openai/gpt-4o``, ``gpt-4o``."""
    out = [model]
    bare = model.rsplit("/", 1)[-1]
    if bare != model:
        out.append(bare)
    for name in list(out):
        undated = _DATE_SUFFIX.sub("", name)
        if undated != name:
            out.append(undated)
    return out


class PriceTable:
    """Model id -> Price; ids match with or without the ``publisher/`` prefix and a date suffix."""

    def __init__(self, overrides: Mapping[str, PriceSpec] | None = None, *, defaults: bool = True) -> None:
        self._prices: dict[str, Price] = dict(DEFAULT_PRICES) if defaults else {}
        given = dict(overrides or {})
        for model, spec in given.items():
            price = _as_price(model, spec)
            self._prices[model] = price
            bare = model.rsplit("/", 1)[-1]
            if bare != model and bare not in given:
                # An override for "openai/gpt-4o" also prices "gpt-4o" as sent to api.openai.com.
                self._prices[bare] = price
        self._memo: dict[str, Price | None] = {}

    def lookup(self, model: str) -> Price | None:
        try:
            return self._memo[model]
        except KeyError:
            pass
        found = None
        for name in _candidates(model):
            if name in self._prices:
                found = self._prices[name]
                break
        self._memo[model] = found
        return found

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int = 0) -> tuple[float, bool]:
        """(USD, priced). Unknown models cost 0 with ``priced=False``."""
        price = self.lookup(model)
        if price is None:
            return 0.0, False
        return (prompt_tokens * price.input_per_m + completion_tokens * price.output_per_m) / 1_000_000, True
