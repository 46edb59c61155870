"""End to end (issue 7, items 2-5): a review the pull request cannot steer through its cases or
its judge. The real CLI (``promptreview compare``) runs on real git repositories against the
loopback OpenAI-compatible server with a scripted model and judge (see ``test_compare_e2e``), and
the tests assert what a reviewer sees: the exit code, the headline and the notes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.openai_server import OpenAIServer
from test_compare_e2e import (
    BASE_FILES,
    GREET,
    HEAD_HI_NAME,
    PEOPLE,
    FakeModel,
    Harness,
    JudgePolicy,
    always,
    judge_requests,
    make_repo,
    prefer_longer,
    suite,
)

pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(responder=FakeModel()) as srv:
        yield srv


@pytest.fixture
def h(tmp_path: Path, server: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> Harness:
    return Harness(tmp_path, server, capsys)


def headline(out: str) -> str:
    """The comment's top: verdict, the sentence why, and the review notes (before the table)."""
    return out.split("| Suite |")[0].replace("\\", "")


# --------------------------------------------------------------------------------------------
# Item 3: a broken judge never certifies "no difference"


def test_judge_that_always_answers_better_is_b_cannot_pass_the_review(h: Harness, tmp_path: Path) -> None:
    """The issue's judge: "The better answer is B. [[B]]" for every pair, whatever the answers."""
    h.server.responder = FakeModel(judge=lambda a, b: "The better answer is B. [[B]]")
    repo = make_repo(tmp_path, {"prompts/greet.txt": HEAD_HI_NAME})

    run = h.compare(repo, "--comment")

    top = headline(run.out)
    assert run.code == 3, run.out
    assert "Prompt review: inconclusive" in top and "is unmeasured" in top, top
    assert "both answer orders for only 0%" in top
    s = suite(h.review(repo), "greet")
    assert s.pairwise.unparseable == 0  # the form is read; its position bias is what is refused
    assert s.pairwise.missing == len(PEOPLE) and (s.pairwise.wins, s.pairwise.losses) == (0, 0)


def _sensible_in(form: str) -> JudgePolicy:
    """A judge that prefers the longer answer, writing its verdict in one of the real forms."""

    def judge(a: str, b: str) -> str:
        import json

        label = json.loads(prefer_longer(a, b))["winner"]
        if form == "brackets":
            return f"Answer {label} covers more of the task. [[{ {'tie': 'C'}.get(label, label) }]]"
        if form == "last-line":
            return f"Both answers greet the customer.\nWinner: {label}"
        return f'Here is my verdict: {{"winner": "{label}", "reason": "more complete"}} Hope it helps.'

    return judge


@pytest.mark.parametrize("form", ["brackets", "last-line", "json-in-prose"])
def test_real_verdict_forms_are_read(h: Harness, tmp_path: Path, form: str) -> None:
    h.server.responder = FakeModel(judge=_sensible_in(form))
    longer = "Suite greet v2.\nANSWER WITH: Hello {{ name }}, welcome to Acme! We are glad you are here.\n"
    repo = make_repo(tmp_path, {"prompts/greet.txt": longer})

    run = h.compare(repo)

    assert run.code == 0, run.out
    assert len([b for b in judge_requests(h.server) if len(b["messages"]) > 2]) == 0  # no retry needed
    s = suite(h.review(repo), "greet")
    assert (s.pairwise.wins, s.pairwise.missing, s.pairwise.unparseable) == (len(PEOPLE), 0, 0)


def test_ambiguous_verdict_is_refused_not_read(h: Harness, tmp_path: Path) -> None:
    h.server.responder = FakeModel(judge=lambda a, b: "[[A]] ... on reflection, [[B]]")
    repo = make_repo(tmp_path, {"prompts/greet.txt": HEAD_HI_NAME})

    run = h.compare(repo)

    assert run.code == 3 and "is unmeasured" in run.out
    s = suite(h.review(repo), "greet")
    assert s.pairwise.unparseable == len(PEOPLE) and s.pairwise.missing == len(PEOPLE)
    assert len(judge_requests(h.server)) == 4 * len(PEOPLE)  # each order asked twice: never read


def _prefers_welcome(a: str, b: str) -> str:
    """A judge of substance: the answer that welcomes the customer wins, written as [[X]]."""
    wa, wb = "welcome" in a, "welcome" in b
    return "[[A]]" if wa and not wb else "[[B]]" if wb and not wa else "[[C]]"


def test_consistent_judge_still_fails_a_regression(h: Harness, tmp_path: Path) -> None:
    """Head's answers still name the customer (the pass rate holds) but turn rude, and are longer:
    a consistent judge in the bracket form prefers base, and that fails the review."""
    h.server.responder = FakeModel(judge=_prefers_welcome)
    rude = "Suite greet v2.\nANSWER WITH: Hello {{ name }}, we are closed, go away and do not come back.\n"
    repo = make_repo(tmp_path, {"prompts/greet.txt": rude})

    run = h.compare(repo)

    assert run.code == 1, run.out
    assert "judge prefers base" in run.out


@pytest.mark.parametrize("label", ["A", "B"])
def test_position_biased_judge_does_not_hide_a_broken_metric(h: Harness, tmp_path: Path, label: str) -> None:
    """An unmeasured judge blocks a pass, never a fail the other metrics prove."""
    h.server.responder = FakeModel(judge=always(label))
    repo = make_repo(tmp_path, {"prompts/greet.txt": "Suite greet v2 {{ name }}.\nANSWER WITH: Hi.\n"})

    run = h.compare(repo)

    assert run.code == 1, run.out
    assert "pass rate" in run.out


# --------------------------------------------------------------------------------------------
# Item 5: a length-biased judge does not block a harmless change


SHORT = "Suite greet v2.\nANSWER WITH: Hi {{ name }}, welcome!\n"
LONG_BASE = ("Suite greet.\nANSWER WITH: Hello {{ name }}, welcome to Acme! We are so glad to have you "
             "with us today, and we hope you enjoy everything here.\n")


def test_length_biased_judge_does_not_fail_shorter_answers(h: Harness, tmp_path: Path) -> None:
    """Same correctness (every answer names the customer), head's answers are shorter, and the
    judge prefers the longer answer every time, in both orders: before, FAIL at p = 4e-8."""
    h.server.responder = FakeModel(judge=prefer_longer)
    repo = make_repo(tmp_path, {"prompts/greet.txt": SHORT},
                     base={**BASE_FILES, "prompts/greet.txt": LONG_BASE})

    run = h.compare(repo, "--comment")

    top = headline(run.out)
    assert run.code == 3, run.out
    assert "explained by answer length" in top and "does not fail the suite" in top, top
    assert "Length-controlled which-is-better" in run.out.replace("\\", "")
    s = suite(h.review(repo), "greet")
    assert s.pairwise.losses == len(PEOPLE) and s.pairwise.consistency == 1.0
    assert s.pairwise.length_explained and s.pairwise.lc_net is not None


def test_length_controlled_view_is_reported_on_every_run(h: Harness, tmp_path: Path) -> None:
    h.server.responder = FakeModel(judge=prefer_longer)
    longer = GREET.replace("welcome to Acme!", "welcome to Acme! It is great to see you again, truly.")
    repo = make_repo(tmp_path, {"prompts/greet.txt": longer.replace("Suite greet.", "Suite greet v2.")})

    run = h.compare(repo, "--comment")

    assert run.code == 0, run.out  # head preferred: length explains it, and that is said, not hidden
    assert "Length-controlled which-is-better: net benefit" in run.out.replace("\\", "")
