"""Whole-process numbers for the CLI (prints numbers, never asserts):

- cold start of ``promptreview --help`` (best and median of several fresh processes);
- a fully cached re-run of 400 cases: ``promptreview run`` over a 400-case suite whose answers
  are all in the cache, timed as a whole process (import, config, render, cache lookups,
  scoring, report).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.openai_server import OpenAIServer  # noqa: E402


def _time(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=False, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def _repo(tmp: Path, n: int) -> Path:
    repo = tmp / "repo"
    (repo / "prompts").mkdir(parents=True)
    (repo / "evals").mkdir()
    (repo / "promptreview.yml").write_text(
        "version: 1\nsuites:\n  s:\n    prompt: prompts/p.md.j2\n    cases: evals/c.yaml\n"
        "    metrics:\n      - contains: '{{ vars.topic }}'\n      - max-length: {max: 2000}\n",
        "utf-8",
    )
    (repo / "prompts" / "p.md.j2").write_text("Say something about {{ topic }} (case {{ n }}).\n", "utf-8")
    (repo / "evals" / "c.yaml").write_text(
        "".join(f"- id: c{i}\n  vars: {{topic: topic{i}, n: {i}}}\n" for i in range(n)), "utf-8"
    )
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def main() -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    exe = [sys.executable, "-m", "promptreview"]
    helps = _time([*exe, "--help"], env, 7)
    print(f"cold `promptreview --help`: best {min(helps):.3f} s, median {statistics.median(helps):.3f} s")
    with tempfile.TemporaryDirectory() as tmpdir, OpenAIServer() as server:
        tmp = Path(tmpdir)
        repo = _repo(tmp, 400)
        env = {**env, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench"}
        cmd = [*exe, "run", "--repo", str(repo), "--cache", str(tmp / "cache.sqlite"), "--color", "never"]
        first = _time(cmd, env, 1)[0]
        calls = server.count()
        cached = _time(cmd, env, 5)
        print(f"first run of 400 cases: {first:.3f} s ({calls} model calls)")
        print(
            f"fully cached re-run of 400 cases: best {min(cached):.3f} s, "
            f"median {statistics.median(cached):.3f} s "
            f"({server.count() - calls} model calls)"
        )


if __name__ == "__main__":
    main()
