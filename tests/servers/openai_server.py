"""A loopback OpenAI-compatible server for tests and benchmarks.

Why a real HTTP server instead of mocks: the client's value is in how it behaves on the wire
(retries, headers, timeouts, bodies that are not what they claim to be). Driving the real
``openai`` package over real sockets is the only way to test that honestly.

Two ways to run it:

* ``OpenAIServer(...)`` runs an aiohttp server in its own thread with its own event loop, so it
  never shares (or blocks) the client's loop. Tests read its request log directly.
* ``OpenAIServer.spawn(...)`` (or ``python -m tests.servers.openai_server --port N --script FILE``)
  runs it in a separate process, so a benchmark's server uses the second core. The handle talks
  to the ``/_admin/*`` endpoints for stats, resets and fault injection.

Answers are scriptable three ways, tried in this order for each chat request:

1. global faults queued with ``inject()`` (or ``faults:`` in a script), each for the next N calls;
2. an in-process ``responder(request_json) -> Reply | str | None`` (``None`` falls through);
3. a rule list (``rules:`` in a YAML/JSON script, or ``rules=[...]``); the first match wins;
4. the default: deterministic text derived from the last user message.

Script format (YAML or JSON)::

    latency_ms: 50                  # every reply waits this long (default 0)
    faults:                         # global: applied to the next `times` chat calls, in order
      - {fault: rate_limit, times: 2, retry_after: 0.2}
    rules:
      - model: "openai/gpt-4o*"     # fnmatch glob on the request's model
        contains: "refund"          # substring of the last user message
        regex: "order \\d+"         # regex searched in the last user message
        system_contains: "judge"    # substring of the system message
        system_regex: "..."
        reply: "fixed text"         # a fixed answer, or:
        replies: ["A", "B"]         # one per repeat of the same prompt (sample 0, 1, ...), cycling
        pick: sequence              # or "random" (seeded with `seed`, default 0)
        finish_reason: stop
        latency_ms: 100
        headers: {x-ratelimit-remaining-requests: "5"}
        fault: server_error         # see FAULTS; with `times: N` only the first N matches fault
        times: 1
        retry_after: 1

Faults: see ``FAULTS`` below; each mimics the real provider's status, headers and body shape.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fnmatch
import gzip
import hashlib
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web

EMBEDDING_DIM = 256

FAULTS: dict[str, str] = {
    "rate_limit": "429 with retry-after, retry-after-ms and x-ratelimit-* headers (OpenAI shape)",
    "github_rate_limit": "429 as GitHub Models sends it: x-ratelimit-timeremaining, per-minute type",
    "daily_limit": "429 GitHub Models daily limit (UserByModelByDay, retry-after of hours)",
    "quota": "429 insufficient_quota (OpenAI's out-of-credit error)",
    "server_error": "500 with an OpenAI error body",
    "bad_gateway": "502 with an HTML body, as a proxy sends it",
    "unavailable": "503",
    "gateway_timeout": "504",
    "auth": "401 invalid_api_key; the message echoes the key, as OpenAI's does (masked there)",
    "forbidden": "403, as GitHub Models answers a token without models: read",
    "not_found": "404 model_not_found",
    "bad_request": "400 invalid_request_error",
    "hang": "never answers (until hang_s or server shutdown)",
    "html": "200 with an HTML page instead of JSON",
    "bad_json": "200 with a truncated JSON body",
    "empty_choices": "200 with choices: []",
    "length": "200, finish_reason length, partial text",
    "content_filter": "200, finish_reason content_filter, null content",
    "null_content": "200, finish_reason stop, null content",
    "gzip": "200, the completion gzip-compressed (Content-Encoding: gzip), as proxies send it",
    "gzip_error": "500 with a gzip-compressed OpenAI error body",
}

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Reply:
    """One scripted answer. ``content`` is the text; the other fields shape the HTTP reply."""

    content: str | None = None
    finish_reason: str = "stop"
    latency_ms: float | None = None
    fault: str | None = None
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    body: bytes | str | dict[str, Any] | None = None  # raw override of the whole body


Responder = Callable[[dict[str, Any]], "Reply | str | None"]


@dataclass
class Rule:
    """A scripted rule; see the module docstring for the file format."""

    model: str | None = None
    contains: str | None = None
    regex: str | None = None
    system_contains: str | None = None
    system_regex: str | None = None
    reply: str | None = None
    replies: list[str] | None = None
    pick: str = "sequence"
    seed: int = 0
    finish_reason: str = "stop"
    latency_ms: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    times: int | None = None
    retry_after: float | None = None
    _regex: re.Pattern[str] | None = field(default=None, repr=False)
    _system_regex: re.Pattern[str] | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _seen: Counter[str] = field(default_factory=Counter, repr=False)
    _fault_used: int = 0

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {', '.join(FAULTS)}")
        self._regex = re.compile(self.regex) if self.regex else None
        self._system_regex = re.compile(self.system_regex) if self.system_regex else None
        self._rng = random.Random(self.seed)

    @staticmethod
    def from_mapping(raw: Mapping[str, Any]) -> Rule:
        known = {k for k in Rule.__dataclass_fields__ if not k.startswith("_")}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown rule keys: {sorted(unknown)}")
        return Rule(**dict(raw))

    def matches(self, model: str, user: str, system: str) -> bool:
        if self.model is not None and not fnmatch.fnmatchcase(model, self.model):
            return False
        if self.contains is not None and self.contains not in user:
            return False
        if self._regex is not None and not self._regex.search(user):
            return False
        if self.system_contains is not None and self.system_contains not in system:
            return False
        return not (self._system_regex is not None and not self._system_regex.search(system))

    def answer(self, prompt_key: str, default_text: str) -> Reply:
        fault = None
        if self.fault is not None and (self.times is None or self._fault_used < self.times):
            self._fault_used += 1
            fault = self.fault
        if self.replies:
            if self.pick == "random":
                text = self._rng.choice(self.replies)
            else:
                n = self._seen[prompt_key]
                self._seen[prompt_key] = n + 1
                text = self.replies[n % len(self.replies)]
        elif self.reply is not None:
            text = self.reply
        else:
            text = default_text
        return Reply(
            content=text,
            finish_reason=self.finish_reason,
            latency_ms=self.latency_ms,
            fault=fault,
            retry_after=self.retry_after,
            headers=dict(self.headers),
        )


@dataclass
class _GlobalFault:
    fault: str
    times: int
    retry_after: float | None = None


@dataclass
class RequestRecord:
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    at: float = 0.0  # time.monotonic() when the request arrived


# --------------------------------------------------------------------------------------------
# Deterministic content


def default_text(model: str, user: str, response_format: Any = None) -> str:
    """Different prompts give different (but repeatable) answers that still mention the prompt."""
    digest = hashlib.blake2b(user.encode("utf-8"), digest_size=4).hexdigest()
    words = user.split()
    text = f"Answer {digest}: " + " ".join(words[:40])
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        return json.dumps({"answer": text, "model": model})
    return text


def count_tokens(text: str) -> int:
    """Rough token count (words); good enough for cost and budget tests."""
    return len(text.split())


@lru_cache(maxsize=65536)
def _word_slot(word: str) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
    return h % EMBEDDING_DIM, (1.0 if (h >> 32) & 1 else -1.0)


def embed_text(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """Hashed bag of words, L2-normalised: texts that share words have a high cosine."""
    vec = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        slot, sign = _word_slot(word)
        vec[slot % dim] += sign
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [v / norm for v in vec]


# --------------------------------------------------------------------------------------------
# The app


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class _App:
    """State and handlers; lives on the server's own loop."""

    def __init__(
        self,
        *,
        responder: Responder | None,
        rules: Iterable[Rule],
        faults: Iterable[_GlobalFault],
        latency_ms: float,
        log_bodies: bool,
        hang_s: float,
    ) -> None:
        self.responder = responder
        self.rules = list(rules)
        self.faults = list(faults)
        self.latency_ms = latency_ms
        self.log_bodies = log_bodies
        self.hang_s = hang_s
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests: list[RequestRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping: asyncio.Event | None = None
        self._created = int(time.time())
        self._ids = 0

    # ---- routing

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_admin/"):
            return await self.admin(request)
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            self.counts[path] += 1
            if request.method == "GET" and path.endswith("/models"):
                self._log(request, None)
                return self.models()
            if request.method != "POST":
                return web.Response(status=405)
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                return web.Response(
                    status=400,
                    body=_error_body("body is not JSON", "invalid_request_error", None),
                    content_type="application/json",
                )
            self._log(request, body)
            if path.endswith("/chat/completions"):
                return await self.chat(request, body)
            if path.endswith("/embeddings"):
                return await self.embeddings(body)
            return web.Response(
                status=404,
                body=_error_body(f"no route {path}", "invalid_request_error", None),
                content_type="application/json",
            )
        finally:
            self.in_flight -= 1

    def _log(self, request: web.Request, body: dict[str, Any] | None) -> None:
        if self.log_bodies:
            self.requests.append(RequestRecord(request.path, body, dict(request.headers), time.monotonic()))

    # ---- endpoints

    def models(self) -> web.Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "loopback"}
            for m in ("openai/gpt-4o-mini", "openai/gpt-4o", "gpt-4o-mini", "text-embedding-3-small")
        ]
        return web.json_response({"object": "list", "data": data})

    def _pick(self, body: dict[str, Any]) -> Reply:
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        user = system = ""
        for m in messages:
            if not isinstance(m, dict):
                continue
            if m.get("role") == "user":
                user = _message_text(m.get("content"))
            elif m.get("role") == "system" and not system:
                system = _message_text(m.get("content"))
        fallback = default_text(model, user, body.get("response_format"))
        with self.lock:
            while self.faults:
                head = self.faults[0]
                if head.times <= 0:
                    self.faults.pop(0)
                    continue
                head.times -= 1
                return Reply(content=fallback, fault=head.fault, retry_after=head.retry_after)
        if self.responder is not None:
            got = self.responder(body)
            if isinstance(got, str):
                return Reply(content=got)
            if got is not None:
                if (
                    got.content is None
                    and got.fault is None
                    and got.body is None
                    and got.finish_reason == "stop"
                ):
                    got.content = fallback
                return got
        for rule in self.rules:
            if rule.matches(model, user, system):
                key = hashlib.blake2b(
                    json.dumps(messages, sort_keys=True).encode(), digest_size=8
                ).hexdigest()
                return rule.answer(key, fallback)
        return Reply(content=fallback)

    async def chat(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        reply = self._pick(body)
        latency = self.latency_ms if reply.latency_ms is None else reply.latency_ms
        if reply.fault == "hang":
            assert self.stopping is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.hang_s)
            return web.Response(status=504)
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        if reply.fault is not None:
            return self.fault_response(reply, request.headers.get("Authorization", ""), body)
        if reply.body is not None or reply.status is not None:
            raw = reply.body
            data = (
                json.dumps(raw).encode()
                if isinstance(raw, dict)
                else (raw.encode() if isinstance(raw, str) else (raw or b""))
            )
            return web.Response(
                status=reply.status or 200, body=data, headers=reply.headers, content_type="application/json"
            )
        return self.completion(body, reply.content, reply.finish_reason, reply.headers)

    def completion(
        self,
        body: dict[str, Any],
        content: str | None,
        finish_reason: str,
        headers: Mapping[str, str] | None = None,
        choices: bool = True,
    ) -> web.Response:
        model = str(body.get("model", ""))
        prompt_tokens = sum(
            count_tokens(_message_text(m.get("content")))
            for m in body.get("messages") or []
            if isinstance(m, dict)
        )
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if content is not None and isinstance(limit, int) and finish_reason == "stop":
            words = content.split()
            if len(words) > limit:
                content = " ".join(words[:limit])
                finish_reason = "length"
        completion_tokens = count_tokens(content or "")
        self._ids += 1
        payload = {
            "id": f"chatcmpl-loopback-{self._ids}",
            "object": "chat.completion",
            "created": self._created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ]
            if choices
            else [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_loopback",
        }
        return web.Response(
            body=json.dumps(payload).encode(), headers=headers, content_type="application/json"
        )

    def fault_response(self, reply: Reply, authorization: str, body: dict[str, Any]) -> web.Response:
        fault = reply.fault
        ra = 1.0 if reply.retry_after is None else reply.retry_after
        jtype = "application/json"
        model = str(body.get("model", ""))
        if fault == "rate_limit":
            headers = {
                "retry-after": _fmt_seconds(ra),
                "retry-after-ms": str(int(ra * 1000)),
                "x-ratelimit-limit-requests": "60",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{ra:g}s",
            }
            msg = (
                f"Rate limit reached for {model} on requests per min (RPM): Limit 60. "
                f"Please try again in {ra:g}s."
            )
            return web.Response(
                status=429,
                body=_error_body(msg, "requests", "rate_limit_exceeded"),
                headers=headers,
                content_type=jtype,
            )
        if fault == "github_rate_limit":
            return _github_models_limit(max(0, math.ceil(ra)), "10 per 60s", "UserByModelByMinute")
        if fault == "daily_limit":
            secs = 80000 if reply.retry_after is None else math.ceil(ra)
            return _github_models_limit(secs, "50 per 86400s", "UserByModelByDay")
        if fault == "quota":
            msg = (
                "You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
            )
            return web.Response(
                status=429,
                body=_error_body(msg, "insufficient_quota", "insufficient_quota"),
                content_type=jtype,
            )
        if fault == "auth":
            key = authorization.removeprefix("Bearer ")
            msg = (
                f"Incorrect API key provided: {key}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            return web.Response(
                status=401,
                body=_error_body(msg, "invalid_request_error", "invalid_api_key"),
                content_type=jtype,
            )
        if fault == "forbidden":
            data = json.dumps(
                {
                    "error": {
                        "code": "unauthorized",
                        "message": "The `models` permission is required to access this endpoint",
                        "details": "",
                    }
                }
            ).encode()
            return web.Response(status=403, body=data, content_type=jtype)
        if fault == "not_found":
            msg = f"The model `{model}` does not exist or you do not have access to it."
            return web.Response(
                status=404,
                body=_error_body(msg, "invalid_request_error", "model_not_found"),
                content_type=jtype,
            )
        if fault == "bad_request":
            return web.Response(
                status=400,
                body=_error_body("Invalid value for 'messages'.", "invalid_request_error", None, "messages"),
                content_type=jtype,
            )
        if fault == "server_error":
            msg = "The server had an error while processing your request. Sorry about that!"
            return web.Response(status=500, body=_error_body(msg, "server_error", None), content_type=jtype)
        if fault == "bad_gateway":
            return web.Response(
                status=502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        if fault == "unavailable":
            return web.Response(
                status=503,
                body=_error_body("The engine is currently overloaded.", "server_error", None),
                headers={"retry-after": _fmt_seconds(ra)} if reply.retry_after else None,
                content_type=jtype,
            )
        if fault == "gateway_timeout":
            return web.Response(status=504, text="upstream request timeout", content_type="text/plain")
        if fault == "html":
            page = (
                "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>"
            )
            return web.Response(status=200, text=page, content_type="text/html")
        if fault == "bad_json":
            return web.Response(status=200, body=b'{"id": "chatcmpl-x", "choices": [', content_type=jtype)
        if fault == "empty_choices":
            return self.completion(body, None, "stop", choices=False)
        if fault == "length":
            words = (reply.content or "partial answer").split()
            return self.completion(body, " ".join(words[: max(1, len(words) // 2)]), "length")
        if fault == "content_filter":
            return self.completion(body, None, "content_filter")
        if fault == "null_content":
            return self.completion(body, None, "stop")
        if fault in ("gzip", "gzip_error"):
            plain = (
                self.completion(body, reply.content, "stop")
                if fault == "gzip"
                else web.Response(
                    status=500,
                    body=_error_body("Compressed failure.", "server_error", None),
                    content_type=jtype,
                )
            )
            return web.Response(
                status=plain.status,
                body=gzip.compress(plain.body),  # type: ignore[arg-type]
                headers={"Content-Encoding": "gzip"},
                content_type=jtype,
            )
        raise AssertionError(f"unhandled fault {fault}")

    async def embeddings(self, body: dict[str, Any]) -> web.Response:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000.0)
        with self.lock:
            if self.faults and self.faults[0].times > 0:
                head = self.faults[0]
                head.times -= 1
                if head.times <= 0:
                    self.faults.pop(0)
                return self.fault_response(Reply(fault=head.fault, retry_after=head.retry_after), "", body)
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vec = embed_text(str(text))
            emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(count_tokens(str(t)) for t in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json")

    # ---- admin (used by the spawned-process handle)

    def stats(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "max_in_flight": self.max_in_flight,
            "in_flight": self.in_flight,
            "requests": [{"path": r.path, "body": r.body} for r in self.requests],
        }

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight
            self.faults.clear()

    def configure(self, cfg: Mapping[str, Any]) -> None:
        with self.lock:
            if "latency_ms" in cfg:
                self.latency_ms = float(cfg["latency_ms"])
            if "rules" in cfg:
                self.rules = [Rule.from_mapping(r) for r in cfg["rules"]]
            if "log_bodies" in cfg:
                self.log_bodies = bool(cfg["log_bodies"])
            for f in cfg.get("faults", []):
                self.faults.append(_parse_fault(f))

    async def admin(self, request: web.Request) -> web.Response:
        action = request.path.removeprefix("/_admin/")
        if action == "stats":
            return web.json_response(self.stats())
        if action == "reset":
            self.reset()
            return web.json_response({"ok": True})
        if action == "configure":
            self.configure(await request.json())
            return web.json_response({"ok": True})
        return web.Response(status=404)


def _github_models_limit(secs: int, limit: str, kind: str) -> web.Response:
    """GitHub Models' 429: its headers and its ``RateLimitReached`` body, per minute or per day."""
    msg = f"Rate limit of {limit} exceeded for {kind}. Please wait {secs} seconds before retrying."
    headers = {"retry-after": str(secs), "x-ratelimit-timeremaining": str(secs), "x-ratelimit-type": kind}
    data = json.dumps({"error": {"code": "RateLimitReached", "message": msg, "details": msg}}).encode()
    return web.Response(status=429, body=data, headers=headers, content_type="application/json")


def _parse_fault(raw: Mapping[str, Any]) -> _GlobalFault:
    fault = str(raw["fault"])
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    ra = raw.get("retry_after")
    return _GlobalFault(fault, int(raw.get("times", 1)), None if ra is None else float(ra))


def load_script(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML or JSON script file (see the module docstring)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    return data or {}


# --------------------------------------------------------------------------------------------
# Running it


async def _serve(app_state: _App, host: str, port: int) -> tuple[web.AppRunner, int]:
    app_state.stopping = asyncio.Event()
    runner = web.AppRunner(app_state.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, int(bound)


class OpenAIServer:
    """The loopback server in a background thread with its own event loop.

    ``url`` is ``http://127.0.0.1:PORT``; ``base_url`` adds ``/v1`` (what an OpenAI client wants);
    ``/inference`` and any ``/<prefix>`` work too.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        rules: Iterable[Rule | Mapping[str, Any]] = (),
        latency_ms: float = 0.0,
        log_bodies: bool = True,
        hang_s: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        parsed = [r if isinstance(r, Rule) else Rule.from_mapping(r) for r in rules]
        self._app = _App(
            responder=responder,
            rules=parsed,
            faults=(),
            latency_ms=latency_ms,
            log_bodies=log_bodies,
            hang_s=hang_s,
        )
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle

    def start(self) -> OpenAIServer:
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._runner, self.port = loop.run_until_complete(_serve(self._app, self._host, self._port))
            except BaseException as exc:
                error.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="openai-loopback", daemon=True)
        self._thread.start()
        ready.wait(10)
        if error:
            raise error[0]
        return self

    async def _shutdown(self) -> None:
        if self._app.stopping is not None:
            self._app.stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- addresses

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # ---- scripting

    def inject(self, fault: str, times: int = 1, *, retry_after: float | None = None) -> None:
        """Make the next ``times`` chat/embedding calls fail with ``fault`` (queued in order)."""
        self._app.configure({"faults": [{"fault": fault, "times": times, "retry_after": retry_after}]})

    def set_rules(self, rules: Iterable[Rule | Mapping[str, Any]]) -> None:
        parsed = [r if isinstance(r, Rule) else Rule.from_mapping(r) for r in rules]
        with self._app.lock:
            self._app.rules = parsed

    @property
    def responder(self) -> Responder | None:
        return self._app.responder

    @responder.setter
    def responder(self, value: Responder | None) -> None:
        self._app.responder = value

    @property
    def latency_ms(self) -> float:
        return self._app.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self._app.latency_ms = value

    # ---- request log

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self._app.requests)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._app.counts)

    def count(self, suffix: str = "/chat/completions") -> int:
        """Requests whose path ends with ``suffix`` (default: chat calls under any prefix)."""
        return sum(n for p, n in self._app.counts.items() if p.endswith(suffix))

    @property
    def max_in_flight(self) -> int:
        return self._app.max_in_flight

    def reset(self) -> None:
        self._app.reset()

    # ---- separate process

    @staticmethod
    def spawn(
        *,
        script: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        latency_ms: float | None = None,
        log_bodies: bool = False,
        port: int = 0,
    ) -> SpawnedOpenAIServer:
        """Run the server in a child process (its own core); returns a handle to it."""
        return SpawnedOpenAIServer(script=script, latency_ms=latency_ms, log_bodies=log_bodies, port=port)


class SpawnedOpenAIServer:
    """Handle on a server running in a child process; stats and faults go through ``/_admin``."""

    def __init__(
        self,
        *,
        script: str | os.PathLike[str] | Mapping[str, Any] | None,
        latency_ms: float | None,
        log_bodies: bool,
        port: int,
    ) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--port", str(port)]
        self._tmp: Path | None = None
        if isinstance(script, Mapping):
            import tempfile

            fd, name = tempfile.mkstemp(suffix=".json", prefix="openai-script-")
            with os.fdopen(fd, "w") as fh:
                json.dump(dict(script), fh)
            self._tmp = Path(name)
            cmd += ["--script", name]
        elif script is not None:
            cmd += ["--script", str(script)]
        if latency_ms is not None:
            cmd += ["--latency-ms", str(latency_ms)]
        if log_bodies:
            cmd += ["--log-bodies"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("LISTENING "):
            self.close()
            raise RuntimeError(f"loopback server did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        self.base_url = self.url + "/v1"
        self.port = int(self.url.rsplit(":", 1)[1])

    def _call(self, action: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(dict(payload)).encode()
        req = urllib.request.Request(
            f"{self.url}/_admin/{action}",
            data=data,
            method="POST" if data else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def stats(self) -> dict[str, Any]:
        return self._call("stats")

    def count(self, suffix: str = "/chat/completions") -> int:
        return sum(n for p, n in self.stats()["counts"].items() if p.endswith(suffix))

    @property
    def max_in_flight(self) -> int:
        return int(self.stats()["max_in_flight"])

    def reset(self) -> None:
        self._call("reset", {})

    def configure(self, **cfg: Any) -> None:
        self._call("configure", cfg)

    def inject(self, fault: str, times: int = 1, *, retry_after: float | None = None) -> None:
        self.configure(faults=[{"fault": fault, "times": times, "retry_after": retry_after}])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> SpawnedOpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """CLI: run the server in the foreground (prints ``LISTENING http://127.0.0.1:PORT``)."""
    parser = argparse.ArgumentParser(
        description="Loopback OpenAI-compatible server for tests and benchmarks."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="YAML or JSON file with latency_ms, faults and rules")
    parser.add_argument("--latency-ms", type=float, default=None)
    parser.add_argument("--log-bodies", action="store_true", help="keep request bodies for /_admin/stats")
    parser.add_argument("--hang-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the loopback server only listens on loopback addresses")
    script = load_script(args.script) if args.script else {}
    latency = args.latency_ms if args.latency_ms is not None else float(script.get("latency_ms", 0))
    state = _App(
        responder=None,
        rules=[Rule.from_mapping(r) for r in script.get("rules", [])],
        faults=[_parse_fault(f) for f in script.get("faults", [])],
        latency_ms=latency,
        log_bodies=args.log_bodies,
        hang_s=args.hang_s,
    )
    try:
        import uvloop  # type: ignore[import-not-found]

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    runner, port = loop.run_until_complete(_serve(state, args.host, args.port))
    print(f"LISTENING http://{args.host}:{port}", flush=True)
    import signal

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, loop.stop)
        loop.add_signal_handler(signal.SIGINT, loop.stop)
    try:
        loop.run_forever()
    finally:
        assert state.stopping is not None
        state.stopping.set()
        loop.run_until_complete(runner.cleanup())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
