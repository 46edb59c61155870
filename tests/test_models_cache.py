"""The SQLite answer cache: what it stores, what it refuses, and two processes sharing one file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from promptreview.models.cache import CacheError, ResponseCache, default_cache_path
from promptreview.models.types import ChatRequest, Completion, Message

ROOT = Path(__file__).resolve().parents[1]


def answer(text: str = "an answer", **kw: object) -> Completion:
    return Completion(
        text,
        finish_reason="stop",
        latency_s=0.25,
        prompt_tokens=10,
        completion_tokens=3,
        cost_usd=0.0001,
        **kw,
    )  # type: ignore[arg-type]


def key(i: int) -> str:
    return ChatRequest.make("openai/gpt-4o-mini", [Message("user", f"case {i}")], sample=0).cache_key()


def test_roundtrip_marks_hits_cached_and_keeps_the_numbers(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put(key(1), answer("héllo ✓"))
        hit = cache.get(key(1))
    assert hit is not None and hit.cached and hit.ok and hit.attempts == 0
    assert (hit.text, hit.finish_reason, hit.prompt_tokens, hit.completion_tokens) == (
        "héllo ✓",
        "stop",
        10,
        3,
    )
    assert hit.latency_s == 0.25 and hit.cost_usd == 0.0001 and hit.priced
    assert ResponseCache(":memory:").get(key(1)) is None


def test_values_are_compact_json(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        cache.put(key(1), answer("x"))
    raw = sqlite3.connect(path).execute("SELECT value FROM completions").fetchone()[0]
    assert raw.startswith('{"text":"x",') and ", " not in raw


def test_errors_and_hits_are_never_stored() -> None:
    cache = ResponseCache(":memory:")
    cache.put(key(1), Completion(None, error="rate limited", error_kind="rate_limit"))
    cache.put(key(2), Completion(None, error="cut off", error_kind="length", partial_text="half"))
    cache.put(key(3), answer(cached=True))
    assert cache.count() == 0


def test_get_many_batches_and_is_fast() -> None:
    cache = ResponseCache(":memory:", flush_every=10_000)
    keys = [key(i) for i in range(1200)]  # more than one IN (...) chunk
    cache.put_many((k, answer(f"a{i}")) for i, k in enumerate(keys[:1100]))
    cache.flush()
    started = time.perf_counter()
    found = cache.get_many(keys[:400])
    elapsed = time.perf_counter() - started
    assert len(found) == 400 and found[keys[7]].text == "a7"
    assert elapsed < 0.25, f"400 lookups took {elapsed * 1000:.1f} ms"  # a few ms normally; loose for busy CI
    everything = cache.get_many(keys)
    assert len(everything) == 1100 and keys[1150] not in everything
    assert cache.has_many(keys) == set(keys[:1100])


def test_pending_writes_are_visible_and_committed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, flush_every=1000, flush_interval_s=3600)
    cache.put(key(1), answer())
    assert cache.get(key(1)) is not None and key(1) in cache.has_many([key(1)])
    with ResponseCache(path) as other:
        assert other.get(key(1)) is None  # not committed yet
    cache.close()
    with ResponseCache(path) as other:
        assert other.get(key(1)) is not None


def test_fresh_reads_nothing_but_still_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        cache.put(key(1), answer("old"))
    with ResponseCache(path, enabled=False) as fresh:
        assert (
            fresh.get(key(1)) is None and fresh.get_many([key(1)]) == {} and fresh.has_many([key(1)]) == set()
        )
        fresh.put(key(1), answer("new"))
    with ResponseCache(path) as cache:
        hit = cache.get(key(1))
        assert hit is not None and hit.text == "new"


def test_off_never_touches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "c.sqlite"
    with ResponseCache(path, enabled=False, write=False) as off:
        off.put(key(1), answer())
        off.put_embeddings("m", {"x": [1.0]})
        assert off.get(key(1)) is None
    assert not path.parent.exists()


def test_wal_mode_and_default_location(tmp_path: Path) -> None:
    path = default_cache_path(tmp_path)
    assert path == tmp_path / ".promptreview" / "cache.sqlite"
    with ResponseCache(path):
        pass
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_embeddings_roundtrip_exactly_and_apart_from_completions() -> None:
    cache = ResponseCache(":memory:")
    vec = [0.1, -0.2, 1e-300, 3.141592653589793]
    cache.put_embeddings("openai/text-embedding-3-small", {"hello": vec})
    assert cache.get_embeddings("openai/text-embedding-3-small", ["hello", "other"]) == {"hello": tuple(vec)}
    assert cache.get_embeddings("openai/text-embedding-3-large", ["hello"]) == {}
    cache.flush()
    assert cache.get_embeddings("openai/text-embedding-3-small", ["hello"]) == {"hello": tuple(vec)}
    assert cache.count() == 0


def test_unusable_files_give_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="delete it or run with --no-cache"):
        ResponseCache(junk)
    newer = tmp_path / "newer.sqlite"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CacheError, match="newer promptreview"):
        ResponseCache(newer)


WRITER = textwrap.dedent("""
    import os, sys, time
    from promptreview.models.cache import ResponseCache
    from promptreview.models.types import Completion
    path, me, other, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cache = ResponseCache(path, flush_every=5, busy_timeout_ms=20000)
    # Start line: both processes have the file open before either writes.
    open(f"{path}.ready-{me}", "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(f"{path}.ready-{other}") and time.monotonic() < deadline:
        time.sleep(0.002)
    seen_other = 0
    for i in range(n):
        cache.put(f"{me}-{i}", Completion(f"{me} answer {i}"))
        cache.put(f"shared-{i}", Completion(f"shared answer {i}"))
        if i % 10 == 0:
            found = cache.get_many([f"{other}-{j}" for j in range(n)])
            assert all(c.text == k.replace("-", " answer ") for k, c in found.items()), found
            seen_other = max(seen_other, len(found))
    cache.close()
    print(seen_other)
""")


def test_two_processes_share_one_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    n = 500
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), me, other, str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "failed" not in err  # no "answer cache ... failed; going on without it" warning
    # Whichever process finished last read some of the other's answers while both were writing.
    assert max(int(out) for out, _ in outs) > 0
    with ResponseCache(path) as cache:
        assert cache.count() == 3 * n
        both = cache.get_many([f"a-{i}" for i in range(n)] + [f"b-{i}" for i in range(n)])
        assert len(both) == 2 * n
        shared = cache.get("shared-7")
        assert shared is not None and shared.text == "shared answer 7"
