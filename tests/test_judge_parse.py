"""The judge's verdict parser: the forms judges really write are read, ambiguous replies refused."""

from __future__ import annotations

import pytest

from promptreview.judge import parse_verdict


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ('{"winner": "A", "reason": "complete"}', "A"),
        ('```json\n{"winner": "b", "reason": "r"}\n```', "B"),
        ('Sure. {"winner": "tie", "reason": "same facts"} Let me know if you need more.', "tie"),
        ("The better answer is B. [[B]]", "B"),
        ("Both are close, but [[A]]", "A"),
        ("[[C]]", "tie"),
        ("Answer A is wordy; answer B is precise.\nB", "B"),
        ("Reasoning first.\n\nWinner: **A**", "A"),
        ("Final verdict: tie.", "tie"),
        ("Answer B is better.", "B"),
        ('{"winner": "B"} so [[B]]', "B"),  # the same label twice is one verdict
    ],
)
def test_real_verdict_forms_are_read(reply: str, label: str) -> None:
    parsed = parse_verdict(reply)
    assert parsed is not None and parsed[0] == label


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "I think the first one",
        "A or B, hard to say",
        "[[A]] ... no, [[B]]",
        '{"winner": "A"} but really [[B]]',
        '{"winner": "A"} {"winner": "B"}',
        '{"winner": "maybe"}',
        "A is better than B",
        "Neither.",
    ],
)
def test_ambiguous_or_unreadable_replies_are_refused(reply: str) -> None:
    assert parse_verdict(reply) is None


def test_reason_comes_from_json_or_the_prose_around_the_verdict() -> None:
    assert parse_verdict('{"winner": "A", "reason": "cites the policy"}') == ("A", "cites the policy")
    assert parse_verdict("B cites the policy.\nB") == ("B", "B cites the policy.")
    parsed = parse_verdict("Answer A is longer but wrong. [[B]]")
    assert parsed == ("B", "Answer A is longer but wrong.")
