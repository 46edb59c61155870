"""``promptreview cases import`` on a 100,000-record production log (prints numbers, never asserts).

Two runs of the real CLI in a fresh process each, against the loopback OpenAI server (spawned in
its own process) for embeddings:

- ``--limit 20``: the thumbs-down records alone fill the limit, so no model call is made;
- ``--limit 200`` on a log with only 50 flagged records: the rest comes from the outlier step,
  which embeds a bounded sample of the unflagged inputs (not all 100,000).

Numbers: wall time, records per second, peak RSS of the child process (ru_maxrss).
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
sys.path.insert(0, str(ROOT / "tests"))

from tests.data_helpers import example_repo, openai_record  # noqa: E402
from tests.servers.openai_server import OpenAIServer  # noqa: E402

WORDS = "refund invoice password export storage plan cancel sync offline alias team".split()  # noqa: SIM905


def _log(path: Path, n: int, flagged_every: int) -> None:
    rng = random.Random(7)
    products = ("Acme Cloud", "Acme Mail", "Acme Drive", "Acme API")
    with path.open("w") as fh:
        for i in range(n):
            q = " ".join(rng.choice(WORDS) for _ in range(8)) + f" #{i}?"
            fb = (
                {"thumbs": "down", "comment": "missed the point"}
                if i % flagged_every == 0
                else {"thumbs": "up"}
            )
            fh.write(json.dumps(openai_record(rng.choice(products), q, "An answer.", **fb)) + "\n")


def _run(repo: Path, log: Path, limit: int, base_url: str, cache: Path) -> tuple[float, float]:
    env = {**os.environ, "OPENAI_API_KEY": "bench"}
    # The child reports its own peak RSS (RUSAGE_CHILDREN would include the spawned server).
    wrapper = (
        "import resource, sys; from promptreview.cli import main; code = main(sys.argv[1:]); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)"
    )
    cmd = [
        sys.executable,
        "-c",
        wrapper,
        "cases",
        "import",
        str(log),
        "--suite",
        "support-answers",
        "--limit",
        str(limit),
        "--repo",
        str(repo),
        "--base-url",
        base_url,
        "--cache",
        str(cache),
        "--out",
        str(repo / "evals" / f"out-{limit}.yaml"),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {proc.stderr.strip()}")
    print("   ", proc.stdout.splitlines()[0])
    print("   ", proc.stdout.splitlines()[2] if len(proc.stdout.splitlines()) > 2 else "")
    peak_kb = int(proc.stderr.rsplit("PEAK", 1)[1].split()[0])
    return wall, peak_kb / 1024.0


def main() -> None:
    n = 100_000
    with tempfile.TemporaryDirectory() as tmp_s, OpenAIServer.spawn() as server:
        tmp = Path(tmp_s)
        repo = example_repo(tmp).path
        for limit, every, label in ((20, 50, "feedback fills the limit"), (200, 2000, "outliers embedded")):
            log = tmp / f"log-{limit}.jsonl"
            _log(log, n, every)
            size_mb = log.stat().st_size / 2**20
            wall, peak_mb = _run(repo, log, limit, server.base_url, tmp / f"cache-{limit}.sqlite")
            print(
                f"cases import, {n:,} records ({size_mb:.0f} MB), --limit {limit} ({label}): "
                f"{wall:.2f} s, {n / wall:,.0f} records/s, peak RSS {peak_mb:.0f} MB, "
                f"embedding requests so far {server.count('/embeddings')}"
            )


if __name__ == "__main__":
    main()
