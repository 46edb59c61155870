"""The GitHub App end to end: a real ``promptreview serve`` (and ``worker``) process, real webhooks.

An :class:`AppWorld` is what a deployed App sees: the loopback GitHub (REST, App JWTs,
installation tokens, git over smart HTTP through ``git http-backend``), the loopback model, a
repository with a PR in git *and* on the fake GitHub, and the server as a subprocess started
with the documented environment variables. Webhooks are the real payloads from
``tests/fixtures/github/events/more`` with only the repository, PR, SHAs and people rewritten,
signed with the webhook secret exactly as GitHub signs them (``X-Hub-Signature-256``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from promptreview.app.signature import sign
from repo_builder import RepoBuilder
from servers.github_app import generate_app_key
from servers.github_server import GitHubServer
from servers.openai_server import OpenAIServer
from test_action_e2e import BASE_FILES, GOOD

REPO = "acme/prompts"
PR = 7
APP_ID = 424242
SLUG = "promptreview-test"
BOT = f"{SLUG}[bot]"
SECRET = "whsec-loopback-0123456789"
API_KEY = "sk-loopback-SECRET-0123456789abcdef"
SRC = Path(__file__).resolve().parents[1] / "src"
EVENTS = Path(__file__).resolve().parent / "fixtures" / "github" / "events" / "more"

# The repository the App reviews is the Action tests' greeting repository.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Process:
    """A started ``promptreview`` subprocess and its log file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    url: str | None = None

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


@dataclass
class AppWorld:
    tmp: Path
    github: GitHubServer
    openai: OpenAIServer
    origin: RepoBuilder
    base: str
    head: str
    installation_id: int
    private_key: str
    queue_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    deliveries: int = 0

    # -- processes -----------------------------------------------------------------------------------
    def server_env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp / "home"),
            "PYTHONPATH": str(SRC),
            "GITHUB_APP_ID": str(APP_ID),
            "GITHUB_APP_PRIVATE_KEY": self.private_key,
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": self.github.url,
            "PROMPTREVIEW_ALLOW": "acme/*",
            "PROMPTREVIEW_STATE_DIR": str(self.tmp / "state"),
            "PROMPTREVIEW_LEASE_SECONDS": "3",
            "PROMPTREVIEW_GITHUB_BACKOFF": "0.05",
            "PROMPTREVIEW_GITHUB_WRITE_INTERVAL": "0",
            "OPENAI_BASE_URL": self.openai.base_url,
            "OPENAI_API_KEY": API_KEY,
        }
        if self.queue_url:
            env["PROMPTREVIEW_QUEUE"] = self.queue_url
        return {**env, **self.env, **extra}

    def start(self, command: str = "serve", **extra: str) -> Process:
        (self.tmp / "home").mkdir(exist_ok=True)
        n = len(self.processes)
        log_path = self.tmp / f"{command}{n}.log"
        args = [sys.executable, "-m", "promptreview", command]
        url = None
        if command == "serve":
            port = free_port()
            args += ["--port", str(port)]
            url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(args, env=self.server_env(**extra), stdout=out, stderr=subprocess.STDOUT)
        started = Process(proc, log_path, url)
        self.processes.append(started)
        if url is not None:
            wait_for(lambda: _healthy(url) or proc.poll() is not None, 30, "serve to answer /healthz")
            assert proc.poll() is None, started.log
        else:
            wait_for(lambda: "worker started" in started.log or proc.poll() is not None, 30, "the worker")
            assert proc.poll() is None, started.log
        return started

    @property
    def server(self) -> Process:
        return next(p for p in reversed(self.processes) if p.url is not None and p.proc.poll() is None)

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop(signal.SIGKILL if process.proc.poll() is None else signal.SIGTERM, timeout=10)

    # -- webhooks --------------------------------------------------------------------------------------
    def deliver(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        delivery: str | None = None,
        signature: str | None = "good",
    ) -> requests.Response:
        body = json.dumps(payload).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/loopback",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "109948940",
        }
        if signature == "good":
            headers["X-Hub-Signature-256"] = sign(SECRET.encode(), body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        self.deliveries += 1
        assert self.server.url is not None
        return requests.post(f"{self.server.url}/webhook", data=body, headers=headers, timeout=10)

    def _installation(self, payload: dict[str, Any]) -> None:
        payload["installation"] = {"id": self.installation_id, "node_id": "MDIzOkludGVncmF0aW9uMQ=="}

    def pull_request_event(
        self, action: str = "opened", *, head: str | None = None, repo: str = REPO
    ) -> dict[str, Any]:
        payload = load_event("pull_request.opened.1" if action == "opened" else "pull_request.synchronize.1")
        payload["action"] = action
        payload["number"] = PR
        payload["repository"]["full_name"] = repo
        pull = payload["pull_request"]
        pull["number"] = PR
        pull["base"]["sha"] = self.base
        pull["head"]["sha"] = head or self.head
        pull["base"]["repo"]["full_name"] = repo
        pull["head"]["repo"]["full_name"] = repo
        self._installation(payload)
        return payload

    def recheck_event(self, login: str, *, sha: str | None = None, kind: str = "check_run") -> dict[str, Any]:
        payload = load_event(f"{kind}.rerequested.1")
        payload["repository"]["full_name"] = REPO
        checked = payload[kind]
        checked["head_sha"] = sha or self.head
        ref = {"id": 1, "url": f"{self.github.url}/repos/{REPO}", "name": "prompts"}
        checked["pull_requests"] = [
            {
                "number": PR,
                "id": 1,
                "url": f"{self.github.url}/repos/{REPO}/pulls/{PR}",
                "head": {"ref": "feature", "sha": sha or self.head, "repo": ref},
                "base": {"ref": "main", "sha": self.base, "repo": ref},
            }
        ]
        payload["sender"].update(login=login, type="User")
        self._installation(payload)
        return payload

    def comment_event(self, body: str, *, login: str) -> dict[str, Any]:
        comment = self.github.add_comment(REPO, PR, body, author=login)
        payload = load_event("issue_comment.created.1")
        payload["action"] = "created"
        payload["repository"]["full_name"] = REPO
        payload["issue"]["number"] = PR
        payload["issue"]["pull_request"] = {"url": f"{self.github.url}/repos/{REPO}/pulls/{PR}",
                                            "html_url": f"https://github.com/{REPO}/pull/{PR}"}
        payload["comment"].update(id=comment.id, body=body)
        payload["comment"]["user"].update(login=login, type="User")
        payload["sender"].update(login=login, type="User")
        self._installation(payload)
        return payload

    # -- changing the PR ----------------------------------------------------------------------------------
    def push(self, files: dict[str, str]) -> str:
        sha = self.origin.commit(files, branch="feature", message="Follow-up")
        self.github.add_commit(REPO, changes=files, branch=None, parents=[self.head], sha=sha)
        self.github.add_pull(REPO, head_sha=sha, base_sha=self.base, number=PR, head_ref="feature")
        self.head = sha
        return sha

    # -- what the PR page shows ---------------------------------------------------------------------------
    def bot_comments(self) -> list[Any]:
        return [c for c in self.github.comments(REPO, PR) if c.user == BOT]

    def checks(self, sha: str | None = None) -> list[Any]:
        return self.github.check_runs(REPO, head_sha=sha or self.head)

    def final_checks(self, sha: str | None = None) -> list[Any]:
        return [c for c in self.checks(sha) if c.status == "completed"]

    def api_calls(self) -> int:
        return len(self.github.requests)

    def metrics(self) -> str:
        assert self.server.url is not None
        return requests.get(f"{self.server.url}/metrics", timeout=10).text

    def finished_jobs(self) -> int:
        total = 0
        for line in self.metrics().splitlines():
            if line.startswith("promptreview_jobs_finished_total{"):
                total += int(float(line.rsplit(" ", 1)[1]))
        return total


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


@contextmanager
def app_world(tmp: Path, *, head_files: dict[str, str] | None = None, queue_url: str | None = None,
              latency_ms: float = 0.0) -> Iterator[AppWorld]:
    """Everything started and seeded; processes killed and servers stopped on exit."""
    private, public = generate_app_key()
    with GitHubServer() as github, _openai(latency_ms) as openai:
        origin = RepoBuilder.init(tmp / "origin")
        base = origin.commit(BASE_FILES, message="Add prompts")
        head = origin.commit(head_files or GOOD, branch="feature", message="Edit the prompt")
        github.add_repo(REPO)
        github.add_pull(REPO, head_sha=head, base_sha=base, number=PR, head_ref="feature")
        github.apps.add_app(APP_ID, public, slug=SLUG)
        installation = github.apps.add_installation(APP_ID, "acme", [REPO, "acme/other"])
        github.apps.serve_git(REPO, origin.path)
        world = AppWorld(tmp, github, openai, origin, base, head, installation.id, private, queue_url)
        try:
            yield world
        finally:
            world.stop_all()


@contextmanager
def _openai(latency_ms: float) -> Iterator[OpenAIServer]:
    server = OpenAIServer(latency_ms=latency_ms).start()
    try:
        yield server
    finally:
        server.close()
