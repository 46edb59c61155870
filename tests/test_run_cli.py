"""``promptreview run`` / ``validate`` end to end, and bad input that must never end in a traceback.

Like ``test_compare_e2e.py``: real git repositories in ``tmp_path``, the real CLI entry point, and
the loopback OpenAI-compatible server over HTTP. The fake model answers with the text after
``ANSWER WITH:`` in the prompt (else the server's default echo of the prompt).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cli_harness import API_KEY, CliRun, run_cli
from promptreview.review import ReviewOptions, review
from promptreview.review_result import ReviewResult
from repo_builder import RepoBuilder
from servers.openai_server import OpenAIServer, Reply

pytestmark = pytest.mark.usefixtures("cli_env")

SCHEMA = Path(__file__).resolve().parents[1] / "src" / "promptreview" / "schemas" / "report.schema.json"
# Real GitHub Models prompt files, vendored with their sources (tests/fixtures/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gh-models"
BAD_FIXTURES = ("rodoHasArrived__Meridian/fix-test-failures.prompt.yml",
                "tadanobutubutu__screeps/strategy-generator.prompt.yml")


def answer_as_instructed(body: dict[str, Any]) -> Reply | str | None:
    users = [str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"]
    prompt = users[-1] if users else ""
    if "ANSWER WITH:" in prompt:
        return prompt.split("ANSWER WITH:", 1)[1].strip()
    return None


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(responder=answer_as_instructed) as srv:
        yield srv


@dataclass
class Harness:
    tmp_path: Path
    server: OpenAIServer
    capsys: pytest.CaptureFixture[str]

    def cli(self, *argv: str) -> CliRun:
        return run_cli(self.capsys, *argv)

    def run(self, repo: Path, *extra: str) -> CliRun:
        return self.cli("run", "--repo", str(repo), "--base-url", self.server.base_url,
                        "--cache", str(self.tmp_path / "cache.sqlite"), "--color", "never",
                        "--timeout", "10", "--deadline", "60", *extra)

    def review(self, repo: Path, rev: str | None = None) -> ReviewResult:
        opts = ReviewOptions(base_url=self.server.base_url, api_key=API_KEY,
                             cache_path=str(self.tmp_path / "cache.sqlite"), timeout_s=10, deadline_s=60)
        return review(repo, None, rev, opts)


@pytest.fixture
def h(tmp_path: Path, server: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> Harness:
    return Harness(tmp_path, server, capsys)


def repo_with(tmp_path: Path, files: dict[str, str | bytes | None]) -> RepoBuilder:
    builder = RepoBuilder.init(tmp_path / "repo")
    builder.commit(files, message="prompts")
    return builder


CONFIG = """version: 1
defaults:
  model: test/answerer
  judge: test/judge
suites:
  greet:
    prompt: prompts/greet.txt
    cases: evals/people.yaml
    metrics:
      - contains: "{{ vars.name }}"
      - max-length: 60
GATE
"""
CASES = """- id: alice
  vars: {name: Alice}
- id: bob
  vars: {name: Bob}
- id: chen
  vars: {name: Chen}
- id: dara
  vars: {name: Dara}
"""
# Dara gets an answer without her name: 3 of 4 cases pass every gated metric.
GREET = ("Greet {{ name }}.\nANSWER WITH: {% if name == 'Dara' %}Hello there!"
         "{% else %}Hello {{ name }}!{% endif %}\n")


def files(gate: str = "", prompt: str = GREET, **extra: str | None) -> dict[str, str | bytes | None]:
    return {"promptreview.yml": CONFIG.replace("GATE", gate), "prompts/greet.txt": prompt,
            "evals/people.yaml": CASES, **extra}


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    return data


def json_suites(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in data["suites"]}


# --------------------------------------------------------------------------------------------
# 10. run on one revision


@pytest.mark.parametrize(
    ("gate", "code", "verdict"),
    [
        # No floor is applied that the user did not set (issue 8): `run` reports the 75%.
        pytest.param("", 0, "pass", id="no-floor-set-no-floor-applied"),
        pytest.param("    gate: {min_pass_rate: 0.7}", 0, "pass", id="75%-meets-a-70%-floor"),
        pytest.param("    gate: {min_pass_rate: 0.8}", 1, "fail", id="75%-misses-an-80%-floor"),
    ],
)
def test_run_exit_code_follows_the_floors(h: Harness, tmp_path: Path, gate: str, code: int,
                                          verdict: str) -> None:
    repo = repo_with(tmp_path, files(gate))
    out = tmp_path / "out" / "run.json"

    run = h.run(repo.path, "--json", str(out))

    assert run.code == code, run.out + run.err
    assert f"promptreview: {verdict.upper()}" in run.out
    assert "greet" in run.out and "75%" in run.out
    assert h.server.count() == 4  # one answer per case, no judge: nothing to compare with
    data = load_json(out)
    assert data["verdict"]["verdict"] == verdict
    greet = json_suites(data)["greet"]
    assert greet["cases_total"] == 4
    assert {c["case_id"] for c in greet["cases"]} == {"alice", "bob", "chen", "dara"}
    failing = [c["case_id"] for c in greet["cases"]
               if any(not m["passed"] for s in c["head"]["samples"] for m in s["metrics"])]
    assert failing == ["dara"]


def test_run_reads_a_committed_revision_not_the_working_tree(h: Harness, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, files("    gate: {min_pass_rate: 0.7}"))
    sha = repo.sha("HEAD")
    local_edit = "Greet {{ name }}.\nANSWER WITH: nope\n"
    (repo.path / "prompts" / "greet.txt").write_text(local_edit, encoding="utf-8")

    at_rev = h.run(repo.path, "--rev", sha)
    worktree = h.run(repo.path)

    assert (at_rev.code, worktree.code) == (0, 1)


def test_run_summary_does_not_call_every_suite_new(h: Harness, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, files())

    run = h.run(repo.path)

    assert "(new)" not in run.out and "New prompt" not in run.out
    assert "→" not in run.out.splitlines()[0]


SUITE_HEAD = "version: 1\nsuites:\n  greet:\n    prompt: prompts/greet.txt\n    cases: evals/people.yaml\n"


# --------------------------------------------------------------------------------------------
# 11. Bad input: a clear message, never a traceback


@pytest.mark.parametrize(
    ("config", "where"),
    [
        pytest.param("version: 1\nsuites:\n  greet:\n    prompt: [unclosed\n    cases: evals/people.yaml\n",
                     "promptreview.yml:5", id="broken-yaml"),
        pytest.param(SUITE_HEAD + "    metrics:\n      - containz: x\n", "promptreview.yml:7",
                     id="unknown-metric"),
        pytest.param(SUITE_HEAD + "    gate: {min_pass_rat: 1}\n", "promptreview.yml:6",
                     id="unknown-gate-key"),
        pytest.param(SUITE_HEAD + "  greet:\n    prompt: x.txt\n", "promptreview.yml:6",
                     id="duplicate-suite"),
    ],
)
def test_broken_config_exits_2_naming_file_and_line(h: Harness, tmp_path: Path, config: str,
                                                    where: str) -> None:
    repo = repo_with(tmp_path, files(**{"promptreview.yml": config}))

    for run in (h.run(repo.path), h.cli("validate", "--repo", str(repo.path))):
        assert run.code == 2, run.out + run.err
        assert where in run.err, run.err
        assert "internal error" not in run.err
    assert h.server.count() == 0


def test_compare_with_broken_head_config_exits_2_naming_file_and_line(h: Harness, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, files())
    base = repo.sha("HEAD")
    head = repo.commit({"promptreview.yml": CONFIG.replace("GATE", "    gate: {margin: [0.1\n")}, branch="pr")

    run = h.cli("compare", "--repo", str(repo.path), "--base", base, "--head", head,
                "--base-url", h.server.base_url, "--cache", str(tmp_path / "c.sqlite"))

    assert run.code == 2, run.out + run.err
    assert "promptreview.yml:" in run.err and "invalid YAML" in run.err
    assert h.server.count() == 0


def test_compare_with_an_unknown_revision_exits_2(h: Harness, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, files())

    run = h.cli("compare", "--repo", str(repo.path), "--base", "no-such-branch",
                "--base-url", h.server.base_url, "--cache", str(tmp_path / "c.sqlite"))

    assert run.code == 2
    assert run.err.startswith("promptreview: error:") and "internal error" not in run.err
    assert h.server.count() == 0


def test_unknown_revision_message_names_the_revision(h: Harness, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, files())

    run = h.cli("compare", "--repo", str(repo.path), "--base", "no-such-branch",
                "--base-url", h.server.base_url, "--cache", str(tmp_path / "c.sqlite"))

    assert "no-such-branch" in run.err


def test_undefined_template_variable_errors_that_case_and_the_run_goes_on(h: Harness, tmp_path: Path) -> None:
    prompt = "Greet {{ name }}.\nANSWER WITH: Hi {{ name }}{% if name == 'Bob' %} {{ nickname }}{% endif %}\n"
    repo = repo_with(tmp_path, files("    gate: {min_pass_rate: 0.5, max_error_rate: 0.5}", prompt=prompt))

    run = h.run(repo.path)

    assert run.code == 0, run.out + run.err
    assert "could not render the prompt" in run.out
    assert h.server.count() == 3  # Bob's case never reached the model
    result = h.review(repo.path)
    (greet,) = result.suites
    bob = next(c for c in greet.cases if c.case_id == "bob")
    assert bob.head is not None
    (sample,) = bob.head.samples
    assert sample.answer.error_kind == "render"
    assert "nickname" in (sample.answer.error or "") and "undefined" in (sample.answer.error or "")
    assert greet.errors_by_kind == {"head:render": 1}
    assert sum(1 for c in greet.cases if c.head and not c.head.errored) == 3


def test_template_errors_are_described_in_words(h: Harness, tmp_path: Path) -> None:
    prompt = "Greet {{ name }}.\nANSWER WITH: Hi {{ name }}{% if name == 'Bob' %} {{ nickname }}{% endif %}\n"
    repo = repo_with(tmp_path, files("    gate: {min_pass_rate: 0.5, max_error_rate: 0.5}", prompt=prompt))

    run = h.run(repo.path)

    assert "1 answer could not render the prompt on head" in run.out


def test_run_with_mostly_errored_cases_is_not_a_pass(h: Harness, tmp_path: Path) -> None:
    prompt = "Greet {{ name }}.\nANSWER WITH: {% if name != 'Alice' %}{{ nickname }}{% endif %}{{ name }}\n"
    repo = repo_with(tmp_path, files("    gate: {min_pass_rate: 0.5}", prompt=prompt))

    run = h.run(repo.path)

    assert h.server.count() == 1  # three of four cases could not even be rendered
    assert run.code == 3, run.out  # 75% errors, above the default 20% max_error_rate: can't tell
    greet = h.review(repo.path).suites[0]
    assert greet.verdict.verdict == "inconclusive"
    assert sorted(c.case_id for c in greet.cases if c.change == "error") == ["bob", "chen", "dara"]


def test_missing_cases_file_is_a_named_suite_error_and_other_suites_run(h: Harness, tmp_path: Path) -> None:
    config = CONFIG.replace("GATE", "    gate: {min_pass_rate: 0.7}") + (
        "  orphan:\n    prompt: prompts/greet.txt\n    cases: evals/missing.yaml\n")
    repo = repo_with(tmp_path, files(**{"promptreview.yml": config}))

    run = h.run(repo.path, "--json", str(tmp_path / "run.json"))

    # One suite's configuration is broken: a configuration error (2), not "inconclusive" (3).
    assert run.code == 2, run.out + run.err
    assert "evals/missing.yaml" in run.out
    # Reported at the suite's `cases:` line (line 15 of the config), where the fix goes.
    assert ("promptreview: error: promptreview.yml:15 (suites.orphan.cases): cases file "
            "evals/missing.yaml not found\n") in run.err
    assert "either side" not in run.out + run.err
    assert h.server.count() == 4  # greet still ran
    suites = json_suites(load_json(tmp_path / "run.json"))
    assert "evals/missing.yaml" in suites["orphan"]["error"]
    assert suites["orphan"]["verdict"]["verdict"] == "error"
    assert suites["greet"]["verdict"]["verdict"] == "pass"

    check = h.cli("validate", "--repo", str(repo.path))
    assert check.code == 2 and "evals/missing.yaml" in check.err


# --------------------------------------------------------------------------------------------
# 11. The GitHub Models fixtures


def _fixture_files() -> dict[str, dict[str, Any]]:
    """Every prompt file under the fixtures (the workflow file is not one), parsed with plain PyYAML."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for path in sorted(FIXTURES.rglob("*.yml")):
        rel = path.relative_to(FIXTURES).as_posix()
        if rel == "examples/evals_action.yml" or rel.removeprefix("wild/") in BAD_FIXTURES:
            continue
        out[rel] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return out


def _fixture_repo(fixtures: dict[str, Any]) -> dict[str, str | bytes | None]:
    return {_repo_name(rel): (FIXTURES / rel).read_text(encoding="utf-8") for rel in fixtures}


def _repo_name(rel: str) -> str:
    """Where a fixture goes in the test repository: a ``*.prompt.yml`` name, so it is discovered."""
    stem = rel.removesuffix(".yml").removesuffix(".prompt").replace("/", "__")
    return f"prompts/{stem}.prompt.yml"




def test_every_conforming_github_models_fixture_loads(h: Harness, tmp_path: Path) -> None:
    fixtures = _fixture_files()
    assert len(fixtures) == 21
    repo = repo_with(tmp_path, _fixture_repo(fixtures))

    run = h.cli("validate", "--repo", str(repo.path))

    # They all load. One has a mistake gh-models itself accepts but every case then errors on: a
    # string evaluator with only `isJSON` (not a gh-models check); validate names it (issue 8).
    assert run.code == 2, run.err
    n_cases = sum(len(d.get("testData") or []) for d in fixtures.values())
    assert f"{len(fixtures)} suite(s), {n_cases} case(s) checked" in run.out and "1 problem(s)" in run.out
    errors = [line for line in run.err.splitlines() if not line.startswith("warning: ")]
    assert errors == [
        "prompts/wild__ms-mfg-community__gh-abcs-actions__failed-run-analyze.prompt.yml:89 "
        "(evaluators[0].string): string evaluator 'Response should be valid JSON' sets none of equals, "
        "contains, startsWith, endsWith (`isJSON` is not one), so gh-models has nothing to check and "
        "every case errors"
    ]


def test_github_models_fixtures_with_test_data_run(h: Harness, tmp_path: Path) -> None:
    fixtures = {rel: d for rel, d in _fixture_files().items() if d.get("testData")}
    assert len(fixtures) == 11
    repo = repo_with(tmp_path, _fixture_repo(fixtures))
    out = tmp_path / "run.json"

    run = h.run(repo.path, "--json", str(out))

    assert run.code in (0, 1), run.out + run.err  # the fake model's answers fail some evaluators
    suites = json_suites(load_json(out))
    assert set(suites) == {_repo_name(rel) for rel in fixtures}
    for rel, data in fixtures.items():
        s = suites[_repo_name(rel)]
        assert s["error"] is None, (rel, s["error"])
        assert s["cases_total"] == len(data["testData"]), rel
        assert s["prompt_format"] == "gh-models"
        answers = [c["head"]["samples"][0]["answer"] for c in s["cases"]]
        assert all(a["completion"] and a["error"] is None for a in answers), rel
    head_usage = load_json(out)["usage"]["head"]
    n_cases = sum(len(d["testData"]) for d in fixtures.values())
    assert (head_usage["calls"], head_usage["errors"]) == (n_cases, 0)


def test_wild_negative_fixtures_give_clear_errors_naming_the_file(h: Harness, tmp_path: Path) -> None:
    good = "examples/sample_prompt.yml"
    content = {_repo_name(good): (FIXTURES / good).read_text(encoding="utf-8")}
    for rel in BAD_FIXTURES:
        shutil.copyfile(FIXTURES / "wild" / rel, tmp_path / "x")
        content[_repo_name(rel)] = (tmp_path / "x").read_text(encoding="utf-8")
    repo = repo_with(tmp_path, content)
    bad_names = [_repo_name(rel) for rel in BAD_FIXTURES]

    check = h.cli("validate", "--repo", str(repo.path))
    assert check.code == 2
    for name in bad_names:
        assert name in check.err, check.err

    run = h.run(repo.path, "--json", str(tmp_path / "run.json"))
    assert run.code == 2, run.out + run.err  # broken prompt files are configuration errors
    for name in bad_names:
        assert f"promptreview: error: {name}:" in run.err
    suites = json_suites(load_json(tmp_path / "run.json"))
    for name in bad_names:
        assert suites[name]["error"] and name in suites[name]["error"], suites[name]["error"]
        assert name in run.out
    assert suites[_repo_name(good)]["error"] is None and suites[_repo_name(good)]["cases_total"] == 2


def test_verdict_of_a_broken_suite_says_what_broke(h: Harness, tmp_path: Path) -> None:
    orphan = "  orphan:\n    prompt: prompts/greet.txt\n    cases: evals/missing.yaml\n"
    config = CONFIG.replace("GATE", "") + orphan
    repo = repo_with(tmp_path, files(**{"promptreview.yml": config, "prompts/broken.prompt.yml": "a: [b\n"}))

    run = h.run(repo.path, "--json", str(tmp_path / "run.json"))

    suites = json_suites(load_json(tmp_path / "run.json"))
    assert "evals/missing.yaml" in suites["orphan"]["verdict"]["reason"]
    assert "invalid YAML" in suites["prompts/broken.prompt.yml"]["verdict"]["reason"]
    assert "has no cases" not in run.out


def test_samples_keep_their_order_and_a_bad_metric_argument_errors_only_that_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each case's samples come back in sample order (answers are placed by case and sample as
    they arrive), and a case-level metric whose argument does not render is an error on that
    metric for that case alone, while the suite's templated metric still scores every case."""
    seen: dict[str, int] = {}

    def respond(body: dict[str, Any]) -> str | None:
        prompt = str(body["messages"][-1]["content"])
        name = prompt.split()[1].rstrip(".")
        seen[name] = seen.get(name, 0) + 1
        # Dara's first sample greets her by name, her later ones do not.
        return f"Hello {name}!" if name != "Dara" or seen[name] == 1 else "Hello there!"

    cases = CASES.replace("  vars: {name: Bob}", "  vars: {name: Bob}\n  metrics:\n"
                          "    - regex: {value: '{{ vars.nickname }}', name: nick}")
    config = CONFIG.replace("GATE", "    samples: 3")
    repo = repo_with(tmp_path, {"promptreview.yml": config, "prompts/greet.txt": "Greet {{ name }}.\n",
                                "evals/people.yaml": cases})
    with OpenAIServer(responder=respond) as srv:
        opts = ReviewOptions(base_url=srv.base_url, api_key=API_KEY, no_cache=True, concurrency=1,
                             timeout_s=10, deadline_s=60)
        result = review(repo.path, None, None, opts)
        assert srv.count() == 12  # 4 cases x 3 samples, sent one at a time in case, sample order

    (greet,) = result.suites
    by_id = {c.case_id: c for c in greet.cases}
    dara = by_id["dara"].head
    assert dara is not None
    assert [s.answer.sample for s in dara.samples] == [0, 1, 2]
    assert [s.answer.text for s in dara.samples] == ["Hello Dara!", "Hello there!", "Hello there!"]
    contains = [next(m for m in s.metrics if m.metric == "contains").passed for s in dara.samples]
    assert contains == [True, False, False]
    bob = by_id["bob"].head
    assert bob is not None
    for s in bob.samples:
        nick = next(m for m in s.metrics if m.metric == "nick")
        assert nick.error is not None and "did not render" in nick.error and "nickname" in nick.error
        assert next(m for m in s.metrics if m.metric == "contains").passed
    others = [m for c in ("alice", "chen") for s in by_id[c].head.samples for m in s.metrics]  # type: ignore[union-attr]
    assert others and all(m.metric != "nick" for m in others)
