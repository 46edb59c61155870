"""The developer scripts a new user runs first: ``scripts/setup`` installs only when needed.

``scripts/setup`` runs before every ``scripts/test`` and ``scripts/demo``; pip on every call cost
4 s of a 7 s demo. It is run here for real, in a copy of the repository's scripts and
pyproject.toml, with a stand-in ``python`` in the venv that records how it was called (the real
pip would need the package registry, which tests never use).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls.log"
if [ "$1" = "--version" ]; then echo "Python 3.11.0"; fi
if [ "$*" = "-m pip install --quiet -e .[dev]" ]; then
  printf '#!/bin/sh\\n' > "$(dirname "$0")/promptreview"; chmod +x "$(dirname "$0")/promptreview"
fi
"""


def _checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "checkout"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup", repo / "scripts" / "setup")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    bin_dir = repo / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(FAKE_PYTHON)
    (bin_dir / "python").chmod(0o755)
    return repo


def _setup(repo: Path) -> list[str]:
    """Run scripts/setup; return the pip commands it ran."""
    log = repo / "venv" / "calls.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PROMPTREVIEW_VENV": "venv"}
    done = subprocess.run(["scripts/setup"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return [c for c in calls if c.startswith("-m pip")]


def test_setup_installs_once_then_skips_pip_until_pyproject_changes(tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    first = _setup(repo)
    assert "-m pip install --quiet -e .[dev]" in first
    assert _setup(repo) == [], "nothing changed, so pip must not run again"
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency would go here\n")
    assert "-m pip install --quiet -e .[dev]" in _setup(repo)
    assert _setup(repo) == []


def test_setup_reinstalls_when_the_install_is_gone(tmp_path: Path) -> None:
    repo = _checkout(tmp_path)
    _setup(repo)
    (repo / "venv" / "bin" / "promptreview").unlink()
    assert "-m pip install --quiet -e .[dev]" in _setup(repo)


def test_licence_uses_the_spdx_form_so_setuptools_prints_no_deprecation_warning() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'license = "MIT"' in text
    assert (ROOT / "LICENSE").is_file()
