"""``promptreview coverage`` with 10,000 production inputs against 1,000 cases (prints numbers).

The real CLI in a fresh process, the loopback OpenAI server (its own process) for embeddings.
Two runs: cold (every embedding fetched) and warm (all from the cache), so the embedding round
trips and our own work (reading, mapping, nearest-case search, clustering) can be told apart.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.repo_builder import RepoBuilder  # noqa: E402
from tests.servers.openai_server import OpenAIServer  # noqa: E402

WORDS = [f"w{i}" for i in range(400)]
CONFIG = "version: 1\nsuites:\n  s:\n    prompt: prompts/p.j2\n    cases: evals/c.jsonl\n"
TEMPLATE = "Answer the question about {{ topic }}:\n{{ question }}\n"


def _question(rng: random.Random) -> tuple[str, str]:
    return rng.choice(WORDS[:40]), " ".join(rng.choice(WORDS) for _ in range(10))


def _repo(tmp: Path, n_cases: int) -> Path:
    rng = random.Random(1)
    cases = []
    for i in range(n_cases):
        topic, q = _question(rng)
        cases.append(json.dumps({"id": f"c{i}", "vars": {"topic": topic, "question": q}}))
    repo = RepoBuilder.init(tmp / "repo")
    repo.commit(
        {
            "promptreview.yml": CONFIG,
            "prompts/p.j2": TEMPLATE,
            "evals/c.jsonl": "\n".join(cases) + "\n",
        }
    )
    return repo.path


def _log(path: Path, n: int) -> None:
    rng = random.Random(2)
    with path.open("w") as fh:
        for _ in range(n):
            topic, q = _question(rng)
            content = TEMPLATE.replace("{{ topic }}", topic).replace("{{ question }}", q)
            fh.write(json.dumps({"request": {"messages": [{"role": "user", "content": content}]}}) + "\n")


def _run(repo: Path, log: Path, base_url: str, cache: Path) -> tuple[float, str]:
    env = {**os.environ, "OPENAI_API_KEY": "bench"}
    cmd = [
        sys.executable,
        "-m",
        "promptreview",
        "coverage",
        "s",
        "--inputs",
        str(log),
        "--repo",
        str(repo),
        "--base-url",
        base_url,
        "--cache",
        str(cache),
        "--radius",
        "0.5",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"coverage failed: {proc.stderr.strip()}")
    return wall, proc.stdout.splitlines()[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_s, OpenAIServer.spawn() as server:
        tmp = Path(tmp_s)
        repo = _repo(tmp, 1000)
        log = tmp / "prod.jsonl"
        _log(log, 10_000)
        cache = tmp / "cache.sqlite"
        cold, line = _run(repo, log, server.base_url, cache)
        print(
            f"coverage, 10,000 inputs vs 1,000 cases, cold (embeddings fetched, "
            f"{server.count('/embeddings')} requests): {cold:.2f} s"
        )
        warm, _ = _run(repo, log, server.base_url, cache)
        print(f"coverage, 10,000 inputs vs 1,000 cases, warm (embeddings cached): {warm:.2f} s")
        print("   ", line)


if __name__ == "__main__":
    main()
