"""``promptreview generate SUITE``: new cases from the suite's prompt, PromptPex-style.

Two model calls: the first reads the prompt and states its intent, input constraints, output
rules and their inverses; the second writes inputs that probe each rule and its inverse, as
values of the template's variables. New cases are de-duplicated by embedding similarity against
the suite's cases and among themselves, tagged ``generated`` with the model recorded under
``source``, and written to a file for review (never a silent edit of existing cases).
(``--from`` documents is not implemented yet.)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptreview.data.casefile import write_cases
from promptreview.data.embed import EndpointOptions, embed_matrix, run_sync
from promptreview.data.suite_data import load_suite_data
from promptreview.data.template_match import template_variables, vars_text
from promptreview.errors import ConfigError, PromptReviewError
from promptreview.metrics.judging import parse_json_object
from promptreview.models.types import ChatRequest, Message

RULES_SYSTEM = """You analyse a prompt template the way PromptPex does. Reply with only a JSON object:
{"intent": "<the task in one sentence>", "input_spec": "<constraints on the inputs>",
 "rules": ["<output rule stated by the prompt>", ...],
 "inverse_rules": ["<the negation of each rule>", ...]}"""
TESTS_SYSTEM = """You write test inputs for a prompt template. Each test gives a value to each
variable: {variables}. Write {count} tests: inputs that probe each output rule and each
inverse rule, valid for the input specification, varied and realistic. Reply with only a JSON object:
{{"tests": [{{"vars": {{...}}, "rule": "<the rule it probes>"}}, ...]}}"""
PER_CALL = 10


@dataclass
class GenerateResult:
    plan: str
    rules: list[str] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    out: Path | None = None
    action: str = ""

    def summary(self) -> str:
        lines = [self.plan]
        if self.rules:
            lines.append(f"{len(self.rules)} rule(s) and inverse rule(s) found in the prompt")
        lines.append(
            f"{len(self.cases)} new case(s); {self.duplicates} near-duplicate(s) dropped; "
            f"{self.calls} generation call(s), ${self.cost_usd:.4f}"
        )
        if self.out is not None and self.cases:
            lines.append(f"{self.action} {self.out}: review the cases, then commit them in a pull request")
        return "\n".join(lines)


def generate(
    repo: Path,
    suite: str,
    count: int,
    out: Path | None,
    model: str | None,
    threshold: float,
    dry_run: bool,
    config_path: str | None,
    endpoint: EndpointOptions,
) -> GenerateResult:
    from promptreview.models.client import open_client

    if count < 1:
        raise ConfigError("--count must be at least 1")
    data = load_suite_data(repo, suite, config_path)
    model = model or data.suite.judge
    variables = template_variables(data.prompt) or ("input",)
    calls = 1 + math.ceil(count / PER_CALL)
    prompt_text = "\n\n".join(f"[{m.role}]\n{m.content}" for m in data.prompt.messages)
    prompt_tokens = len(prompt_text) // 4 + 300
    result = GenerateResult(plan=f"plan: {calls} generation call(s) to {model} for {count} case(s)")
    from promptreview.models.pricing import PriceTable

    est, priced = PriceTable(data.config.defaults.prices).cost(model, prompt_tokens * calls, 600 * calls)
    result.plan += (
        f", estimated cost ${est:.4f}" if priced else ", cost unknown (model not in the price table)"
    )
    if dry_run:
        return result
    target = out or (
        repo / Path(data.cases_path).parent / f"{Path(data.cases_path).name.split('.')[0]}.generated.yaml"
    )

    async def go() -> None:
        async with open_client(data.config.defaults, endpoint, repo_root=str(repo)) as client:
            rules_reply = await client.complete(
                ChatRequest.make(
                    model,
                    [Message("system", RULES_SYSTEM), Message("user", prompt_text)],
                    {"temperature": 0},
                    purpose="judge",
                )
            )
            spec = parse_json_object(rules_reply.text or "") if rules_reply.ok else None
            if not isinstance(spec, dict):
                raise PromptReviewError(
                    f"{model} did not describe the prompt's rules: {rules_reply.error or 'unreadable reply'}"
                )
            result.rules = [str(r) for r in (spec.get("rules") or []) + (spec.get("inverse_rules") or [])]
            tests: list[dict[str, Any]] = []
            for i in range(calls - 1):
                n = min(PER_CALL, count - i * PER_CALL)
                system = TESTS_SYSTEM.format(variables=", ".join(variables), count=n)
                user = json.dumps({"prompt": prompt_text, **spec, "batch": i}, ensure_ascii=False)
                reply = await client.complete(
                    ChatRequest.make(
                        model,
                        [Message("system", system), Message("user", user)],
                        {"temperature": 0},
                        purpose="judge",
                    )
                )
                body = parse_json_object(reply.text or "") if reply.ok else None
                for t in (body or {}).get("tests") or []:
                    if (
                        isinstance(t, dict)
                        and isinstance(t.get("vars"), dict)
                        and set(variables) <= set(t["vars"])
                    ):
                        tests.append(t)
            stats = client.stats_for("judge")
            result.calls, result.cost_usd = stats.calls, stats.cost_usd
            texts = [vars_text(c.vars) for c in data.cases]
            new_texts = [vars_text(t["vars"]) for t in tests]
            corpus = await embed_matrix(client, data.suite.embedding_model, texts)
            queries = await embed_matrix(client, data.suite.embedding_model, new_texts)
            kept: list[int] = []
            for i in range(len(tests)):
                if len(kept) >= count:
                    break
                near_old = corpus.shape[0] and float((corpus @ queries[i]).max()) >= threshold
                near_new = kept and float((queries[kept] @ queries[i]).max()) >= threshold
                if near_old or near_new:
                    result.duplicates += 1
                    continue
                kept.append(i)
            taken = {c.id for c in data.cases}
            for i in kept:
                t = tests[i]
                cid = "gen-" + hashlib.sha256(new_texts[i].encode()).hexdigest()[:8]
                if cid in taken:
                    continue
                taken.add(cid)
                result.cases.append(
                    {
                        "id": cid,
                        "vars": dict(t["vars"]),
                        "tags": ["generated"],
                        "source": {"from": "generated", "model": model, "rule": str(t.get("rule", ""))},
                    }
                )

    run_sync(go())
    result.out = target
    result.action = write_cases(
        target, result.cases, header=f"generated by promptreview generate ({model}); review each case"
    )
    return result
