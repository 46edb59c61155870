"""The CLI on a checkout it cannot trust: in CI the repository is the PR's, and locally it holds
files git ignores. Real CLI entry point, real git repositories, the loopback OpenAI server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_harness import API_KEY as CLI_API_KEY
from cli_harness import CliRun, run_cli
from repo_builder import RepoBuilder
from servers.openai_server import OpenAIServer, Reply

CONFIG = """\
version: 1
defaults:
  model: openai/gpt-4o-mini
suites:
  greet:
    prompt: prompts/greet.txt
    cases: evals/greet.yaml
    compare: false
    metrics:
      - contains: "{{ vars.name }}"
    gate: {margin: 0.5}
"""
CASES = "".join(f"- id: c{i}\n  vars: {{name: Person{i}}}\n" for i in range(5))
BASE = {
    "promptreview.yml": CONFIG,
    "prompts/greet.txt": "Say hello to {{ vars.name }}.",
    "evals/greet.yaml": CASES,
}
HI = {"prompts/greet.txt": "Hi {{ vars.name }}!"}


@pytest.fixture(autouse=True)
def _env(cli_env: None) -> None:
    """OPENAI_API_KEY is the test key; nothing from the outer environment leaks in."""


def repo_with(tmp_path: Path, head: dict[str, str | bytes | None]) -> RepoBuilder:
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit(BASE, message="base")
    repo.commit(head, branch="feature", message="head")
    return repo


def compare(
    capsys: pytest.CaptureFixture[str], repo: RepoBuilder, server: OpenAIServer, *extra: str
) -> CliRun:
    return run_cli(capsys, "compare", "--repo", str(repo.path), "--base", "main", "--head", "feature",
                   "--base-url", server.base_url, "--color", "never", *extra)


# --- 7.1: the answer cache cannot come from the checkout -------------------------------------------


def test_a_cache_file_tracked_by_git_is_refused_before_any_call(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, {**HI, ".promptreview/cache.sqlite": b"x"})

    run = compare(capsys, repo, fake_openai)

    assert run.code == 2
    assert "the cache file .promptreview/cache.sqlite is tracked by git" in run.err
    assert "--cache PATH outside the repository, or --no-cache" in run.err
    assert fake_openai.count() == 0
    assert compare(capsys, repo, fake_openai, "--no-cache").code == 0  # the way out it names works


def test_a_committed_sqlite_side_file_is_refused_too(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, {".promptreview/cache.sqlite-wal": b"x"})

    run = compare(capsys, repo, fake_openai)

    assert run.code == 2 and "is tracked by git" in run.err


def test_a_cache_folder_symlinked_out_of_the_repository_is_refused(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, HI)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", repo.path / ".promptreview")

    run = compare(capsys, repo, fake_openai)

    assert run.code == 2 and "goes through a symlink" in run.err
    assert list((tmp_path / "elsewhere").iterdir()) == []
    ok = compare(capsys, repo, fake_openai, "--cache", str(tmp_path / "mine.sqlite"))
    assert ok.code == 0, ok.err


# --- 13.6: the working tree shows only what git tracks or was explicitly added --------------------

SECRET = "sk-live-DO-NOT-SEND-4242"
GIT_SECRET = "AUTHORIZATION: basic c2VjcmV0LWdpdC1oZWFkZXI="


def local_repo(tmp_path: Path) -> RepoBuilder:
    """A clone whose `.git/config` holds a credential header (as actions/checkout leaves one) and
    whose working tree has an ignored `.env` and a secret file outside the repository."""
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit({**BASE, ".gitignore": ".env\n"}, message="base")
    with (repo.path / ".git" / "config").open("a", encoding="utf-8") as config:
        config.write(f'[http "https://github.com/"]\n\textraheader = {GIT_SECRET}\n')
    (repo.path / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text(f"token {SECRET}\n", encoding="utf-8")
    return repo


def sent_to_model(server: OpenAIServer) -> str:
    return json.dumps([r.body for r in server.requests])


def assert_nothing_leaked(server: OpenAIServer, *files: Path) -> None:
    texts = [sent_to_model(server), *(f.read_text("utf-8") for f in files)]
    for text in texts:
        assert SECRET not in text and "c2VjcmV0LWdpdC1oZWFkZXI" not in text


@pytest.mark.parametrize(
    "include",
    [".env", "prompts/../.env", ".git/config", "prompts/linked.txt", "prompts/outside.txt"],
)
def test_a_local_prompt_cannot_include_ignored_files_git_internals_or_files_through_symlinks(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str], include: str
) -> None:
    repo = local_repo(tmp_path)
    os.symlink("../.git/config", repo.path / "prompts" / "linked.txt")
    os.symlink(tmp_path / "outside.txt", repo.path / "prompts" / "outside.txt")
    run_git_add(repo, "prompts/linked.txt", "prompts/outside.txt")  # even explicitly added
    prompt = f'Say hello to {{{{ vars.name }}}}. {{% include "{include}" %}}'
    (repo.path / "prompts" / "greet.txt").write_text(prompt, encoding="utf-8")
    out = tmp_path / "result.json"

    run = run_cli(capsys, "compare", "--repo", str(repo.path), "--base", "main", "--base-url",
                  fake_openai.base_url, "--cache", str(tmp_path / "c.sqlite"), "--json", str(out),
                  "--color", "never")

    assert run.code != 0, run.out  # the head's prompt cannot be rendered: never a pass
    assert "could not render the prompt on head" in run.out
    errors = {str(e) for e in _values(json.loads(out.read_text("utf-8")), "error") if e}
    assert errors and all("include" in e or "not found" in e for e in errors), errors
    assert_nothing_leaked(fake_openai, out)


def test_run_does_not_read_a_suite_whose_prompt_is_an_ignored_file(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = local_repo(tmp_path)
    config = CONFIG + "  leak:\n    prompt: .env\n    cases: evals/greet.yaml\n    compare: false\n"
    (repo.path / "promptreview.yml").write_text(config, encoding="utf-8")
    out = tmp_path / "result.json"

    run = run_cli(capsys, "run", "--repo", str(repo.path), "--base-url", fake_openai.base_url,
                  "--cache", str(tmp_path / "c.sqlite"), "--json", str(out), "--color", "never")

    assert fake_openai.count() == 5  # greet's five cases; nothing from `.env`
    assert_nothing_leaked(fake_openai, out)
    assert run.code in (0, 1, 2, 3)


def test_an_explicitly_added_file_is_read_and_an_untracked_one_is_not(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = local_repo(tmp_path)
    (repo.path / "prompts" / "part.txt").write_text("Be warm.", encoding="utf-8")
    prompt = 'Say hello to {{ vars.name }}. {% include "prompts/part.txt" %}'
    (repo.path / "prompts" / "greet.txt").write_text(prompt, encoding="utf-8")

    untracked = run_cli(capsys, "run", "--repo", str(repo.path), "--base-url", fake_openai.base_url,
                        "--no-cache", "--color", "never")
    assert "Be warm." not in sent_to_model(fake_openai)
    assert untracked.code != 0

    run_git_add(repo, "prompts/part.txt")
    added = run_cli(capsys, "run", "--repo", str(repo.path), "--base-url", fake_openai.base_url,
                    "--no-cache", "--color", "never")
    assert added.code == 0, added.out + added.err
    assert "Be warm." in sent_to_model(fake_openai)


def _values(node: object, key: str) -> list[object]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == key] + [x for v in node.values() for x in _values(v, key)]
    if isinstance(node, list):
        return [x for v in node for x in _values(v, key)]
    return []


def run_git_add(repo: RepoBuilder, *paths: str) -> None:
    from repo_builder import run_git

    run_git(repo.path, "add", "--", *paths)


# --- 13.8: a base config path holding a newline is reviewed, not silently dropped -----------------


def test_a_suite_whose_prompt_path_holds_a_newline_is_reviewed(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = "prompts/greet\nv2.txt"
    config = CONFIG.replace("prompt: prompts/greet.txt", f"prompt: {json.dumps(odd)}")
    repo = RepoBuilder.init(tmp_path / "repo")
    repo.commit({**BASE, "promptreview.yml": config, odd: "Say hello to {{ vars.name }}."}, message="base")
    repo.commit({odd: "Say hello politely."}, branch="feature", message="head")

    run = compare(capsys, repo, fake_openai, "--no-cache")

    assert run.code != 0, run.out + run.err  # before: "No suite is affected by this change", exit 0
    assert "Top regressions (5 of 5)" in run.out and "No suite is affected" not in run.out
    assert fake_openai.count() == 6  # five base answers, and head's one (identical) prompt


# --- 13.7: the --json file, the reports and the answer cache carry no key ---------------------------


def _files_text(*paths: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in paths if p.exists())


def test_a_key_echoed_by_the_model_reaches_no_file_and_no_cache_row(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openai.responder = lambda body: f"Hello Person1! (debug: key={CLI_API_KEY})"
    repo = repo_with(tmp_path, HI)
    cache, out = tmp_path / "cache.sqlite", tmp_path / "out"

    run = compare(capsys, repo, fake_openai, "--cache", str(cache), "--json", str(out / "r.json"),
                  "--markdown", str(out / "r.md"), "--html", str(out / "r.html"))
    again = compare(capsys, repo, fake_openai, "--cache", str(cache), "--comment")

    assert run.code in (0, 1, 3), run.err
    report = json.loads((out / "r.json").read_text("utf-8"))
    assert "key=***" in json.dumps(report)
    written = _files_text(out / "r.json", out / "r.md", out / "r.html", *tmp_path.glob("cache.sqlite*"))
    assert "debug: key=" in written or "key=***" in written
    for text in (written, run.out, run.err, again.out, again.err):
        assert CLI_API_KEY not in text
    assert fake_openai.count() == 10  # the second run was answered from the (scrubbed) cache


def test_a_401_that_carries_the_key_in_its_code_field_is_reported_without_it(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    error = {"error": {"message": f"key {CLI_API_KEY} is revoked", "type": "auth", "code": CLI_API_KEY}}
    fake_openai.responder = lambda body: Reply(status=401, body=error)
    repo = repo_with(tmp_path, HI)
    out = tmp_path / "r.json"

    run = compare(capsys, repo, fake_openai, "--no-cache", "--json", str(out))

    assert run.code == 2
    assert "refused the API key (HTTP 401, ***" in run.err
    for text in (out.read_text("utf-8"), run.out, run.err):
        assert CLI_API_KEY not in text


# --- 13.8: robustness: one clear line, never a crash ------------------------------------------------


def test_a_base_url_with_credentials_is_refused_in_one_line(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path, HI)
    for url, said in ((f"http://user:pass@{fake_openai.base_url[7:]}", "must not carry credentials"),
                      ("http://user:pa/ss@example.invalid/v1", "is not a valid URL")):
        run = run_cli(capsys, "compare", "--repo", str(repo.path), "--base", "main", "--head", "feature",
                      "--base-url", url, "--no-cache")
        assert run.code == 2 and said in run.err, run.err
        assert "user:pass@" not in run.err and "pa/ss" not in run.err  # the credential is not printed
    assert fake_openai.count() == 0


def test_a_template_that_prints_an_object_is_an_error_not_a_memory_address(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = "Hi {{ vars.name }} {{ vars.name.upper }} {{ cycler(1) }}"
    repo = repo_with(tmp_path, {"prompts/greet.txt": prompt})
    out = tmp_path / "r.json"

    run = compare(capsys, repo, fake_openai, "--no-cache", "--json", str(out))

    assert run.code != 0
    text = out.read_text("utf-8") + sent_to_model(fake_openai)
    assert " at 0x" not in text and "would print a builtin_function_or_method object" in text


@pytest.mark.parametrize("expr", ["{{ vars.name.upper | string }}", "{{ 'x' ~ cycler(1) }}"],
                         ids=["string-filter", "concat"])
def test_a_repr_made_inside_the_template_is_an_error_too(
    tmp_path: Path, fake_openai: OpenAIServer, capsys: pytest.CaptureFixture[str], expr: str
) -> None:
    repo = repo_with(tmp_path, {"prompts/greet.txt": f"Hi {{{{ vars.name }}}} {expr}"})
    out = tmp_path / "r.json"

    run = compare(capsys, repo, fake_openai, "--no-cache", "--json", str(out))

    assert run.code != 0
    text = out.read_text("utf-8") + sent_to_model(fake_openai)
    assert " at 0x" not in text and "internal representation (with a memory address)" in text
