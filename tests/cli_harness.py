"""Running the real CLI entry point in-process, as a user would, for the end-to-end tests.

Like click's runner: ``promptreview.cli.main`` is called with argv, stdout and stderr are
captured, and every run is checked for the one thing a user must never see: a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from promptreview.cli import main

API_KEY = "sk-e2e-test-key-0000"


@dataclass
class CliRun:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> CliRun:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out, captured.err
    assert "internal error" not in captured.err, captured.err  # an unexpected exception, caught
    return CliRun(code, captured.out, captured.err)
