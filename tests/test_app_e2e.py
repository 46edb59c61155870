"""``promptreview serve`` end to end with the embedded (SQLite) queue: signed webhooks in, the PR
comment and the check out, everything through the loopback GitHub and model (``app_harness.py``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app_harness import BOT, PR, REPO, AppWorld, app_world, load_event, wait_for
from promptreview.report import DEFAULT_MARKER
from test_action_e2e import BETTER


@pytest.fixture
def world(tmp_path: Path) -> Iterator[AppWorld]:
    with app_world(tmp_path) as w:
        yield w
        assert w.github.contract_violations == []


def test_a_signed_pull_request_opened_gets_one_comment_and_a_final_check(world: AppWorld) -> None:
    world.start()

    answer = world.deliver("pull_request", world.pull_request_event())

    assert answer.status_code == 202, answer.text
    wait_for(lambda: len(world.final_checks()) == 1, 60, "the final check")
    (comment,) = world.bot_comments()
    assert comment.body.startswith(DEFAULT_MARKER) and "Prompt review: pass" in comment.body
    (check,) = world.checks()
    assert (check.name, check.status, check.conclusion) == ("promptreview", "completed", "success")
    assert world.openai.count() == 10
    tokens = {r.token_login for r in world.github.apps.git_requests}
    assert tokens == {BOT} and all(r.status == 200 for r in world.github.apps.git_requests)
    assert "ghs_" not in world.server.log  # the installation token never reaches the log
    wait_for(lambda: world.finished_jobs() == 1, 10, "the job to be counted")
    assert 'promptreview_jobs_finished_total{outcome="success"} 1' in world.metrics()



def test_a_bad_or_missing_signature_gets_401_and_no_api_call(world: AppWorld) -> None:
    world.start()
    payload = world.pull_request_event()

    missing = world.deliver("pull_request", payload, signature=None)
    wrong = world.deliver("pull_request", payload, signature="sha256=" + "0" * 64)
    malformed = world.deliver("pull_request", payload, signature="sha1=abc")

    assert [missing.status_code, wrong.status_code, malformed.status_code] == [401, 401, 401]
    assert world.github.requests == [] and world.openai.count() == 0
    assert "missing or wrong X-Hub-Signature-256" in world.server.log


def test_a_redelivery_runs_nothing(world: AppWorld) -> None:
    world.start()
    payload = world.pull_request_event()

    first = world.deliver("pull_request", payload, delivery="d-1")
    wait_for(lambda: len(world.final_checks()) == 1, 60, "the first review")
    calls = world.api_calls()
    again = world.deliver("pull_request", payload, delivery="d-1")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["message"] == "duplicate delivery"
    assert world.api_calls() == calls and len(world.checks()) == 1 and world.openai.count() == 10


def test_check_run_rerequested_by_a_writer_reruns_and_by_a_reader_is_refused(world: AppWorld) -> None:
    world.github.set_permission(REPO, "maintainer", "write")
    world.github.set_permission(REPO, "reader", "read")
    world.start()
    world.deliver("pull_request", world.pull_request_event())
    wait_for(lambda: len(world.final_checks()) == 1, 60, "the first review")

    refused = world.deliver("check_run", world.recheck_event("reader"))
    wait_for(lambda: "re-run of" in world.server.log and "denied" in world.server.log, 30, "the refusal")
    assert refused.status_code == 202 and len(world.checks()) == 1

    world.deliver("check_run", world.recheck_event("maintainer"))
    wait_for(lambda: len(world.final_checks()) == 2, 60, "the re-run's check")
    assert [c.conclusion for c in world.checks()] == ["success", "success"]
    assert len(world.bot_comments()) == 1

    world.deliver("check_suite", world.recheck_event("maintainer", kind="check_suite"))
    wait_for(lambda: len(world.final_checks()) == 3, 60, "the suite re-run's check")


def test_rerun_comment_from_a_writer_reviews_again(world: AppWorld) -> None:
    world.github.set_permission(REPO, "maintainer", "write")
    world.start()

    world.deliver("issue_comment", world.comment_event("/rerun", login="maintainer"))

    def reactions() -> list[str]:
        comments = world.github.comments(REPO, PR)
        return [r.content for c in comments for r in world.github.reactions(REPO, c.id)]

    wait_for(lambda: "rocket" in reactions(), 60, "the /rerun review to finish")
    assert "eyes" in reactions() and len(world.final_checks()) == 1
    assert "Prompt review: pass" in world.bot_comments()[0].body


def test_two_quick_pushes_leave_one_comment_for_the_newest_sha(tmp_path: Path) -> None:
    with app_world(tmp_path, latency_ms=500) as world:
        world.start()
        first = world.head
        world.deliver("pull_request", world.pull_request_event())
        wait_for(lambda: len(world.bot_comments()) == 1, 30, "the first job to start")
        newest = world.push(BETTER)
        world.deliver("pull_request", world.pull_request_event("synchronize", head=newest))

        wait_for(lambda: len(world.final_checks(newest)) == 1, 90, "the newest review")
        wait_for(lambda: world.finished_jobs() == 2, 30, "both jobs to end")
        (comment,) = world.bot_comments()
        assert newest[:7] in comment.body and first[:7] not in comment.body
        assert "Prompt review: pass" in comment.body
        older = world.checks(first)
        (stopped,) = older  # stopped between model calls, closed as neutral, never left running
        assert (stopped.status, stopped.conclusion) == ("completed", "neutral")
        assert stopped.output_title == "Superseded by a newer push"
        assert world.github.contract_violations == []


def test_a_repository_outside_the_allowlist_or_the_installation_gets_nothing(world: AppWorld) -> None:
    world.start()

    outside = world.deliver("pull_request", world.pull_request_event(repo="evil/prompts"))
    assert outside.status_code == 202 and "PROMPTREVIEW_ALLOW" in outside.json()["message"]

    removed = load_event("installation_repositories.removed.1")
    removed["installation"].update(id=world.installation_id)
    removed["installation"]["account"]["login"] = "acme"
    removed["repositories_removed"] = [{**removed["repositories_removed"][0], "full_name": "acme/other"}]
    assert world.deliver("installation_repositories", removed).status_code == 200
    uninstalled = world.deliver("pull_request", world.pull_request_event(repo="acme/other"))

    assert uninstalled.status_code == 202 and "not served" in uninstalled.json()["message"]
    assert world.github.requests == []
    assert "refused: evil/prompts is not in PROMPTREVIEW_ALLOW" in world.server.log


def test_ping_is_answered(world: AppWorld) -> None:
    world.start()

    answer = world.deliver("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})

    assert answer.status_code == 200 and "Keep it logically awesome." in answer.json()["message"]


def test_a_server_killed_mid_job_runs_it_again_after_restart(tmp_path: Path) -> None:
    with app_world(tmp_path, latency_ms=400) as world:
        first = world.start()
        world.deliver("pull_request", world.pull_request_event())
        wait_for(lambda: world.openai.count() >= 2, 30, "the job to be calling the model")

        first.stop(signal.SIGKILL)
        assert [c.status for c in world.checks()] == ["in_progress"]
        world.start()

        wait_for(lambda: len(world.final_checks()) == 1, 90, "the re-run job's final check")
        (comment,) = world.bot_comments()
        assert "Prompt review: pass" in comment.body
        (check,) = world.checks()  # the interrupted run's check, taken over and completed
        assert (check.status, check.conclusion) == ("completed", "success")
        assert "re-queued 1 job(s)" in world.server.log
        assert world.github.contract_violations == []


def test_sigterm_stops_the_server_cleanly(world: AppWorld) -> None:
    server = world.start()

    assert server.stop(signal.SIGTERM) == 0
    assert "promptreview serve stopped" in server.log


def test_serve_refuses_to_start_without_a_webhook_secret(world: AppWorld) -> None:
    env = world.server_env(GITHUB_WEBHOOK_SECRET="")
    proc = subprocess.run([sys.executable, "-m", "promptreview", "serve", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "GITHUB_WEBHOOK_SECRET is not set" in proc.stderr


def test_healthz_and_metrics(world: AppWorld) -> None:
    world.start()
    import requests

    health = requests.get(f"{world.server.url}/healthz", timeout=5)

    assert health.status_code == 200 and health.json()["status"] == "ok"
    text = world.metrics()
    for name in ("promptreview_jobs_queued", "promptreview_jobs_running", "promptreview_model_calls_total",
                 "promptreview_job_duration_seconds_count"):
        assert f"# TYPE {name}" in text or f"{name} " in text
    assert json.loads(health.text)["queued"] == 0


def test_the_installation_limit_keeps_jobs_waiting_and_none_is_lost(tmp_path: Path) -> None:
    with app_world(tmp_path, latency_ms=300) as world:
        world.start(PROMPTREVIEW_INSTALLATION_LIMIT="1", PROMPTREVIEW_WORKERS="3")
        for number in (PR, PR + 1, PR + 2):
            world.github.add_pull(REPO, head_sha=world.head, base_sha=world.base, number=number)
            payload = world.pull_request_event()
            payload["number"] = payload["pull_request"]["number"] = number
            world.deliver("pull_request", payload)

        wait_for(lambda: world.finished_jobs() == 3, 120, "all three jobs")
        # The counter moves just before the "job finished" line is logged: wait for the lines too.
        wait_for(lambda: len(_finished_records(world)) == 3, 10, "three 'job finished' log lines")
        records = world.server.records()
        starts = [r["ts"] for r in records if r.get("msg") == "job started"]
        ends = [r["ts"] for r in _finished_records(world)]
        assert len(starts) == 3 and len(ends) == 3
        assert all(later >= end for later, end in zip(sorted(starts)[1:], sorted(ends), strict=False))
        assert any(r.get("msg") == "installation at its job limit; job waits" for r in records)
        for number in (PR, PR + 1, PR + 2):
            assert len([c for c in world.github.comments(REPO, number) if c.user == BOT]) == 1


def test_sigterm_mid_job_lets_the_running_job_finish(tmp_path: Path) -> None:
    with app_world(tmp_path, latency_ms=150) as world:
        server = world.start()
        world.deliver("pull_request", world.pull_request_event())
        wait_for(lambda: world.openai.count() >= 1, 30, "the job to be calling the model")

        assert server.stop(signal.SIGTERM) == 0

        (check,) = world.checks()
        assert (check.status, check.conclusion) == ("completed", "success")
        assert "Prompt review: pass" in world.bot_comments()[0].body


def _finished_records(world: AppWorld) -> list[dict[str, Any]]:
    return [r for r in world.server.records() if str(r.get("msg", "")).startswith("job finished")]
