"""The model client against the loopback server: real openai SDK, real HTTP, no mocks.

Each test scripts the server (faults, rules, latency) and checks what a review would see: the
Completion's error kind and message, how many requests actually reached the server, and how
long it took. Waits are kept small (retry-after of 0-1 s, a fast backoff base) so the whole
file stays well under 20 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptreview.errors import ModelConfigError
from promptreview.models.cache import ResponseCache
from promptreview.models.client import ModelClient, parse_duration, retry_wait_from_headers
from promptreview.models.endpoint import GITHUB_MODELS_URL, OPENAI_URL, Endpoint, resolve_endpoint
from promptreview.models.pricing import Price, PriceTable
from promptreview.models.types import ChatRequest, Completion, Message
from servers.openai_server import OpenAIServer, Reply, embed_text

KEY = "sk-test-SECRET-4f9a1c"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as srv:
        yield srv


def client_for(srv: OpenAIServer, *, provider: str = "openai-compatible", **kw: Any) -> ModelClient:
    opts: dict[str, Any] = {
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "max_wait_s": 2.0,
        "timeout_s": 5.0,
        "max_attempts": 3,
    }
    opts.update(kw)
    base = srv.url + "/inference" if provider == "github-models" else srv.base_url
    return ModelClient(Endpoint(base, KEY, provider, "test"), **opts)  # type: ignore[arg-type]


def req(
    text: str = "What is the refund policy?",
    model: str = "openai/gpt-4o-mini",
    sample: int = 0,
    **params: Any,
) -> ChatRequest:
    messages = [Message("system", "Be brief."), Message("user", text)]
    return ChatRequest.make(model, messages, params or None, sample=sample)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def one(client: ModelClient, request: ChatRequest) -> Completion:
    async with client:
        return await client.complete(request)


# --------------------------------------------------------------------------------------------
# Happy path


def test_happy_path_text_usage_cost_latency(server: OpenAIServer) -> None:
    client = client_for(server)
    c = run(one(client, req("Explain the refund policy", temperature=0, max_tokens=50)))
    assert c.ok and c.error is None and c.error_kind is None
    assert c.text and "Explain the refund policy" in c.text
    assert c.finish_reason == "stop" and c.attempts == 1 and not c.cached
    assert c.prompt_tokens == 2 + 4  # words in the system + user messages, as the server counts
    assert c.completion_tokens == len(c.text.split())
    expected = (c.prompt_tokens * 0.15 + c.completion_tokens * 0.60) / 1e6
    assert c.priced and math.isclose(c.cost_usd, expected)
    assert 0 < c.latency_s < 5
    body = server.requests[0].body
    assert body == {
        "model": "openai/gpt-4o-mini",
        "max_tokens": 50,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Explain the refund policy"},
        ],
    }
    assert server.requests[0].headers["Authorization"] == "Bearer " + KEY
    stats = client.stats["answer"]
    assert (stats.calls, stats.errors, stats.prompt_tokens) == (1, 0, c.prompt_tokens)
    assert math.isclose(stats.cost_usd, c.cost_usd) and stats.latency_s > 0


def test_judge_calls_are_accounted_separately_and_by_tag(server: OpenAIServer) -> None:
    async def go() -> ModelClient:
        async with client_for(server) as client:
            await client.complete(req("answer me"), tag="base")
            await client.complete(req("answer me too"), tag="head")
            judge = ChatRequest.make("openai/gpt-4.1", [Message("user", "which is better?")], purpose="judge")
            await client.complete(judge)
        return client

    client = run(go())
    assert client.stats["answer"].calls == 2 and client.stats["judge"].calls == 1
    assert client.stats_for("answer", "base").calls == 1 and client.stats_for("answer", "head").calls == 1
    assert client.stats["judge"].cost_usd > 0


def test_unknown_model_is_unpriced(server: OpenAIServer) -> None:
    client = client_for(server)
    c = run(one(client, req(model="acme/llama-9000")))
    assert c.ok and c.cost_usd == 0 and not c.priced
    assert not client.priced and client.stats["answer"].unpriced == 1


def test_github_models_prefix_path_and_scripted_rules(server: OpenAIServer) -> None:
    server.set_rules(
        [
            {"model": "openai/*", "contains": "capital", "replies": ["Paris", "Paris, France"]},
            {"system_contains": "judge", "reply": "A"},
        ]
    )

    async def go() -> list[Completion]:
        async with client_for(server, provider="github-models") as client:
            return [
                await client.complete(
                    ChatRequest.make("openai/gpt-4o", [Message("user", "capital of France?")], sample=k)
                )
                for k in range(3)
            ]

    out = run(go())
    assert [c.text for c in out] == ["Paris", "Paris, France", "Paris"]
    assert server.counts == {"/inference/chat/completions": 3}


# --------------------------------------------------------------------------------------------
# Retries


def test_429_then_success_honours_retry_after(server: OpenAIServer) -> None:
    server.inject("rate_limit", 1, retry_after=0.6)
    started = time.monotonic()
    c = run(one(client_for(server), req()))
    elapsed = time.monotonic() - started
    assert c.ok and c.attempts == 2
    assert elapsed >= 0.6
    assert server.count() == 2


def test_github_rate_limit_uses_timeremaining(server: OpenAIServer) -> None:
    server.inject("github_rate_limit", 1, retry_after=1)
    started = time.monotonic()
    c = run(one(client_for(server, provider="github-models"), req()))
    assert c.ok and c.attempts == 2
    assert time.monotonic() - started >= 1.0


def test_429_storm_exhausts_retries_and_the_run_finishes(server: OpenAIServer) -> None:
    server.set_rules([{"fault": "rate_limit", "retry_after": 0}])

    async def go() -> list[Completion]:
        async with client_for(server, max_attempts=3, concurrency=4) as client:
            return await client.complete_many([req(f"q{i}") for i in range(5)])

    out = run(go())
    assert [c.error_kind for c in out] == ["rate_limit"] * 5
    assert all(c.attempts == 3 and "after 3 attempts" in (c.error or "") for c in out)
    assert server.count() == 15


def test_500_is_retried_then_succeeds(server: OpenAIServer) -> None:
    server.inject("server_error", 2)
    c = run(one(client_for(server, max_attempts=3), req()))
    assert c.ok and c.attempts == 3


def test_persistent_5xx_ends_as_server_error(server: OpenAIServer) -> None:
    server.inject("bad_gateway", 3)
    c = run(one(client_for(server, max_attempts=3), req()))
    assert c.error_kind == "server" and "502" in (c.error or "") and "<html" not in (c.error or "")
    assert server.count() == 3


def test_hang_times_out(server: OpenAIServer) -> None:
    server.inject("hang", 2)
    started = time.monotonic()
    c = run(one(client_for(server, timeout_s=0.3, max_attempts=2), req()))
    assert c.error_kind == "timeout" and "0.3s" in (c.error or "")
    assert time.monotonic() - started < 3
    assert server.count() == 2


def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ModelClient(Endpoint(f"http://127.0.0.1:{port}/v1", KEY), backoff_base_s=0.01, max_attempts=2)
    c = run(one(client, req()))
    assert c.error_kind == "connection" and c.attempts == 2 and KEY not in (c.error or "")


# --------------------------------------------------------------------------------------------
# Validating what comes back


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("html", "invalid_response", "HTML, not JSON: is the base URL right?"),
        ("bad_json", "invalid_response", "not JSON"),
        ("empty_choices", "invalid_response", "no choices"),
        ("null_content", "invalid_response", "content is null"),
        ("content_filter", "content_filter", "content filter"),
        ("bad_request", "bad_request", "HTTP 400"),
    ],
)
def test_bad_answers_are_errors_with_reasons(server: OpenAIServer, fault: str, kind: str, words: str) -> None:
    server.inject(fault)
    c = run(one(client_for(server), req()))
    assert not c.ok and c.text is None
    assert c.error_kind == kind and words in (c.error or "")
    assert server.count() == 1  # none of these is worth a retry


def test_length_is_an_error_that_keeps_the_partial_text(server: OpenAIServer) -> None:
    c = run(one(client_for(server), req("one two three four five six seven eight", max_tokens=4)))
    assert c.error_kind == "length" and c.error == "answer cut off at max_tokens=4"
    assert c.text is None and c.partial_text and len(c.partial_text.split()) == 4
    assert c.completion_tokens == 4  # paid for, so counted


def test_responder_controls_answers(server: OpenAIServer) -> None:
    server.responder = lambda body: (
        Reply(content="custom " + body["model"]) if "gpt" in body["model"] else None
    )
    c = run(one(client_for(server), req(model="openai/gpt-4.1")))
    assert c.text == "custom openai/gpt-4.1"


# --------------------------------------------------------------------------------------------
# Fail fast


def test_quota_fails_fast_and_later_calls_are_not_sent(server: OpenAIServer) -> None:
    server.inject("quota")

    async def go() -> list[Completion]:
        async with client_for(server, concurrency=1) as client:
            return await client.complete_many([req(f"q{i}") for i in range(6)])

    out = run(go())
    assert {c.error_kind for c in out} == {"quota"}
    assert len({c.error for c in out}) == 1 and "out of quota" in (out[0].error or "")
    assert server.count() == 1
    assert sum(c.attempts for c in out) == 1


def test_daily_limit_stops_that_model_only(server: OpenAIServer) -> None:
    server.set_rules([{"model": "openai/gpt-4o", "fault": "daily_limit"}])

    async def go() -> list[Completion]:
        async with client_for(server, provider="github-models", concurrency=1) as client:
            first = [await client.complete(req(f"q{i}", model="openai/gpt-4o")) for i in range(3)]
            other = await client.complete(req("q", model="openai/gpt-4o-mini"))
            return [*first, other]

    out = run(go())
    assert [c.error_kind for c in out[:3]] == ["quota"] * 3
    assert "daily request limit for openai/gpt-4o" in (out[0].error or "")
    assert out[3].ok
    assert server.count() == 2


def test_auth_fails_fast_and_never_shows_the_key(server: OpenAIServer) -> None:
    server.inject("auth")

    async def go() -> list[Completion]:
        async with client_for(server, concurrency=1) as client:
            return await client.complete_many([req(f"q{i}") for i in range(4)])

    out = run(go())
    assert {c.error_kind for c in out} == {"auth"}
    assert all(KEY not in (c.error or "") for c in out)
    assert "OPENAI_API_KEY" in (out[0].error or "")
    # The URL and the server's own words (with the key it echoes masked) tell the user what to fix.
    first = out[0].error or ""
    assert server.base_url in first and "Incorrect API key provided: ***" in first
    assert server.count() == 1


def test_github_models_403_says_models_read(server: OpenAIServer) -> None:
    server.inject("forbidden")
    c = run(one(client_for(server, provider="github-models"), req()))
    assert c.error_kind == "auth" and "models: read" in (c.error or "")


def test_provider_messages_are_scrubbed_of_the_key(server: OpenAIServer) -> None:
    server.responder = lambda body: Reply(status=400, body={"error": {"message": f"bad key {KEY} here"}})
    c = run(one(client_for(server), req()))
    assert (
        c.error_kind == "bad_request" and KEY not in (c.error or "") and "bad key *** here" in (c.error or "")
    )


def test_404_model_stops_calls_to_that_model(server: OpenAIServer) -> None:
    server.set_rules([{"model": "nope/*", "fault": "not_found"}])

    async def go() -> list[Completion]:
        async with client_for(server, concurrency=1) as client:
            return [await client.complete(req(f"q{i}", model="nope/x")) for i in range(3)]

    out = run(go())
    assert {c.error_kind for c in out} == {"bad_request"} and server.count() == 1


# --------------------------------------------------------------------------------------------
# Deadline and concurrency


def test_deadline_ends_calls_not_started(server: OpenAIServer) -> None:
    # The client imports the SDK on its first call (half a second cold): done here first, so a
    # test run alone measures the deadline, not the import, inside its 0.5 s window.
    import openai  # noqa: F401

    server.latency_ms = 300

    async def go() -> list[Completion]:
        async with client_for(server, concurrency=1, deadline_s=0.5) as client:
            return await client.complete_many([req(f"q{i}") for i in range(5)])

    started = time.monotonic()
    out = run(go())
    assert time.monotonic() - started < 1.5
    assert out[0].ok
    assert {c.error_kind for c in out[1:]} == {"deadline"}
    assert sum(1 for c in out if c.attempts == 0) >= 3
    assert server.count() <= 2


def test_retry_never_sleeps_past_the_deadline(server: OpenAIServer) -> None:
    server.inject("rate_limit", 5, retry_after=5)
    started = time.monotonic()
    c = run(one(client_for(server, deadline_s=1.0, max_wait_s=60), req()))
    assert time.monotonic() - started < 0.9
    assert c.error_kind == "rate_limit" and "deadline" in (c.error or "")


def test_concurrency_bound_is_respected(server: OpenAIServer) -> None:
    server.latency_ms = 60

    async def go() -> None:
        async with client_for(server, concurrency=3) as client:
            out = await client.complete_many([req(f"q{i}") for i in range(12)])
            assert all(c.ok for c in out)

    run(go())
    assert server.max_in_flight == 3


def test_a_rate_limit_pauses_the_other_calls_too(server: OpenAIServer) -> None:
    server.latency_ms = 100
    seen: list[str] = []

    def first_q0_is_limited(body: dict[str, Any]) -> Reply | None:
        text = body["messages"][-1]["content"]
        seen.append(text)
        if text == "q0" and seen.count("q0") == 1:
            return Reply(fault="rate_limit", retry_after=0.5, latency_ms=0)
        return None

    server.responder = first_q0_is_limited

    async def go() -> None:
        async with client_for(server, concurrency=2) as client:
            out = await client.complete_many([req(f"q{i}") for i in range(5)])
            assert all(c.ok for c in out)

    run(go())
    times = [r.at for r in server.requests]
    assert len(times) == 6
    # q0 got the 429 and q1 was already in flight; every later request waited out the 0.5 s.
    assert all(t - times[0] >= 0.5 for t in times[2:])


# --------------------------------------------------------------------------------------------
# Cache


def test_cache_hit_is_marked_and_sends_nothing(server: OpenAIServer) -> None:
    cache = ResponseCache(":memory:")

    async def go() -> tuple[Completion, Completion, list[Completion]]:
        async with client_for(server, cache=cache) as client:
            first = await client.complete(req("cache me"))
            second = await client.complete(req("cache me"))
            many = await client.complete_many([req("cache me"), req("cache me too")])
            assert client.stats["answer"].cache_hits == 2
            assert client.cached_count([req("cache me"), req("cache me too"), req("not yet")]) == 2
            return first, second, many

    first, second, many = run(go())
    assert not first.cached and second.cached and second.text == first.text and second.attempts == 0
    assert [c.cached for c in many] == [True, False]
    assert server.count() == 2


def test_errors_are_not_cached(server: OpenAIServer) -> None:
    cache = ResponseCache(":memory:")
    server.inject("server_error")

    async def go() -> list[Completion]:
        async with client_for(server, cache=cache, max_attempts=1) as client:
            return [await client.complete(req("flaky")) for _ in range(3)]

    out = run(go())
    assert out[0].error_kind == "server" and out[1].ok and not out[1].cached and out[2].cached
    assert server.count() == 2


def test_fresh_ignores_cached_answers_but_refreshes_them(server: OpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    server.set_rules([{"replies": ["old", "new"]}])
    with ResponseCache(path) as cache:
        assert run(one(client_for(server, cache=cache), req())).text == "old"
    with ResponseCache(path, enabled=False) as fresh:  # /rerun fresh
        c = run(one(client_for(server, cache=fresh), req()))
        assert c.text == "new" and not c.cached
    with ResponseCache(path) as cache:
        again = run(one(client_for(server, cache=cache), req()))
        assert again.cached and again.text == "new"
    assert server.count() == 2


def test_no_cache_reads_and_writes_nothing(server: OpenAIServer, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    off = ResponseCache(path, enabled=False, write=False)
    run(one(client_for(server, cache=off), req()))
    run(one(client_for(server, cache=off), req()))
    assert server.count() == 2 and not path.exists()


def test_identical_requests_in_flight_are_sent_once(server: OpenAIServer) -> None:
    server.latency_ms = 50

    async def go() -> list[Completion]:
        async with client_for(server, concurrency=4) as client:
            return await client.complete_many([req("same")] * 4)

    out = run(go())
    assert server.count() == 1 and all(c.ok for c in out) and sum(c.cached for c in out) == 3


def test_fully_cached_run_never_imports_openai(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    requests = [req(f"case {i}") for i in range(400)]
    with ResponseCache(path) as cache:
        for r in requests:
            cache.put(r.cache_key(), Completion(f"answer {r.messages[-1].content}"))
    script = textwrap.dedent(f"""
        import asyncio, sys, time
        from promptreview.models.cache import ResponseCache
        from promptreview.models.client import ModelClient
        from promptreview.models.endpoint import Endpoint
        from promptreview.models.types import ChatRequest, Message
        reqs = [ChatRequest.make("openai/gpt-4o-mini", [Message("system", "Be brief."),
                Message("user", f"case {{i}}")]) for i in range(400)]
        async def main():
            with ResponseCache({str(path)!r}) as cache:
                async with ModelClient(Endpoint("http://127.0.0.1:9/v1", "k"), cache=cache) as client:
                    t = time.perf_counter()
                    out = await client.complete_many(reqs)
                    assert all(c.cached and c.ok for c in out), out[:2]
                    print(f"lookup {{(time.perf_counter() - t) * 1000:.1f}} ms", file=sys.stderr)
        asyncio.run(main())
        heavy = sorted(m for m in ("openai", "httpx2", "aiohttp", "pydantic") if m in sys.modules)
        print(heavy)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Embeddings


def test_embeddings_order_similarity_and_cache(server: OpenAIServer) -> None:
    cache = ResponseCache(":memory:")
    texts = [
        "the refund policy allows returns",
        "returns are allowed by the refund policy",
        "quantum chromodynamics",
    ]

    async def go() -> tuple[Any, Any]:
        async with client_for(server, cache=cache) as client:
            first = await client.embed("openai/text-embedding-3-small", texts)
            again = await client.embed("openai/text-embedding-3-small", [texts[2], texts[0]])
            assert client.stats["embed"].prompt_tokens > 0 and client.stats["embed"].cost_usd > 0
            return first, again

    first, again = run(go())
    assert first.ok and not first.cached and len(first.vectors) == 3
    cos = [sum(a * b for a, b in zip(first.vectors[0], v, strict=True)) for v in first.vectors]
    assert cos[0] == pytest.approx(1.0) and cos[1] > 0.6 and abs(cos[2]) < 0.3  # 4 shared words of 5 and 7
    assert list(first.vectors[0]) == pytest.approx(embed_text(texts[0]))
    assert again.cached and again.vectors == (first.vectors[2], first.vectors[0])
    assert server.count("/embeddings") == 1


def test_embeddings_error_is_reported(server: OpenAIServer) -> None:
    server.inject("auth")

    async def go() -> Any:
        async with client_for(server) as client:
            return await client.embed("openai/text-embedding-3-small", ["x"])

    e = run(go())
    assert not e.ok and e.error_kind == "auth" and KEY not in (e.error or "")


# --------------------------------------------------------------------------------------------
# The fake as a separate process (what the benchmark uses), scripted from a file


def test_spawned_server_runs_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(
        textwrap.dedent("""
        latency_ms: 5
        faults:
          - {fault: server_error, times: 1}
        rules:
          - {regex: "order \\\\d+", reply: "order found"}
    """)
    )
    with OpenAIServer.spawn(script=script, log_bodies=True) as srv:
        endpoint = Endpoint(srv.base_url, KEY)
        client = ModelClient(endpoint, backoff_base_s=0.01)
        c = run(one(client, req("where is order 42?")))
        assert c.ok and c.text == "order found" and c.attempts == 2
        stats = srv.stats()
        assert srv.count() == 2 and stats["requests"][0]["body"]["model"] == "openai/gpt-4o-mini"


def test_models_listing_and_seeded_random_replies() -> None:
    def picks() -> list[str | None]:
        rules = [{"contains": "pick", "replies": ["a", "b", "c", "d"], "pick": "random", "seed": 3}]
        with OpenAIServer(rules=rules) as srv:
            body = json.loads(urllib.request.urlopen(srv.base_url + "/models", timeout=5).read())
            assert body["object"] == "list" and body["data"][0]["object"] == "model"
            client = client_for(srv)

            async def go() -> list[str | None]:
                async with client:
                    return [(await client.complete(req("pick one", sample=k))).text for k in range(6)]

            return run(go())

    first = picks()
    assert first == picks() and len(set(first)) > 1


# --------------------------------------------------------------------------------------------
# Pure pieces: headers, endpoint choice, prices


def test_retry_wait_from_headers() -> None:
    assert retry_wait_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_wait_from_headers({"retry-after": "2"}) == 2.0
    assert retry_wait_from_headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_wait_from_headers({"x-ratelimit-timeremaining": "17"}) == 17.0
    assert (
        retry_wait_from_headers(
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-tokens": "900",
                "x-ratelimit-reset-tokens": "1s",
            }
        )
        == 360
    )
    assert retry_wait_from_headers({}) is None
    assert (
        parse_duration("1h2m3.5s") == 3723.5
        and parse_duration("20ms") == 0.02
        and parse_duration("x") is None
    )


def test_resolve_endpoint_order() -> None:
    env = {
        "OPENAI_API_KEY": "env-key",
        "OPENAI_BASE_URL": "https://gw.example/v1/",
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": "ghs_x",
    }
    ep = resolve_endpoint("https://explicit.example/v1", "arg-key", env)
    assert (ep.base_url, ep.api_key, ep.provider) == (
        "https://explicit.example/v1",
        "arg-key",
        "openai-compatible",
    )
    ep = resolve_endpoint(None, None, env)
    assert (ep.base_url, ep.api_key) == ("https://gw.example/v1", "env-key")
    ep = resolve_endpoint(None, None, {"OPENAI_API_KEY": "k"})
    assert ep.base_url == OPENAI_URL
    ep = resolve_endpoint(None, "", {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "ghs_x", "OPENAI_API_KEY": ""})
    assert (ep.base_url, ep.api_key, ep.provider) == (GITHUB_MODELS_URL, "ghs_x", "github-models")
    assert ep.default_concurrency <= 4 and "ghs_x" not in repr(ep)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "set OPENAI_API_KEY"),
        ({"GITHUB_ACTIONS": "true"}, "permissions: models: read"),
        ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, "no API key for http://localhost:11434/v1"),
        ({"OPENAI_BASE_URL": "models.github.ai", "OPENAI_API_KEY": "k"}, "not an http(s) URL"),
    ],
)
def test_resolve_endpoint_errors_say_what_to_set(env: dict[str, str], words: str) -> None:
    with pytest.raises(ModelConfigError) as info:
        resolve_endpoint(None, None, env)
    assert words in str(info.value)


def test_price_table() -> None:
    prices = PriceTable({"openai/gpt-4o": (5.0, 15.0), "acme/model": {"input": 1, "output": 2}})
    assert prices.lookup("openai/gpt-4o") == Price(5.0, 15.0) and prices.lookup("gpt-4o") == Price(5.0, 15.0)
    assert prices.lookup("openai/gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)
    assert prices.cost("acme/model", 1_000_000, 500_000) == (2.0, True)
    assert prices.cost("openai/text-embedding-3-small", 1_000_000) == (0.02, True)
    assert prices.cost("who/knows", 10, 10) == (0.0, False)


# --------------------------------------------------------------------------------------------
# Pacing and the cost budget


def test_requests_per_minute_spaces_request_starts(server: OpenAIServer) -> None:
    client = client_for(server, concurrency=8, requests_per_minute=600)  # one start every 0.1 s

    async def go() -> list[Completion]:
        async with client:
            return await asyncio.gather(*(client.complete(req(f"question {i}")) for i in range(5)))

    results = run(go())
    assert all(c.ok for c in results)
    arrivals = sorted(r.at for r in server.requests if r.path.endswith("/chat/completions"))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 5 and min(gaps) >= 0.08, gaps  # concurrency alone would send all at once


def test_max_cost_stops_sending_once_the_budget_is_spent(server: OpenAIServer) -> None:
    # $1,000 per 1M tokens both ways: every call costs about a cent, the budget is half a cent.
    prices = PriceTable({"openai/gpt-4o-mini": (1000.0, 1000.0)})
    client = client_for(server, concurrency=1, prices=prices, max_cost_usd=0.005)

    async def go() -> list[Completion]:
        async with client:
            return [await client.complete(req(f"question {i}")) for i in range(4)]

    results = run(go())
    assert results[0].ok and results[0].cost_usd > 0.005
    assert [c.error_kind for c in results[1:]] == ["budget"] * 3
    assert "max-cost budget of $0.005" in (results[1].error or "")
    assert server.count() == 1  # nothing past the budget reached the endpoint


# --------------------------------------------------------------------------------------------
# The direct transport lane (the default) and the SDK's own post path agree on every outcome


@pytest.mark.parametrize(
    "fault",
    [
        None, "rate_limit", "quota", "server_error", "bad_gateway", "auth", "forbidden",
        "not_found", "bad_request", "html", "bad_json", "empty_choices", "length", "gzip",
        "gzip_error",
    ],
)
def test_direct_lane_matches_sdk_path(server: OpenAIServer, fault: str | None) -> None:
    outcomes = []
    for direct in (True, False):
        server.reset()
        if fault is not None:
            server.inject(fault, times=10, retry_after=0.01)
        c = run(one(client_for(server, direct=direct, max_attempts=2), req("What is the refund policy?")))
        outcomes.append((c.text, c.error_kind, c.error, c.attempts, c.finish_reason))
    print(fault, outcomes[0])
    assert outcomes[0] == outcomes[1]


def test_direct_lane_sends_the_sdk_headers(server: OpenAIServer) -> None:
    for direct in (True, False):
        server.reset()
        c = run(one(client_for(server, direct=direct, default_headers={"X-Team": "evals"}), req()))
        assert c.ok
        headers = {k.lower(): v for k, v in server.requests[-1].headers.items()}
        assert headers["authorization"] == f"Bearer {KEY}"
        assert headers["x-team"] == "evals"
        assert headers["user-agent"].startswith("AsyncOpenAI/Python")
        assert headers["content-type"] == "application/json"


def test_direct_lane_reports_a_refused_connection_like_the_sdk() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcomes = []
    for direct in (True, False):
        endpoint = Endpoint(f"http://127.0.0.1:{port}/v1", KEY, "openai-compatible", "test")
        client = ModelClient(endpoint, direct=direct, max_attempts=1, timeout_s=5.0)
        c = run(one(client, req()))
        outcomes.append((c.error_kind, c.error))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "connection"
