"""The length-controlled win rate (AlpacaEval-style GLM), checked by seeded simulation.

Rates are printed (run with ``-s``): a judge driven by length alone on uniformly shorter answers
is "explained by length" in every run; a real regression at similar lengths never is.
"""

from __future__ import annotations

import random

import pytest

from promptreview.length_control import length_control

RUNS = 200


def _run(rng: random.Random, scenario: str, n: int = 60) -> tuple[list[float], list[int], list[int]]:
    outcomes, base, head = [], [], []
    for _ in range(n):
        b = rng.randint(150, 300)
        if scenario == "length-only, head shorter":
            h, o = int(b * rng.uniform(0.4, 0.6)), -1.0 if rng.random() < 0.85 else 0.0
        elif scenario == "real regression, similar length":
            h = int(b * rng.uniform(0.8, 1.25))
            o = -1.0 if rng.random() < 0.6 else (0.0 if rng.random() < 0.7 else 1.0)
        elif scenario == "real regression, head longer":
            h, o = int(b * rng.uniform(1.2, 1.6)), -1.0 if rng.random() < 0.7 else 0.0
        else:  # length-only judge, lengths vary both ways
            h = int(b * rng.uniform(0.5, 2.0))
            o = 1.0 if h > 1.1 * b else (-1.0 if b > 1.1 * h else 0.0)
        outcomes.append(o)
        base.append(b)
        head.append(h)
    return outcomes, base, head


@pytest.mark.parametrize(
    ("scenario", "explained"),
    [
        ("length-only, head shorter", RUNS),
        ("length-only, lengths vary", RUNS),
        ("real regression, similar length", 0),
        ("real regression, head longer", 0),
    ],
)
def test_length_explains_the_preference_only_when_it_does(scenario: str, explained: int) -> None:
    rng = random.Random(11)
    hits = 0
    for _ in range(RUNS):
        lc = length_control(*_run(rng, scenario))
        assert lc is not None and lc.lc_lower <= lc.lc_net <= lc.lc_upper
        hits += lc.explains_preference
    print(f"\n{scenario}: explained by length in {hits}/{RUNS} runs")
    assert hits == explained


def test_too_few_cases_fit_nothing() -> None:
    assert length_control([1.0] * 3, [10] * 3, [20] * 3) is None


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        length_control([1.0], [1, 2], [1])
