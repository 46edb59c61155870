"""``promptreview init`` writes a starter that ``validate`` accepts, and never clobbers files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from promptreview.cli import main


def test_init_writes_a_starter_that_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)

    assert main(["init", "--repo", str(tmp_path)]) == 0
    assert main(["validate", "--repo", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "wrote    promptreview.yml" in out
    assert "1 suite(s), 8 case(s) checked from promptreview.yml: ok" in out
    workflow = yaml.safe_load((tmp_path / ".github/workflows/promptreview.yml").read_text("utf-8"))
    assert workflow["permissions"]["pull-requests"] == "write"
    assert set(workflow[True]) == {"pull_request", "issue_comment"}  # YAML 1.1 reads `on:` as True


def test_init_keeps_existing_files_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "promptreview.yml").write_text("version: 1\n", "utf-8")

    main(["init", "--repo", str(tmp_path)])
    assert (tmp_path / "promptreview.yml").read_text("utf-8") == "version: 1\n"
    assert "kept     promptreview.yml" in capsys.readouterr().out

    main(["init", "--repo", str(tmp_path), "--force"])
    assert "suites:" in (tmp_path / "promptreview.yml").read_text("utf-8")


def test_init_outside_git_says_to_git_init_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--repo", str(tmp_path)]) == 0

    assert "0. `git init -b main` first" in capsys.readouterr().out
