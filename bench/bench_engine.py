"""Benchmark the model client against the loopback server (prints numbers, never asserts on time).

Why these scenarios: a review is hundreds of calls whose wall time should be set by the
endpoint's latency and our concurrency, not by our own CPU. For each scenario we print the wall
time against the ideal ``calls / concurrency x latency``:

  a      1,000 calls, 200 ms latency, concurrency 16    (target <= 1.15x ideal)
  b      4,000 calls,  50 ms latency, concurrency 64    (target <= 2x ideal, peak RSS < 120 MB)
  bare   scenario b through a bare loop over AsyncOpenAI().chat.completions.create, for comparison

The server always runs in its own process (the second core), and b / bare each run in a fresh
child process so the peak RSS printed is theirs alone.

Usage::

    python bench/bench_engine.py                 # a, b, bare
    python bench/bench_engine.py b bare          # some of them
    python bench/bench_engine.py --list

Adding a scenario (e.g. "fully cached re-run of 400 cases", "cold promptreview --help"): write a
function taking ``Context`` and returning ``Result``, decorate it with ``@scenario(name, doc)``
(``fresh_process=True`` to measure it in a child process). Another script can import this file and
call ``main([...], extra=...)``; ``spawn_server()`` and ``make_requests()`` are there to reuse.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra_path in (ROOT / "src", ROOT):
    if str(extra_path) not in sys.path:
        sys.path.insert(0, str(extra_path))

from tests.servers.openai_server import OpenAIServer, SpawnedOpenAIServer  # noqa: E402

from promptreview.models.types import ChatRequest, Message  # noqa: E402


@dataclass
class Context:
    """What a scenario gets: the loopback server's URL (already running with ``latency_ms``)."""

    base_url: str
    latency_ms: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    name: str
    calls: int
    wall_s: float
    ideal_s: float | None = None
    target_ratio: float | None = None
    peak_rss_mb: float | None = None
    cpu_s: float | None = None
    errors: int = 0
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        return self.wall_s / self.ideal_s if self.ideal_s else None


ScenarioFn = Callable[[Context], Awaitable[Result]]


@dataclass
class Scenario:
    name: str
    doc: str
    fn: ScenarioFn
    latency_ms: float
    fresh_process: bool


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str, doc: str, *, latency_ms: float = 0.0, fresh_process: bool = False
) -> Callable[[ScenarioFn], ScenarioFn]:
    """Register a scenario; the server is started with ``latency_ms`` before it runs."""

    def register(fn: ScenarioFn) -> ScenarioFn:
        SCENARIOS[name] = Scenario(name, doc, fn, latency_ms, fresh_process)
        return fn

    return register


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def spawn_server(latency_ms: float) -> SpawnedOpenAIServer:
    return OpenAIServer.spawn(latency_ms=latency_ms, log_bodies=False)


def make_requests(n: int, model: str = "openai/gpt-4o-mini") -> list[ChatRequest]:
    """Distinct, realistic-sized requests (no two share a cache key, so nothing is coalesced)."""
    system = Message("system", "You are a support assistant. Answer in two sentences and cite the policy.")
    return [
        ChatRequest.make(
            model,
            [
                system,
                Message(
                    "user",
                    f"Case {i}: a customer asks whether order #{1000 + i} can be refunded "
                    "after 30 days because the item arrived damaged.",
                ),
            ],
            {"temperature": 0, "max_tokens": 200},
        )
        for i in range(n)
    ]


async def _through_client(ctx: Context, calls: int, concurrency: int) -> tuple[float, int, float]:
    from promptreview.models.client import ModelClient
    from promptreview.models.endpoint import Endpoint

    reqs = make_requests(calls)
    endpoint = Endpoint(ctx.base_url, "sk-bench", "openai-compatible", "bench")
    async with ModelClient(endpoint, cache=None, concurrency=concurrency, timeout_s=30) as client:
        # Warm up: import the SDK and open connections, as any real run's first calls do.
        await client.complete_many(make_requests(concurrency, model="warmup"))
        cpu0, t0 = time.process_time(), time.perf_counter()
        out = await client.complete_many(reqs)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    return wall, sum(1 for c in out if not c.ok), cpu


@scenario("a", "1,000 calls, 200 ms latency, concurrency 16, ModelClient, no cache", latency_ms=200)
async def scenario_a(ctx: Context) -> Result:
    calls, conc = 1000, 16
    wall, errors, cpu = await _through_client(ctx, calls, conc)
    return Result("a", calls, wall, calls / conc * ctx.latency_ms / 1000, 1.15, cpu_s=cpu, errors=errors)


@scenario(
    "b",
    "4,000 calls, 50 ms latency, concurrency 64, ModelClient, no cache",
    latency_ms=50,
    fresh_process=True,
)
async def scenario_b(ctx: Context) -> Result:
    calls, conc = 4000, 64
    wall, errors, cpu = await _through_client(ctx, calls, conc)
    return Result("b", calls, wall, calls / conc * ctx.latency_ms / 1000, 2.0, peak_rss_mb(), cpu, errors)


@scenario(
    "bare",
    "scenario b through a bare loop over AsyncOpenAI().chat.completions.create",
    latency_ms=50,
    fresh_process=True,
)
async def scenario_bare(ctx: Context) -> Result:
    import openai

    calls, conc = 4000, 64
    reqs = make_requests(calls)
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=ctx.base_url, max_retries=0)
    sem = asyncio.Semaphore(conc)
    errors = 0

    async def one(req: ChatRequest) -> None:
        nonlocal errors
        async with sem:
            try:
                r = await client.chat.completions.create(
                    model=req.model,
                    messages=[{"role": m.role, "content": m.content} for m in req.messages],
                    temperature=0,
                    max_tokens=200,
                )
                _ = r.choices[0].message.content
            except openai.OpenAIError:
                errors += 1

    await asyncio.gather(*(one(r) for r in make_requests(conc)))
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(r) for r in reqs))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    await client.close()
    return Result(
        "bare",
        calls,
        wall,
        calls / conc * ctx.latency_ms / 1000,
        None,
        peak_rss_mb(),
        cpu,
        errors,
        "default httpx transport, pydantic-parsed responses",
    )


@scenario(
    "server", "the loopback server alone: bare aiohttp, 8,000 calls, 50 ms, concurrency 200", latency_ms=50
)
async def scenario_server(ctx: Context) -> Result:
    """Checks the fake is not the bottleneck: it must sustain >= 2,000 req/s on its core."""
    import json as _json

    import aiohttp

    calls, conc = 8000, 200
    body = _json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello there"}]}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    sem = asyncio.Semaphore(conc)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:

        async def one() -> None:
            async with sem, session.post(ctx.base_url + "/chat/completions", data=body, headers=headers) as r:
                await r.read()

        await asyncio.gather(*(one() for _ in range(conc)))
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        wall = time.perf_counter() - t0
    return Result("server", calls, wall, calls / conc * ctx.latency_ms / 1000, notes="bare aiohttp client")


# --------------------------------------------------------------------------------------------
# Running


def _run_child(sc: Scenario, base_url: str, latency_ms: float) -> Result:
    # Run the file that defined the scenario, so scenarios registered by other scripts work too.
    name = sc.name
    cmd = [
        sys.executable,
        str(Path(inspect.getfile(sc.fn)).resolve()),
        "--child",
        name,
        "--url",
        base_url,
        "--latency-ms",
        str(latency_ms),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return Result(**json.loads(out.stdout.strip().splitlines()[-1]))


def run_scenario(sc: Scenario) -> Result:
    with spawn_server(sc.latency_ms) as server:
        if sc.fresh_process:
            return _run_child(sc, server.base_url, sc.latency_ms)
        return asyncio.run(sc.fn(Context(server.base_url, sc.latency_ms)))


def report(r: Result) -> str:
    parts = [f"{r.name:>5}: {r.calls} calls in {r.wall_s:6.2f} s"]
    if r.ideal_s:
        ratio = r.ratio or 0.0
        target = (
            f" (target <= {r.target_ratio:g}x: {'met' if ratio <= r.target_ratio else 'MISSED'})"
            if r.target_ratio
            else ""
        )
        parts.append(f"ideal {r.ideal_s:.2f} s, ratio {ratio:.2f}x{target}")
    parts.append(f"{r.calls / r.wall_s:,.0f} calls/s")
    if r.cpu_s is not None:
        parts.append(f"client CPU {r.cpu_s / r.calls * 1000:.2f} ms/call")
    if r.peak_rss_mb is not None:
        parts.append(f"peak RSS {r.peak_rss_mb:.0f} MB")
    if r.errors:
        parts.append(f"{r.errors} ERRORS")
    if r.notes:
        parts.append(r.notes)
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None, default: Sequence[str] = ("a", "b", "bare")) -> int:
    """CLI entry; another script that registers scenarios calls ``main(default=[...])``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"scenarios to run (default: {' '.join(default)})")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--latency-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print results as JSON lines too")
    args = parser.parse_args(argv)
    if args.list:
        for sc in SCENARIOS.values():
            print(f"{sc.name:>8}  {sc.doc}")
        return 0
    if args.child:
        result = asyncio.run(SCENARIOS[args.child].fn(Context(args.url, args.latency_ms)))
        print(json.dumps(asdict(result)))
        return 0
    names = args.names or list(default)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; --list shows them")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name in names:
        result = run_scenario(SCENARIOS[name])
        print(report(result), flush=True)
        if args.json:
            print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
