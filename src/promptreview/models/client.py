"""One client for any OpenAI-compatible endpoint: cache, concurrency, retries, deadline, cost.

The engine hands us ``ChatRequest`` values and gets ``Completion`` values back; every failure is
a Completion with an ``error_kind``, never an exception, so one bad call cannot sink a review.

Design choices, each measured or forced by a provider's behaviour:

* **Lazy SDK.** ``openai`` (and httpx2/aiohttp behind it) costs about half a second to import.
  It is imported on the first call that misses the cache, so a fully cached re-run never pays it.
* **Low per-call CPU.** We serialise the body ourselves and parse the reply with ``json.loads``
  (no params transform, no pydantic models), and post on the aiohttp session inside the SDK's
  own http client (``DefaultAioHttpClient``: openai's aiohttp transport) with headers and URLs
  built once (``_DirectLane``), keeping the SDK's headers, its exception mapping and its error
  types. That is ~0.35 ms of CPU per call for the whole process, against ~0.7 ms for the SDK's
  low-level ``post`` alone and ~2 ms for ``chat.completions.create`` on the default httpx
  transport (bench/README.md).
* **Our own retries** (the SDK's ``max_retries=0``): the SDK cannot know our run deadline, cannot
  stop sending after a quota error, and does not share a rate-limit pause between calls.
* **Fail fast.** 401/403 and quota errors (``insufficient_quota``, GitHub Models' daily limit)
  set a shared flag: calls still queued end with the same clear message without being sent.
  A 404 for a model, or a daily limit, stops calls to that model only.
* **Rate-limit headers** (``retry-after-ms``, ``retry-after``, ``x-ratelimit-timeremaining``,
  ``x-ratelimit-reset-*``) set a per-model pause that every call to that model honours, so one
  429 does not turn into a storm of them. A single wait is capped (``max_wait_s``) and never runs
  past the deadline.
* **Cache before the semaphore**: a hit costs no concurrency slot. Identical requests in flight
  at the same time are coalesced into one call.
* The API key never appears in a message: provider bodies are trimmed and scrubbed, and for
  auth errors we write our own message instead of echoing theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from promptreview.models.endpoint import Endpoint, resolve_endpoint
from promptreview.models.params import request_params
from promptreview.models.pricing import PriceTable, conservative_cost
from promptreview.models.types import (
    CallStats,
    ChatRequest,
    Completion,
    Embeddings,
    ErrorKind,
    shared_finish_reason,
)

if TYPE_CHECKING:
    from promptreview.models.cache import ResponseCache

log = logging.getLogger(__name__)

Transport = Literal["aiohttp", "httpx"]
Scope = Literal["call", "model", "all"]

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
EMBED_BATCH = 128
_MAX_MESSAGE = 300
# A 429 asking us to wait longer than this is a daily quota, not a burst limit: waiting is useless.
QUOTA_WAIT_S = 3600.0
_DAILY = re.compile(r"ByDay|per 86400s|daily|per day", re.IGNORECASE)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
# One encoder for every request body (``json.dumps`` with options builds a new one per call).
_BODY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# Header parsing (pure functions: unit-tested directly)


class _Headers(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def parse_duration(text: str) -> float | None:
    """OpenAI's reset format: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"``; plain numbers are seconds."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def retry_wait_from_headers(headers: _Headers | Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or None if it did not say.

    Priority: ``retry-after-ms`` (OpenAI/Azure, precise), ``retry-after`` (seconds or an HTTP
    date), ``x-ratelimit-timeremaining`` (GitHub Models), then the longest ``x-ratelimit-reset-*``
    among the limits that are used up.
    """
    value = headers.get("retry-after-ms")
    if value:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value) / 1000.0)
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
                when = parsedate_to_datetime(value).timestamp()
                return max(0.0, when - (time.time() if now is None else now))
    value = headers.get("x-ratelimit-timeremaining")
    if value:
        with contextlib.suppress(ValueError):
            return max(0.0, float(value))
    waits = []
    for kind in ("requests", "tokens"):
        reset = headers.get(f"x-ratelimit-reset-{kind}")
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        if reset and (remaining is None or remaining.strip() in ("0", "0.0")):
            d = parse_duration(reset)
            if d is not None:
                waits.append(d)
    return max(waits) if waits else None


# --------------------------------------------------------------------------------------------
# Internals


@dataclass(slots=True)
class _Failure:
    kind: ErrorKind
    message: str
    retryable: bool = False
    wait_s: float | None = None
    scope: Scope = "call"
    status: int | None = None


@dataclass(slots=True)
class _Sdk:
    """What we keep from the lazily imported SDK."""

    client: Any
    response_type: type
    status_error: type[BaseException]
    timeout_error: type[BaseException]
    connection_error: type[BaseException]
    lane: _DirectLane | None = None


class _DirectLane:
    """POSTs through the transport of the SDK's own http client, skipping its request pipeline.

    ``AsyncOpenAI.post`` spends most of its ~0.7 ms per call building options, merging headers
    and parsing URLs before the transport (``openai``'s vendored aiohttp transport, or httpx2's)
    sees the request; handing the same transport a request built from headers and URLs made once
    costs about 0.3 ms less CPU per call, and posting on that transport's own aiohttp session
    (without the httpx2 request and response it wraps each call in) about 0.08 ms less again
    (bench/README.md). What the SDK does around the transport is kept: its headers
    (``auth_headers`` + ``default_headers``), its error types (timeouts become
    ``APITimeoutError``, other transport failures ``APIConnectionError``, a non-2xx status the
    SDK's own ``APIStatusError`` with the body it would parse). A redirect is the one thing done
    differently: the caller then repeats the call the SDK's way, which follows it.
    """

    def __init__(self, client: Any, http: Any, timeout: Any, httpx2: Any, openai: Any) -> None:
        headers = {**client.auth_headers, **client.default_headers}
        self._client = client
        self._http = http
        plain = {k: v for k, v in headers.items() if isinstance(v, str)}
        self._headers = httpx2.Headers(plain)
        self._plain_headers = plain  # aiohttp takes a dict as it is
        self._extensions = {"timeout": timeout.as_dict()}
        self._base = str(client.base_url).rstrip("/") + "/"
        self._routes: dict[str, tuple[Any, Any, Any]] = {}  # path -> (url, transport, session)
        self._url_type = httpx2.URL
        self._request_type = httpx2.Request
        self._timeout_exc = httpx2.TimeoutException
        self._api_timeout = openai.APITimeoutError
        self._api_connection = openai.APIConnectionError
        self._response_type = httpx2.Response
        self._aio = _AiohttpPieces.load(timeout)

    @staticmethod
    def make(client: Any, http: Any, timeout: Any, httpx2: Any, openai: Any) -> _DirectLane | None:
        """The lane, or None when this SDK does not have the pieces it uses (then: SDK calls)."""
        needed = (
            hasattr(client, "auth_headers")
            and hasattr(client, "default_headers")
            and hasattr(client, "_make_status_error_from_response")
            and hasattr(http, "_transport_for_url")
            and hasattr(timeout, "as_dict")
        )
        if not needed:
            return None
        try:
            return _DirectLane(client, http, timeout, httpx2, openai)
        except Exception:  # anything unexpected in the SDK's shape: use the SDK's own path
            log.debug("direct transport lane unavailable", exc_info=True)
            return None

    def _route(self, path: str) -> tuple[Any, Any, Any]:
        route = self._routes.get(path)
        if route is None:
            url = self._url_type(self._base + path.lstrip("/"))
            transport = self._http._transport_for_url(url)  # proxies honoured
            route = self._routes[path] = (url, transport, self._session_of(transport))
        return route

    async def post(self, path: str, payload: bytes) -> Any:
        """The response with its body read, or None for a redirect (the caller asks the SDK)."""
        url, transport, session = self._route(path)
        if session is not None:
            return await self._post_on_session(session, url, payload)
        request = self._request_type(
            "POST", url, headers=self._headers, content=payload, extensions=self._extensions
        )
        try:
            response = await transport.handle_async_request(request)
            await response.aread()
        except self._timeout_exc as err:
            raise self._api_timeout(request=request) from err
        except Exception as err:
            raise self._api_connection(request=request) from err
        status = response.status_code
        if 200 <= status < 300:
            return response
        if 300 <= status < 400:
            return None
        raise self._client._make_status_error_from_response(response)

    def _session_of(self, transport: Any) -> Any:
        """The aiohttp session behind openai's aiohttp transport, made the way the transport makes
        it; None (use the transport) for httpx2's transport, a proxy or a Unix socket."""
        aio = self._aio
        if (
            aio is not None
            and isinstance(transport, aio.transport_type)
            and getattr(transport, "proxy", None) is None
            and not getattr(transport, "uds", None)
        ):
            try:
                if not isinstance(transport.client, aio.session_type):
                    transport.client = transport.get_client()  # what its first request would do
                return transport.client
            except Exception:  # an unexpected shape: the transport's own path still works
                log.debug("aiohttp session unavailable", exc_info=True)
        return None

    async def _post_on_session(self, session: Any, url: Any, payload: bytes) -> Any:
        """POST on the transport's aiohttp session itself, without the httpx2 request and response
        wrappers around it (~0.08 ms of CPU a call, 12% of a 10,000-case run's wall time).
        Failures are mapped exactly as the transport maps them (its own
        ``map_aiohttp_exceptions``), then to the SDK's error types."""
        aio = self._aio
        assert aio is not None
        try:
            with aio.map_exceptions():
                async with session.request(
                    "POST",
                    str(url),
                    headers=self._plain_headers,
                    data=payload,
                    allow_redirects=False,
                    timeout=aio.timeout,
                ) as r:
                    status = r.status
                    body = await r.read()
                    headers = r.headers
                    raw_headers = r.raw_headers
        except self._timeout_exc as err:
            raise self._api_timeout(request=self._request_for(url, payload)) from err
        except Exception as err:
            raise self._api_connection(request=self._request_for(url, payload)) from err
        if 200 <= status < 300:
            return _SessionReply(headers, body)
        if 300 <= status < 400:
            return None
        # aiohttp already decoded the body: drop its content-encoding so httpx2 does not again.
        kept = [(k, v) for k, v in raw_headers if k.lower() != b"content-encoding"]
        response = self._response_type(
            status, headers=kept, content=body, request=self._request_for(url, payload)
        )
        raise self._client._make_status_error_from_response(response)

    def _request_for(self, url: Any, payload: bytes) -> Any:
        """The httpx2 request the SDK's error types carry, built only when one is raised."""
        return self._request_type("POST", url, headers=self._headers, content=payload)


@dataclass(slots=True)
class _SessionReply:
    """A 2xx reply read on the aiohttp session: what ``_send_with_retries`` reads of a response."""

    headers: Any  # aiohttp's case-insensitive multidict
    content: bytes


@dataclass(frozen=True, slots=True)
class _AiohttpPieces:
    """openai's vendored aiohttp transport, its session type, its exception mapping and the
    socket timeouts it would pass: what posting on its session needs, or None without them."""

    transport_type: type
    session_type: type
    map_exceptions: Callable[[], Any]
    timeout: Any

    @staticmethod
    def load(timeout: Any) -> _AiohttpPieces | None:
        try:
            import aiohttp
            from openai._vendor.httpx_aiohttp import transport as vendored
        except Exception:  # no aiohttp extra, or a different SDK layout
            return None
        t = timeout.as_dict()
        return _AiohttpPieces(
            transport_type=vendored.AiohttpTransport,
            session_type=aiohttp.ClientSession,
            map_exceptions=vendored.map_aiohttp_exceptions,
            # As the transport builds it from the same httpx2 timeout (connect, read, pool).
            timeout=aiohttp.ClientTimeout(
                sock_connect=t.get("connect"), sock_read=t.get("read"), connect=t.get("pool")
            ),
        )


def _scrub(text: str, secret: str) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _provider_message(body: object) -> str:
    if isinstance(body, Mapping):
        msg = body.get("message")
        if isinstance(msg, str):
            return msg
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        return ""
    if isinstance(body, str):
        return "" if body.lstrip().startswith("<") else body
    return ""


def _body_field(body: object, name: str) -> str:
    if isinstance(body, Mapping):
        value = body.get(name)
        if value is None and isinstance(body.get("error"), Mapping):
            value = body["error"].get(name)
        return str(value) if value is not None else ""
    return ""


def _network_cause(exc: BaseException) -> BaseException | None:
    """The OS-level error (refused, reset, unreachable) behind an SDK error, if there is one."""
    seen: BaseException | None = exc
    for _ in range(10):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if seen is None:
            return None
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return seen
        if type(seen).__name__ == "ServerDisconnectedError":
            return seen
    return None


def _text_of(content: Any) -> str | None:
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return str(content)


class ModelClient:
    """Calls one endpoint on behalf of a whole review; see the module docstring for the why.

    ``deadline_s`` counts from construction: calls not started by then end with error_kind
    "deadline", and an attempt in flight is cut at the deadline too. ``backoff_base_s`` and
    ``max_wait_s`` are knobs for tests; production defaults follow the providers' guidance.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        cache: ResponseCache | None = None,
        prices: PriceTable | None = None,
        concurrency: int | None = None,
        timeout_s: float = 60.0,
        deadline_s: float | None = None,
        max_attempts: int = 4,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        max_wait_s: float = 60.0,
        transport: Transport = "aiohttp",
        default_headers: Mapping[str, str] | None = None,
        on_complete: Callable[[ChatRequest, Completion], None] | None = None,
        requests_per_minute: float | None = None,
        max_cost_usd: float | None = None,
        direct: bool = True,
        secrets: Sequence[str] = (),
    ) -> None:
        self.endpoint = endpoint
        # Scrubbed from every answer and error before it is cached or handed out (the cache and
        # the --json file are written from these), in raw, URL-encoded and base64 forms.
        self.secrets = tuple(dict.fromkeys(s for s in (endpoint.api_key, *secrets) if s and len(s) >= 4))
        self._scrub: Callable[[str], str] | None = None  # built on first use, see _scrubbed
        self.cache = cache
        self.prices = prices or PriceTable()
        self.concurrency = max(1, concurrency or endpoint.default_concurrency)
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_wait_s = max_wait_s
        self.transport = transport
        self.direct = direct  # False: every call through AsyncOpenAI.post (see _DirectLane)
        self.on_complete = on_complete
        self._default_headers = dict(default_headers or {})
        self._deadline = time.monotonic() + deadline_s if deadline_s is not None else float("inf")
        self._sem = asyncio.Semaphore(self.concurrency)
        self._first_started = False
        self._first_done = asyncio.Event()
        self._sdk: _Sdk | None = None
        self._fatal_all: _Failure | None = None
        self._fatal_model: dict[str, _Failure] = {}
        self._pause_until: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Future[Completion]] = {}
        self._tagged: dict[tuple[str, str | None], CallStats] = {}
        self.stats: dict[str, CallStats] = {"answer": CallStats(), "judge": CallStats(), "embed": CallStats()}
        self._rng = random.Random()
        # Pacing for endpoints with per-minute limits (GitHub Models' free tier: 10-15 a minute):
        # spacing requests out up front beats a storm of 429s and retries.
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_slot = 0.0
        self._pace_lock = asyncio.Lock()
        self.max_cost_usd = max_cost_usd
        # prefetch(): cached answers not handed out yet, and keys known to be missing (no second
        # lookup for those unless this run has since stored them).
        self._prefetched: dict[str, Completion] = {}
        self._known_missing: set[str] = set()

    # ---- public API

    async def complete(self, req: ChatRequest, *, tag: str | None = None) -> Completion:
        """One chat completion; never raises for endpoint trouble (see ``Completion.error_kind``).

        ``tag`` (e.g. "base"/"head") only groups the accounting: see ``stats_for``.
        """
        return await self._complete_keyed(req, req.cache_key(), tag, lookup=True)

    async def complete_many(self, reqs: Sequence[ChatRequest], *, tag: str | None = None) -> list[Completion]:
        """All of ``reqs`` concurrently (bounded), with one batched cache lookup up front."""
        cache = self.cache
        hits: dict[str, Completion] = {}
        keys = [r.cache_key() for r in reqs]
        if cache is not None and cache.enabled:
            hits = cache.get_many(keys)

        async def one(req: ChatRequest, key: str) -> Completion:
            hit = hits.get(key)
            if hit is not None:
                return self._account(req, hit, tag)
            return await self._complete_keyed(req, key, tag, lookup=False)

        return list(await asyncio.gather(*(one(r, k) for r, k in zip(reqs, keys, strict=True))))

    async def _complete_keyed(
        self, req: ChatRequest, key: str, tag: str | None, *, lookup: bool
    ) -> Completion:
        cache = self.cache
        if lookup and cache is not None and cache.enabled:
            hit = self._prefetched.pop(key, None)
            if hit is None and key not in self._known_missing:
                hit = cache.get(key)
            if hit is not None:
                return self._account(req, hit, tag)
        pending = self._inflight.get(key)
        if pending is not None:
            try:
                shared = await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise
                # The call we were riding on was cancelled, not us: make it ourselves.
            else:
                return self._account(req, replace(shared, cached=True) if shared.ok else shared, tag)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = self._scrubbed(await self._complete_uncached(req))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: riders re-raise it, nobody else needs it
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(result)
        if cache is not None and result.ok:
            cache.put(key, result)
            self._known_missing.discard(key)
            if not self._known_missing:
                # A set never shrinks: its table (2 MB at 50,000 keys) goes with a new one.
                self._known_missing = set()
        return self._account(req, result, tag)

    async def embed(self, model: str, texts: Sequence[str]) -> Embeddings:
        """Vectors for ``texts`` (same order); cached per (model, text), sent in batches."""
        if not texts:
            return Embeddings()
        stats = self.stats["embed"]
        unique = list(dict.fromkeys(texts))
        cache = self.cache
        found: dict[str, tuple[float, ...]] = {}
        if cache is not None and cache.enabled:
            found = cache.get_embeddings(model, unique)
        missing = [t for t in unique if t not in found]
        tokens = 0
        for i in range(0, len(missing), EMBED_BATCH):
            batch = missing[i : i + EMBED_BATCH]
            payload = json.dumps(
                {"model": model, "input": batch, "encoding_format": "float"},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            stats.calls += 1
            async with self._sem:
                data, failure, latency, _ = await self._send("embeddings", payload, model)
            stats.latency_s += latency
            vectors: list[tuple[float, ...]] | None = None
            if failure is None and data is not None:
                vectors, failure = self._parse_embeddings(data, len(batch))
                usage = data.get("usage") if isinstance(data, dict) else None
                if isinstance(usage, Mapping):
                    used = int(usage.get("prompt_tokens") or 0)
                    tokens += used
                    stats.prompt_tokens += used
                    cost, priced = self.prices.cost(model, used)
                    stats.cost_usd += cost
                    if not priced:
                        stats.unpriced += 1
                        stats.unpriced_usd += conservative_cost(used)
            if failure is not None or vectors is None:
                assert failure is not None
                stats.errors += 1
                stats.errors_by_kind[failure.kind] = stats.errors_by_kind.get(failure.kind, 0) + 1
                error = _scrub(failure.message, self.endpoint.api_key)
                return Embeddings(error=error, error_kind=failure.kind, prompt_tokens=tokens)
            fresh = dict(zip(batch, vectors, strict=True))
            found.update(fresh)
            if cache is not None:
                cache.put_embeddings(model, fresh)
        all_cached = not missing
        if all_cached:
            stats.calls += 1
            stats.cache_hits += 1
        return Embeddings(vectors=tuple(found[t] for t in texts), cached=all_cached, prompt_tokens=tokens)

    def cached_keys(self, reqs: Sequence[ChatRequest]) -> set[str]:
        """Cache keys of ``reqs`` that would be answered from the cache (for the plan)."""
        if self.cache is None or not self.cache.enabled:
            return set()
        return self.cache.has_many(r.cache_key() for r in reqs)

    def prefetch(self, reqs: Sequence[ChatRequest]) -> int:
        """Look ``reqs`` up in the cache in one batch and keep the hits for the calls to come.

        Returns how many of ``reqs`` the cache answers (the plan's "minus cache hits"). Later,
        :meth:`take_cached` hands a hit out without a task or a query, and :meth:`complete` skips
        the lookup for keys this found missing.
        """
        if self.cache is None or not self.cache.enabled:
            return 0
        keys = [r.cache_key() for r in reqs]
        hits = self.cache.get_many(keys)
        self._prefetched.update(hits)
        self._known_missing.update(k for k in keys if k not in hits)
        return sum(1 for k in keys if k in hits)

    def take_cached(self, req: ChatRequest, *, tag: str | None = None) -> Completion | None:
        """The prefetched cached answer to ``req`` (accounted like a call), or None."""
        if not self._prefetched:
            return None
        hit = self._prefetched.pop(req.cache_key(), None)
        return None if hit is None else self._account(req, hit, tag)

    def cached_count(self, reqs: Sequence[ChatRequest]) -> int:
        """How many of ``reqs`` the cache would answer: the plan's "minus cache hits"."""
        if self.cache is None or not self.cache.enabled:
            return 0
        keys = [r.cache_key() for r in reqs]
        found = self.cache.has_many(keys)
        return sum(1 for k in keys if k in found)

    def stats_for(self, purpose: str, tag: str | None = None) -> CallStats:
        """Totals for a purpose ("answer", "judge", "embed"), or for one ``tag`` passed to complete()."""
        if tag is None:
            return self.stats.setdefault(purpose, CallStats())
        return self._tagged.setdefault((purpose, tag), CallStats())

    @property
    def priced(self) -> bool:
        """False once any call used a model the price table does not know ("cost unknown")."""
        return all(s.unpriced == 0 for s in self.stats.values())

    async def aclose(self) -> None:
        if self.cache is not None:
            self.cache.flush()
        sdk, self._sdk = self._sdk, None
        if sdk is not None:
            await sdk.client.close()

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- accounting

    def _scrubbed(self, c: Completion) -> Completion:
        """``c`` without any secret value in its text or error (a model may echo a key it saw)."""
        scrub = self._scrub
        if scrub is None:
            from promptreview.report.sanitize import scrubber

            scrub = self._scrub = scrubber(self.secrets)  # one pattern for the whole run
        text = scrub(c.text) if c.text else c.text
        error = scrub(c.error) if c.error else c.error
        return c if text == c.text and error == c.error else replace(c, text=text, error=error)

    def _account(self, req: ChatRequest, c: Completion, tag: str | None) -> Completion:
        c = self._scrubbed(c)  # cache hits too: a cache written before scrubbing may hold a key
        self.stats.setdefault(req.purpose, CallStats()).add(c)
        if tag is not None:
            self._tagged.setdefault((req.purpose, tag), CallStats()).add(c)
        if self.on_complete is not None:
            self.on_complete(req, c)
        return c

    # ---- the call

    def _fatal_for(self, model: str) -> _Failure | None:
        return self._fatal_all or self._fatal_model.get(model)

    @property
    def spent_usd(self) -> float:
        """What this run has spent so far against max-cost (cache hits cost nothing; a model with
        no price counts at the conservative price, see ``pricing.CONSERVATIVE_PRICE``)."""
        return sum(st.cost_usd + st.unpriced_usd for st in self.stats.values())

    async def _complete_uncached(self, req: ChatRequest) -> Completion:
        fatal = self._fatal_for(req.model)
        if fatal is not None:
            return Completion(None, error=fatal.message, error_kind=fatal.kind, attempts=0)
        if self.max_cost_usd is not None and self.spent_usd >= self.max_cost_usd:
            return Completion(
                None,
                error=f"not sent: the review reached its max-cost budget of ${self.max_cost_usd:g}",
                error_kind="budget",
                attempts=0,
            )
        if time.monotonic() >= self._deadline:
            return self._deadline_completion(None)
        # Sampling parameters first, model and messages last: nothing in params can replace them.
        body: dict[str, Any] = request_params(req.params_dict())
        body["model"] = req.model
        body["messages"] = [{"role": m.role, "content": m.content} for m in req.messages]
        payload = _BODY_JSON.encode(body).encode()
        async with self._sem:
            data, failure, latency, attempts = await self._send("chat/completions", payload, req.model)
        if failure is not None:
            return Completion(
                None, error=failure.message, error_kind=failure.kind, latency_s=latency, attempts=attempts
            )
        return self._parse_chat(req, data, latency, attempts)

    def _deadline_completion(self, last: _Failure | None) -> Completion:
        msg = "not sent: the run deadline passed"
        if last is not None:
            msg = f"stopped at the run deadline; last error: {last.message}"
        return Completion(None, error=msg, error_kind="deadline", attempts=0)

    def _load_sdk(self) -> _Sdk:
        # Deliberately late: see the module docstring ("Lazy SDK").
        import httpx2
        import openai

        limits = httpx2.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        backstop = httpx2.Timeout(self.timeout_s + 5.0, connect=min(self.timeout_s, 30.0))
        http: Any
        if self.transport == "aiohttp":
            try:
                http = openai.DefaultAioHttpClient(limits=limits, timeout=backstop)
            except RuntimeError:  # the aiohttp extra is missing: the httpx transport still works
                http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=backstop)
        else:
            http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=backstop)
        client = openai.AsyncOpenAI(
            api_key=self.endpoint.api_key,
            base_url=self.endpoint.base_url,
            max_retries=0,
            timeout=backstop,
            http_client=http,
            default_headers=self._default_headers or None,
        )
        return _Sdk(
            client=client,
            response_type=httpx2.Response,
            status_error=openai.APIStatusError,
            timeout_error=openai.APITimeoutError,
            connection_error=openai.APIConnectionError,
            lane=_DirectLane.make(client, http, backstop, httpx2, openai) if self.direct else None,
        )

    async def _send(self, path: str, payload: bytes, model: str) -> tuple[Any, _Failure | None, float, int]:
        """POST with retries. Returns (parsed JSON body, failure, latency of last attempt, attempts).

        The first request of the run goes out alone: a wrong key or a dead endpoint then costs one
        request, not ``concurrency`` of them. After a 401 nothing else is sent; nor when that first
        request could not connect even after its retries (the endpoint is down or the URL wrong).
        Later connection failures are retried per call, as blips.
        """
        probe = False
        if not self._first_done.is_set():
            if self._first_started:
                await self._first_done.wait()
            else:
                self._first_started = probe = True
        try:
            sent = await self._send_with_retries(path, payload, model)
            failure = sent[1]
            if probe and failure is not None and failure.kind == "connection":
                failure.message += ". Remaining calls were not sent."
                self._fatal_all = self._fatal_all or failure
            return sent
        finally:
            if probe:
                if self._interval:
                    # The probe's arrival time is unknown (its connection was the first one): count
                    # the pacing interval from its answer, so no two starts are closer than that.
                    self._next_slot = max(self._next_slot, time.monotonic() + self._interval)
                self._first_done.set()

    async def _send_with_retries(
        self, path: str, payload: bytes, model: str
    ) -> tuple[Any, _Failure | None, float, int]:
        sdk = self._sdk
        if sdk is None:
            sdk = self._sdk = self._load_sdk()
        attempts = 0
        latency = 0.0
        last: _Failure | None = None
        while True:
            fatal = self._fatal_for(model)
            if fatal is not None:
                return None, fatal, latency, attempts
            now = time.monotonic()
            pause = self._pause_until.get(model, 0.0)
            if pause > now:
                if pause >= self._deadline:
                    return (
                        None,
                        _Failure(
                            "rate_limit",
                            "rate limited: the endpoint asked us to wait until after "
                            "the run deadline" + (f"; last error: {last.message}" if last else ""),
                        ),
                        latency,
                        attempts,
                    )
                await asyncio.sleep(pause - now)
                now = time.monotonic()
            if self._interval:
                await self._pace()
                now = time.monotonic()
            remaining = self._deadline - now
            if remaining <= 0:
                c = self._deadline_completion(last)
                return None, _Failure("deadline", c.error or ""), latency, attempts
            budget = min(self.timeout_s, remaining)
            attempts += 1
            started = time.perf_counter()
            failure: _Failure
            try:
                async with asyncio.timeout(budget):
                    resp = await sdk.lane.post(path, payload) if sdk.lane is not None else None
                    if resp is None:
                        resp = await sdk.client.post(path, cast_to=sdk.response_type, content=payload)
            except TimeoutError:
                if budget < self.timeout_s:
                    failure = _Failure(
                        "deadline", f"stopped at the run deadline after {budget:.1f}s waiting for the answer"
                    )
                else:
                    failure = _Failure("timeout", f"no answer within {self.timeout_s:g}s", retryable=True)
            except sdk.status_error as exc:
                failure = self._classify_status(exc, model)
            except sdk.connection_error as exc:  # APITimeoutError is a subclass: sorted out here
                # The aiohttp adapter reports every connection failure (refused, reset) as a
                # connect *timeout*; the original error in the cause chain tells them apart.
                cause = _network_cause(exc)
                if cause is None and isinstance(exc, sdk.timeout_error):
                    failure = _Failure("timeout", f"no answer within {self.timeout_s:g}s", retryable=True)
                else:
                    cause = cause or exc.__cause__ or exc
                    failure = _Failure(
                        "connection",
                        _scrub(
                            f"cannot reach {self.endpoint.display_url}: {type(cause).__name__}: {cause}",
                            self.endpoint.api_key,
                        ),
                        retryable=True,
                    )
            else:
                latency = time.perf_counter() - started
                headers = resp.headers
                if headers.get("x-ratelimit-remaining-requests") == "0":
                    self._note_pause(model, retry_wait_from_headers(headers))
                decoded = self._decode(resp)
                if isinstance(decoded, _Failure):
                    return None, decoded, latency, attempts
                return decoded, None, latency, attempts
            latency = time.perf_counter() - started
            if failure.scope == "all":
                self._fatal_all = self._fatal_all or failure
            elif failure.scope == "model":
                self._fatal_model.setdefault(model, failure)
            if not failure.retryable or attempts >= self.max_attempts:
                if failure.retryable and attempts > 1:
                    failure.message += f" (after {attempts} attempts)"
                return None, failure, latency, attempts
            if failure.wait_s is not None:
                wait = min(failure.wait_s, self.max_wait_s) + self._rng.uniform(
                    0, 0.1 * min(failure.wait_s, 1.0)
                )
                self._note_pause(model, wait)
            else:
                cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempts - 1))
                wait = cap / 2 + self._rng.uniform(0, cap / 2)
            if time.monotonic() + wait >= self._deadline:
                failure.message += " (no time left before the run deadline to retry)"
                return None, failure, latency, attempts
            log.debug("retrying %s for %s in %.2fs after %s", path, model, wait, failure.kind)
            last = failure
            await asyncio.sleep(wait)

    async def _pace(self) -> None:
        """Wait for this request's slot: starts are at least ``60 / requests_per_minute`` apart."""
        async with self._pace_lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            if slot > now:
                await asyncio.sleep(min(slot, self._deadline) - now)

    def _note_pause(self, model: str, wait: float | None) -> None:
        if wait is None or wait <= 0:
            return
        until = time.monotonic() + min(wait, self.max_wait_s)
        if until > self._pause_until.get(model, 0.0):
            self._pause_until[model] = until

    def _decode(self, resp: Any) -> Any:
        raw: bytes = resp.content
        try:
            return json.loads(raw)
        except ValueError:
            ctype = str(resp.headers.get("content-type", ""))
            head = raw[:200].lstrip().lower()
            if "html" in ctype or head.startswith((b"<!doctype", b"<html")):
                return _Failure(
                    "invalid_response",
                    f"endpoint returned HTML, not JSON: is the base URL right? ({self.endpoint.display_url})",
                )
            return _Failure(
                "invalid_response",
                _scrub(
                    f"endpoint returned a body that is not JSON "
                    f"({ctype or 'no content type'}): "
                    f"{raw[:80].decode('utf-8', 'replace')}",
                    self.endpoint.api_key,
                ),
            )

    def _classify_status(self, exc: Any, model: str) -> _Failure:
        status = int(exc.status_code)
        body = exc.body
        headers = exc.response.headers
        code = _body_field(body, "code")
        etype = _body_field(body, "type")
        said = _scrub(_provider_message(body), self.endpoint.api_key)
        detail = f": {said}" if said else ""
        gh = self.endpoint.is_github_models
        where = self.endpoint.display_url
        if status in (401, 403):
            if gh:
                msg = (
                    f"GitHub Models ({where}) refused the token (HTTP {status}{detail}). In a workflow, "
                    "grant the job "
                    "`permissions: models: read`; elsewhere use a token with the models:read permission. "
                    "Or set api-key/base-url to use another provider. Remaining calls were not sent."
                )
            else:
                what = "refused the API key" if status == 401 else "denied access"
                msg = (
                    f"the endpoint {where} {what} (HTTP {status}{', ' + code if code else ''}{detail}): "
                    "check the api-key input / OPENAI_API_KEY and base-url. Remaining calls were not sent."
                )
            return _Failure("auth", msg, scope="all", status=status)
        if status == 429:
            wait = retry_wait_from_headers(headers)
            if code == "insufficient_quota" or etype == "insufficient_quota":
                return _Failure(
                    "quota",
                    "the account behind the API key is out of quota (HTTP 429 "
                    "insufficient_quota): add credit or raise the limit with the provider, or use "
                    "another key. Remaining calls were not sent.",
                    scope="all",
                    status=status,
                )
            rl_type = str(headers.get("x-ratelimit-type", ""))
            if _DAILY.search(rl_type) or _DAILY.search(said) or (wait is not None and wait >= QUOTA_WAIT_S):
                hours = f" (the endpoint says to retry in about {wait / 3600:.1f} h)" if wait else ""
                return _Failure(
                    "quota",
                    f"daily request limit for {model} is used up{hours}. GitHub Models' free "
                    "tier allows only 50-150 requests a day per model: cache base results, run fewer "
                    "cases, or set api-key/base-url for a paid endpoint. Remaining calls to this "
                    "model were not sent.",
                    scope="model",
                    status=status,
                )
            return _Failure(
                "rate_limit",
                f"rate limited by {where} (HTTP 429){detail}",
                retryable=True,
                wait_s=wait,
                status=status,
            )
        if status == 404:
            return _Failure(
                "bad_request",
                f"{where} answered 404 for model {model}{detail}; check the model id "
                "and base-url. Remaining calls to this model were not sent.",
                scope="model",
                status=status,
            )
        should = str(headers.get("x-should-retry", "")).lower()
        retryable = status in RETRY_STATUSES or status >= 500
        if should in ("true", "false"):
            retryable = should == "true"
        if status >= 500 or status in (408, 409):
            return _Failure(
                "server",
                f"endpoint error HTTP {status}{detail}",
                retryable=retryable,
                wait_s=retry_wait_from_headers(headers),
                status=status,
            )
        return _Failure(
            "bad_request",
            f"endpoint rejected the request (HTTP {status}){detail}",
            retryable=retryable,
            status=status,
        )

    def _parse_chat(self, req: ChatRequest, data: Any, latency: float, attempts: int) -> Completion:
        if not isinstance(data, dict):
            return Completion(
                None,
                error="endpoint returned JSON that is not a chat completion object",
                error_kind="invalid_response",
                latency_s=latency,
                attempts=attempts,
            )
        usage = data.get("usage")
        pt = ct = 0
        if isinstance(usage, dict):
            pt = int(usage.get("prompt_tokens") or 0)
            ct = int(usage.get("completion_tokens") or 0)
        cost, priced = self.prices.cost(req.model, pt, ct)
        common: dict[str, Any] = {
            "latency_s": latency,
            "prompt_tokens": pt,
            "completion_tokens": ct,
            "cost_usd": cost,
            "priced": priced,
            "attempts": attempts,
        }
        choices = data.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            said = _scrub(_provider_message(data), self.endpoint.api_key) if "error" in data else ""
            msg = (
                f"endpoint returned an error in a 200 response: {said}"
                if said
                else "endpoint returned no choices (empty answer list)"
            )
            return Completion(None, error=msg, error_kind="invalid_response", **common)
        choice = choices[0]
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        text = _text_of(message.get("content"))
        finish = shared_finish_reason(choice.get("finish_reason"))
        if finish == "length":
            limit = req.params_dict().get("max_tokens") or req.params_dict().get("max_completion_tokens")
            where = f"max_tokens={limit}" if limit else "the model's output limit"
            return Completion(
                None,
                error=f"answer cut off at {where}",
                error_kind="length",
                finish_reason=finish,
                partial_text=text,
                **common,
            )
        if finish == "content_filter":
            return Completion(
                None,
                error="the provider's content filter blocked the answer",
                error_kind="content_filter",
                finish_reason=finish,
                partial_text=text,
                **common,
            )
        if text is None:
            refusal = message.get("refusal")
            if isinstance(refusal, str) and refusal:
                # A structured-output refusal is the model's answer, and refusals are a reported signal.
                return Completion(refusal, finish_reason=finish, **common)
            return Completion(
                None,
                error=f"endpoint returned no text (content is null, finish_reason={finish})",
                error_kind="invalid_response",
                finish_reason=finish,
                **common,
            )
        return Completion(text, finish_reason=finish, **common)

    def _parse_embeddings(self, data: Any, n: int) -> tuple[list[tuple[float, ...]] | None, _Failure | None]:
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != n:
            return None, _Failure(
                "invalid_response", f"embeddings endpoint returned {len(items or [])} vectors for {n} texts"
            )
        try:
            ordered = sorted(items, key=lambda d: int(d.get("index", 0)))
            return [tuple(float(x) for x in d["embedding"]) for d in ordered], None
        except (TypeError, ValueError, KeyError, AttributeError):
            return None, _Failure(
                "invalid_response", "embeddings endpoint returned vectors that are not lists of numbers"
            )


# --------------------------------------------------------------------------------------------
# Construction from configuration


SECRET_ENV = ("OPENAI_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "INPUT_API-KEY", "INPUT_GITHUB-TOKEN")


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The credentials an environment carries: never written to a cache, a report or a log."""
    return tuple(v.strip() for v in (env.get(name, "") for name in SECRET_ENV) if v.strip())


@contextlib.asynccontextmanager
async def open_client(
    defaults: Any, options: Any, *, cache: ResponseCache | None = None, repo_root: str | None = None
) -> AsyncIterator[ModelClient]:
    """A ModelClient (and its cache) from ``Defaults`` + ``ReviewOptions``, closed on exit.

    Duck-typed on purpose: this module must not import the engine's modules (and they import
    this one lazily), so only the attribute names are shared.
    """
    from promptreview.models.cache import ResponseCache, default_cache_path

    endpoint = resolve_endpoint(
        getattr(options, "base_url", None),
        getattr(options, "api_key", None),
        getattr(options, "env", None) or {},
    )
    own_cache = False
    if cache is None:
        no_cache = bool(getattr(options, "no_cache", False))
        fresh = bool(getattr(options, "fresh", False))
        if not no_cache:
            path = getattr(options, "cache_path", None) or default_cache_path(repo_root or ".")
            cache = ResponseCache(path, enabled=not fresh, write=True)
            own_cache = True
    concurrency = getattr(options, "concurrency", None)
    if concurrency is None:
        configured = getattr(defaults, "concurrency", None)
        concurrency = endpoint.default_concurrency if endpoint.is_github_models else configured
    client = ModelClient(
        endpoint,
        cache=cache,
        prices=PriceTable(getattr(defaults, "prices", None) or {}),
        concurrency=concurrency,
        timeout_s=getattr(options, "timeout_s", None) or getattr(defaults, "timeout_s", 60.0),
        deadline_s=getattr(options, "deadline_s", None) or getattr(defaults, "deadline_s", None),
        requests_per_minute=getattr(options, "requests_per_minute", None)
        or getattr(defaults, "requests_per_minute", None),
        max_cost_usd=getattr(options, "max_cost_usd", None) or getattr(defaults, "max_cost_usd", None),
        secrets=secret_values(getattr(options, "env", None) or {}),
    )
    try:
        yield client
    finally:
        await client.aclose()
        if own_cache and cache is not None:
            cache.close()
