"""The reference a whole ``promptreview`` process is measured against: plain aiohttp, no SDK.

Posts ``--calls`` chat requests shaped like the ones ``promptreview run`` sends for the bench
suite (same model, same rendered user message), ``--concurrency`` at a time, parses each reply
with ``json.loads`` and takes the answer text. Nothing else: no cache, no scoring, no report.
It runs as its own process so its wall time, CPU and peak RSS compare like with like.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import aiohttp


def request_body(i: int, model: str = "openai/gpt-4o-mini") -> bytes:
    """The body promptreview sends for case ``i`` of the bench suite (bench_whole.py)."""
    content = f"Say something about topic{i} (case {i}).\n"
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": content}]},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


async def run(base_url: str, calls: int, concurrency: int) -> int:
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    sem = asyncio.Semaphore(concurrency)
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            nonlocal errors
            async with sem, session.post(url, data=request_body(i), headers=headers) as resp:
                data = json.loads(await resp.read())
                if resp.status != 200 or not data["choices"][0]["message"]["content"]:
                    errors += 1

        await asyncio.gather(*(one(i) for i in range(calls)))
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    errors = asyncio.run(run(args.url, args.calls, args.concurrency))
    print(f"{args.calls} calls, {errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
