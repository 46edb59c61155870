"""Health signals: reported next to the gated metrics, never gating unless the config says ``gate: true``.

A prompt change that makes the model refuse, hedge or ramble is worth seeing in the review even when
every check still passes. These are cheap heuristics, so by default they only report (the config
parser defaults ``gate`` from ``MetricDef.default_gate``, which is false for signals).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptreview.metrics.context import MetricContext, make_result
from promptreview.metrics.deterministic import LengthUnit, measure, read_unit
from promptreview.metrics.options import Options, parsed_once, validator
from promptreview.metrics.registry import metric
from promptreview.results import MetricResult

MAX_SCAN_CHARS = 20_000

# Phrases are matched on case-folded text with curly apostrophes made straight.
REFUSAL_PATTERNS = (
    r"\bi(?: am|'m)? (?:sorry,? (?:but )?)?(?:i )?(?:can(?:'t|not)|won't|will not|am unable to|'m unable to|"
    r"am not able to|'m not able to) (?:help|assist|comply|provide|do that|answer|fulfil|support|"
    r"create|generate|share|discuss|engage)(?! but\b)",
    r"\bi can(?:'t|not) (?:help|assist) with (?:that|this)",
    r"\bi(?:'m| am) (?:unable|not able) to (?:help|assist|comply|provide|answer)",
    r"\bi (?:must|have to) (?:decline|refuse)",
    r"\b(?:this|that|your) request (?:goes against|violates|is against)",
    r"\bagainst (?:my|our) (?:guidelines|policies|policy|content policy)",
    r"\bi(?:'m| am) not (?:comfortable|allowed|permitted) (?:to|with|providing|helping)",
)
HEDGING_PATTERNS = (
    r"\bas an ai\b",
    r"\bas an? (?:large )?language model\b",
    r"\bi(?:'m| am) (?:just|only) an ai\b",
    r"\bi (?:don't|do not) have (?:personal )?(?:opinions|feelings|beliefs|emotions|experiences)\b",
    r"\bi (?:don't|do not) have (?:access to )?(?:real-time|the internet|browsing|current) ",
    r"\bmy (?:knowledge|training)(?: data)? (?:cutoff|cut-off|only goes)\b",
    r"\bi(?:'m| am) not (?:a|an) (?:doctor|lawyer|financial advisor|medical professional|legal expert)\b",
)
_REFUSAL = tuple(re.compile(p) for p in REFUSAL_PATTERNS)
_HEDGING = tuple(re.compile(p) for p in HEDGING_PATTERNS)
# One search over all patterns first: most answers match none, and then one scan replaces seven.
_ANY = {
    _REFUSAL: re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS)),
    _HEDGING: re.compile("|".join(f"(?:{p})" for p in HEDGING_PATTERNS)),
}


def _comparable(text: str) -> str:
    return text[:MAX_SCAN_CHARS].casefold().replace("\u2019", "'").replace("\u2018", "'")


def _first_hit(text: str, patterns: tuple[re.Pattern[str], ...], phrases: tuple[str, ...] = ()) -> str | None:
    """The first refusal/hedging phrase found in ``text`` (already comparable), as it appears."""
    combined = _ANY.get(patterns)
    if combined is not None and combined.search(text) is None:
        patterns = ()
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return next((p for p in phrases if p.casefold() in text), None)


# --- refusal ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RefusalOptions:
    hedging: bool
    phrases: tuple[str, ...]


@parsed_once
def _parse_refusal(args: Mapping[str, Any]) -> _RefusalOptions:
    o = Options(args, ("hedging", "phrases"))
    return _RefusalOptions(o.flag("hedging", True), o.texts("phrases"))


@metric("refusal", kind="signal", validate=validator(_parse_refusal))
async def refusal(ctx: MetricContext) -> MetricResult:
    """Does the answer refuse ("I can't help with that") or hedge ("As an AI...")?

    Args: ``hedging`` (bool, true: also look for hedging), ``phrases`` (extra refusal phrases,
    matched case-insensitively). Score 1.0 clean, 0.5 hedging, 0.0 refusal; passes only when clean.
    """
    opts = _parse_refusal(ctx.args)
    text = _comparable(ctx.answer)
    refused = _first_hit(text, _REFUSAL, opts.phrases)
    if refused is not None:
        return make_result(ctx, False, f"refusal: {refused!r}", 0.0)
    hedge = _first_hit(text, _HEDGING) if opts.hedging else None
    if hedge is not None:
        return make_result(ctx, False, f"hedging: {hedge!r}", 0.5)
    return make_result(ctx, True, "no refusal or hedging found")


# --- verbosity --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _VerbosityOptions:
    unit: LengthUnit
    max_ratio: float
    min_ratio: float


@parsed_once
def _parse_verbosity(args: Mapping[str, Any]) -> _VerbosityOptions:
    o = Options(args, ("unit", "max_ratio", "min_ratio"))
    unit = read_unit(o, "words")
    max_ratio = o.number("max_ratio", 1.5, low=1.0)
    min_ratio = o.number("min_ratio", 0.5, low=0.0, high=1.0)
    assert max_ratio is not None and min_ratio is not None
    return _VerbosityOptions(unit, max_ratio, min_ratio)


def length_ratio(size: int, base: int) -> float:
    """size / base, where two empty answers are the same length and any text beats none infinitely."""
    if base == 0:
        return 1.0 if size == 0 else float("inf")
    return size / base


@metric("verbosity", kind="signal", validate=validator(_parse_verbosity))
async def verbosity(ctx: MetricContext) -> MetricResult:
    """Length of the answer relative to the base answer for the same case and sample.

    Args: ``unit`` (``words`` | ``chars``, words), ``max_ratio`` (default 1.5), ``min_ratio``
    (default 0.5). Score is min(r, 1/r) for the ratio r = answer / base (1.0 = same length);
    passes when min_ratio <= r <= max_ratio. With no base answer (scoring base itself, or a new
    prompt) there is nothing to compare: score 1.0, passed.
    """
    opts = _parse_verbosity(ctx.args)
    if ctx.base_answer is None:
        return make_result(ctx, True, "no base answer to compare with", 1.0)
    size, base = measure(ctx.answer, opts.unit), measure(ctx.base_answer, opts.unit)
    ratio = length_ratio(size, base)
    score = 0.0 if ratio in (0.0, float("inf")) else min(ratio, 1 / ratio)
    passed = opts.min_ratio <= ratio <= opts.max_ratio
    shown = "∞" if ratio == float("inf") else f"{ratio:.2f}"
    return make_result(ctx, passed, f"{shown}× the base length ({size} vs {base} {opts.unit})", score)
