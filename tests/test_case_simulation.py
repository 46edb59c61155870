"""Seeded simulation (issue 7, item 2): a PR that breaks some cases cannot flip FAIL to PASS by
editing, removing or renaming those cases, or by adding many easy ones beside them.

Each run draws a suite of base cases, a head prompt that breaks a random subset of them (the
model answers correctly on base, and on head only for cases that are not "hard"), and one attack
on head's cases file. The real case selection (``case_diff.gate_cases``), the real summary and the
real verdict decide; the same run is also decided the old way (both versions on head's cases),
to show each attack worked before. Rates are printed (``-s``) and recorded in the issue note.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from promptreview.case_diff import gate_cases
from promptreview.models.types import Completion
from promptreview.results import (
    Answer,
    CaseComparison,
    CaseResult,
    MetricResult,
    PairwiseResult,
    SampleResult,
)
from promptreview.suite import Case, GateSpec
from promptreview.summarize import case_values, classify, summarize
from promptreview.verdict import decide

RUNS = 200
GATE = GateSpec(margin=0.2)  # wide enough that the old selection's all-tie attacks could pass
ATTACKS = ("edit", "remove", "rename-must-pass", "add-300", "mixed")


def _base_cases(rng: random.Random, attack: str) -> list[Case]:
    n = rng.randint(20, 60)
    hard = set(rng.sample(range(n), k=max(4, round(n * rng.uniform(0.05, 0.5)))))
    cases = [Case(f"c{i}", {"q": f"question {i}", "hard": i in hard}) for i in range(n)]
    if attack == "rename-must-pass":  # one broken must_pass case, and nothing else broken
        must = rng.choice(sorted(hard))
        cases = [replace(c, vars={**c.vars, "hard": i == must}, must_pass=i == must)
                 for i, c in enumerate(cases)]
    elif rng.random() < 0.5:
        must = rng.choice(sorted(hard))
        cases[must] = replace(cases[must], must_pass=True)
    return cases


def _attack(rng: random.Random, kind: str, base: list[Case]) -> list[Case]:
    hard = [c for c in base if c.vars["hard"]]
    head = list(base)
    if kind == "mixed":
        kinds = [k for k in ATTACKS if k != "mixed"]
        for k in rng.sample(kinds, k=rng.randint(2, len(kinds))):
            head = _attack(rng, k, head)
        return head
    if kind == "edit":  # same ids, easy vars
        head = [replace(c, vars={**c.vars, "hard": False}) if c.vars["hard"] else c for c in head]
    elif kind == "remove":
        gone = {c.id for c in hard}
        head = [c for c in head if c.id not in gone]
    elif kind == "rename-must-pass":
        head = [replace(c, id=f"{c.id}-renamed", must_pass=False) if c.must_pass else c for c in head]
    elif kind == "add-300":
        head = head + [Case(f"easy{i}", {"q": f"easy {i}", "hard": False}) for i in range(300)]
    return head


def _side(case: Case, version: str) -> CaseResult:
    ok = version == "base" or not case.vars["hard"]
    answer = Answer(case.id, 0, (), Completion("right" if ok else "wrong"))
    metric = MetricResult("contains", 1.0 if ok else 0.0, ok)
    return CaseResult(case.id, (SampleResult(answer, (metric,)),))


def _comparison(case: Case, added: bool) -> CaseComparison:
    b, h = _side(case, "base"), _side(case, "head")
    same = b.samples[0].answer.text == h.samples[0].answer.text
    pairwise = (PairwiseResult(0, "tie", identical=True) if same else PairwiseResult(0, "base"),)
    score = 0.0 if same else -1.0
    change, moved = classify(case_values(b), case_values(h), score, False, False)
    return CaseComparison(case.id, b, h, pairwise, change, moved, must_pass=case.must_pass, added=added)


def _verdict(cases: list[Case], added: set[str]) -> str:
    comparisons = [_comparison(c, c.id in added) for c in cases]
    _, _, evidence = summarize("sim", comparisons, GATE, False, True)
    return decide([evidence]).suites[0].verdict


def _old_selection(base: list[Case], head: list[Case]) -> list[Case]:
    """Before: both versions ran on head's cases; same-id cases kept base's must_pass."""
    by_id = {c.id: c for c in base}
    return [replace(c, must_pass=by_id[c.id].must_pass) if c.id in by_id else c for c in head]


@pytest.mark.parametrize("attack", ATTACKS)
def test_case_edits_never_turn_fail_into_pass(attack: str) -> None:
    rng = random.Random(f"cases-{attack}")
    honest_fail = flipped_now = flipped_before = 0
    outcomes: Counter[str] = Counter()
    for _ in range(RUNS):
        base = _base_cases(rng, attack)
        honest = _verdict(base, set())
        head = _attack(rng, attack, base)
        chosen, changes = gate_cases(base, head)
        now = _verdict(list(chosen), set(changes.added))
        before = _verdict(_old_selection(base, head), set())
        if honest != "fail":
            continue
        honest_fail += 1
        outcomes[now] += 1
        flipped_now += now == "pass"
        flipped_before += before == "pass"
        assert changes.touches_base or changes.added
    print(f"\n{attack}: honest FAIL in {honest_fail}/{RUNS} runs; attacked → PASS now in {flipped_now}, "
          f"before in {flipped_before}; verdicts now {dict(outcomes)}")
    assert honest_fail >= 0.5 * RUNS
    assert flipped_now == 0
    assert outcomes["fail"] == honest_fail  # base's cases decide: the verdict is the honest one
