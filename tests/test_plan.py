"""Changes and plan: which suites a change affects, why, and which definition is used."""

from __future__ import annotations

from pathlib import Path

from promptreview.changes import diff
from promptreview.plan import Plan, make_plan
from promptreview.revision import Revision
from repo_builder import RepoBuilder, run_git

CONFIG = """version: 1
defaults: {model: m/base}
suites:
  a:
    prompt: prompts/a.j2
    cases: evals/a.yaml
    metrics: [is-json]
  b:
    prompt: prompts/b.j2
    cases: evals/b.yaml
"""
FILES = {
    "promptreview.yml": CONFIG,
    "prompts/a.j2": "{% include 'partials/outer.j2' %} {{ q }}\n",
    "prompts/partials/outer.j2": "{% include 'inner.j2' %}\n",
    "prompts/partials/inner.j2": "Be kind.\n",
    "prompts/b.j2": "B {{ q }}\n",
    "evals/a.yaml": "- q: x\n",
    "evals/b.yaml": "- q: y\n",
}


def plan_for(tmp_path: Path, head: dict[str, str | None], move: tuple[str, str] | None = None) -> Plan:
    repo = RepoBuilder.init(tmp_path / "r")
    base = repo.commit(FILES)
    if move:
        run_git(repo.path, "mv", *move)
    head_sha = repo.commit(head)
    b, h = Revision.at(repo.path, base), Revision.at(repo.path, head_sha)
    return make_plan(b, h, diff(b, h))


def affected(plan: Plan) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {s.suite.name: (s.status, s.reasons) for s in plan.suites}


def test_a_change_to_a_nested_partial_affects_only_the_prompt_that_includes_it(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"prompts/partials/inner.j2": "Be very kind.\n"})
    assert affected(plan) == {"a": ("modified", ("included template prompts/partials/inner.j2 changed",))}
    assert plan.unaffected == ("b",)


def test_cases_and_renames_and_deletions(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"evals/b.yaml": "- q: z\n"}, move=("prompts/a.j2", "prompts/a2.j2"))
    # The config still names prompts/a.j2, which no longer exists at head: a is removed.
    assert affected(plan)["a"][0] == "removed"
    assert affected(plan)["b"] == ("modified", ("cases changed",))
    renames = [c for c in plan.changes.changes if c.status == "renamed"]
    assert [(c.old_path, c.path) for c in renames] == [("prompts/a.j2", "prompts/a2.j2")]


def test_a_pr_editing_the_gate_is_reported_and_the_base_definition_kept(tmp_path: Path) -> None:
    loosened = CONFIG.replace("    metrics: [is-json]\n", "    gate: {margin: 0.9}\n")
    plan = plan_for(tmp_path, {"promptreview.yml": loosened})
    (a,) = plan.suites
    assert a.suite.name == "a" and [m.kind for m in a.suite.metrics] == ["is-json"]
    assert a.suite.gate.margin is None
    # In a reviewer's words, not Python reprs of the parsed config.
    assert a.definition_changes == ("metrics: removed `is-json`", "gate.margin not set → 0.9")


def test_definition_changes_read_as_a_config_diff_not_python_objects(tmp_path: Path) -> None:
    edited = CONFIG.replace(
        "    metrics: [is-json]\n",
        "    metrics:\n      - contains: refund\n      - is-json: {gate: false}\n"
        "    judge: m/lenient\n    samples: 3\n    gate: {margin: 0.5, on_inconclusive: pass}\n")
    plan = plan_for(tmp_path, {"promptreview.yml": edited})
    (a,) = plan.suites
    assert a.definition_changes == (
        "metrics: added `contains`; `is-json` no longer gated (reported only)",
        "judge model `openai/gpt-4.1` → `m/lenient`",
        "samples 1 → 3",
        "gate.margin not set → 0.5",
        "gate.on_inconclusive `neutral` → `pass`",
    )
    shown = " ".join(a.definition_changes)
    assert not any(ch in shown for ch in "{}[]'\"") and "Spec(" not in shown  # no reprs


def test_moving_a_suite_within_the_config_is_not_a_definition_change(tmp_path: Path) -> None:
    moved = CONFIG.replace("suites:\n", "suites:\n  # the suites this repository reviews\n\n")
    plan = plan_for(tmp_path, {"promptreview.yml": moved})
    assert plan.suites == ()


def test_a_model_change_affects_every_suite_and_each_side_keeps_its_model(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"promptreview.yml": CONFIG.replace("m/base", "m/new")})
    assert affected(plan) == {n: ("modified", ("model under test changed: m/base → m/new",)) for n in "ab"}
    a = plan.suites[0]
    assert a.base_model and a.head_model
    assert (a.base_model.resolve(None), a.head_model.resolve(None)) == ("m/base", "m/new")
    assert a.definition_changes == ()  # the model is not part of the gate


def test_nothing_affected_when_only_other_files_change(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, {"README.md": "hello\n"})
    assert plan.suites == () and set(plan.unaffected) == {"a", "b"}
