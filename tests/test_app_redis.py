"""The App with Redis: one ``promptreview serve`` that only queues, two ``promptreview worker``
processes that run the jobs, and a real ``redis-server`` started by the test on a free loopback
port (Debian's package; ``.ci/run`` installs it). The same scenarios as the embedded queue, plus
a worker killed mid-job: the other worker picks the job up once its lease expires.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app_harness import REPO, AppWorld, app_world, free_port, wait_for
from promptreview.report import DEFAULT_MARKER
from test_action_e2e import BETTER


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(host="127.0.0.1", port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        wait_for(up, 20, "redis-server to answer PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def world(tmp_path: Path, redis_url: str) -> Iterator[AppWorld]:
    with app_world(tmp_path, queue_url=redis_url, latency_ms=50) as w:
        yield w
        assert w.github.contract_violations == []


def _cluster(world: AppWorld) -> None:
    world.start("serve")
    world.start("worker", PROMPTREVIEW_WORKERS="1")
    world.start("worker", PROMPTREVIEW_WORKERS="1")


def test_review_redelivery_recheck_and_allowlist_with_two_workers(world: AppWorld) -> None:
    world.github.set_permission(REPO, "maintainer", "write")
    world.github.set_permission(REPO, "reader", "read")
    _cluster(world)

    assert world.deliver("pull_request", world.pull_request_event(), delivery="r-1").status_code == 202
    wait_for(lambda: len(world.final_checks()) == 1, 60, "the review")
    (comment,) = world.bot_comments()
    assert comment.body.startswith(DEFAULT_MARKER) and "Prompt review: pass" in comment.body
    assert "serve" not in {r.get("msg") for r in world.server.records() if r.get("msg") == "job started"}

    calls = world.api_calls()
    assert world.deliver("pull_request", world.pull_request_event(), delivery="r-1").status_code == 200
    assert world.deliver("pull_request", world.pull_request_event(repo="evil/prompts")).status_code == 202
    assert world.deliver("pull_request", world.pull_request_event(), signature=None).status_code == 401
    assert world.api_calls() == calls

    world.deliver("check_run", world.recheck_event("reader"))
    world.deliver("check_run", world.recheck_event("maintainer"))
    wait_for(lambda: len(world.final_checks()) == 2, 60, "the writer's re-run")
    wait_for(lambda: world.finished_jobs() == 3, 30, "all three jobs to be counted")
    workers_log = "".join(p.log for p in world.processes if p.url is None)
    assert "denied" in workers_log and "reader has read permission" in workers_log
    assert len(world.checks()) == 2 and len(world.bot_comments()) == 1


def test_two_quick_pushes_with_two_workers_leave_one_comment_for_the_newest(
    tmp_path: Path, redis_url: str
) -> None:
    with app_world(tmp_path, queue_url=redis_url, latency_ms=500) as world:
        _cluster(world)
        first = world.head
        world.deliver("pull_request", world.pull_request_event())
        wait_for(lambda: len(world.bot_comments()) == 1, 30, "the first job to start")
        newest = world.push(BETTER)
        world.deliver("pull_request", world.pull_request_event("synchronize", head=newest))

        wait_for(lambda: len(world.final_checks(newest)) == 1, 90, "the newest review")
        wait_for(lambda: world.finished_jobs() == 2, 30, "both jobs to end")
        (comment,) = world.bot_comments()
        assert newest[:7] in comment.body and first[:7] not in comment.body
        (stopped,) = world.checks(first)
        assert (stopped.status, stopped.conclusion) == ("completed", "neutral")
        assert world.github.contract_violations == []


def test_a_worker_killed_mid_job_loses_no_job(tmp_path: Path, redis_url: str) -> None:
    with app_world(tmp_path, queue_url=redis_url, latency_ms=400) as world:
        world.start("serve")
        doomed = world.start("worker", PROMPTREVIEW_WORKERS="1")
        world.deliver("pull_request", world.pull_request_event())
        wait_for(lambda: world.openai.count() >= 2, 30, "the job to be calling the model")

        doomed.stop(signal.SIGKILL)
        survivor = world.start("worker", PROMPTREVIEW_WORKERS="1")

        wait_for(lambda: len(world.final_checks()) == 1, 90, "the job to finish on the other worker")
        (comment,) = world.bot_comments()
        assert "Prompt review: pass" in comment.body
        (check,) = world.checks()
        assert (check.status, check.conclusion) == ("completed", "success")
        assert "re-queued a job whose worker stopped" in survivor.log
        assert "promptreview_jobs_requeued_total 1" in world.metrics()
        assert world.github.contract_violations == []
