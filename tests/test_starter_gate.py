"""The starter ``promptreview init`` writes can certify a pass: a seeded simulation of its gate.

The starter has 8 cases and the metrics contains, max-length, rubric (1-5) and which-is-better.
Each scenario draws per-case outcomes for both sides, builds the paired evidence the suite would
produce and asks the real verdict (``decide``) with the starter's own gate, read from the starter
config. Observed rates are printed (run with ``-s``) and recorded in the README.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from promptreview.cases import parse_cases
from promptreview.config import parse_config
from promptreview.init import STARTER
from promptreview.verdict import PairedMetric, SuiteEvidence, decide

TRIALS = 200
# One case: (base contains, head contains, base grade, head grade, which-is-better for head).
Draw = Callable[[random.Random], tuple[float, float, int, int, float]]

SCENARIOS: dict[str, Draw] = {
    # The same prompt, a deterministic model: identical outcomes on both sides.
    "identical": lambda r: (1.0, 1.0, (g := r.choice([4, 5])), g, 0.0),
    # The same prompt, a noisy model: each side draws its own outcomes.
    "noisy A/A": lambda r: (float(r.random() < 0.95), float(r.random() < 0.95), r.choice([3, 4, 4, 5, 5]),
                            r.choice([3, 4, 4, 5, 5]), r.choice([0.0, 0.0, 0.0, 1.0, -1.0])),
    "clean improvement": lambda r: (1.0, 1.0, 3, 5, 1.0),
    "clear regression": lambda r: (1.0, float(r.random() < 0.4), 5, r.choice([2, 3]), -1.0),
}


def _starter() -> tuple[int, float | None, int]:
    config = parse_config(STARTER["promptreview.yml"], "promptreview.yml")
    (suite,) = config.suites
    rubric = next(m for m in suite.metrics if m.kind == "rubric")
    n = len(parse_cases(STARTER["evals/example.yaml"], "evals/example.yaml"))
    return n, suite.gate.margin, int(rubric.args.get("min", 4))


def _rates(draw: Draw, n: int, margin: float | None, rubric_min: int, seed: int = 8) -> dict[str, float]:
    rng = random.Random(seed)
    seen: Counter[str] = Counter()
    for _ in range(TRIALS):
        rows = [draw(rng) for _ in range(n)]
        b_pass = tuple(float(bc == 1.0 and bg >= rubric_min) for bc, _, bg, _, _ in rows)
        h_pass = tuple(float(hc == 1.0 and hg >= rubric_min) for _, hc, _, hg, _ in rows)
        metrics = (
            PairedMetric("pass rate", "binary", b_pass, h_pass),
            PairedMetric("contains", "binary", tuple(r[0] for r in rows), tuple(r[1] for r in rows)),
            PairedMetric("max-length", "binary", (1.0,) * n, (1.0,) * n),
            PairedMetric("rubric", "grade5", tuple(float(r[2]) for r in rows),
                         tuple(float(r[3]) for r in rows)),
            PairedMetric("which is better", "pairwise", (0.0,) * n, tuple(r[4] for r in rows)),
        )
        seen[decide([SuiteEvidence("example", metrics, n, 0, default_margin=margin)]).verdict] += 1
    return {verdict: count / TRIALS for verdict, count in sorted(seen.items())}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_starter_gate_certifies_with_the_starters_cases(scenario: str) -> None:
    n, margin, rubric_min = _starter()
    rates = _rates(SCENARIOS[scenario], n, margin, rubric_min)
    default = _rates(SCENARIOS[scenario], n, None, rubric_min)
    print(f"starter ({n} cases, margin {margin}): {scenario}: {rates}; with the default margin: {default}")

    assert n >= 5
    if scenario in ("identical", "clean improvement"):
        assert rates.get("pass", 0) >= 0.99
    if scenario == "noisy A/A":
        assert rates.get("fail", 0) <= 0.05  # an unchanged prompt is not failed
    if scenario == "clear regression":
        assert rates.get("fail", 0) >= 0.95
