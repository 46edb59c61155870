"""``GET /metrics`` in Prometheus' text exposition format (version 0.0.4).

The counters live in the queue's storage (``state.py``), so with Redis the server's ``/metrics``
shows what every worker did, not only its own process. Gauges are read at scrape time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptreview.app.queue import Queue


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


def render_metrics(queue: Queue) -> str:
    counters = dict(queue.state.counters())
    running = sum(
        1
        for job_id, entry in queue.state.entries()
        if entry.get("state") == "running" and queue.state.run_lease(job_id).is_live()
    )
    out = [
        "# HELP promptreview_jobs_queued Jobs waiting in the queue (including re-scheduled ones).",
        "# TYPE promptreview_jobs_queued gauge",
        _line("promptreview_jobs_queued", queue.pending()),
        "# HELP promptreview_jobs_running Jobs a live worker is running.",
        "# TYPE promptreview_jobs_running gauge",
        _line("promptreview_jobs_running", running),
        "# HELP promptreview_jobs_submitted_total Jobs accepted from webhooks.",
        "# TYPE promptreview_jobs_submitted_total counter",
        _line("promptreview_jobs_submitted_total", counters.get("jobs_submitted_total", 0)),
        "# HELP promptreview_jobs_requeued_total Jobs queued again after their worker died.",
        "# TYPE promptreview_jobs_requeued_total counter",
        _line("promptreview_jobs_requeued_total", counters.get("jobs_requeued_total", 0)),
        "# HELP promptreview_jobs_finished_total Jobs finished, by outcome.",
        "# TYPE promptreview_jobs_finished_total counter",
    ]
    outcomes = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("jobs_finished_total:")}
    for outcome in sorted(outcomes):
        out.append(_line("promptreview_jobs_finished_total", outcomes[outcome], {"outcome": outcome}))
    out += [
        "# HELP promptreview_job_duration_seconds Time from a job's start to its published result.",
        "# TYPE promptreview_job_duration_seconds summary",
        _line("promptreview_job_duration_seconds_sum", counters.get("job_duration_ms_sum", 0) / 1000),
        _line("promptreview_job_duration_seconds_count", counters.get("job_duration_count", 0)),
        "# HELP promptreview_model_calls_total Model calls the jobs made (cache hits excluded).",
        "# TYPE promptreview_model_calls_total counter",
        _line("promptreview_model_calls_total", counters.get("model_calls_total", 0)),
        "# HELP promptreview_deliveries_total Webhook deliveries, by what the server did with them.",
        "# TYPE promptreview_deliveries_total counter",
    ]
    deliveries = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("deliveries_total:")}
    for result in sorted(deliveries):
        out.append(_line("promptreview_deliveries_total", deliveries[result], {"result": result}))
    return "\n".join(out) + "\n"
