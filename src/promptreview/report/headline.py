"""The headline's reason in a reviewer's words: what got better, what got worse, what we can't tell
yet and what would settle it.

The verdict stage explains each suite for the record (check runs, the terminal, JSON); the comment
leads with a shorter story built here from the same numbers. A :class:`Headline` is a list of
plain sentences, each one a :class:`Line` with a ``kind`` the template can style or order, so
other findings (removed cases, judge warnings, head-caused failures) join as more lines without
touching the rest. Sentences may quote untrusted names in backticks; the template renders them
with the ``prose`` filter, which escapes everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from promptreview.report import _view as view
from promptreview.review_result import MetricSummary, ReviewResult, SuiteResult
from promptreview.stats import MIN_CASES
from promptreview.summarize import PAIRWISE, PASS_RATE
from promptreview.verdict import MetricVerdict

__all__ = ["Headline", "Line", "headline"]

# Worst first: the suite the headline talks about when there are several.
_SEVERITY = {"fail": 0, "error": 1, "inconclusive": 2, "pass": 3}


@dataclass(frozen=True)
class Line:
    kind: str  # scope | better | worse | decision | settle | note
    text: str


@dataclass(frozen=True)
class Headline:
    lines: tuple[Line, ...]

    def text(self) -> str:
        return " ".join(line.text for line in self.lines)


def headline(result: ReviewResult) -> Headline:
    """One to four sentences: which suite, what moved, why this verdict, what would settle it."""
    suites = [s for s in result.suites if s.verdict is not None]
    if not suites:
        return Headline((Line("decision", "No suite is affected by this change, so nothing was evaluated."),))
    focus = min(suites, key=lambda s: _SEVERITY.get(s.verdict.verdict, 9))
    # The suite as the table names it (``triage``, not ``prompts/triage.prompt.yml``), so the
    # reader finds the headline's suite in the row below; the full name is in its section.
    focus = replace(focus, name=view.short_names([s.name for s in result.suites])[focus.name])
    lines: list[Line] = []
    if len(suites) > 1:
        lines.append(Line("scope", _scope(suites, focus)))
    lines += _suite_lines(focus, named=len(suites) > 1)
    return Headline(tuple(lines))


def _scope(suites: list[SuiteResult], focus: SuiteResult) -> str:
    counts = {kind: sum(1 for s in suites if s.verdict.verdict == kind) for kind in _SEVERITY}
    parts = [f"{counts['fail']} fail{'s' if counts['fail'] == 1 else ''}" if counts["fail"] else "",
             f"{counts['error']} could not run" if counts["error"] else "",
             f"{counts['inconclusive']} can't be settled yet" if counts["inconclusive"] else "",
             f"{counts['pass']} pass{'es' if counts['pass'] == 1 else ''}" if counts["pass"] else ""]
    said = ", ".join(p for p in parts if p)
    if focus.verdict.verdict == "pass":
        return f"All {len(suites)} suites pass."
    return f"Of {len(suites)} suites, {said}; the first to look at is `{focus.name}`."


def _suite_lines(suite: SuiteResult, named: bool) -> list[Line]:
    v = suite.verdict
    if suite.status == "removed" and v.verdict != "fail":
        return [Line("decision", f"The prompt `{suite.base_prompt or suite.name}` was removed, so there is "
                                 "nothing to evaluate and nothing to block.")]
    if v.verdict == "error":
        return [Line("decision", _error_sentence(suite))]
    if suite.status == "added" and v.verdict == "pass":
        return [Line("decision", _new_prompt_sentence(suite))]
    if suite.status in ("added", "single") or not v.metrics:
        return [Line("decision", _in_words(suite))]
    lines: list[Line] = []
    better, worse = _movements(suite)
    if better:
        lines.append(Line("better", f"Head {_join(better)}."))
    if worse:
        lead = "But head" if better else "Head"
        lines.append(Line("worse", f"{lead} {_join(worse)}."))
    deciding = view.deciding_verdict(suite)
    lines.append(Line("decision", _decision(suite, deciding)))
    return lines


def _movements(suite: SuiteResult) -> tuple[list[str], list[str]]:
    """What moved, in words: the pass rate and the judge first, then the metrics that moved most."""
    summaries = {m.name: m for m in suite.metrics}
    better: list[str] = []
    worse: list[str] = []
    gated = [m for m in suite.verdict.metrics if m.gated and m.name != PAIRWISE]
    ranked = sorted(gated, key=lambda m: (m.name != PASS_RATE, -abs(m.bound.estimate) / m.margin))
    for m in ranked:
        s = summaries.get(m.name)
        values = _values(s) + ", " if s else ""
        change = view.signed(m.bound.estimate, m.kind)
        if m.status == "better":
            what = "passes more cases" if m.name == PASS_RATE else f"scores higher on `{m.name}`"
            better.append(f"{what} ({values}{change})")
        elif m.bound.estimate < 0 and m.status in ("worse", "unclear"):
            what = "passes fewer cases" if m.name == PASS_RATE else f"scores lower on `{m.name}`"
            worse.append(f"{what} ({values}{change})")
    p = suite.pairwise
    judged = p.wins + p.ties + p.losses
    if judged and p.losses > p.wins:
        worse.insert(1 if worse else 0, f"loses with the judge, who prefers base in {p.losses} of "
                                        f"{judged} cases (head in {p.wins})")
    elif judged and p.wins > p.losses:
        better.insert(1 if better else 0, f"wins with the judge, who prefers head in {p.wins} of {judged} "
                                          f"cases (base in {p.losses})")
    return better[:2], worse[:2]


def _values(s: MetricSummary) -> str:
    base = str(view.summary_value(s, "base")).removesuffix(" of 5")
    return f"{base} → {view.summary_value(s, 'head')}"


def _decision(suite: SuiteResult, deciding: MetricVerdict | None) -> str:
    v = suite.verdict
    if getattr(deciding, "note", None):  # the verdict stage said what is missing: keep its words
        return _in_words(suite)
    if v.verdict == "fail":
        if deciding is not None and deciding.status == "worse":
            return (f"That drop in {_called(deciding.name)} is too large to be chance "
                    f"(p = {deciding.adjusted_p:.2g} after adjusting for every test in this review), "
                    f"so `{suite.name}` fails.")
        return _in_words(suite)
    if v.verdict == "pass":
        return "Nothing got worse by more than the gate's margin, so this passes."
    # inconclusive
    if deciding is None:
        return _in_words(suite)
    margin = view.magnitude(deciding.margin, deciding.kind)
    if deciding.bound.n == 0:
        summary = next((m for m in suite.metrics if m.name == deciding.name), None)
        errors = f" ({view.plural(summary.errors, 'metric error')})" if summary and summary.errors else ""
        return (f"No case has a {_called(deciding.name)} result on both versions{errors}, so it can't "
                "be checked: make it run, or add cases that exercise it.")
    if deciding.bound.n < MIN_CASES:
        return (f"Only {deciding.bound.n} case{'s' if deciding.bound.n != 1 else ''} measured "
                f"`{deciding.name}`, too few to be sure of anything (at least {MIN_CASES} are needed): "
                "add cases that exercise it.")
    shown = _called(deciding.name)
    text = (f"Not enough cases to be sure {shown} is within its {margin} margin "
            f"(its 95% lower bound is {view.signed(deciding.bound.lower, deciding.kind)}).")
    if v.cases_needed:
        gain = deciding.bound.estimate > 0
        assumption = "if the gain is real" if gain else "if head is really no worse than base"
        text += (f" About {v.cases_needed:,} cases would settle it {assumption} "
                 f"(this run had {deciding.bound.n}).")
    return text


_VERBS = {"pass": "passes", "fail": "fails", "inconclusive": "can't be settled yet",
          "error": "could not be evaluated"}


def _in_words(suite: SuiteResult) -> str:
    """The verdict stage's own reason (must-pass cases, floors, errors, missing evidence), named."""
    reason = suite.verdict.reason
    for prefix in ("Can't tell yet: ", "Can't tell: "):
        reason = reason.removeprefix(prefix)
    return f"`{suite.name}` {_VERBS.get(suite.verdict.verdict, 'is')}: {_lower(reason)}"


def _new_prompt_sentence(suite: SuiteResult) -> str:
    """A new prompt that passes: nothing to compare with, so only a floor could have held it."""
    rate = next((m.head_rate for m in suite.metrics if m.name == PASS_RATE), None)
    ran = (f"head passes {view.percent(rate)} of its {view.plural(suite.cases_total, 'case')}"
           if rate is not None else "it ran on head only")
    floor = suite.gate.min_pass_rate
    if floor is not None or "meets the" in suite.verdict.reason:
        level = f"{view.percent(floor)} " if floor is not None else ""
        held = f"which meets its {level}`min_pass_rate` floor"
    else:
        held = "and with no `min_pass_rate` floor set, nothing holds it back"
    return f"`{suite.name}` is a new prompt with no base version to compare against: {ran}, {held}."


def _error_sentence(suite: SuiteResult) -> str:
    """Why nothing was evaluated, said once ("could not run: X", not "Nothing could be evaluated:
    the suite could not run: X, so nothing could be evaluated")."""
    reason = suite.verdict.reason.rstrip(".")
    name = f"`{suite.name}`"
    if reason.lower().startswith("the suite could not run: "):
        return f"{name} could not run: {reason[len('the suite could not run: '):]}."
    if reason.lower().startswith("the suite "):
        return f"{name} {reason[len('the suite '):]}."
    errors = view.error_notes(suite)
    if reason.lower().startswith("all ") and errors:
        why = errors[0].split(" — ")[0]
        return (f"All {view.plural(suite.cases_total, 'case')} of {name} errored ({why}), so nothing could "
                "be evaluated; errors are not counted against the prompt: rerun when the provider recovers.")
    return f"Nothing in {name} could be evaluated: {_lower(reason)}."


def _called(name: str) -> str:
    return "the pass rate" if name == PASS_RATE else (
        "the judge's preference" if name == PAIRWISE else f"`{name}`")


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text
