"""Whole-process benchmark: ``promptreview run`` / ``compare`` beside a raw aiohttp loop.

Why whole processes: a user waits for the whole command (imports, config, rendering, the calls,
scoring, cache writes, the report, the JSON file), not for the client alone. Each scenario starts
one lean loopback server (bench/lean_server.py, its own process and core) and, in the same run,
times three kinds of process against it, ``--repeat`` times each, interleaved so that load from
other work on the machine falls on all of them alike:

* ``raw``: bench/raw_loop.py, plain aiohttp posting the same requests (the reference; for
  ``compare`` it posts as many requests as compare made, answers and judge calls together);
* ``run``: ``promptreview run --json out.json`` on a fresh cache, then the same command again
  with every answer cached (the cached re-run);
* ``compare``: ``promptreview compare --base HEAD~1 --head HEAD --json out.json`` (both versions
  plus the pairwise judge in both orders), fresh cache, then cached.

Printed per kind: median wall time, ratio to ideal (``calls / concurrency x latency``, with the
calls the server actually answered), ratio to the raw loop (medians from the same run), CPU per
call (user + sys of the process / calls), peak RSS, and the server's own CPU per call (to show it
is not the bottleneck).

Scenarios::

    1k     1,000 cases, 200 ms latency, concurrency 16
    4k     4,000 cases,  50 ms, concurrency 64
    10k   10,000 cases,  20 ms, concurrency 128
    50k   50,000 cases,   2 ms, concurrency 128 ("a fast model"; cases as JSONL)
    c400     400 cases, cached re-run only

Usage::

    python bench/bench_whole.py                      # 1k 4k 10k, 3 repeats
    python bench/bench_whole.py 10k --repeat 5
    python bench/bench_whole.py 10k --kinds run      # skip compare / raw
    python bench/bench_whole.py 10k --profile out.prof   # cProfile one `run` (fresh cache)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Scenario:
    name: str
    cases: int
    latency_ms: float
    concurrency: int
    jsonl: bool = False
    cached_only: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("1k", 1000, 200, 16),
        Scenario("4k", 4000, 50, 64),
        Scenario("10k", 10000, 20, 128),
        Scenario("50k", 50000, 2, 128, jsonl=True),
        Scenario("c400", 400, 0, 16, cached_only=True),
    )
}


@dataclass
class Sample:
    wall_s: float
    cpu_s: float
    rss_mb: float
    calls: int
    server_cpu_s: float


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


class LeanServer:
    """bench/lean_server.py in its own process; ``stats()`` reads its answered calls and CPU."""

    def __init__(self, latency_ms: float) -> None:
        cmd = [sys.executable, str(BENCH / "lean_server.py"), "--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"lean server did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        self.base_url = self.url + "/v1"

    def stats(self) -> tuple[int, float]:
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as resp:
            data = json.loads(resp.read())
        return int(data["chat"]), float(data["cpu_s"])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _write_repo(repo: Path, n: int, jsonl: bool) -> None:
    """A git repo with one suite of ``n`` cases; HEAD~1 has the base prompt, HEAD the edited one."""
    (repo / "prompts").mkdir(parents=True)
    (repo / "evals").mkdir()
    cases = "evals/c.jsonl" if jsonl else "evals/c.yaml"
    (repo / "promptreview.yml").write_text(
        f"version: 1\nsuites:\n  s:\n    prompt: prompts/p.md.j2\n    cases: {cases}\n"
        "    metrics:\n      - contains: '{{ vars.topic }}'\n      - max-length: {max: 2000}\n",
        "utf-8",
    )
    if jsonl:
        text = "".join(
            json.dumps({"id": f"c{i}", "vars": {"topic": f"topic{i}", "n": i}}) + "\n" for i in range(n)
        )
    else:
        text = "".join(f"- id: c{i}\n  vars: {{topic: topic{i}, n: {i}}}\n" for i in range(n))
    (repo / cases).write_text(text, "utf-8")
    prompt = repo / "prompts" / "p.md.j2"
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    prompt.write_text("Tell me something about {{ topic }} (case {{ n }}).\n", "utf-8")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    # The working tree (what `run` reads) and HEAD carry the edited prompt raw_loop.py mirrors.
    prompt.write_text("Say something about {{ topic }} (case {{ n }}).\n", "utf-8")
    subprocess.run([*git, "commit", "-qam", "head"], check=True)


def _measure(cmd: list[str], env: dict[str, str], server: LeanServer, cwd: Path) -> Sample:
    calls0, scpu0 = server.stats()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1, 3):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr[-2000:]}")
    calls1, scpu1 = server.stats()
    return Sample(
        wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, calls1 - calls0, scpu1 - scpu0
    )


def _report(label: str, series: Series, ideal_per_call: float, raw: Series | None) -> str:
    wall = series.median("wall_s")
    calls = int(series.median("calls"))
    parts = [f"{label:>16}: {wall:7.2f} s"]
    if calls:
        ideal = calls * ideal_per_call
        if ideal:
            parts.append(f"{wall / ideal:5.2f}x ideal ({ideal:.2f} s)")
        if raw is not None and raw.samples:
            parts.append(f"{wall / raw.median('wall_s'):5.2f}x raw")
        parts.append(f"CPU {series.median('cpu_s') / calls * 1000:.2f} ms/call")
        parts.append(f"server CPU {series.median('server_cpu_s') / calls * 1000:.3f} ms/call")
    parts.append(f"{calls} calls")
    parts.append(f"peak RSS {series.median('rss_mb'):.0f} MB")
    spread = [s.wall_s for s in series.samples]
    parts.append(f"walls {' '.join(f'{w:.2f}' for w in spread)}")
    return "; ".join(parts)


def run_scenario(sc: Scenario, repeat: int, kinds: list[str], profile: str | None) -> None:
    ideal_per_call = sc.latency_ms / 1000 / sc.concurrency
    server = LeanServer(sc.latency_ms)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-whole-") as tmpdir:
            tmp = Path(tmpdir)
            repo = tmp / "repo"
            _write_repo(repo, sc.cases, sc.jsonl)
            env = {
                **os.environ,
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_KEY": "sk-bench",
                "PYTHONPATH": str(ROOT / "src"),
            }
            env.pop("GITHUB_TOKEN", None)
            exe = [sys.executable, "-m", "promptreview"]
            common = ["--repo", str(repo), "--color", "never", "--concurrency", str(sc.concurrency)]
            commands = {
                "run": [*exe, "run", *common],
                "compare": [*exe, "compare", "--base", "HEAD~1", "--head", "HEAD", *common],
            }
            if profile:
                cache = tmp / "profile.sqlite"
                cmd = [sys.executable, "-m", "cProfile", "-o", profile, *commands["run"][1:]]
                cmd += ["--cache", str(cache), "--json", str(tmp / "out.json")]
                sample = _measure(cmd, env, server, tmp)
                print(
                    f"profiled `run`: {sample.calls} calls, {sample.wall_s:.2f} s, in {profile}"
                )
                return
            series: dict[str, Series] = {}
            for i in range(repeat):
                if "raw" in kinds and not sc.cached_only:
                    cmd = [sys.executable, str(BENCH / "raw_loop.py"), "--url", server.base_url]
                    cmd += ["--calls", str(sc.cases), "--concurrency", str(sc.concurrency)]
                    series.setdefault("raw", Series()).samples.append(_measure(cmd, env, server, tmp))
                for kind in ("run", "compare"):
                    if kind not in kinds:
                        continue
                    cache = tmp / f"{kind}-{i}.sqlite"
                    cmd = [*commands[kind], "--cache", str(cache), "--json", str(tmp / f"{kind}.json")]
                    first = _measure(cmd, env, server, tmp)
                    if not sc.cached_only:
                        series.setdefault(kind, Series()).samples.append(first)
                    if kind == "compare" and "raw" in kinds and not sc.cached_only:
                        # compare sends answers for both sides and judge calls: the reference
                        # loop posts as many requests, so the ratio compares like with like.
                        raw_cmd = [sys.executable, str(BENCH / "raw_loop.py"), "--url", server.base_url]
                        raw_cmd += ["--calls", str(first.calls), "--concurrency", str(sc.concurrency)]
                        sample = _measure(raw_cmd, env, server, tmp)
                        series.setdefault("raw (compare)", Series()).samples.append(sample)
                    series.setdefault(f"{kind} cached", Series()).samples.append(
                        _measure(cmd, env, server, tmp)
                    )
                    cache.unlink()
            refs = {"run": series.get("raw"), "compare": series.get("raw (compare)")}
            print(
                f"{sc.name}: {sc.cases:,} cases, {sc.latency_ms:g} ms latency, concurrency "
                f"{sc.concurrency}; medians of {repeat}; load average {os.getloadavg()[0]:.1f}"
            )
            for label, s in series.items():
                cached = "cached" in label
                ideal = 0.0 if cached else ideal_per_call
                print(_report(label, s, ideal, None if cached else refs.get(label)), flush=True)
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", default=["1k", "4k", "10k"], help="scenarios (1k 4k 10k 50k c400)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default="raw,run,compare", help="comma-separated: raw, run, compare")
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile one fresh `run` of the scenario into PATH"
    )
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {' '.join(SCENARIOS)}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    # An installed package has its bytecode compiled (pip does it); a source tree under
    # PYTHONDONTWRITEBYTECODE=1 would recompile ~100 modules in every measured process.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True,
                   stdout=subprocess.DEVNULL)
    for name in args.names:
        run_scenario(SCENARIOS[name], args.repeat, args.kinds.split(","), args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
