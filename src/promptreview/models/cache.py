"""A content-addressed answer cache in one SQLite file.

Why SQLite: one file that ``actions/cache`` can persist, safe to share between processes (a
local ``promptreview compare`` next to a test run, or shards on one runner) thanks to WAL mode
and a busy timeout, and fast batch lookups: a fully cached 400-case run does one ``IN (...)``
query instead of 400 round trips.

Rules:

* Keys are ``ChatRequest.cache_key()`` (model, parameters, messages, sample index; judge order is
  part of the messages). Embeddings live in their own table, keyed by model + text.
* Only successful answers are stored: an error (rate limit, timeout, cut-off answer) must be
  retried by the next run, never replayed.
* ``enabled=False`` ("fresh", ``/rerun fresh``) reads nothing but still writes, so a fresh run
  refreshes the cache for the next one. ``write=False`` as well turns the cache off entirely
  (``--no-cache``); the file is then never opened.
* Completions are stored as compact JSON (readable with the ``sqlite3`` shell); embedding vectors
  as packed little-endian float64, exact and a third the size of their JSON.
* Writes are batched (``flush_every``) so a run does not pay one transaction per answer; reads
  see pending writes, and ``flush()``/``close()`` commit them.

A cache that fails at run time (disk full, locked beyond the busy timeout) logs one warning and
degrades to misses: losing the cache must not lose the review.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from promptreview.errors import PromptReviewError
from promptreview.models.types import Completion, shared_finish_reason

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_DIR = ".promptreview"
DEFAULT_NAME = "cache.sqlite"
_CHUNK = 500  # well under SQLite's bound-parameter limit on every version still in use
# One encoder for every stored answer (``json.dumps`` with options builds a new one per call).
_VALUE_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS embeddings (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, value BLOB NOT NULL, created REAL NOT NULL
) WITHOUT ROWID;
"""


class CacheError(PromptReviewError):
    """The cache file cannot be opened or is not a promptreview cache."""


def default_cache_path(repo_root: str | Path) -> Path:
    """``<repo>/.promptreview/cache.sqlite``: the folder a workflow persists with actions/cache."""
    return Path(repo_root) / DEFAULT_DIR / DEFAULT_NAME


def embedding_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()


def _encode_completion(c: Completion) -> str:
    value: dict[str, Any] = {
        "text": c.text,
        "finish_reason": c.finish_reason,
        "latency_s": round(c.latency_s, 4),
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "cost_usd": c.cost_usd,
    }
    if not c.priced:
        value["priced"] = False
    return _VALUE_JSON.encode(value)


def _decode_completion(raw: str) -> Completion:
    v = json.loads(raw)
    return Completion(
        text=v["text"],
        finish_reason=shared_finish_reason(v.get("finish_reason")),
        latency_s=v.get("latency_s", 0.0),
        prompt_tokens=v.get("prompt_tokens", 0),
        completion_tokens=v.get("completion_tokens", 0),
        cost_usd=v.get("cost_usd", 0.0),
        priced=v.get("priced", True),
        cached=True,
        attempts=0,
    )


def _pack(vector: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(vector)}d", *vector)


def _unpack(blob: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(blob) // 8}d", blob)


class ResponseCache:
    """Completions and embeddings by content address, in SQLite (a file or ``:memory:``)."""

    def __init__(
        self,
        path: str | Path = Path(DEFAULT_DIR) / DEFAULT_NAME,
        *,
        enabled: bool = True,
        write: bool = True,
        flush_every: int = 512,
        flush_interval_s: float = 2.0,
        busy_timeout_ms: int = 15_000,
    ) -> None:
        self.path = str(path)
        self.enabled = enabled
        self.writing = write
        self.flush_every = max(1, flush_every)
        self.flush_interval_s = flush_interval_s
        self._busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._pending: dict[str, str] = {}
        self._pending_emb: dict[str, tuple[str, bytes]] = {}
        self._last_flush = time.monotonic()
        self._broken = False
        if enabled or write:
            self._db = self._open()

    # ---- lifecycle

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: we issue BEGIN IMMEDIATE ourselves so a writer takes the lock up
            # front and waits in the busy handler, instead of failing on a lock upgrade.
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_ms / 1000
            )
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            if self.path != ":memory:":
                self._retry_locked(lambda: db.execute("PRAGMA journal_mode = WAL").fetchone())
                db.execute("PRAGMA synchronous = NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise CacheError(
                    f"{self.path} was written by a newer promptreview (cache schema {version}); "
                    "delete it or point --cache elsewhere"
                )
            self._retry_locked(
                lambda: db.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
            )
        except sqlite3.DatabaseError as exc:
            raise CacheError(
                f"cannot use the cache file {self.path}: {exc}; delete it or run with --no-cache"
            ) from None
        return db

    @staticmethod
    def _retry_locked(op: Any, tries: int = 50) -> Any:
        # busy_timeout covers ordinary lock waits; switching journal mode and creating the schema
        # on a brand-new file can still report "locked" when two processes start at once.
        for i in range(tries):
            try:
                return op()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or i == tries - 1:
                    raise
                time.sleep(0.05)
        return None

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _fail(self, what: str, exc: Exception) -> None:
        if not self._broken:
            log.warning("answer cache %s failed (%s); going on without it", what, exc)
        self._broken = True

    # ---- completions

    def get(self, key: str) -> Completion | None:
        if not self.enabled or self._db is None or self._broken:
            return None
        raw = self._pending.get(key)
        if raw is None:
            try:
                row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                self._fail("read", exc)
                return None
            if row is None:
                return None
            raw = row[0]
        return _decode_completion(raw)

    def _select(self, table: str, column: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows for ``keys``, one query per chunk, yielded as they come (never all rows at once)."""
        assert self._db is not None
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"SELECT key, {column} FROM {table} WHERE key IN ({marks})", chunk)

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        """Every cached completion among ``keys``, in one query (per 500 keys)."""
        if not self.enabled or self._db is None or self._broken:
            return {}
        wanted = list(dict.fromkeys(keys))
        found = {k: _decode_completion(self._pending[k]) for k in wanted if k in self._pending}
        rest = [k for k in wanted if k not in found]
        try:
            for k, raw in self._select("completions", "value", rest):
                found[k] = _decode_completion(raw)
        except sqlite3.Error as exc:
            self._fail("read", exc)
        return found

    def has_many(self, keys: Iterable[str]) -> set[str]:
        """Which keys are cached (no decoding): for the plan's "calls minus cache hits"."""
        if not self.enabled or self._db is None or self._broken:
            return set()
        wanted = list(dict.fromkeys(keys))
        found = {k for k in wanted if k in self._pending}
        rest = [k for k in wanted if k not in found]
        try:
            found.update(k for k, _ in self._select("completions", "1", rest))
        except sqlite3.Error as exc:
            self._fail("read", exc)
        return found

    def put(self, key: str, completion: Completion) -> None:
        """Store a successful, freshly made answer. Errors and cache hits are ignored."""
        if not self.writing or self._db is None or not completion.ok or completion.cached:
            return
        self._pending[key] = _encode_completion(completion)
        self._maybe_flush()

    def put_many(self, items: Iterable[tuple[str, Completion]]) -> None:
        for key, completion in items:
            if self.writing and self._db is not None and completion.ok and not completion.cached:
                self._pending[key] = _encode_completion(completion)
        self._maybe_flush()

    # ---- embeddings

    def get_embeddings(self, model: str, texts: Iterable[str]) -> dict[str, tuple[float, ...]]:
        """Cached vectors for ``texts`` under ``model``, by text."""
        if not self.enabled or self._db is None or self._broken:
            return {}
        by_key = {embedding_key(model, t): t for t in texts}
        out: dict[str, tuple[float, ...]] = {}
        rest = []
        for k, t in by_key.items():
            if k in self._pending_emb:
                out[t] = _unpack(self._pending_emb[k][1])
            else:
                rest.append(k)
        try:
            for k, blob in self._select("embeddings", "value", rest):
                out[by_key[k]] = _unpack(blob)
        except sqlite3.Error as exc:
            self._fail("read", exc)
        return out

    def put_embeddings(self, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        if not self.writing or self._db is None:
            return
        for text, vec in vectors.items():
            self._pending_emb[embedding_key(model, text)] = (model, _pack(vec))
        self._maybe_flush()

    # ---- writing

    def _maybe_flush(self) -> None:
        n = len(self._pending) + len(self._pending_emb)
        if n >= self.flush_every or (n and time.monotonic() - self._last_flush >= self.flush_interval_s):
            self.flush()

    def flush(self) -> None:
        """Commit pending writes in one transaction."""
        self._last_flush = time.monotonic()
        if self._db is None or (not self._pending and not self._pending_emb):
            return
        now = time.time()
        rows = [(k, v, now) for k, v in self._pending.items()]
        emb = [(k, m, v, now) for k, (m, v) in self._pending_emb.items()]
        self._pending.clear()
        self._pending_emb.clear()
        if self._broken:
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    db.executemany(
                        "INSERT OR REPLACE INTO completions (key, value, created) VALUES (?, ?, ?)", rows
                    )
                if emb:
                    db.executemany(
                        "INSERT OR REPLACE INTO embeddings (key, model, value, created) VALUES (?, ?, ?, ?)",
                        emb,
                    )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._fail("write", exc)

    def count(self) -> int:
        """Stored completions (after flushing), for tests and ``promptreview`` diagnostics."""
        self.flush()
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])
