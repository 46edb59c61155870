"""``promptreview serve``: the webhook endpoint, health and metrics, and (embedded) the workers.

The standard library's ``ThreadingHTTPServer`` is the web framework: the server has three
routes, no templates, no sessions, and must do very little per request (verify, decide, enqueue,
answer), so a framework would add a dependency and a surface without removing code. A reverse
proxy (TLS, rate limits) goes in front of it in production, as for any webhook receiver.

``POST /webhook``, in order: the body size is capped (from ``Content-Length``, before reading);
``X-Hub-Signature-256`` is checked on the raw bytes in constant time (401, and nothing else
happens, for a missing or wrong one); only then is JSON parsed. A delivery id seen before is
answered 200 and runs nothing. The decision (``events.py``) is local, the job goes into the
queue, and the answer is sent at once: GitHub gives a webhook 10 seconds.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from promptreview.app.config import AppConfig
from promptreview.app.events import Job, Noted, Refused, decide
from promptreview.app.log import emit
from promptreview.app.metrics import render_metrics
from promptreview.app.queue import Queue
from promptreview.app.signature import verify


class WebhookApp:
    """The request logic, apart from the HTTP plumbing (so the bench can drive it too)."""

    def __init__(self, config: AppConfig, queue: Queue) -> None:
        self.config = config
        self.queue = queue
        self.state = queue.state
        self.started = time.time()

    def webhook(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        delivery = str(headers.get("X-GitHub-Delivery") or "")
        event = str(headers.get("X-GitHub-Event") or "")
        if not verify(self.config.webhook_secret, body, headers.get("X-Hub-Signature-256")):
            emit(
                "warning",
                "webhook refused: missing or wrong X-Hub-Signature-256",
                delivery=delivery or None,
                event=event or None,
            )
            self.state.count("deliveries_total:bad_signature")
            return 401, {"message": "signature does not match (X-Hub-Signature-256)"}
        if not delivery or not event:
            return 400, {"message": "X-GitHub-Delivery and X-GitHub-Event are required"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"message": "the body is not JSON"}
        if not isinstance(payload, dict):
            return 400, {"message": "the body is not a JSON object"}
        if not self.state.first_delivery(delivery):
            emit("info", "redelivery: already accepted, nothing runs", delivery=delivery, event=event)
            self.state.count("deliveries_total:duplicate")
            return 200, {"message": "duplicate delivery"}
        decision = decide(
            event,
            delivery,
            payload,
            allows=self.config.allow.allows,
            served=self.state.served(),
            review_forks=self.config.review_forks,
        )
        repo = (payload.get("repository") or {}).get("full_name")
        if isinstance(decision, Refused):
            emit("warning", f"refused: {decision.reason}", delivery=delivery, event=event, repo=repo)
            self.state.count("deliveries_total:refused")
            return 202, {"message": f"refused: {decision.reason}"}
        if isinstance(decision, Noted):
            if decision.served is not None:
                self.state.apply(decision.served)
            emit("info", decision.reason, delivery=delivery, event=event, repo=repo)
            self.state.count("deliveries_total:noted")
            return 200, {"message": decision.reason}
        assert isinstance(decision, Job)
        job_id = self.queue.submit(decision)
        emit(
            "info",
            "job queued",
            delivery=delivery,
            event=event,
            job=job_id,
            repo=decision.repo,
            pr=decision.pr_number,
            sha=decision.head_sha,
        )
        self.state.count("deliveries_total:queued")
        return 202, {"message": "queued", "job": job_id}

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            pending = self.queue.pending()
        except Exception as exc:  # the queue's storage is down: the load balancer should know
            return 503, {"status": "queue unavailable", "error": type(exc).__name__}
        return 200, {"status": "ok", "queued": pending, "uptime_s": round(time.time() - self.started)}

    def metrics(self) -> str:
        return render_metrics(self.queue)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/webhook":
            self._json(404, {"message": "not found"})
            return
        raw_length = self.headers.get("Content-Length")
        if raw_length is None or not raw_length.isdigit():
            self._json(411, {"message": "Content-Length is required"})
            return
        length = int(raw_length)
        if length > self.server.app.config.max_body:
            self.close_connection = True
            self._json(413, {"message": f"body over {self.server.app.config.max_body} bytes"})
            return
        body = self.rfile.read(length)
        status, answer = self.server.app.webhook(self.headers, body)
        self._json(status, answer)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/healthz":
            self._json(*self.server.app.health())
        elif path == "/metrics":
            data = self.server.app.metrics().encode("utf-8")
            self._send(200, data, "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._json(404, {"message": "not found"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return  # every request that matters is logged by the app, as JSON


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: WebhookApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


def serve(config: AppConfig, host: str, port: int, *, on_ready: Callable[[int], None] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; with the embedded queue, run the workers too."""
    queue = Queue(config)
    consumer = None
    if config.embedded:
        requeued = queue.reap(everything_running=True)  # this process was the only worker
        if requeued:
            emit("warning", f"re-queued {len(requeued)} job(s) interrupted by the last shutdown")
        consumer = queue.huey.create_consumer(
            workers=config.workers,
            worker_type="thread",
            periodic=False,
            check_worker_health=False,
            shutdown_timeout=config.lease_s,
        )
        consumer.start()
    httpd = _Server((host, port), WebhookApp(config, queue))
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            emit("info", f"signal {signal.Signals(signum).name}: shutting down")
            threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound = int(httpd.server_address[1])
    mode = "embedded SQLite queue" if config.embedded else "Redis queue (run `promptreview worker`)"
    emit(
        "info",
        f"promptreview serve listening on http://{host}:{bound} with {mode}",
        port=bound,
        allow=",".join(config.allow.patterns) or "every installed repository",
    )
    if on_ready is not None:
        on_ready(bound)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        if consumer is not None:
            # Running jobs get until the lease time to finish; the rest run again at the next start.
            consumer.stop(graceful=True)
        emit("info", "promptreview serve stopped")
    return 0


def work(config: AppConfig) -> int:
    """``promptreview worker``: run jobs from the Redis queue until SIGTERM (graceful) or SIGINT."""
    queue = Queue(config)
    stop = threading.Event()

    def reaper() -> None:
        while not stop.wait(max(config.lease_s / 2, 0.5)):
            try:
                queue.reap()
            except Exception as exc:  # Redis restarting: try again on the next round
                emit("warning", f"reaper: {type(exc).__name__}: {exc}")

    threading.Thread(target=reaper, daemon=True).start()
    consumer = queue.huey.create_consumer(
        workers=config.workers,
        worker_type="thread",
        periodic=False,
        check_worker_health=True,
        shutdown_timeout=config.lease_s,
        graceful_signal="TERM",
    )
    emit("info", f"promptreview worker started with {config.workers} thread(s)")
    try:
        consumer.run()
    finally:
        stop.set()
    emit("info", "promptreview worker stopped")
    return 0
