"""Attacks on the sandboxed renderer, include confinement, and GitHub Models substitution.

Every attack asserts three things: this process survives, no code ran (a marker file the payload
would create does not exist), and the job's error says why in one line.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from promptreview.render import (
    Renderer,
    RenderJob,
    RenderOutcome,
    check_template,
    referenced_templates,
    render_gh_models,
)
from promptreview.safe_yaml import load_yaml

REPO = {
    "prompts/support.j2": "Hello {{ name }}\n{% include 'partials/footer.j2' %}",
    "prompts/partials/footer.j2": "-- {{ name | upper }} {% include 'sig.j2' %}",
    "prompts/partials/sig.j2": "(sig)",
    "partials/root.j2": "root partial",
    "prompts/loop.j2": "{% include 'loop.j2' %}",
    "prompts/a.j2": "A{% include 'b.j2' %}",
    "prompts/b.j2": "B{% include 'a.j2' %}",
    "prompts/base.j2": "<{% block body %}base{% endblock %}>",
    "prompts/macros.j2": "{% macro shout(x) %}{{ x | upper }}!{% endmacro %}",
    "prompts/broken.j2": "ok\n{% if %}",
    ".git/config": "[http] extraheader = AUTHORIZATION: basic c2VjcmV0",
}


# Ten billion loop iterations: only a timer (or the watchdog) ends this.
LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


class RecordingReader:
    """A ``read_file`` over ``REPO`` that remembers every path it was asked for."""

    def __init__(self, files: Mapping[str, str] = REPO) -> None:
        self.files = dict(files)
        self.asked: list[str] = []

    def __call__(self, path: str) -> str | None:
        self.asked.append(path)
        return self.files.get(path)


@pytest.fixture(scope="module")
def reader() -> RecordingReader:
    return RecordingReader()


@pytest.fixture(scope="module")
def renderer(reader: RecordingReader) -> Iterator[Renderer]:
    with Renderer(reader, timeout_s=0.5) as r:
        yield r


def render(
    renderer: Renderer, source: str, context: Mapping[str, Any] | None = None, path: str = "prompts/test.j2"
) -> RenderOutcome:
    [outcome] = renderer.render_many([RenderJob("k", source, path, context or {})])
    assert (outcome.text is None) != (outcome.error is None)
    if outcome.error is not None:
        assert "\n" not in outcome.error and "Traceback" not in outcome.error
    return outcome


def failure(
    renderer: Renderer, source: str, context: Mapping[str, Any] | None = None, path: str = "prompts/test.j2"
) -> str:
    outcome = render(renderer, source, context, path)
    assert outcome.error is not None, f"rendered: {outcome.text!r}"
    return outcome.error


# --- ordinary rendering -------------------------------------------------------------------------


def test_renders_with_includes_relative_then_root(renderer: Renderer) -> None:
    out = render(renderer, REPO["prompts/support.j2"], {"name": "ana"}, "prompts/support.j2")
    assert out.text == "Hello ana\n-- ANA (sig)"
    root = render(renderer, "[{% include 'partials/root.j2' %}]", {}, "prompts/x.j2")
    assert root.text == "[root partial]"


def test_extends_and_import(renderer: Renderer) -> None:
    child = "{% extends 'base.j2' %}{% block body %}{{ x }}{% endblock %}"
    assert render(renderer, child, {"x": 1}, "prompts/child.j2").text == "<1>"
    imported = "{% import 'macros.j2' as m %}{{ m.shout(word) }}"
    assert render(renderer, imported, {"word": "hey"}, "prompts/use.j2").text == "HEY!"


def test_plain_text_renders_to_itself(renderer: Renderer) -> None:
    text = "No template syntax here.\n  Indented, trailing newline kept.\n"
    assert render(renderer, text).text == text


def test_batch_preserves_order_and_isolates_failures(renderer: Renderer) -> None:
    jobs = [
        RenderJob("good-1", "{{ a }}", "prompts/x.j2", {"a": 1}),
        RenderJob("bad", "{{ missing }}", "prompts/y.j2", {}),
        RenderJob(
            "slow",
            LOOPS,
            "prompts/z.j2",
            {},
        ),
        RenderJob("good-2", "{{ a }}", "prompts/x.j2", {"a": 2}),
    ]
    outcomes = renderer.render_many(jobs)
    assert [o.key for o in outcomes] == ["good-1", "bad", "slow", "good-2"]
    assert [o.text for o in outcomes] == ["1", None, None, "2"]
    assert outcomes[1].error == "prompts/y.j2 line 1: 'missing' is undefined"
    assert outcomes[2].error is not None and "took longer than 0.5 s" in outcomes[2].error


def test_context_is_plain_data(renderer: Renderer) -> None:
    # A YamlMap's ``.line`` attribute must not shadow a case variable called "line".
    case = load_yaml("\n\nvars:\n  line: from-the-case\n  items: [a, b]\n", "cases.yaml")
    out = render(renderer, "{{ vars.line }} {{ vars['items'] | join('+') }}", case)
    assert out.text == "from-the-case a+b"
    assert "only plain data" in failure(renderer, "{{ x }}", {"x": object()})


def test_jobs_cannot_modify_their_context(renderer: Renderer) -> None:
    shared = {"items": [1, 2]}
    error = failure(renderer, "{{ items.append(3) }}", shared)
    assert "unsafe" in error
    assert shared == {"items": [1, 2]}


def test_render_400_jobs_in_one_round_trip(renderer: Renderer) -> None:
    jobs = [
        RenderJob(
            str(i),
            "Q{{ i }}: {% if i % 2 %}odd{% else %}even{% endif %} {% include 'partials/sig.j2' %}",
            "prompts/q.j2",
            {"i": i},
        )
        for i in range(400)
    ]
    renderer.render_many(jobs[:1])  # worker up
    start = time.perf_counter()
    outcomes = renderer.render_many(jobs)
    elapsed = time.perf_counter() - start
    assert [o.text for o in outcomes[:2]] == ["Q0: even (sig)", "Q1: odd (sig)"]
    assert all(o.error is None for o in outcomes)
    assert elapsed < 0.5, f"400 renders took {elapsed:.3f} s"  # ~20 ms here; generous for slow CI


# --- errors name file and line ------------------------------------------------------------------


def test_undefined_variable_names_it(renderer: Renderer) -> None:
    error = failure(renderer, "Hi\n\n{{ product }}", {}, "prompts/a.j2")
    assert error == "prompts/a.j2 line 3: 'product' is undefined"


def test_syntax_error_has_line(renderer: Renderer) -> None:
    error = failure(renderer, "one\ntwo\n{% if %}\n", {}, "prompts/a.j2")
    assert error.startswith("prompts/a.j2 line 3: syntax error: ")


def test_errors_in_partials_name_the_partial(renderer: Renderer) -> None:
    assert failure(renderer, "{% include 'broken.j2' %}", {}, "prompts/main.j2").startswith(
        "prompts/broken.j2 line 2: syntax error"
    )
    assert failure(renderer, "x\n{% include 'partials/footer.j2' %}", {}, "prompts/main.j2") == (
        "prompts/partials/footer.j2 line 1: 'name' is undefined"
    )


def test_runtime_error_has_line(renderer: Renderer) -> None:
    assert (
        failure(renderer, "a\n{{ 1 / 0 }}") == "prompts/test.j2 line 2: ZeroDivisionError: division by zero"
    )


# --- sandbox escapes ----------------------------------------------------------------------------


ESCAPES = {
    "mro-subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "subclasses-popen": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
    "{% if c.__name__ == 'Popen' %}{{ c(['touch', MARKER]) }}{% endif %}{% endfor %}",
    "cycler-globals": "{{ cycler.__init__.__globals__.os.system('touch ' ~ MARKER) }}",
    "joiner-globals": "{{ joiner.__init__.__globals__ }}",
    "namespace-init": "{% set ns = namespace(a=1) %}{{ ns.__init__.__globals__ }}",
    "namespace-class": "{{ namespace.__init__.__globals__['os'] }}",
    "self-context": "{{ self._TemplateReference__context }}",
    "self-context-item": "{{ self['_TemplateReference__context'] }}",
    "lipsum-globals": "{{ lipsum.__globals__['os'].system('touch ' ~ MARKER) }}",
    "config": "{{ config.items() }}",
    "request": "{{ request.application.__globals__ }}",
    "range-self": "{{ range.__self__ }}",
    "dict-type": "{{ dict.__base__.__subclasses__() }}",
    "dict-update": "{{ dict.update }}",
    "format-attr": "{{ '{0.__class__.__mro__}'.format(1) }}",
    "format-map": "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "attr-filter": "{{ '' | attr('__class__') }}",
    "map-attribute": "{{ [''] | map(attribute='__class__') | list }}",
    "loop-internals": "{% for x in [1] %}{{ loop.__class__ }}{% endfor %}",
    "caller-globals": "{% macro m() %}{{ caller.__init__.__globals__ }}{% endmacro %}"
    "{% call m() %}{% endcall %}",
    "mutate-list": "{% set l = [] %}{{ l.append(1) }}",
    "gen-frame": "{{ (range(3) | map('string')).gi_frame }}",
}


@pytest.mark.parametrize("template", ESCAPES.values(), ids=ESCAPES.keys())
def test_sandbox_escapes_fail_without_running_code(renderer: Renderer, template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    error = failure(renderer, template, {"MARKER": str(marker)})
    assert any(word in error for word in ("unsafe", "undefined", "no attribute", "would print")), error
    assert error.startswith("prompts/test.j2 line 1: ")
    assert not marker.exists()


def test_environment_is_not_reachable(renderer: Renderer) -> None:
    os.environ["PROMPTREVIEW_TEST_SECRET"] = "s3cret"
    try:
        for probe in ("{{ environ }}", "{{ os.environ }}", "{{ self.environment }}", "{{ globals() }}"):
            assert "s3cret" not in (render(renderer, probe).text or "")
    finally:
        del os.environ["PROMPTREVIEW_TEST_SECRET"]


# --- resource bombs -----------------------------------------------------------------------------


BOMBS = {
    "huge-range": ("{{ range(10**9) | list }}", "Range too big"),
    "nested-range-loops": (
        LOOPS,
        "took longer than 0.5 s",
    ),
    "string-multiplication": ("{{ 'a' * 10**10 }}", "'*' would build a result of 10,000,000,000 items"),
    "list-multiplication": ("{{ [0] * 10**9 }}", "'*' would build"),
    "int-first-multiplication": ("{{ 10**9 * 'ab' }}", "'*' would build"),
    "power": ("{{ 10 ** (10 ** 8) }}", "'**' would compute a number"),
    "repeated-squaring": (
        "{% set n = namespace(v=10 ** 3000) %}{% for i in range(40) %}{% set n.v = n.v * n.v %}{% endfor %}",
        "'*' would compute a number",
    ),
    "center-method": ('{{ "x".center(10**9) }}', "ran out of memory"),
    "center-filter": ("{{ 'x' | center(1000000000) }}", "ran out of memory"),
    "format-filter": ("{{ '%1000000000s' | format('x') }}", "ran out of memory"),
    "str-format": ("{{ '{:>1000000000}'.format('x') }}", "ran out of memory"),
    "recursive-macro": ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "recursion too deep"),
    "recursive-loop": ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursion too deep"),
    "ten-megabytes": (
        "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
        "output is larger than 200,000",
    ),
}


@pytest.mark.parametrize(("template", "reason"), BOMBS.values(), ids=BOMBS.keys())
def test_resource_bombs_are_contained(renderer: Renderer, template: str, reason: str) -> None:
    start = time.perf_counter()
    error = failure(renderer, template)
    assert reason in error, error
    assert error.startswith("prompts/test.j2")
    assert time.perf_counter() - start < 3
    assert render(renderer, "{{ 'still' }} fine").text == "still fine"


def test_memory_growth_through_allowed_operations_is_contained(reader: RecordingReader) -> None:
    # Each step is small enough to pass the '*' check; doubling reaches the memory limit anyway.
    # (A renderer with a generous timeout, so the memory limit is what stops it.)
    with Renderer(reader, timeout_s=10.0) as r:
        error = failure(
            r,
            "{% set s = namespace(v='x' * 100000) %}{% for i in range(40) %}"
            "{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v | length }}",
        )
        assert error == "prompts/test.j2 line 1: ran out of memory (the limit is 256 MB)"
        assert render(r, "fine").text == "fine"


def test_recursive_includes_fail_with_a_reason(renderer: Renderer) -> None:
    assert "recursion too deep" in failure(renderer, REPO["prompts/loop.j2"], {}, "prompts/loop.j2")
    assert "recursion too deep" in failure(renderer, REPO["prompts/a.j2"], {}, "prompts/a.j2")


def test_deeply_nested_template_source(renderer: Renderer) -> None:
    error = failure(renderer, "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert "nested too deeply" in error or "recursion" in error or "syntax error" in error


# --- include confinement ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/passwd", "'..' is not allowed"),
        ("partials/../../../etc/passwd", "'..' is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("C:/Windows/win.ini", "absolute paths are not allowed"),
        ("partials\\\\..\\\\x.j2", "backslashes are not allowed"),
        ("partials/x.j2\\x00.txt", "control characters"),
        (".git/config", "inside .git"),
        ("sub/.GIT/config", "inside .git"),
        ("", "empty"),
    ],
)
def test_include_paths_outside_the_repo_are_refused(
    renderer: Renderer, reader: RecordingReader, name: str, reason: str
) -> None:
    source = f"x\n{{% include '{name}' %}}"
    before = len(reader.asked)
    error = failure(renderer, source, {}, "prompts/a.j2")
    assert error.startswith("prompts/a.j2 line 2: include ") and reason in error, error
    asked = reader.asked[before:]
    assert not any(".." in p or p.startswith("/") or ".git" in p.lower() or "\\" in p for p in asked), asked


def test_refused_includes_are_not_hidden_by_ignore_missing(renderer: Renderer) -> None:
    assert "refused" in failure(renderer, "{% include '/etc/passwd' ignore missing %}")


def test_computed_include_names_are_confined_too(renderer: Renderer) -> None:
    assert "refused" in failure(renderer, "{% include name %}", {"name": "../../etc/passwd"})
    assert "not found" in failure(renderer, "{% include name %}", {"name": "prompts/unlisted.j2"})


def test_missing_partial_is_a_clear_per_job_error(renderer: Renderer) -> None:
    error = failure(renderer, "one\n{% include 'partials/nope.j2' %}", {}, "prompts/a.j2")
    assert error == (
        "prompts/a.j2 line 2: template 'partials/nope.j2' not found "
        "(looked for prompts/partials/nope.j2, partials/nope.j2)"
    )
    skipped = render(renderer, "[{% include 'partials/nope.j2' ignore missing %}]", {}, "prompts/a.j2")
    assert skipped.text == "[]"


# --- the worker can die; the review carries on --------------------------------------------------


def test_good_template_renders_after_the_worker_was_killed(reader: RecordingReader) -> None:
    with Renderer(reader, timeout_s=1.0) as r:
        assert render(r, "{{ 1 + 1 }}").text == "2"
        pid = r.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert render(r, "{{ 2 + 2 }}").text == "4"
        assert r.worker_pid not in (None, pid)


def test_a_crash_mid_render_fails_only_that_job(reader: RecordingReader) -> None:
    with Renderer(reader, timeout_s=3.0) as r:
        r.render_many([RenderJob("warm", "{{ 'x' }}", "p.j2", {})])
        pid = r.worker_pid
        assert pid is not None
        killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))  # e.g. the OOM killer
        killer.start()
        outcomes = r.render_many(
            [
                RenderJob("before", "{{ 'ok' }}", "p.j2", {}),
                RenderJob(
                    "victim",
                    LOOPS,
                    "prompts/v.j2",
                    {},
                ),
                RenderJob("after", "{{ 'ok' }} too", "p.j2", {}),
            ]
        )
        killer.join()
        assert outcomes[0].text == "ok"
        assert outcomes[1].error is not None and outcomes[1].error.startswith(
            "prompts/v.j2: the renderer was killed"
        )
        assert outcomes[2].text == "ok too"


def test_watchdog_restarts_a_worker_that_stops_answering(reader: RecordingReader) -> None:
    with Renderer(reader, timeout_s=0.2) as r:
        r.render_many([RenderJob("warm", "{{ 'x' }}", "p.j2", {})])
        pid = r.worker_pid
        assert pid is not None
        # Frozen mid-render: not even its own timer can stop the render, only the watchdog.
        freezer = threading.Timer(0.1, os.kill, (pid, signal.SIGSTOP))
        freezer.start()
        start = time.perf_counter()
        outcomes = r.render_many(
            [RenderJob("stuck", LOOPS, "prompts/s.j2", {}), RenderJob("next", "{{ 'b' }}", "p.j2", {})]
        )
        freezer.join()
        assert time.perf_counter() - start < 3
        assert outcomes[0].error is not None
        assert outcomes[0].error.startswith("prompts/s.j2: rendering did not finish within 0.8 s")
        assert outcomes[1].text == "b"
        assert r.worker_pid != pid


def test_an_interrupted_batch_leaves_no_stale_answers(
    reader: RecordingReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Renderer(reader) as r:
        start_batch = r._start_batch

        def interrupted(sources: dict[str, str], pending: list[Any]) -> object:
            r._ensure_worker().send((sources, pending))
            raise KeyboardInterrupt  # after the worker got the batch, before we read a thing

        monkeypatch.setattr(r, "_start_batch", interrupted)
        with pytest.raises(KeyboardInterrupt):
            r.render_many([RenderJob(str(i), "{{ 'old' }}", "p.j2", {}) for i in range(3)])
        monkeypatch.setattr(r, "_start_batch", start_batch)
        assert [o.text for o in r.render_many([RenderJob("0", "{{ 'new' }}", "p.j2", {})])] == ["new"]


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_worker_sheds_inherited_files_and_environment(reader: RecordingReader, tmp_path: Path) -> None:
    with (tmp_path / "held-open").open("w") as held, Renderer(reader) as r:
        r.render_many([RenderJob("warm", "{{ 'x' }}", "p.j2", {})])
        fds = os.listdir(f"/proc/{r.worker_pid}/fd")
        assert len(fds) <= 4, fds  # stdin/stdout/stderr and the pipe to us
        assert str(held.fileno()) not in fds or held.fileno() <= 2


def test_closed_renderer_refuses_work(reader: RecordingReader) -> None:
    r = Renderer(reader)
    assert r.render_many([]) == []
    r.close()
    with pytest.raises(RuntimeError):
        r.render_many([RenderJob("k", "x", "p.j2", {})])


# --- referenced_templates and check_template ---------------------------------------------------


def test_referenced_templates_is_transitive() -> None:
    refs = referenced_templates(REPO["prompts/support.j2"], "prompts/support.j2", RecordingReader())
    assert refs == {"prompts/partials/footer.j2", "prompts/partials/sig.j2"}
    assert not refs.problems and not refs.dynamic


def test_referenced_templates_handles_cycles_and_reports_what_it_cannot_follow() -> None:
    reader = RecordingReader()
    assert referenced_templates(REPO["prompts/a.j2"], "prompts/a.j2", reader) == {
        "prompts/a.j2",
        "prompts/b.j2",
    }
    source = (
        "{% include 'partials/root.j2' %}\n{% include vars.partial %}\n{% include '../secret' %}\n"
        "{% import 'nope.j2' as n %}\n{% include ['gone.j2', 'partials/root.j2'] %}"
    )
    refs = referenced_templates(source, "prompts/x.j2", reader)
    assert refs == {"partials/root.j2", "prompts/nope.j2", "nope.j2", "prompts/gone.j2", "gone.j2"}
    assert "prompts/partials/root.j2" in refs.missing  # would shadow the root partial if added
    assert refs.dynamic
    assert any("line 2" in p and "computed" in p for p in refs.problems)
    assert refs.errors == (
        "prompts/x.j2 line 3: template '../secret' refused: "
        "'..' is not allowed; write the path from the repository root instead",
    )
    assert not any(".." in p for p in reader.asked)


def test_referenced_templates_executes_nothing() -> None:
    refs = referenced_templates(
        "{{ 'x' | center(1000000000) }}{% include 'partials/root.j2' %}", "p/x.j2", RecordingReader()
    )
    assert refs == {"partials/root.j2"}


def test_check_template() -> None:
    reader = RecordingReader()
    assert check_template("{{ a }}{% include 'partials/root.j2' %}", "prompts/x.j2", reader) is None
    assert (
        check_template("a\n{{ x | shout }}", "prompts/x.j2", reader)
        == "prompts/x.j2 line 2: no filter named 'shout'"
    )
    assert check_template("{% include 'broken.j2' %}", "prompts/x.j2", reader).startswith(  # type: ignore[union-attr]
        "prompts/broken.j2 line 2: syntax error"
    )


# --- GitHub Models substitution (FORMAT.md §3) -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, "3"),
        (0.5, "0.5"),
        (1.0, "1"),
        (1000000.0, "1e+06"),
        (True, "true"),
        (False, "false"),
        (None, "<nil>"),
        (["a", "b"], "[a b]"),
        ({"k": "v"}, "map[k:v]"),
        ("2024-01-01", "2024-01-01"),
        (-2.5, "-2.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (0.0, "0"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        ({"b": [1, None], "a": {"x": 1.5}}, "map[a:map[x:1.5] b:[1 <nil>]]"),
    ],
)
def test_gh_models_values_format_like_go(value: object, expected: str) -> None:
    assert render_gh_models("<{{v}}>", {"v": value}) == f"<{expected}>"


def test_gh_models_substitution_rules() -> None:
    data = {"input": "hi", "user name": "Ana", "other": "{{input}}"}
    assert render_gh_models("{{input}} {{input}}", data) == "hi hi"
    assert render_gh_models("Hello {{missing}}", data) == "Hello {{missing}}"
    assert render_gh_models("{{ input }}", data) == "{{ input }}"
    assert render_gh_models("{{INPUT}}", data) == "{{INPUT}}"
    assert render_gh_models("{{user name}}", data) == "Ana"
    assert render_gh_models("{{other}}", data) == "{{input}}"  # single pass: no re-expansion
    assert render_gh_models("{% if x %}{{input}}", {}) == "{% if x %}{{input}}"


def test_gh_models_with_yaml_loaded_test_data() -> None:
    case = load_yaml("input: yes\ncount: 1.0\nflags: [on, off]\n", "p.prompt.yml")
    assert render_gh_models("{{input}}/{{count}}/{{flags}}", case) == "yes/1/[on off]"


def test_substitution_only_templates_render_without_the_worker(reader: RecordingReader) -> None:
    """Plain text with variable lookups needs no sandbox limits: no worker round trip for it."""
    with Renderer(reader) as r:
        text = "Hi {{ name }}, about {{ vars.topic }} and {{ vars['n'] }}.\n"
        context = {"name": "Ada", "vars": {"topic": "refunds", "n": 3}}
        (out,) = r.render_many([RenderJob("a", text, "p.j2", context)])
        assert (out.text, out.error) == ("Hi Ada, about refunds and 3.\n", None)
        assert r.worker_pid is None
        # A missing variable goes to the worker, which gives the exact error and line.
        (missing,) = r.render_many([RenderJob("b", "Hi\n{{ nobody }}", "p.j2", {})])
        assert missing.text is None
        assert "nobody" in (missing.error or "") and "line 2" in (missing.error or "")
        assert r.worker_pid is not None
