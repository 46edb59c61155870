"""Seeded simulations of the which-is-better judge: broken, position-biased and length-biased
judges over many runs, through the real judge (``judge_pair``: prompts, both orders, parser,
retry), the real summary and the real verdict. Observed rates are printed (run with ``-s``) and
recorded in /work/notes/issue-7.md.

The claims (issue 7, items 3 and 5):

* a judge that always names one position, answers only in prose, or answers at random never lets
  a −50 pts regression pass (0 runs), and never fails an A/A comparison either;
* a sensible judge still fails that regression (at least 90% of runs) and passes A/A comparisons
  without false fails (at most 5%), whatever verdict syntax it uses (JSON, ``[[B]]``, a last line);
* a judge that prefers the longer answer does not fail a change that only shortens answers
  (0 runs), and the report says length explains the preference.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable

import pytest

from promptreview.judge import judge_pair
from promptreview.models.types import ChatRequest, Completion, Message
from promptreview.results import Answer, CaseComparison, CaseResult, SampleResult
from promptreview.suite import GateSpec
from promptreview.summarize import PAIRWISE, summarize
from promptreview.verdict import decide

RUNS = 200
CASES = 60
_BLOCK = re.compile(r"<<([A-Z][A-Z ]*)-([a-z]+)>>\n(.*?)\n<</\1-\2>>", re.S)

# (answer A, answer B, rng) -> the judge's reply text. Answers carry their quality in a word.
Judge = Callable[[str, str, random.Random], str]


def quality(answer: str) -> int:
    return 1 if answer.startswith("Correct") else 0


def _json(label: str) -> str:
    return json.dumps({"winner": label, "reason": "simulated"})


def sensible(a: str, b: str, rng: random.Random) -> str:
    qa, qb = quality(a), quality(b)
    return _json("A" if qa > qb else "B" if qb > qa else "tie")


def sensible_bracketed(a: str, b: str, rng: random.Random) -> str:
    label = json.loads(sensible(a, b, rng))["winner"]
    return f"Comparing both answers carefully, the verdict is [[{ {'tie': 'C'}.get(label, label) }]]"


def sensible_last_line(a: str, b: str, rng: random.Random) -> str:
    label = json.loads(sensible(a, b, rng))["winner"]
    return f"Answer A says one thing and answer B another.\nWinner: {label}"


def always_a(a: str, b: str, rng: random.Random) -> str:
    return _json("A")


def better_is_b(a: str, b: str, rng: random.Random) -> str:
    return "The better answer is B. [[B]]"


def prose(a: str, b: str, rng: random.Random) -> str:
    return "Both answers have merits; I would lean towards the first one."


def coin(a: str, b: str, rng: random.Random) -> str:
    return _json(rng.choice(["A", "B", "tie"]))


def mostly_first(a: str, b: str, rng: random.Random) -> str:
    """Position-biased: names "A" 80% of the time whatever the answers, else judges sensibly."""
    return _json("A") if rng.random() < 0.8 else sensible(a, b, rng)


def prefers_longer(a: str, b: str, rng: random.Random) -> str:
    """Length-biased and consistent: between answers of equal quality the clearly longer one wins
    (a verbosity bias), otherwise the better one."""
    if quality(a) != quality(b):
        return sensible(a, b, rng)
    if len(a) > 1.15 * len(b):
        return _json("A")
    if len(b) > 1.15 * len(a):
        return _json("B")
    return _json("tie")


def _complete(judge: Judge, rng: random.Random) -> Callable[[ChatRequest], object]:
    async def complete(req: ChatRequest) -> Completion:
        first_user = next(m.content for m in req.messages if m.role == "user")
        blocks = {label: text for label, _, text in _BLOCK.findall(first_user)}
        return Completion(judge(blocks["ANSWER A"], blocks["ANSWER B"], rng))

    return complete


def _answer_text(rng: random.Random, good: bool, i: int, scale: float) -> str:
    words = max(3, round(rng.randint(20, 40) * scale))
    return ("Correct" if good else "Wrong") + f" answer {i}: " + " ".join("word" for _ in range(words))


def _side(case_id: str, text: str) -> CaseResult:
    answer = Answer(case_id, 0, (Message("user", f"task {case_id}"),), Completion(text))
    return CaseResult(case_id, (SampleResult(answer, ()),))


async def _comparisons(rng: random.Random, judge: Judge, base_p: float, head_p: float,
                       head_scale: float) -> list[CaseComparison]:
    complete = _complete(judge, rng)
    out = []
    for i in range(CASES):
        cid = f"c{i}"
        b_text = _answer_text(rng, rng.random() < base_p, i, 1.0)
        h_text = _answer_text(rng, rng.random() < head_p, i, head_scale)
        pr = await judge_pair(complete, "judge", (Message("user", f"task {cid}"),), None, "correct",
                              b_text, h_text, "", 0)
        out.append(CaseComparison(cid, _side(cid, b_text), _side(cid, h_text), (pr,)))
    return out


def run_once(seed: int, judge: Judge, base_p: float, head_p: float,
             head_scale: float = 1.0) -> tuple[str, str]:
    rng = random.Random(seed)
    cases = asyncio.run(_comparisons(rng, judge, base_p, head_p, head_scale))
    _, _, evidence = summarize("sim", cases, GateSpec(), False, True)
    v = decide([evidence]).suites[0]
    return v.verdict, v.reason


def rates(label: str, judge: Judge, base_p: float, head_p: float, head_scale: float = 1.0,
          runs: int = RUNS) -> tuple[Counter[str], list[str]]:
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    reasons = []
    for seed in range(runs):
        verdict, reason = run_once(seed, judge, base_p, head_p, head_scale)
        counts[verdict] += 1
        reasons.append(reason)
    shares = {k: f"{v}/{runs}" for k, v in sorted(counts.items())}
    print(f"\n{label}: {shares} ({time.perf_counter() - started:.1f}s)")
    return counts, reasons


BROKEN = [
    pytest.param(always_a, id="always-A"),
    pytest.param(better_is_b, id="better-is-B-bracketed"),
    pytest.param(prose, id="prose-unreadable"),
    pytest.param(coin, id="coin-flip"),
    pytest.param(mostly_first, id="80pct-position-biased"),
]


@pytest.mark.parametrize("judge", BROKEN)
def test_broken_judge_never_lets_a_50_point_regression_pass(judge: Judge) -> None:
    counts, reasons = rates(f"−50 pts regression, {judge.__name__} judge", judge, 0.8, 0.3)
    assert counts["pass"] == 0
    if judge is not coin:  # a coin flip is consistent by chance a third of the time: still not a pass
        assert all("unmeasured" in r for r in reasons), reasons[:3]


@pytest.mark.parametrize("judge", BROKEN)
def test_broken_judge_never_fails_an_a_a_comparison(judge: Judge) -> None:
    counts, _ = rates(f"A/A, {judge.__name__} judge", judge, 0.8, 0.8)
    assert counts["fail"] <= 0.05 * RUNS


@pytest.mark.parametrize("judge", [sensible, sensible_bracketed, sensible_last_line])
def test_sensible_judge_fails_the_regression_and_passes_a_a(judge: Judge) -> None:
    regression, _ = rates(f"−50 pts regression, {judge.__name__} judge", judge, 0.8, 0.3)
    assert regression["fail"] >= 0.9 * RUNS
    same, _ = rates(f"A/A, {judge.__name__} judge", judge, 0.8, 0.8)
    assert same["fail"] <= 0.05 * RUNS


def test_length_biased_judge_does_not_fail_a_change_that_only_shortens_answers() -> None:
    counts, reasons = rates("same correctness, head 50% shorter, length-biased judge", prefers_longer,
                            0.8, 0.8, head_scale=0.5)
    assert counts["fail"] == 0
    explained = sum("explained by answer length" in r for r in reasons)
    print(f"  reason names length in {explained}/{RUNS} runs")
    assert explained >= 0.9 * RUNS


def test_length_biased_judge_still_fails_a_real_regression_at_similar_length() -> None:
    counts, _ = rates("−50 pts regression, same length, length-biased judge", prefers_longer, 0.8, 0.3)
    assert counts["fail"] >= 0.9 * RUNS


def test_summary_records_the_length_controlled_view() -> None:
    rng = random.Random(7)
    cases = asyncio.run(_comparisons(rng, prefers_longer, 0.8, 0.8, 0.5))
    _, pw, evidence = summarize("sim", cases, GateSpec(), False, True)
    metric = next(m for m in evidence.metrics if m.name == PAIRWISE)
    assert pw.length_explained and metric.explained_by_length
    assert pw.lc_net is not None and pw.lc_lower is not None and pw.lc_upper is not None
    assert pw.lc_lower <= pw.lc_net <= pw.lc_upper and (pw.longer_share or 0) >= 2 / 3
