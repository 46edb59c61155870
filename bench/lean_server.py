"""A lean OpenAI-compatible chat server for whole-process benchmarks (not for tests).

Why not ``tests/servers/openai_server.py``: that server is built for fidelity (faults, rules,
request logs) and spends about 0.3 ms of CPU per request in aiohttp's server stack, so at
10,000 calls / 20 ms / concurrency 128 (6,400 requests a second) it would be the bottleneck and
every client would look equally slow. This one is a bare ``asyncio.Protocol``: it parses just
enough HTTP/1.1 (request line, ``Content-Length``, keep-alive), answers after ``--latency-ms``
with ``loop.call_later`` (no task per request) and costs a few tens of microseconds a request.

Answers: a request whose system message asks for a ``"winner"`` JSON verdict gets a tie; any
other chat request gets ``"Answer: <last user message>"`` (so ``contains`` metrics on the case's
vars pass). ``GET /_stats`` returns ``{"chat": N, "cpu_s": ...}``.

Usage: ``python bench/lean_server.py --latency-ms 20`` prints ``LISTENING http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

_JUDGE = json.dumps({"winner": "tie", "reason": "both answers say the same"})


class _State:
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.chat = 0
        self.other = 0
        self.created = int(time.time())


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nx-ratelimit-remaining-requests: 1000\r\n\r\n"
    )
    return head.encode() + body


def _chat(state: _State, raw: bytes) -> bytes:
    try:
        req: dict[str, Any] = json.loads(raw)
        messages = req.get("messages") or []
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    except (ValueError, AttributeError, TypeError):
        return _response("400 Bad Request", b'{"error":{"message":"body is not JSON","type":"x"}}')
    state.chat += 1
    text = _JUDGE if '"winner"' in system else "Answer: " + str(user)[:400]
    out = {
        "id": f"chatcmpl-lean-{state.chat}",
        "object": "chat.completion",
        "created": state.created,
        "model": req.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
    }
    return _response("200 OK", json.dumps(out).encode())


class _Http(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            lower = head.lower()
            at = lower.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = lower.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else len(head)])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self._handle(head.split(b" ", 2)[1], body)

    def _handle(self, path: bytes, body: bytes) -> None:
        assert self.transport is not None
        if path.endswith(b"/chat/completions"):
            reply = _chat(self.state, body)
        elif path == b"/_stats":
            self.state.other += 1
            cpu = time.process_time()
            reply = _response("200 OK", json.dumps({"chat": self.state.chat, "cpu_s": cpu}).encode())
            self.transport.write(reply)
            return
        else:
            self.state.other += 1
            reply = _response("404 Not Found", b'{"error":{"message":"no route","type":"x"}}')
        if self.state.latency_s > 0:
            asyncio.get_running_loop().call_later(self.state.latency_s, self._write, reply)
        else:
            self.transport.write(reply)

    def _write(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    state = _State(args.latency_ms / 1000.0)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: _Http(state), "127.0.0.1", args.port, backlog=1024)
    )
    port = server.sockets[0].getsockname()[1]
    print(f"LISTENING http://127.0.0.1:{port}", flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
