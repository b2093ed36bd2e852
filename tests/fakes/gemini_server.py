"""A fake Gemini API server that speaks the real REST wire format on loopback.

It answers what the official `google-genai` client sends to the Gemini Developer API:

- `POST /v1beta/models/{model}:generateContent`: one `GenerateContentResponse` (camelCase
  JSON: `candidates[].content.parts[].text`, `finishReason`, `usageMetadata`, `modelVersion`,
  `responseId`).
- `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`: the same, cut into server-sent
  events (`data: {GenerateContentResponse}` followed by a blank line); the last event carries
  `finishReason` and the full `usageMetadata`.
- The API key in the `x-goog-api-key` header or the `key` query parameter: a wrong key is
  `400 INVALID_ARGUMENT "API key not valid…"`, none at all `403 PERMISSION_DENIED`, an unknown
  model `404 NOT_FOUND`, all in Google's error shape `{"error": {"code", "message", "status"}}`.

Replies are deterministic: a scripted reply for the model (`script`), else `"echo: "` and the
text of the last user content. Token counts are whitespace-separated words: of every text part
sent (`promptTokenCount`) and of the reply (`candidatesTokenCount`);
`generationConfig.maxOutputTokens` cuts the reply at that many words (`finishReason:
MAX_TOKENS`). `block_next(reason)` makes the next call answer `promptFeedback.blockReason`
with no candidates, as Gemini does for a blocked prompt; `finish_next(reason)` makes it answer
a candidate with that `finishReason` and no content (a reply stopped by SAFETY, RECITATION…).
Nothing sleeps except a configured `delay`.

In a test::

    with FakeGemini(api_key="k") as fake:
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.url))
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackFake

API_VERSION = "v1beta"
_CHUNK = re.compile(r"(?<=\s)(?=\S)")  # stream chunks: a word and its trailing space


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, in arrival order (`FakeGemini.requests`)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None


class _ApiError(Exception):
    """Answered in Google's error shape with `code`, `status` and `message`."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message, "status": self.status}}
        return JSONResponse(body, status_code=self.code)


def _words(text: str) -> int:
    return len(text.split())


def _texts(contents: object) -> list[str]:
    """The text parts of `contents`, in order."""
    if not isinstance(contents, list):
        raise _ApiError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents "
                        "is not specified")
    texts: list[str] = []
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            raise _ApiError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents.parts: "
                            "contents.parts must not be empty.")
        texts.extend(str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p)
    return texts


def _cap(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig")
    cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
    return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None


class FakeGemini(LoopbackFake):
    """A fake Gemini API on 127.0.0.1, served by uvicorn in a background thread.

    `start()` returns the base URL (also `url`); `stop()` shuts it down; a `with` block does
    both. `api_key` is the one valid key. Inspect `requests` (every `RecordedRequest`).
    `script(model, reply)`, `delay(model, seconds)`, `block_next(reason)` and
    `finish_next(reason)` shape what the next calls answer; `models` are the ones it knows.
    """

    def __init__(
        self,
        api_key: str,
        models: Iterable[str] = ("gemini-2.5-flash",),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.models = set(models)
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, str] = {}
        self._delays: dict[str, float] = {}
        self._blocks: list[str] = []
        self._finishes: list[str] = []
        self._lock = threading.Lock()
        super().__init__()
        self.name = "fake-gemini"
        # One route: the method (":generateContent") is part of the last path segment.
        self.app = Starlette(routes=[Route(f"/{API_VERSION}/models/{{call:path}}", self._call,
                                           methods=["POST"])])

    # ----------------------------------------------------------------- test controls

    def script(self, model: str, reply: str) -> None:
        """Every call to `model` answers `reply`."""
        with self._lock:
            self._scripts[model] = reply

    def delay(self, model: str, seconds: float) -> None:
        """Every call to `model` waits `seconds` before answering."""
        with self._lock:
            self._delays[model] = seconds

    def block_next(self, reason: str = "SAFETY") -> None:
        """The next call's prompt is blocked: `promptFeedback.blockReason`, no candidates."""
        with self._lock:
            self._blocks.append(reason)

    def finish_next(self, reason: str) -> None:
        """The next call answers one candidate with `finishReason` and no content."""
        with self._lock:
            self._finishes.append(reason)

    def reset(self) -> None:
        """Forget requests, scripts, delays and pending blocks."""
        with self._lock:
            self.requests.clear()
            self._scripts.clear()
            self._delays.clear()
            self._blocks.clear()
            self._finishes.clear()

    # -------------------------------------------------------------------- the API

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        self.requests.append(RecordedRequest(
            request.method, request.url.path, dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            body if isinstance(body, dict) else None))
        if not isinstance(body, dict):
            raise _ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        return body

    def _check_key(self, request: Request) -> None:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        if not key:
            raise _ApiError(403, "PERMISSION_DENIED", "Method doesn't allow unregistered "
                            "callers (callers without established identity). Please use API "
                            "Key or other form of API consumer identity to call this API.")
        if key != self.api_key:
            raise _ApiError(400, "INVALID_ARGUMENT",
                            "API key not valid. Please pass a valid API key.")

    async def _call(self, request: Request) -> Response:
        try:
            body = await self._record(request)
            self._check_key(request)
            model, _, method = request.path_params["call"].rpartition(":")
            if method not in ("generateContent", "streamGenerateContent") or not model:
                raise _ApiError(404, "NOT_FOUND", f"Method {method!r} not found.")
            if model not in self.models:
                raise _ApiError(404, "NOT_FOUND", f"models/{model} is not found for API "
                                f"version {API_VERSION}, or is not supported for "
                                "generateContent. Call ListModels to see the list of "
                                "available models and their supported methods.")
            texts = _texts(body.get("contents"))
        except _ApiError as exc:
            return exc.response()
        await self._wait(model)
        chunks = self._answer(model, texts, _cap(body))
        if method == "generateContent":
            return JSONResponse(_merged(chunks))
        if request.query_params.get("alt") != "sse":
            return JSONResponse(chunks)  # without alt=sse the API streams a JSON array

        async def events() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def _answer(self, model: str, texts: list[str], cap: int | None) -> list[dict[str, Any]]:
        """The response as stream chunks: the reply word by word, then the finish."""
        prompt_tokens = sum(_words(t) for t in texts)
        common: dict[str, Any] = {"modelVersion": model, "responseId": uuid.uuid4().hex[:22]}
        with self._lock:
            block = self._blocks.pop(0) if self._blocks else None
            finish = self._finishes.pop(0) if self._finishes and block is None else None
            reply = self._scripts.get(model, "echo: " + (texts[-1] if texts else ""))
        if block is not None:
            return [{"promptFeedback": {"blockReason": block},
                     "usageMetadata": {"promptTokenCount": prompt_tokens,
                                       "totalTokenCount": prompt_tokens}, **common}]
        if finish is not None:
            return [{"candidates": [{"finishReason": finish, "index": 0}],
                     "usageMetadata": {"promptTokenCount": prompt_tokens,
                                       "totalTokenCount": prompt_tokens}, **common}]
        words = reply.split()
        reason = "STOP"
        if cap is not None and len(words) > cap:
            reply, reason = " ".join(words[:cap]), "MAX_TOKENS"
        pieces = [p for p in _CHUNK.split(reply) if p] or [""]
        reply_tokens = _words(reply)
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": reply_tokens,
                 "totalTokenCount": prompt_tokens + reply_tokens}
        chunks: list[dict[str, Any]] = []
        for n, piece in enumerate(pieces, start=1):
            candidate: dict[str, Any] = {
                "content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            last = n == len(pieces)
            if last:
                candidate["finishReason"] = reason
            chunks.append({"candidates": [candidate], **common,
                           "usageMetadata": usage if last
                           else {"promptTokenCount": prompt_tokens}})
        return chunks

    async def _wait(self, model: str) -> None:
        seconds = self._delays.get(model, 0.0)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        # Sleep in short steps so stop() does not have to wait for a long delay to pass.
        while seconds > 0 and not self._stopping.is_set():
            remaining = end - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))


def _merged(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The unary response: the chunks' text joined into one candidate, the last's metadata."""
    last = dict(chunks[-1])
    if "candidates" not in last or "content" not in last["candidates"][0]:
        return last
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    candidate = dict(last["candidates"][0])
    candidate["content"] = {"parts": [{"text": text}], "role": "model"}
    last["candidates"] = [candidate]
    return last
