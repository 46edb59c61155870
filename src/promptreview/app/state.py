"""What the server and its workers share, kept in the queue's own storage (SQLite or Redis).

huey gives every backend one key-value store beside the queue (``put_data``, ``peek_data``,
``put_if_empty``, ``incr``); keeping our state there means one place to back up, one URL to
configure, and the same behaviour embedded or on Redis. What lives here, and why:

* **deliveries**: ``X-GitHub-Delivery`` ids already accepted, so a redelivery runs nothing;
* **the job ledger**: every accepted job until it finished. huey removes a task from the queue
  when a worker takes it, so a worker killed mid-job (``kill -9``, OOM, power) would lose it;
  the ledger plus a **run lease** that the running worker renews lets any live process see the
  job was orphaned and queue it again (exactly what huey's queue alone cannot do);
* **leases**: one per PR (one PR runs one job at a time) and a few slots per installation (a busy
  organisation cannot starve the rest); each expires unless renewed, so a dead worker's lease
  frees itself;
* **push generations**: a counter per PR that every new push increments; a job older than the
  counter is superseded (dropped when dequeued, stopped between model calls when running);
* **the served set** (installation events) and the **metrics** counters ``/metrics`` shows.

Delivery ids and counters use huey's counters, which live apart from the key-value entries,
so scanning the ledger costs what is in flight, not everything ever delivered.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from huey.api import Huey
from huey.constants import EmptyData

from promptreview.app.events import Job, Served, ServedChange

OWNER = f"{uuid.uuid4().hex[:12]}"  # this process, in lease values


def _loads(raw: Any) -> Any:
    if raw is EmptyData or raw is None:
        return None
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8")
    return json.loads(raw)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode("utf-8")


@dataclass
class Lease:
    """A key held by one owner until ``until``; a stale one may be taken over by anyone."""

    state: State
    key: str
    owner: str
    ttl_s: float

    def acquire(self) -> bool:
        value = _dumps({"owner": self.owner, "until": time.time() + self.ttl_s})
        storage = self.state.storage
        if storage.put_if_empty(self.key, value):
            return True
        held = _loads(storage.peek_data(self.key))
        if held is None or held.get("owner") == self.owner or float(held.get("until", 0)) < time.time():
            storage.delete_data(self.key)  # stale (its holder died) or ours: take it over
            return bool(storage.put_if_empty(self.key, value))
        return False

    def renew(self) -> None:
        held = _loads(self.state.storage.peek_data(self.key))
        if held is not None and held.get("owner") == self.owner:
            self.state.storage.put_data(
                self.key, _dumps({"owner": self.owner, "until": time.time() + self.ttl_s})
            )

    def release(self) -> None:
        held = _loads(self.state.storage.peek_data(self.key))
        if held is not None and held.get("owner") == self.owner:
            self.state.storage.delete_data(self.key)

    def is_live(self) -> bool:
        held = _loads(self.state.storage.peek_data(self.key))
        return held is not None and float(held.get("until", 0)) >= time.time()


class State:
    """Typed access to the shared keys; every method is one or two storage calls."""

    def __init__(self, huey: Huey, lease_s: float) -> None:
        self.huey = huey
        self.storage = huey.storage
        self.lease_s = lease_s

    # -- deliveries --------------------------------------------------------------------------------
    def first_delivery(self, delivery: str) -> bool:
        """True the first time ``delivery`` is seen (atomically, across processes).

        A counter, not a key-value entry: counters live apart from the ledger, so the ledger
        scans (``entries``) stay as small as the number of jobs in flight.
        """
        return int(self.storage.incr(f"delivery:{delivery}", 1)) == 1

    # -- the served set ----------------------------------------------------------------------------
    def served(self) -> dict[int, Served]:
        """Every installation's served set: one key, read once per delivery."""
        raw = _loads(self.storage.peek_data("served")) or {}
        return {int(ident): Served.from_json(data) for ident, data in raw.items()}

    def apply(self, change: ServedChange) -> None:
        """Update one installation's set (the server is the only writer of this key)."""
        everything = _loads(self.storage.peek_data("served")) or {}
        current = everything.get(str(change.installation_id))
        served = Served.from_json(current) if current else Served(change.account, change.selection)
        served.apply(change)
        everything[str(change.installation_id)] = served.to_json()
        self.storage.put_data("served", _dumps(everything))

    # -- push generations ---------------------------------------------------------------------------
    def generation(self, pr_key: str) -> int:
        return int(self.storage.incr(f"gen:{pr_key}", 0))

    def new_push(self, pr_key: str) -> int:
        return int(self.storage.incr(f"gen:{pr_key}", 1))

    # -- the job ledger -------------------------------------------------------------------------------
    def record(self, job_id: str, job: Job, generation: int) -> None:
        entry = {
            "job": job.to_json(),
            "gen": generation,
            "queued_at": time.time(),
            "state": "queued",
            "attempts": 0,
        }
        self.storage.put_data(f"job:{job_id}", _dumps(entry))

    def entry(self, job_id: str) -> dict[str, Any] | None:
        found = _loads(self.storage.peek_data(f"job:{job_id}"))
        return found if isinstance(found, dict) else None

    def mark(self, job_id: str, **changes: Any) -> None:
        entry = self.entry(job_id)
        if entry is not None:
            entry.update(changes)
            self.storage.put_data(f"job:{job_id}", _dumps(entry))

    def forget(self, job_id: str) -> None:
        self.storage.delete_data(f"job:{job_id}")
        self.storage.delete_data(f"run:{job_id}")

    def entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for key, raw in self.storage.result_items().items():
            if key.startswith("job:"):
                entry = _loads(raw)
                if isinstance(entry, dict):
                    yield key.split(":", 1)[1], entry

    def orphans(self) -> list[str]:
        """Jobs a worker started and stopped renewing (it died): they must run again."""
        return [
            job_id
            for job_id, entry in self.entries()
            if entry.get("state") == "running" and not self.run_lease(job_id).is_live()
        ]

    # -- leases ----------------------------------------------------------------------------------------
    def run_lease(self, job_id: str, owner: str = OWNER) -> Lease:
        return Lease(self, f"run:{job_id}", owner, self.lease_s)

    def pr_lease(self, pr_key: str, owner: str) -> Lease:
        return Lease(self, f"pr:{pr_key}", owner, self.lease_s)

    def installation_slot(self, installation_id: int, limit: int, owner: str) -> Lease | None:
        """One of the installation's ``limit`` slots, or None when all are held."""
        for slot in range(limit):
            lease = Lease(self, f"slot:{installation_id}:{slot}", owner, self.lease_s)
            if lease.acquire():
                return lease
        return None

    # -- metrics ---------------------------------------------------------------------------------------
    def count(self, name: str, amount: float = 1) -> None:
        # counters are integers in huey's storage: durations are kept in milliseconds
        self.storage.incr(f"metric:{name}", int(amount))

    def counters(self) -> Mapping[str, int]:
        return self._counters()

    def _counters(self) -> dict[str, int]:
        """Every ``metric:`` counter. huey keeps counters apart from the key-value data."""
        storage: Any = self.storage
        if hasattr(storage, "conn") and hasattr(storage.conn, "hgetall"):  # Redis: one hash
            raw = storage.conn.hscan_iter(storage.counter_key, match="metric:*", count=1000)
            items = {k.decode(): int(v) for k, v in raw}
        else:  # SQLite: the counter table
            rows = storage.sql(
                "select key, value from counter where queue = ? and key like 'metric:%'",
                (storage.name,),
                results=True,
            )
            items = {str(k): int(v) for k, v in rows}
        return {k.removeprefix("metric:"): v for k, v in items.items() if k.startswith("metric:")}
