"""GitHub Models ``.prompt.yml`` evaluators, with ``gh models eval`` semantics.

See ``shared/fixtures/gh-models/FORMAT.md`` §6. The prompt-file parser turns each entry of
``evaluators:`` into one of these internal kinds, with the evaluator mapping as written as args
(``{name, string: {...}}``, ``{name, llm: {...}}``, ``{name, uses}``), unrendered: gh-models
templating is plain ``{{key}}`` substitution with its own rules per field, so it happens here:

- ``gh-string``: ``string.{equals, contains, startsWith, endsWith}``, substituted with the test case;
- ``gh-llm``: ``llm.{modelId, prompt, systemPrompt, choices: [{choice, score}]}``; ``prompt`` is
  substituted with the test case plus ``completion``, ``systemPrompt`` is sent as written;
- ``gh-builtin``: ``uses: github/<name>``.

Where ``gh models eval`` aborts the whole run (no method, no string criteria), one case's metric
gets an error result instead. Deliberate differences from gh-models, for a repeatable and safe
base-vs-head review: judge calls use temperature 0; hidden content (HTML comments, invisible
characters) is stripped from the answer and case values before the judge sees them; the builtins'
prompts are our own wording of what FORMAT.md §6.3 describes (same variables, scale, choices and
output shape) with all instructions in the system message and the case data fenced in delimited
blocks; a choice score outside [0, 1] is rescaled into it for the result's ``score`` (pass/fail
still uses the raw score, and the reason shows it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptreview.metrics.context import MetricContext, MetricError, make_result
from promptreview.metrics.judging import (
    ask_judge,
    judge_blocks,
    shorten,
    strip_hidden,
    untrusted_notice,
)
from promptreview.metrics.options import OptionError, Options, validator
from promptreview.metrics.registry import metric
from promptreview.results import MetricResult

BUILTIN_JUDGE_MODEL = "openai/gpt-4o"  # what every gh-models builtin uses (FORMAT.md §6.3)


# --- Go-compatible text helpers ---------------------------------------------------------------


def go_lower(text: str) -> str:
    """Go's ``strings.ToLower``: per-character simple lower-casing.

    Python's ``str.lower`` differs on two points that matter for substring tests: it turns "İ"
    into two characters, and it lowers a word-final "Σ" to "ς" where Go always gives "σ".
    """
    if "İ" not in text and "Σ" not in text:
        return text.lower()
    return "".join("i" if ch == "İ" else ch.lower() for ch in text)


def scalar_text(value: Any) -> str:
    """A YAML scalar in a gh-models string field, as its source text would read (``true``, ``4``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def substitute(template: str, ctx: MetricContext, *, for_judge: bool) -> str:
    """gh-models ``{{key}}`` substitution with the test case, as gh-models does it per field.

    For text sent to a judge, ``completion`` (the answer) is available too, and the case values
    and the answer are stripped of hidden content first: they are what the PR and the model
    control, while the template itself comes from the base revision. String checks get the
    values untouched, as in gh-models.
    """
    from promptreview.render import go_format, render_gh_models  # Jinja is only needed once scoring

    data: dict[str, Any] = {key: go_format(value) for key, value in ctx.case.vars.items()}
    if for_judge:
        data = {key: strip_hidden(text) for key, text in data.items()}
        data["completion"] = strip_hidden(ctx.answer)
    return render_gh_models(template, data)


def evaluator_body(args: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The evaluator's ``string:``/``llm:`` mapping; None when absent, OptionError when not a mapping."""
    body = args.get(key)
    if body is not None and not isinstance(body, Mapping):
        raise OptionError(key, "must be a mapping")
    return body


def no_method(ctx: MetricContext) -> MetricError:
    """gh-models' error for an evaluator with none of string/llm/uses (it aborts; we fail one case)."""
    return MetricError(f"no evaluation method specified for evaluator {scalar_text(ctx.args.get('name'))}")


# --- gh-string --------------------------------------------------------------------------------


def _go_contains(answer: str, value: str) -> bool:
    return go_lower(value) in go_lower(answer)


def _go_starts(answer: str, value: str) -> bool:
    return go_lower(answer).startswith(go_lower(value))


def _go_ends(answer: str, value: str) -> bool:
    return go_lower(answer).endswith(go_lower(value))


# Only the first non-empty field runs, in this order (FORMAT.md §6.1).
_STRING_CHECKS: tuple[tuple[str, Callable[[str, str], bool], str], ...] = (
    ("equals", lambda answer, value: answer == value, "Expected exact match: '{}'"),
    ("contains", _go_contains, "Expected to contain: '{}'"),
    ("startsWith", _go_starts, "Expected to start with: '{}'"),
    ("endsWith", _go_ends, "Expected to end with: '{}'"),
)


STRING_CHECK_KEYS = tuple(key for key, _, _ in _STRING_CHECKS)


def _parse_gh_string(args: Mapping[str, Any]) -> dict[str, str] | None:
    """The four criteria as text ("" when absent), or None for an evaluator with no method.

    Other keys (``isJSON``...) are ignored, as gh-models' YAML decoding ignores them.
    """
    body = evaluator_body(args, "string")
    if body is None:
        return None
    criteria: dict[str, str] = {}
    for key, _, _ in _STRING_CHECKS:
        value = body.get(key)
        if isinstance(value, Mapping | list):
            raise OptionError(f"string.{key}", "must be a string")
        criteria[key] = scalar_text(value)
    return criteria


@metric("gh-string", kind="binary", validate=validator(_parse_gh_string))
async def gh_string(ctx: MetricContext) -> MetricResult:
    """A gh-models string evaluator: the first non-empty of equals > contains > startsWith > endsWith.

    Args: the evaluator (``{name, string: {equals|contains|startsWith|endsWith}}``). Values are
    substituted with the test case, then ``equals`` compares case-sensitively with the (trimmed)
    answer and the untrimmed value; the others compare Go-lower-cased text. All four empty after
    substitution is a per-case error (``no string evaluation criteria specified``), where
    gh-models aborts the run; so is an evaluator with no method at all.
    """
    criteria = _parse_gh_string(ctx.args)
    if criteria is None:
        raise no_method(ctx)
    for key, check, details in _STRING_CHECKS:
        value = substitute(criteria[key], ctx, for_judge=False)
        if value:
            return make_result(ctx, check(ctx.answer, value), details.format(value))
    raise MetricError("no string evaluation criteria specified")


# --- gh-llm -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    choice: str
    score: float


@dataclass(frozen=True)
class _LlmOptions:
    model_id: str
    prompt: str
    system_prompt: str
    choices: tuple[Choice, ...]


def _parse_choices(raw: Any) -> tuple[Choice, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise OptionError("llm.choices", "must be a list of {choice, score}")
    choices = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise OptionError(f"llm.choices[{i}]", "must be a mapping with choice and score")
        text, score = item.get("choice"), item.get("score", 0.0)
        if isinstance(text, Mapping | list):
            raise OptionError(f"llm.choices[{i}].choice", "must be a string")
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise OptionError(f"llm.choices[{i}].score", "must be a number")
        choices.append(Choice(scalar_text(text), float(score)))
    return tuple(choices)


def _parse_gh_llm(args: Mapping[str, Any]) -> _LlmOptions | None:
    body = evaluator_body(args, "llm")
    if body is None:
        return None
    for key in ("modelId", "prompt", "systemPrompt"):
        if isinstance(body.get(key), Mapping | list):
            raise OptionError(f"llm.{key}", "must be a string")
    return _LlmOptions(
        model_id=scalar_text(body.get("modelId")),
        prompt=scalar_text(body.get("prompt")),
        system_prompt=scalar_text(body.get("systemPrompt")),
        choices=_parse_choices(body.get("choices")),
    )


@dataclass(frozen=True)
class ChoiceMatch:
    """What the judge's reply selected; ``choice`` None when no declared choice occurs in it."""

    choice: Choice | None
    reply: str  # trimmed and lower-cased, as gh-models reports it


def match_choice(reply: str, choices: Sequence[Choice]) -> ChoiceMatch:
    """The first declared choice whose lower-cased text occurs anywhere in the lower-cased reply.

    Substring order matters exactly as in gh-models: "average" is found inside "below_average".
    """
    lowered = go_lower(reply.strip())
    found = next((c for c in choices if go_lower(c.choice) in lowered), None)
    return ChoiceMatch(found, lowered)


def _unit_score(raw: float, choices: Sequence[Choice]) -> float:
    """A choice score as a [0, 1] result score: unchanged when the declared scores fit, else rescaled."""
    low = min([0.0, *(c.score for c in choices)])
    high = max([1.0, *(c.score for c in choices)])
    return (raw - low) / (high - low)


def choice_result(
    ctx: MetricContext, match: ChoiceMatch, choices: Sequence[Choice], grade: float | None = None
) -> MetricResult:
    """gh-models' verdict for a choice match: passed = score > 0; no match scores 0 and fails."""
    if match.choice is None:
        details = f"LLM evaluation response '{shorten(match.reply, 200)}' did not match any defined choices"
        return make_result(ctx, False, details, _unit_score(0.0, choices))
    raw = match.choice.score
    details = f"LLM evaluation matched choice: '{match.choice.choice}'"
    score = _unit_score(raw, choices)
    if score != raw:
        details += f" (score {raw:g})"
    return make_result(ctx, raw > 0, details, score, grade=grade)


@metric("gh-llm", kind="graded", needs_llm=True, judge_calls=1, validate=validator(_parse_gh_llm))
async def gh_llm(ctx: MetricContext) -> MetricResult:
    """A gh-models custom LLM evaluator: the judge's reply selects a declared choice.

    Args: the evaluator (``{name, llm: {modelId, prompt, systemPrompt, choices}}``). ``prompt`` is
    substituted with the test case and ``completion``; ``systemPrompt`` is sent as written; the
    judge is ``modelId``. The first choice, in declared order, found in the lower-cased reply
    wins; passed = score > 0; no match is score 0, failed (not an error, as in gh-models).
    """
    opts = _parse_gh_llm(ctx.args)
    if opts is None:
        raise no_method(ctx)
    if not opts.model_id:
        raise MetricError("the llm evaluator has no modelId")
    match = await ask_judge(
        ctx.llm,
        opts.model_id,
        opts.system_prompt,
        substitute(opts.prompt, ctx, for_judge=True),
        lambda reply: match_choice(reply, opts.choices),
        expect="one of the choices",
    )
    return choice_result(ctx, match, opts.choices)


# --- gh-builtin -------------------------------------------------------------------------------

RATING_CHOICES = tuple(Choice(str(n), (n - 1) / 4) for n in range(1, 6))  # "1"->0.0 ... "5"->1.0

_RATE_AS_STEPS = """\
Think it through step by step, then reply in exactly this form, with the score alone on the last line:
ThoughtChain: <your step-by-step reasoning>
Explanation: <a short explanation of the score>
Score: <a whole number from 1 to 5>"""


@dataclass(frozen=True)
class Builtin:
    """One gh-models builtin: our wording of its instructions, and which variable fills each block.

    The instructions (definition, scale, examples, reply format) all go in the system message;
    the user message holds only the delimited case data and answer.
    """

    instructions: str
    blocks: tuple[tuple[str, str], ...]  # (block label, gh-models variable), in prompt order

    def system(self) -> str:
        labels = [label for label, _ in self.blocks]
        return f"{self.instructions}\n\n{untrusted_notice(labels)}"


BUILTINS: dict[str, Builtin] = {
    "github/similarity": Builtin(
        instructions="""\
You are an AI assistant that rates answers in a question-answering task. Rate the equivalence of the \
PREDICTED_ANSWER to the CORRECT_ANSWER for the QUESTION: how close the two are in meaning. Only \
meaning counts, not wording.
1 - the predicted answer means nothing like the correct answer.
2 - the predicted answer is mostly unlike the correct answer.
3 - the predicted answer is partly like the correct answer.
4 - the predicted answer is mostly like the correct answer.
5 - the predicted answer means the same as the correct answer.

Examples:
question: At what temperature does water boil at sea level?
correct answer: 100 degrees Celsius.
predicted answer: At sea level water boils at 100 °C.
rating: 5

question: Who wrote "Pride and Prejudice"?
correct answer: Jane Austen.
predicted answer: Charlotte Brontë wrote it.
rating: 1

question: What does a thermometer measure?
correct answer: Temperature.
predicted answer: How hot or cold something is; some models also show humidity.
rating: 4

Reply with a single whole number from 1 to 5 and nothing else.""",
        blocks=(("QUESTION", "input"), ("CORRECT_ANSWER", "expected"), ("PREDICTED_ANSWER", "completion")),
    ),
    "github/coherence": Builtin(
        instructions=f"""\
You are an AI assistant that judges the coherence of a RESPONSE to a QUERY. Coherence is how well the \
RESPONSE holds together: its ideas come in a logical order, connect clearly, agree with each other \
and with the QUERY, so a reader can follow it from start to end.
Rate it from 1 to 5:
1 - incoherent: disjointed words or ideas with no logical link.
2 - poorly coherent: fragments of sense, hard to follow.
3 - partly coherent: the main idea comes through, but with jumps or unclear links.
4 - coherent: logical and clear, with minor rough spots.
5 - highly coherent: a clear, well-ordered line of thought throughout.

{_RATE_AS_STEPS}""",
        blocks=(("QUERY", "input"), ("RESPONSE", "completion")),
    ),
    "github/fluency": Builtin(
        instructions=f"""\
You are an AI assistant that judges the fluency of a RESPONSE. Fluency is how well the RESPONSE is \
written as language: grammar, word choice, sentence structure and readability. It does not judge \
whether the content is correct or relevant.
Rate it from 1 to 5:
1 - barely readable: pervasive errors, meaning hard to make out.
2 - poor: frequent errors and awkward sentences.
3 - adequate: understandable, with noticeable errors or clumsy phrasing.
4 - good: well written, with only minor slips.
5 - excellent: fluent, precise and natural throughout.

{_RATE_AS_STEPS}""",
        blocks=(("RESPONSE", "completion"),),
    ),
    "github/relevance": Builtin(
        instructions=f"""\
You are an AI assistant that judges the relevance of a RESPONSE to a QUERY. Relevance is how well the \
RESPONSE addresses the QUERY: it answers what was asked, covers the important points and stays on topic.
Rate it from 1 to 5:
1 - irrelevant: does not address the query.
2 - slightly relevant: touches the topic but misses what was asked.
3 - partly relevant: addresses the query incompletely.
4 - relevant: answers the query, missing only minor points.
5 - fully relevant: answers the query completely and stays on it.

{_RATE_AS_STEPS}""",
        blocks=(("QUERY", "input"), ("RESPONSE", "completion")),
    ),
    "github/groundedness": Builtin(
        instructions=f"""\
You are an AI assistant that judges whether a RESPONSE to a QUERY is grounded in a CONTEXT. \
Groundedness is how far the claims in the RESPONSE are supported by the CONTEXT. Claims that the \
CONTEXT does not support, or that contradict it, lower the rating, however plausible they are.
Rate it from 1 to 5:
1 - ungrounded: unrelated to the context, or contradicts it.
2 - mostly ungrounded: most claims are unsupported by the context.
3 - partly grounded: some claims are supported, others are not.
4 - mostly grounded: supported by the context, apart from minor details.
5 - fully grounded: every claim is supported by the context.

{_RATE_AS_STEPS}""",
        blocks=(("CONTEXT", "expected"), ("QUERY", "input"), ("RESPONSE", "completion")),
    ),
}

# "Score: 4", "**Score:** 4.", "4/5"; not "4.5" or "10".
_LAST_LINE_RATING = re.compile(r"(?<![\d.])([1-5])(?:\s*/\s*5)?[^\w]*\Z")


@dataclass(frozen=True)
class _BuiltinOptions:
    uses: str
    model: str
    parse: str


_BUILTIN_KEYS = ("uses", "model", "parse")


def _parse_gh_builtin(args: Mapping[str, Any]) -> _BuiltinOptions:
    # Other evaluator keys (a null ``string:``...) are ignored, as in gh-models.
    o = Options({k: v for k, v in args.items() if k in _BUILTIN_KEYS}, _BUILTIN_KEYS)
    uses = o.text("uses", required=True)
    model = o.text("model", BUILTIN_JUDGE_MODEL, allow_empty=False)
    assert uses is not None and model is not None
    return _BuiltinOptions(uses, model, o.one_of("parse", ("gh-models", "last-line"), "gh-models"))


def parse_last_line_rating(reply: str) -> ChoiceMatch | None:
    """The 1-5 rating that ends the reply's last non-empty line ("Score: 4"), or None."""
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    match = _LAST_LINE_RATING.search(lines[-1]) if lines else None
    if match is None:
        return None
    return ChoiceMatch(RATING_CHOICES[int(match.group(1)) - 1], go_lower(reply.strip()))


def match_rating(reply: str) -> ChoiceMatch:
    """gh-models' reading of a builtin's reply: the first of "1".."5" found anywhere in it."""
    return match_choice(reply, RATING_CHOICES)


_RATING_PARSERS: dict[str, Callable[[str], ChoiceMatch | None]] = {
    "gh-models": match_rating,
    "last-line": parse_last_line_rating,
}


def case_variable(ctx: MetricContext, name: str) -> str:
    """A gh-models variable for a builtin prompt: the answer, a case value, or the literal placeholder.

    A case without ``input`` or ``expected`` sends ``{{input}}``/``{{expected}}`` literally, as
    gh-models does.
    """
    return substitute("{{" + name + "}}", ctx, for_judge=True)


@metric("gh-builtin", kind="graded", needs_llm=True, judge_calls=1, validate=validator(_parse_gh_builtin))
async def gh_builtin(ctx: MetricContext) -> MetricResult:
    """A gh-models builtin evaluator (``uses: github/similarity|coherence|fluency|relevance|groundedness``).

    Args: ``uses`` (required), ``model`` (judge, default ``openai/gpt-4o`` as in gh-models),
    ``parse``: ``gh-models`` (default: the first of "1".."5" found anywhere in the reply, exactly
    as ``gh models eval`` reads it, so any "1" in the reasoning gives rating 1) or ``last-line``
    (the rating that ends the last line; an unreadable reply is retried once, then an error).
    Choices "1".."5" score 0, 0.25, 0.5, 0.75, 1; passed = score > 0 (rating 2 or more); the
    result carries the rating as ``grade``. An unknown ``uses`` is a failed result, as in gh-models.
    """
    opts = _parse_gh_builtin(ctx.args)
    builtin = BUILTINS.get(opts.uses)
    if builtin is None:
        return make_result(ctx, False, f"Plugin evaluator '{opts.uses}' not found", 0.0)
    blocks = [(label, case_variable(ctx, var)) for label, var in builtin.blocks]
    match = await judge_blocks(
        ctx,
        builtin.system(),
        blocks,
        _RATING_PARSERS[opts.parse],
        expect="a whole number from 1 to 5",
        model=opts.model,
    )
    grade = float(match.choice.choice) if match.choice else None
    return choice_result(ctx, match, RATING_CHOICES, grade=grade)
