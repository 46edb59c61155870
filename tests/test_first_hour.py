"""A new user's first hour (issue 8), end to end through the real CLI.

Each test is an everyday mistake or first step, and asserts what the user sees: the exit code
(0 pass, 1 fail, 2 configuration error, 3 inconclusive) and the one line that says what to fix.
Real git repositories in ``tmp_path``, the real entry point, the loopback OpenAI-compatible
server over HTTP; the fake model answers with the text after ``ANSWER WITH:`` in the prompt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli_harness import CliRun, run_cli
from promptreview import __version__
from repo_builder import RepoBuilder
from servers.openai_server import OpenAIServer, Reply

pytestmark = pytest.mark.usefixtures("cli_env")

README = Path(__file__).resolve().parents[1] / "README.md"


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
class User:
    tmp_path: Path
    server: OpenAIServer
    capsys: pytest.CaptureFixture[str]

    def cli(self, *argv: str) -> CliRun:
        return run_cli(self.capsys, *argv)

    def _model_args(self, base_url: str | None = None) -> tuple[str, ...]:
        return ("--base-url", base_url or self.server.base_url, "--cache", str(self.tmp_path / "c.sqlite"),
                "--color", "never", "--timeout", "10", "--deadline", "60")

    def run(self, repo: Path, *extra: str, base_url: str | None = None) -> CliRun:
        return self.cli("run", "--repo", str(repo), *self._model_args(base_url), *extra)

    def compare(self, repo: Path, base: str, *extra: str) -> CliRun:
        return self.cli("compare", "--repo", str(repo), "--base", base, *self._model_args(), *extra)


@pytest.fixture
def user(tmp_path: Path, server: OpenAIServer, capsys: pytest.CaptureFixture[str]) -> User:
    return User(tmp_path, server, capsys)


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
"""
CASES = "".join(f"- id: p{i}\n  vars: {{name: Person{i}}}\n" for i in range(6))
GREET = "Greet {{ name }}.\nANSWER WITH: Hello {{ name }}!\n"


def repo_with(tmp_path: Path, **files: str | None) -> RepoBuilder:
    content: dict[str, str | bytes | None] = {
        "promptreview.yml": CONFIG, "prompts/greet.txt": GREET, "evals/people.yaml": CASES}
    content.update({k.replace("__", "/").replace("_dot_", "."): v for k, v in files.items()})
    builder = RepoBuilder.init(tmp_path / "repo")
    builder.commit(content, message="prompts")
    return builder


# --------------------------------------------------------------------------------------------
# 8.4 Exit codes and messages


@pytest.mark.parametrize("content", ["", "[]\n"], ids=["0-bytes", "empty-list"])
def test_empty_cases_file_is_a_configuration_error_under_run_and_compare(user: User, tmp_path: Path,
                                                                         content: str) -> None:
    repo = repo_with(tmp_path)
    broken = repo.commit({"evals/people.yaml": content, "prompts/greet.txt": GREET + "Be brief.\n"})

    for run in (user.run(repo.path), user.compare(repo.path, "HEAD~1")):
        assert run.code == 2, run.out + run.err
        assert "promptreview: error: evals/people.yaml:1: the cases file has no cases" in run.err
    assert broken and user.server.count() == 0


def test_invalid_cases_file_exits_2_under_compare_naming_the_line(user: User, tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    repo.commit({"evals/people.yaml": CASES + "- id: [unclosed\n"})

    run = user.compare(repo.path, "HEAD~1")

    assert run.code == 2, run.out + run.err
    assert "promptreview: error: evals/people.yaml:14: invalid YAML" in run.err
    assert user.server.count() == 0


def test_missing_cases_file_is_reported_at_the_cases_line(user: User, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, evals__people_dot_yaml=None)
    repo.commit({"prompts/greet.txt": GREET + "Be brief.\n"})

    run = user.run(repo.path)
    assert run.code == 2, run.out + run.err
    assert ("promptreview: error: promptreview.yml:8 (suites.greet.cases): "
            "cases file evals/people.yaml not found\n") in run.err
    assert "either side" not in run.out + run.err  # one revision has no sides

    compared = user.compare(repo.path, "HEAD~1")
    assert compared.code == 2, compared.out + compared.err
    assert "promptreview.yml:8 (suites.greet.cases): cases file evals/people.yaml not found at base or head" \
        in compared.err


def test_outside_a_git_repository_run_and_compare_say_so_in_one_line(user: User, tmp_path: Path) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    (plain / "promptreview.yml").write_text(CONFIG)

    for run in (user.run(plain), user.compare(plain, "main")):
        assert run.code == 2
        assert run.err.count("\n") == 1, run.err
        assert "is not in a git repository" in run.err
        assert "git fetch" not in run.err and "ls-files" not in run.err


def test_version_prints_the_version() -> None:
    done = subprocess.run([sys.executable, "-m", "promptreview", "--version"], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"promptreview {__version__}"


def test_401_names_the_url_and_the_servers_message_and_stops_after_the_first_call(
        user: User, tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    user.server.inject("auth", times=100)

    run = user.run(repo.path, "--concurrency", "4")

    assert user.server.count() == 1, "after a 401 the remaining calls must not be sent"
    assert run.code == 2, run.out + run.err
    (line,) = [x for x in run.err.splitlines() if x.startswith("promptreview: error:")]
    assert user.server.base_url in line
    assert "HTTP 401" in line and "Incorrect API key provided: ***" in line
    assert "sk-" not in run.out + run.err


def test_dead_endpoint_names_the_url_and_stops_after_the_first_call_gives_up(user: User,
                                                                            tmp_path: Path) -> None:
    repo = repo_with(tmp_path)
    with OpenAIServer() as gone:
        dead = gone.base_url  # a port that nothing listens on once the server is closed

    run = user.run(repo.path, base_url=dead)

    assert run.code == 3, run.out + run.err  # can't tell (errors never count against the prompt)
    (line,) = [x for x in run.err.splitlines() if x.startswith("promptreview: error:")]
    assert f"cannot reach {dead}" in line and "Remaining calls were not sent" in line


# --------------------------------------------------------------------------------------------
# 8.3 Errors never outweigh certain results

RUBRIC_CONFIG = CONFIG + '      - rubric: {criteria: "Warm and uses the name", min: 3}\nGATE'
# Half the people are greeted without their name: `contains` certainly fails on those cases.
HALF_NAMED = ("Greet {{ name }}.\nANSWER WITH: {% if name in ['Person0', 'Person2', 'Person4'] %}Hello there!"
              "{% else %}Hello {{ name }}!{% endif %}\n")


def test_an_errored_metric_does_not_hide_a_certain_failure_and_no_unstated_floor_applies(
        user: User, tmp_path: Path) -> None:
    # The judge's replies are not grades, so `rubric` errors on every case; `contains` still
    # passes on three people and certainly fails on the other three.
    repo = repo_with(tmp_path, promptreview_dot_yml=RUBRIC_CONFIG.replace("GATE", ""),
                     prompts__greet_dot_txt=HALF_NAMED)

    run = user.run(repo.path, "--json", str(tmp_path / "run.json"))

    assert run.code == 0, run.out + run.err  # no min_pass_rate was set, so none is applied
    assert "50%" in run.out
    assert "min_pass_rate is set" not in run.out
    assert "no min_pass_rate floor is set" in run.out


def test_a_set_floor_is_judged_on_the_metrics_that_produced_a_result(user: User, tmp_path: Path) -> None:
    config = RUBRIC_CONFIG.replace("GATE", "    gate: {min_pass_rate: 0.9}\n")
    repo = repo_with(tmp_path, promptreview_dot_yml=config, prompts__greet_dot_txt=HALF_NAMED)

    run = user.run(repo.path)

    assert run.code == 1, run.out + run.err
    assert "below the suite's 90% floor" in run.out and "not measured" not in run.out


def test_compare_fails_a_certain_regression_although_another_metric_errored(user: User,
                                                                           tmp_path: Path) -> None:
    ten = "".join(f"- id: p{i}\n  vars: {{name: Person{i}}}\n" for i in range(10))
    repo = repo_with(tmp_path, promptreview_dot_yml=RUBRIC_CONFIG.replace("GATE", ""),
                     evals__people_dot_yaml=ten)
    repo.commit({"prompts/greet.txt": "Greet {{ name }}.\nANSWER WITH: Hello there!\n"})

    run = user.compare(repo.path, "HEAD~1")

    assert run.code == 1, run.out + run.err
    assert "promptreview: FAIL" in run.out and "`greet` fails" in run.out


# --------------------------------------------------------------------------------------------
# 8.2 validate catches the common mistakes


def test_validate_names_an_undefined_template_variable_against_the_cases(user: User, tmp_path: Path) -> None:
    prompt = "Greet {{ name }}.\n{% if name == 'Person3' %}Call them {{ nickname }}.{% endif %}\n"
    repo = repo_with(tmp_path, prompts__greet_dot_txt=prompt)

    run = user.cli("validate", "--repo", str(repo.path))

    assert run.code == 2
    assert ("prompts/greet.txt line 2: 'nickname' is undefined (in 1 case(s); first: p3 at "
            "evals/people.yaml:7") in run.err
    assert "1 problem(s)" in run.out


def test_validate_names_an_undefined_variable_in_a_metric_argument(user: User, tmp_path: Path) -> None:
    repo = repo_with(tmp_path, promptreview_dot_yml=CONFIG.replace("vars.name", "vars.nmae"))

    run = user.cli("validate", "--repo", str(repo.path))

    assert run.code == 2
    assert "promptreview.yml:10 (suites.greet.metrics[0]): metric 'contains':" in run.err
    assert "'nmae'" in run.err


@pytest.mark.parametrize("content", ["", "[]\n", "# nothing yet\n"], ids=["0-bytes", "empty-list", "comment"])
def test_validate_refuses_an_empty_cases_file(user: User, tmp_path: Path, content: str) -> None:
    repo = repo_with(tmp_path, evals__people_dot_yaml=content)

    run = user.cli("validate", "--repo", str(repo.path))

    assert run.code == 2
    assert run.err == "evals/people.yaml:1: the cases file has no cases (empty, or an empty list)\n"


GH_PROMPT = """name: Greeter
model: openai/gpt-4o-mini
modelParameters:
  max_tokens: 100
  temperature: 0.2
messages:
  - role: user
    content: "Greet {{name}} from {{city}}."
testData:
  - name: Ada
    city: London
  - name: Grace
    expected: Hello
evaluators:
  - name: is json
    string: {isJSON: true}
  - name: similar
    uses: github/simlarity
"""


def test_validate_catches_github_models_mistakes_each_on_its_line(user: User, tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit({"prompts/greet.prompt.yml": GH_PROMPT})

    run = user.cli("validate", "--repo", str(repo.path))

    assert run.code == 2, run.err
    lines = run.err.splitlines()
    assert lines == [
        "prompts/greet.prompt.yml:16 (evaluators[0].string): string evaluator 'is json' sets none of equals, "
        "contains, startsWith, endsWith (`isJSON` is not one), so gh-models has nothing to check and every "
        "case errors",
        "prompts/greet.prompt.yml:18 (evaluators[1].uses): gh-models has no builtin evaluator "
        "'github/simlarity', so every case fails; did you mean `github/similarity`?",
        "warning: prompts/greet.prompt.yml:4 (modelParameters.max_tokens): gh-models ignores `max_tokens`, "
        "so it is never sent; did you mean `maxTokens`?",
        "warning: prompts/greet.prompt.yml:8: `{{city}}` is sent to the model as written: 1 of 2 testData "
        "entries do not define it (first: Grace)",
    ]
    assert "2 problem(s), 2 warning(s)" in run.out


def test_validate_warnings_alone_leave_the_exit_code_0(user: User, tmp_path: Path) -> None:
    repo = RepoBuilder.init(tmp_path / "repo")
    ok = GH_PROMPT.split("evaluators:")[0].replace("max_tokens", "maxTokens")
    ok = ok.replace("    expected: Hello\n", "")
    repo.commit({"prompts/greet.prompt.yml": ok})

    run = user.cli("validate", "--repo", str(repo.path))

    assert run.code == 0, run.err
    assert run.err == ("warning: prompts/greet.prompt.yml:8: `{{city}}` is sent to the model as written: "
                       "1 of 2 testData entries do not define it (first: Grace)\n")
    assert run.out.strip().endswith(": ok, 1 warning(s)")


# --------------------------------------------------------------------------------------------
# 8.5 The starter passes


def _block(text: str, label: str) -> str:
    start = text.index(f"<<{label}-")
    body = text[text.index(">>", start) + 2:]
    return body[: body.index(f"<</{label}-")]


def starter_model(body: dict[str, Any]) -> str:
    """A model and judge on loopback: the edited prompt asks for an example and gets one; the judge
    prefers the answer with an example and the grader gives it a 5 (a 4 without)."""
    messages = body.get("messages", [])
    system = next((str(m["content"]) for m in messages if m.get("role") == "system"), "")
    user = str(messages[-1]["content"]) if messages else ""
    if "impartial judge" in system:
        a, b = ("For example" in _block(user, label) for label in ("ANSWER A", "ANSWER B"))
        winner = "A" if a and not b else "B" if b and not a else "tie"
        return json.dumps({"winner": winner, "reason": "one answer gives an example"})
    if "careful, strict grader" in system:
        return json.dumps({"reason": "clear", "grade": 5 if "For example" in _block(user, "ANSWER") else 4})
    topic = user.split("Explain ", 1)[-1].split(" to a new customer", 1)[0]
    answer = f"Here is how {topic} work at Acme: ask us any time."
    if "example" in user:
        answer += f" For example, {topic} take one click in your account."
    return answer


def test_init_then_commit_then_an_edited_prompt_gives_a_green_compare(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = RepoBuilder.init(tmp_path / "repo")
    init = run_cli(capsys, "init", "--repo", str(repo.path))
    assert init.code == 0
    assert "wrote    .gitignore (ignores .promptreview/)" in init.out
    steps = init.out[init.out.index("next:"):]
    assert steps.index("commit") < steps.index("compare --base main")
    assert run_cli(capsys, "validate", "--repo", str(repo.path)).code == 0
    repo.commit({}, message="Add promptreview")
    prompt = repo.path / "prompts" / "example.md.j2"
    prompt.write_text(prompt.read_text().rstrip("\n") + " Give one concrete example.\n")

    with OpenAIServer(responder=starter_model) as model:
        run = run_cli(capsys, "compare", "--repo", str(repo.path), "--base", "main",
                      "--base-url", model.base_url, "--color", "never")

    assert run.code == 0, run.out + run.err
    assert "promptreview: PASS" in run.out
    # The cache and reports written into .promptreview/ never show up as changed files.
    git = ["git", "-C", str(repo.path)]
    assert subprocess.run([*git, "check-ignore", "-q", ".promptreview/cache.sqlite"]).returncode == 0
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout.splitlines() == [" M prompts/example.md.j2"]


def test_init_appends_to_an_existing_gitignore_once(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo = RepoBuilder.init(tmp_path / "repo")
    (repo.path / ".gitignore").write_text("node_modules/")

    first = run_cli(capsys, "init", "--repo", str(repo.path))
    second = run_cli(capsys, "init", "--repo", str(repo.path))

    assert "updated  .gitignore (ignores .promptreview/)" in first.out
    assert "kept     .gitignore (already ignores .promptreview/)" in second.out
    expected = "node_modules/\n# promptreview's cache and reports\n.promptreview/\n"
    assert (repo.path / ".gitignore").read_text() == expected


def test_the_workflow_init_writes_does_not_ask_to_be_copied_where_it_already_is(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = RepoBuilder.init(tmp_path / "repo")
    run_cli(capsys, "init", "--repo", str(repo.path))

    workflow = (repo.path / ".github" / "workflows" / "promptreview.yml").read_text()

    assert "Copy to" not in workflow
    checkout = [line for line in workflow.splitlines() if "actions/checkout" in line]
    assert checkout and "fetch-depth" not in workflow  # the shallow default is enough: say so, do so
    assert "with: {fetch-depth: 0}" not in README.read_text(encoding="utf-8")  # the README's example agrees
