"""A fake OpenAI-compatible server that speaks the real HTTP API on loopback.

It answers what the official `openai` client sends to a chat model, the way OpenAI does:

- `POST /v1/chat/completions`, as one `chat.completion` object, or with `"stream": true` as
  server-sent events: `data: {chat.completion.chunk}` lines (a first chunk with the role, one
  per word of content in `choices[0].delta.content`, one with `finish_reason`), then, when
  `stream_options.include_usage` is true, a last chunk with empty `choices` and the `usage`
  (every other chunk then has `"usage": null`), then `data: [DONE]`.
- `GET /v1/models` (`{"object": "list", "data": [...]}`).
- Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`: 401 for a
  missing or wrong bearer key (when the fake has one), 404 for an unknown model, 400 for a
  malformed body, and whatever `fail_next(status, retry_after=...)` queued.

Replies are deterministic: a scripted reply for the model (`script`), else the default reply,
else `"echo: "` followed by the last user message. Tokens are whitespace-separated words: of all
messages for `prompt_tokens`, of the reply for `completion_tokens`; `max_completion_tokens` (or
the older `max_tokens`) cuts the reply at that many words (`finish_reason: "length"`).
`usage=False` makes it a server that sends no usage, as some compatible servers do.

In a test::

    with FakeOpenAI(["gpt-test"], api_key="sk-test") as fake:
        client = openai.AsyncOpenAI(base_url=fake.url, api_key="sk-test")

As a process of its own (a benchmark's provider; the key, if any, from an environment
variable so it is not on the command line)::

    python -m tests.fakes.openai_server --port 8123 --models gpt-test --api-key-env KEY_VAR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackFake, serve_until_signalled

_PIECE = re.compile(r"(?<=\s)(?=\S)")
_CREATED = 1_735_689_600  # 2025-01-01, the models' fixed creation time


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, in arrival order (`FakeOpenAI.requests`); `key` is the
    bearer token it carried, `at` when it arrived (`time.monotonic()`, so a test can measure
    how long a client waited between two requests)."""

    method: str
    path: str
    body: dict[str, Any] | None
    key: str | None
    at: float


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: float | None
    message: str


def _error(status: int, message: str, kind: str, code: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _words(text: str) -> int:
    return len(text.split())


def _cap(body: dict[str, Any]) -> int | None:
    for field in ("max_completion_tokens", "max_tokens"):
        value = body.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _masked(key: str) -> str:
    """How OpenAI shows a wrong key in its message: only its ends."""
    return f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"


class FakeOpenAI(LoopbackFake):
    """A fake OpenAI-compatible HTTP server on 127.0.0.1, served in a background thread.

    `url` is the base URL with `/v1`, as clients are given it. With `api_key` set, requests
    must carry it as a bearer token. Inspect `requests`; `script(model, reply)` fixes a model's
    reply, `delay(model, seconds)` makes its completions slow, `fail_next(status, ...)`
    answers the next completion with an error.
    """

    def __init__(
        self,
        models: Iterable[str] = ("gpt-test",),
        *,
        api_key: str | None = None,
        reply: str | None = None,
        usage: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.default_reply = reply
        self.usage = usage
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, str] = {}
        self._delays: dict[str, float] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        super().__init__()
        self.name = "fake-openai"
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._completions, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ])

    # ----------------------------------------------------------------- test controls

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, model: str, reply: str) -> None:
        """Every completion by `model` answers `reply`."""
        with self._lock:
            self._scripts[model] = reply

    def delay(self, model: str, seconds: float) -> None:
        """Every completion by `model` waits `seconds` before its first byte."""
        with self._lock:
            self._delays[model] = seconds

    def fail_next(self, status: int, *, retry_after: float | None = None,
                  message: str | None = None, times: int = 1) -> None:
        """The next `times` completions answer `status` in OpenAI's error shape, with a
        `Retry-After` header of `retry_after` seconds when given."""
        default = "Rate limit reached for requests" if status == 429 else \
            "The server had an error while processing your request."
        with self._lock:
            self._failures.extend([_Failure(status, retry_after, message or default)] * times)

    def completions(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def reset(self) -> None:
        """Forget requests, scripts, delays and queued failures."""
        with self._lock:
            self.requests.clear()
            self._scripts.clear()
            self._delays.clear()
            self._failures.clear()

    # -------------------------------------------------------------------- endpoints

    async def _record(self, request: Request) -> tuple[dict[str, Any] | None, str | None]:
        auth = request.headers.get("authorization", "")
        key = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        body: dict[str, Any] | None = None
        if request.method == "POST":
            try:
                parsed = json.loads(await request.body() or b"null")
            except json.JSONDecodeError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.url.path, body, key,
                                                 time.monotonic()))
        return body, key

    def _refuse_key(self, key: str | None) -> Response | None:
        if self.api_key is None or key == self.api_key:
            return None
        if not key:
            return _error(401, "You didn't provide an API key. You need to provide your API "
                          "key in an Authorization header using Bearer auth.",
                          "invalid_request_error")
        return _error(401, f"Incorrect API key provided: {_masked(key)}. You can find your "
                      "API key at https://platform.openai.com/account/api-keys.",
                      "invalid_request_error", "invalid_api_key")

    async def _models(self, request: Request) -> Response:
        _, key = await self._record(request)
        refused = self._refuse_key(key)
        if refused is not None:
            return refused
        return JSONResponse({"object": "list", "data": [
            {"id": m, "object": "model", "created": _CREATED, "owned_by": "fake"}
            for m in self.models]})

    def _next_failure(self) -> Response | None:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is None:
            return None
        headers = {} if failure.retry_after is None else \
            {"retry-after": f"{failure.retry_after:g}"}
        kind, code = ("requests", "rate_limit_exceeded") if failure.status == 429 else \
            ("server_error", None)
        return _error(failure.status, failure.message, kind, code, headers)

    async def _completions(self, request: Request) -> Response:
        body, key = await self._record(request)
        refused = self._refuse_key(key) or self._next_failure()
        if refused is not None:
            return refused
        if body is None:
            return _error(400, "We could not parse the JSON body of your request.",
                          "invalid_request_error")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(messages, list) or not messages \
                or not all(isinstance(m, dict) for m in messages):
            return _error(400, "'messages' must be a non-empty array of objects",
                          "invalid_request_error")
        if model not in self.models:
            return _error(404, f"The model `{model}` does not exist or you do not have access "
                          "to it.", "invalid_request_error", "model_not_found")
        assert isinstance(model, str)
        prompt = "\n".join(str(m.get("content") or "") for m in messages)
        users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
        echo = "echo: " + (users[-1] if users else "")
        with self._lock:
            reply = self._scripts.get(model, self.default_reply or echo)
            delay = self._delays.get(model, 0.0)
        finish_reason = "stop"
        cap = _cap(body)
        if cap is not None and _words(reply) > cap:
            reply, finish_reason = " ".join(reply.split()[:cap]), "length"
        usage = {"prompt_tokens": _words(prompt), "completion_tokens": _words(reply),
                 "total_tokens": _words(prompt) + _words(reply)}
        completion = _Completion(model, reply, finish_reason, usage if self.usage else None)
        await asyncio.sleep(delay)
        if body.get("stream") is not True:
            return JSONResponse(completion.whole())
        options = body.get("stream_options")
        with_usage = self.usage and isinstance(options, dict) and \
            options.get("include_usage") is True
        return StreamingResponse(completion.events(with_usage), media_type="text/event-stream")


@dataclass(frozen=True, slots=True)
class _Completion:
    model: str
    reply: str
    finish_reason: str
    usage: dict[str, int] | None
    id: str = ""

    def _common(self, kind: str) -> dict[str, Any]:
        return {"id": self.id or f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": kind,
                "created": int(time.time()), "model": self.model,
                "system_fingerprint": "fp_fake"}

    def whole(self) -> dict[str, Any]:
        return {**self._common("chat.completion"), "choices": [{
            "index": 0, "message": {"role": "assistant", "content": self.reply, "refusal": None},
            "logprobs": None, "finish_reason": self.finish_reason}], "usage": self.usage}

    async def events(self, with_usage: bool) -> AsyncIterator[bytes]:
        common = self._common("chat.completion.chunk")  # one id for every chunk

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            obj = {**common, "choices": choices, **extra}
            if with_usage:
                obj.setdefault("usage", None)
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        def delta(content: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]

        yield chunk(delta({"role": "assistant", "content": "", "refusal": None}))
        for piece in _PIECE.split(self.reply):
            if piece:
                yield chunk(delta({"content": piece}))
        yield chunk(delta({}, self.finish_reason))
        if with_usage:
            yield chunk([], usage=self.usage)
        yield b"data: [DONE]\n\n"


# ---------------------------------------------------------------------- as a process


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.openai_server",
                                     description="A fake OpenAI-compatible HTTP server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--models", default="gpt-test", help="comma-separated model names")
    parser.add_argument("--reply", default=None, help="answer every completion with this text")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="require the bearer key held in this environment variable")
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        parser.error(f"--api-key-env names {args.api_key_env}, which is not set")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    return serve_until_signalled(FakeOpenAI(models, api_key=api_key, reply=args.reply,
                                            host=args.host, port=args.port))


if __name__ == "__main__":
    sys.exit(main())
