"""Numbers for the GitHub App server (prints numbers, never asserts):

1. ``ack``: how fast ``promptreview serve`` acknowledges signed webhook deliveries while 50 jobs
   are already queued (embedded SQLite queue, slow loopback model so the jobs stay queued):
   deliveries per second with 8 concurrent senders, and the p50 / p99 acknowledgement time.
2. ``redis``: review throughput with the Redis queue and 1, 2, 4 ``promptreview worker``
   processes: 16 PRs queued at once, each review 10 model calls at 200 ms on the loopback model
   server; the time until every PR has its final check, and reviews per minute.

    .venv/bin/python bench/bench_app.py          # both
    .venv/bin/python bench/bench_app.py ack      # one
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import redis  # noqa: E402
import requests  # noqa: E402

from app_harness import REPO, SECRET, AppWorld, app_world, free_port, wait_for  # noqa: E402
from promptreview.app.signature import sign  # noqa: E402


def _pr_payload(world: AppWorld, number: int, *, own_head: bool = False) -> dict[str, Any]:
    """A PR ``number``; ``own_head`` gives it its own prompt edit, so no review hits another's cache."""
    head = world.head
    if own_head:
        files = {"prompts/greet.txt": f"Say hello number {number} to {{{{ vars.name }}}}."}
        head = world.origin.commit(files, branch=f"f{number}", parent=world.base)
        world.github.add_commit(REPO, changes=files, branch=None, parents=[world.base], sha=head)
    world.github.add_pull(REPO, head_sha=head, base_sha=world.base, number=number, head_ref=f"f{number}")
    payload = world.pull_request_event(head=head)
    payload["number"] = number
    payload["pull_request"]["number"] = number
    return payload


def _post(url: str, event: str, payload: dict[str, Any], session: requests.Session) -> float:
    body = __import__("json").dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET.encode(), body),
        "Content-Type": "application/json",
    }
    started = time.perf_counter()
    answer = session.post(f"{url}/webhook", data=body, headers=headers, timeout=30)
    elapsed = time.perf_counter() - started
    assert answer.status_code in (200, 202), answer.text
    return elapsed


def bench_ack(deliveries: int = 400, senders: int = 8) -> None:
    with tempfile.TemporaryDirectory() as tmp, app_world(Path(tmp), latency_ms=5000) as world:
        world.start("serve", PROMPTREVIEW_WORKERS="1", PROMPTREVIEW_INSTALLATION_LIMIT="1")
        url = world.server.url
        assert url is not None
        session = requests.Session()
        for n in range(50):
            _post(url, "pull_request", _pr_payload(world, 1000 + n), session)
        payloads = [_pr_payload(world, 2000 + n) for n in range(deliveries)]
        times: list[float] = []
        lock = threading.Lock()

        def send(chunk: list[dict[str, Any]]) -> None:
            own = requests.Session()
            for payload in chunk:
                t = _post(url, "pull_request", payload, own)
                with lock:
                    times.append(t)

        chunks = [payloads[i::senders] for i in range(senders)]
        threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        queued = requests.get(f"{url}/healthz", timeout=10).json()["queued"]
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        print(f"ack: {deliveries} signed pull_request deliveries, {senders} senders, 50 jobs queued before")
        print(
            f"ack: {deliveries / wall:.0f} deliveries/s; p50 {statistics.median(times) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms; queue now {queued}"
        )


def _redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_for(up, 20, "redis")
    return proc, f"redis://127.0.0.1:{port}/0"


def bench_redis(prs: int = 16, latency_ms: float = 200) -> None:
    for workers in (1, 2, 4):
        with tempfile.TemporaryDirectory() as tmp:
            server, url = _redis(Path(tmp))
            try:
                with app_world(Path(tmp), queue_url=url, latency_ms=latency_ms) as world:
                    world.env.update(PROMPTREVIEW_INSTALLATION_LIMIT="16", PROMPTREVIEW_CONCURRENCY="4")
                    world.start("serve")
                    payloads = [_pr_payload(world, 3000 + n, own_head=True) for n in range(prs)]
                    for _ in range(workers):
                        world.start("worker", PROMPTREVIEW_WORKERS="1")
                    session = requests.Session()
                    assert world.server.url is not None
                    started = time.perf_counter()
                    for payload in payloads:
                        _post(world.server.url, "pull_request", payload, session)
                    wait_for(lambda: world.finished_jobs() >= prs, 600, "every review")
                    wall = time.perf_counter() - started
                    calls = world.openai.count()
                    print(
                        f"redis: {workers} worker(s): {prs} reviews "
                        f"({calls} model calls at {latency_ms:g} ms) "
                        f"in {wall:.1f} s = {prs / wall * 60:.1f} reviews/min"
                    )
            finally:
                server.terminate()
                server.wait(timeout=10)


if __name__ == "__main__":
    which = sys.argv[1:] or ["ack", "redis"]
    if "ack" in which:
        bench_ack()
    if "redis" in which:
        bench_redis()
