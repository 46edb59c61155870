"""A pull request that breaks its own prompt fails its review (issues 7.6 and 13.1-13.3, 13.5).

Each test runs the real ``promptreview action`` (see ``test_action_e2e.py`` for the runner's
environment) against the loopback GitHub and model servers, on a PR built the way an author or an
attacker would build it, and reads what a reviewer sees: the conclusion of the commit status and
check run, the exit code, and the text of the sticky comment. The controls beside them show that
the same review still passes, or stays neutral, when the PR did nothing wrong.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from repo_builder import RepoBuilder, run_git
from servers.github_server import GitHubServer
from servers.openai_server import OpenAIServer, Reply
from test_action_e2e import BASE_FILES, CONFIG, PR, REPO, ActionRun, Project

Files = Mapping[str, str | bytes | None]
WARM = {"prompts/greet.txt": "Say a warm hello to {{ vars.name }}."}  # a harmless edit


@pytest.fixture(autouse=True)
def _contract_clean(fake_github: GitHubServer) -> Iterator[None]:
    yield
    assert fake_github.contract_violations == []


def pr(
    tmp_path: Path,
    github: GitHubServer,
    openai: OpenAIServer,
    head_files: Files,
    *,
    base_files: Files = BASE_FILES,
    before_head: Callable[[Path], None] | None = None,
) -> Project:
    """A PR on the fake GitHub whose head commit writes ``head_files`` (after ``before_head``)."""
    origin = RepoBuilder.init(tmp_path / "origin")
    base = origin.commit(dict(base_files), message="Add prompts")
    run_git(origin.path, "checkout", "--quiet", "-b", "feature")
    if before_head is not None:
        before_head(origin.path)
    head = origin.commit(dict(head_files), branch="feature", message="Edit the prompt")
    github.add_repo(REPO)
    github.add_pull(REPO, head_sha=head, base_sha=base, number=PR, head_ref="feature")
    return Project(tmp_path, github, openai, origin, base, head)


def visible(markdown: str) -> str:
    """The text a reader sees once GitHub (cmark-gfm) renders the comment: no markup, no escapes."""
    rendered = cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def headline(markdown: str) -> str:
    """The heading and the sentence under it: what a reviewer reads without opening anything."""
    rendered = cmarkgfm.github_flavored_markdown_to_html(markdown, Options.CMARK_OPT_UNSAFE)
    top = re.search(r"<h2>(.*?)</h2>\s*<p>(.*?)</p>", rendered, re.S)
    assert top, rendered
    return html.unescape(re.sub(r"<[^>]+>", "", top.group(1) + "\n" + top.group(2)))


def review(project: Project, **inputs: str) -> tuple[ActionRun, str]:
    """Run the action on the PR; the run and the sticky comment's Markdown."""
    run = project.run("pull_request", project.pull_request_event(), **inputs)
    comments = project.bot_comments()
    return run, comments[-1].body if comments else ""


def assert_failed(project: Project, run: ActionRun, comment: str, *phrases: str) -> None:
    """Failure everywhere a reviewer looks, with the reason in the comment's headline."""
    assert run.returncode == 1, run.log
    assert run.outputs["conclusion"] == "failure", run.outputs
    assert project.states(project.head)[-1][0] in ("failure", "error")
    (check,) = project.github.check_runs(REPO, head_sha=project.head)
    assert check.conclusion == "failure"
    top, text = headline(comment), visible(comment)
    assert "Prompt review: fail" in top or "Prompt review could not run" in top, top
    assert phrases[:1] == () or phrases[0] in top, (phrases[0], top)  # the first one is in the headline
    for phrase in phrases:
        assert phrase in text, (phrase, text)


# --- 7.6: head breaks its template ----------------------------------------------------------------


def test_a_head_only_template_error_fails_with_the_error_in_the_headline(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = pr(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": "Say hello to {{ vars.nmae }}."})

    run, comment = review(project, on_inconclusive="neutral")

    assert_failed(project, run, comment, "does not render for 5 of 5 cases that render at base", "nmae")
    assert run.outputs["verdict"] == "fail"


def test_a_template_error_on_both_sides_is_an_error_not_a_failure(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    # The control: base is broken already, the PR only edits around it; that is not the PR's doing.
    broken = {**BASE_FILES, "prompts/greet.txt": "Say hello to {{ vars.nmae }}."}
    project = pr(tmp_path, fake_github, fake_openai,
                 {"prompts/greet.txt": "Say a warm hello to {{ vars.nmae }}."}, base_files=broken)

    run, comment = review(project)

    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "error" and run.outputs["conclusion"] == "neutral"
    assert "breaks this prompt" not in visible(comment)


GH_PROMPT = """\
name: Ask
model: openai/gpt-4o-mini
messages:
  - role: user
    content: "Please answer warmly: {{question}}"
testData:
""" + "".join(f"  - question: Question number {i}\n" for i in range(8)) + """\
evaluators:
  - name: warm
    string:
      contains: warmly
"""
GH_BASE = {"prompts/ask.prompt.yml": GH_PROMPT, "README.md": "# prompts\n"}


def test_a_prompt_yml_placeholder_that_no_case_fills_fails(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    head = GH_PROMPT.replace("warmly: {{question}}", "warmly: {{query}}")
    project = pr(tmp_path, fake_github, fake_openai, {"prompts/ask.prompt.yml": head}, base_files=GH_BASE)

    run, comment = review(project)

    assert_failed(project, run, comment, "{{query}}", "matches no variable of any case")
    assert "literal text" in visible(comment)


INPUTS_CONFIG = CONFIG.replace('      - contains: "{{ vars.name }}"\n', "      - max-length: {max: 2000}\n")
INPUTS_BASE = {**BASE_FILES, "promptreview.yml": INPUTS_CONFIG.replace(", min_pass_rate: 0.6", "")}


def test_a_head_that_stops_using_an_input_every_case_gives_is_flagged_and_fails(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    # Only a length limit is gated, so no metric notices that the model lost its input.
    project = pr(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": "Say a warm hello."},
                 base_files=INPUTS_BASE)

    run, comment = review(project)

    assert_failed(project, run, comment, "no longer uses name",
                  "the model never sees that input")


def test_dropping_an_input_from_the_prompt_and_the_cases_together_is_not_flagged(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    cases = "".join(f"- id: c{i}\n  vars: {{other: x{i}}}\n" for i in range(5))
    head = {"prompts/greet.txt": "Say a warm hello.", "evals/greet.yaml": cases}
    project = pr(tmp_path, fake_github, fake_openai, head, base_files=INPUTS_BASE)

    run, comment = review(project)

    assert "no longer uses" not in visible(comment), comment
    assert run.outputs["conclusion"] != "failure" or "breaks this prompt" not in comment


# --- 7.6 / 13.1: head cannot provide the prompt ------------------------------------------------------


def test_a_head_that_deletes_the_prompt_the_config_still_names_fails(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = pr(tmp_path, fake_github, fake_openai, {"prompts/greet.txt": None})

    run, comment = review(project)

    assert_failed(project, run, comment, "prompts/greet.txt does not exist")
    assert fake_openai.count() == 0


def _dir_symlink(repo: Path) -> None:
    run_git(repo, "mv", "prompts", "elsewhere")
    os.symlink("elsewhere", repo / "prompts")


def _file_symlink(repo: Path) -> None:
    run_git(repo, "mv", "prompts/greet.txt", "prompts/real.txt")
    os.symlink("real.txt", repo / "prompts" / "greet.txt")


def _submodule(repo: Path) -> None:
    run_git(repo, "rm", "--quiet", "prompts/greet.txt")
    inner = RepoBuilder.init(repo / "prompts" / "greet.txt")
    inner.commit({"x.txt": "Say hello to {{ vars.name }}."}, message="inner")


PADDED = "Say a warm hello to {{ vars.name }}.{# " + "x" * 5_100_000 + " #}"
POINTED = CONFIG.replace("prompt: prompts/greet.txt", "prompt: prompts/nowhere.txt")


@pytest.mark.parametrize(
    ("head_files", "before_head", "says"),
    [
        ({"promptreview.yml": POINTED}, None,
         "prompts/nowhere.txt (head's config points the suite at it) does not exist"),
        ({"prompts/greet.txt": PADDED}, None, "over the 5 MB limit"),
        ({}, _dir_symlink, "its directory prompts is a symbolic link"),
        ({}, _file_symlink, "prompts/greet.txt is a symbolic link"),
        ({}, _submodule, "prompts/greet.txt is a submodule"),
    ],
    ids=["config-points-at-a-missing-file", "padded-over-5-mb", "directory-symlink", "file-symlink",
         "submodule"],
)
def test_a_prompt_made_to_look_removed_fails(
    tmp_path: Path,
    fake_github: GitHubServer,
    fake_openai: OpenAIServer,
    head_files: Files,
    before_head: Callable[[Path], None] | None,
    says: str,
) -> None:
    project = pr(tmp_path, fake_github, fake_openai, head_files, before_head=before_head)

    run, comment = review(project)

    assert_failed(project, run, comment, says, "the pull request breaks this prompt")
    assert run.outputs["verdict"] == "fail"


# --- 13.2: an all-error head is not green ------------------------------------------------------------


def test_a_broken_cases_file_in_head_fails(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    project = pr(tmp_path, fake_github, fake_openai,
                 {**WARM, "evals/greet.yaml": "- id: [c0\n"})

    run, comment = review(project)

    assert_failed(project, run, comment, "the cases file cannot be used", "evals/greet.yaml")


def _provider_fails_head(body: Mapping[str, object]) -> Reply | None:
    return Reply(fault="null_content") if "warm" in str(body.get("messages")) else None


def test_provider_errors_on_every_head_case_stay_neutral_by_default(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    # The PR cannot cause the provider's failures: an error, not counted against the prompt...
    project = pr(tmp_path, fake_github, fake_openai, WARM)
    fake_openai.responder = _provider_fails_head

    run, comment = review(project)

    assert run.returncode == 0, run.log
    assert run.outputs["verdict"] == "error" and run.outputs["conclusion"] == "neutral"
    assert "breaks this prompt" not in visible(comment)


@pytest.mark.parametrize("where", ["input", "config"])
def test_provider_errors_on_every_head_case_block_with_on_inconclusive_fail(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer, where: str
) -> None:
    # ...but a required check that blocks on "can't tell" also blocks on "couldn't run".
    base = dict(BASE_FILES)
    if where == "config":
        base["promptreview.yml"] = CONFIG.replace("0.6}", "0.6, on_inconclusive: fail}")
    project = pr(tmp_path, fake_github, fake_openai, WARM,
                 base_files=base)
    fake_openai.responder = _provider_fails_head

    run, comment = review(project, **({"on_inconclusive": "fail"} if where == "input" else {}))

    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "error" and run.outputs["conclusion"] == "failure"
    assert project.states(project.head)[-1][0] == "failure"
    assert "All 5 cases of greet errored" in headline(comment)


# --- 13.3: discovery is decided by base ------------------------------------------------------------


@pytest.mark.parametrize(
    "head_config",
    ["version: 1\ndiscover: false\n", "version: 1\nprompts: ['nothing/**/*.prompt.yml']\n"],
    ids=["discover-false", "narrowed-globs"],
)
def test_a_pr_cannot_switch_off_discovery_of_the_prompt_it_regresses(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer, head_config: str
) -> None:
    regressed = GH_PROMPT.replace("Please answer warmly", "Please answer coldly")
    project = pr(tmp_path, fake_github, fake_openai,
                 {"prompts/ask.prompt.yml": regressed, "promptreview.yml": head_config}, base_files=GH_BASE)

    run, comment = review(project)

    # The headline names the suite as the table does; its section names the full path.
    assert_failed(project, run, comment, "so ask fails", "prompts/ask.prompt.yml")
    assert project.states(project.head)[-1] != ("success", "no prompt changes")
    assert "whatever the new config says about discovery" in visible(comment)
# --- 13.5: request parameters from head ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ("{model: openai/gpt-4.1}", "`model` cannot be set in params"),
        ("{messages: []}", "`messages` cannot be set in params"),
        ("{n: 8}", "`n` is not a parameter promptreview sends"),
        ("{max_tokens: 1000000}", "must be a whole number from 1 to"),
        ("{temperature: 9}", "must be a number from 0 to 2"),
    ],
    ids=["model", "messages", "n", "max_tokens", "temperature"],
)
def test_head_params_outside_the_allowed_sampling_parameters_are_refused(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer, params: str, says: str
) -> None:
    head_config = CONFIG.replace("    compare: false\n", f"    compare: false\n    params: {params}\n")
    project = pr(tmp_path, fake_github, fake_openai,
                 {**WARM, "promptreview.yml": head_config})

    run, comment = review(project)

    assert_failed(project, run, comment, says)
    assert fake_openai.count() == 0


def test_gh_models_parameters_from_head_are_bounded_too(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    model = "model: openai/gpt-4o-mini\n"
    head = GH_PROMPT.replace(model, model + "modelParameters:\n  maxTokens: 900000\n")
    project = pr(tmp_path, fake_github, fake_openai, {"prompts/ask.prompt.yml": head}, base_files=GH_BASE)

    run, comment = review(project)

    assert_failed(project, run, comment, "maxTokens must be a whole number from 1 to 32,768")
    assert fake_openai.count() == 0


def test_an_unpriced_model_counts_against_max_cost_at_a_conservative_price(
    tmp_path: Path, fake_github: GitHubServer, fake_openai: OpenAIServer
) -> None:
    unpriced = {**BASE_FILES, "promptreview.yml": CONFIG.replace("openai/gpt-4o-mini", "acme/house-model")}
    project = pr(tmp_path, fake_github, fake_openai, WARM, base_files=unpriced)

    run, comment = review(project, max_cost="0.001", concurrency="1")

    sent = [r.body for r in fake_openai.requests if r.path.endswith("/chat/completions")]
    assert 0 < len(sent) < 10  # 5 cases x 2 sides were planned; the budget stopped the rest
    assert all(b is not None and b["model"] == "acme/house-model" for b in sent)
    text = visible(comment)
    assert "counted at a conservative $15 / $60 per 1M input / output tokens" in text, text
    assert "the review's cost budget ran out" in text
    assert run.outputs["conclusion"] != "success"
