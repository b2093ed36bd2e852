"""A fake Ollama server that speaks the real HTTP API on loopback.

It answers the endpoints the official `ollama` client uses the way real Ollama does:

- `POST /api/chat` and `POST /api/generate`, streamed as NDJSON (the API's default) or as one
  JSON object (`"stream": false`); the final object carries `done: true`, `done_reason`,
  `prompt_eval_count`, `eval_count` and the durations. A request without a prompt (or without
  messages) only loads the model (`done_reason: "load"`); with `keep_alive: 0` it unloads it
  (`done_reason: "unload"`).
- `GET /api/tags`, `GET /api/ps` (loaded models with `expires_at`, `size_vram`…),
  `GET /api/version`, `POST /api/show`, and `GET /` ("Ollama is running").
- `404 {"error": "model \"x\" not found, try pulling it first"}` for a model it does not have.

Replies are deterministic: the next of the model's scripted sequence (`script_sequence`), else
a scripted reply for the model (`script`), else the default reply
(`--reply`), else `"echo: "` followed by the last user message (chat) or the prompt (generate).
Token counts are whitespace-separated words: of all messages (or the prompt) for
`prompt_eval_count`, of the reply for `eval_count`; `options.num_predict` caps the reply at that
many words (`done_reason: "length"`). Nothing sleeps except a configured `delay`.

In a test::

    with FakeOllama(["llama3.2"]) as fake:
        client = ollama.Client(host=fake.url)
        ...
        assert "llama3.2" in fake.loaded

As a process (for end-to-end tests)::

    python -m mcp_server.demo.fake_ollama --port 11434 --models llama3.2,qwen2.5 --reply "done"

The process prints `fake ollama listening on http://127.0.0.1:<port>` once it accepts
connections and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mcp_server.demo.loopback import LoopbackFake, serve_until_signalled

VERSION = "0.6.8"
DEFAULT_KEEP_ALIVE_S = 300.0  # real Ollama keeps a model loaded for 5 minutes by default
FOREVER = timedelta(days=365 * 290)  # what a negative keep_alive means ("until unloaded")
_MODEL_SIZE = 2_019_393_189

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_CHUNK = re.compile(r"(?<=\s)(?=\S)")


class _BadRequest(Exception):
    """The request is malformed; answered with 400 and the message as `error`."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake received, in arrival order (`FakeOllama.requests`)."""

    method: str
    path: str
    body: dict[str, Any] | None


def parse_keep_alive(value: object) -> float | None:
    """Seconds to keep a model loaded; None means forever. Mirrors Ollama's `api.Duration`.

    Numbers are seconds; strings are Go durations ("5m", "1h30m", "-1") or bare seconds
    ("3600"). Any negative value means forever.
    """
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, bool):
        raise _BadRequest(f"invalid keep_alive: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_go_duration(value)
    else:
        raise _BadRequest(f"invalid keep_alive: {value!r}")
    return None if seconds < 0 else seconds


def _parse_go_duration(text: str) -> float:
    raw = text.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw.lstrip("+-")
    if body == "0":
        return 0.0
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise _BadRequest(f'time: invalid duration "{text}"')
    return sign * total


def _full_name(name: str) -> str:
    """Ollama's canonical model name: `llama3.2` is `llama3.2:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _words(text: str) -> int:
    return len(text.split())


def _capped(reply: str, options: object) -> tuple[str, str]:
    """The reply cut at `options.num_predict` tokens, as Ollama stops generating there
    (`done_reason: "length"`); negative (-1 unbounded, -2 fill the context) cuts nothing."""
    cap = options.get("num_predict") if isinstance(options, dict) else None
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
        return reply, "stop"
    words = reply.split()
    if len(words) <= cap:
        return reply, "stop"
    return " ".join(words[:cap]), "length"


def _timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(name: str) -> dict[str, Any]:
    family = re.split(r"[^a-z]", name.lower(), maxsplit=1)[0] or "llama"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class FakeOllama(LoopbackFake):
    """A fake Ollama HTTP server on 127.0.0.1, served by uvicorn in a background thread.

    `start()` returns the base URL (also `url`); `stop()` shuts it down; a `with` block does
    both. Inspect `loaded` (names of resident models, as registered) and `requests` (every
    `RecordedRequest` received). `script(model, reply)` fixes a model's reply,
    `script_sequence(model, replies)` gives its next calls one reply each, `delay(model,
    seconds)` makes its chat and generate calls slow.
    """

    def __init__(
        self,
        models: Iterable[str] = ("llama3.2",),
        *,
        reply: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.default_reply = reply
        self.requests: list[RecordedRequest] = []
        self._models: dict[str, str] = {}  # full name -> name as registered
        self._expiry: dict[str, float | None] = {}  # registered name -> monotonic deadline
        self._expires_at: dict[str, datetime] = {}
        self._scripts: dict[str, str] = {}
        self._sequences: dict[str, list[str]] = {}
        self._delays: dict[str, float] = {}
        self._load_delays: dict[str, float] = {}
        self._lock = threading.Lock()
        super().__init__()
        self.name = "fake-ollama"
        for name in models:
            self.add_model(name)
        self.app = Starlette(
            routes=[
                Route("/", self._root, methods=["GET", "HEAD"]),
                Route("/api/version", self._version, methods=["GET"]),
                Route("/api/tags", self._tags, methods=["GET"]),
                Route("/api/ps", self._ps, methods=["GET"]),
                Route("/api/show", self._show, methods=["POST"]),
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/api/generate", self._generate, methods=["POST"]),
            ]
        )

    # ----------------------------------------------------------------- test controls

    @property
    def models(self) -> list[str]:
        """Names of the models the server has ("pulled"), as registered."""
        with self._lock:
            return list(self._models.values())

    @property
    def loaded(self) -> set[str]:
        """Names (as registered) of the models currently loaded; expired ones are dropped."""
        with self._lock:
            self._expire_locked()
            return set(self._expiry)

    def add_model(self, name: str) -> None:
        with self._lock:
            self._models[_full_name(name)] = name

    def script(self, model: str, reply: str) -> None:
        """Every chat or generate call to `model` answers `reply`."""
        with self._lock:
            self._scripts[self._registered(model) or model] = reply

    def script_sequence(self, model: str, replies: Iterable[str]) -> None:
        """The next chat or generate calls to `model` answer `replies`, one each, in order;
        once they are used up, the model answers as it would without them."""
        with self._lock:
            self._sequences[self._registered(model) or model] = list(replies)

    def delay(self, model: str, seconds: float) -> None:
        """Every chat or generate call to `model` waits `seconds` before answering."""
        with self._lock:
            self._delays[self._registered(model) or model] = seconds

    def load_delay(self, model: str, seconds: float) -> None:
        """Make loading `model` (a request with an empty prompt) take `seconds`."""
        with self._lock:
            self._load_delays[self._registered(model) or model] = seconds

    def reset(self) -> None:
        """Forget requests, loaded models, scripts and delays (models stay registered)."""
        with self._lock:
            self.requests.clear()
            self._expiry.clear()
            self._expires_at.clear()
            self._scripts.clear()
            self._sequences.clear()
            self._delays.clear()
            self._load_delays.clear()

    # ------------------------------------------------------------------ model state

    def _registered(self, name: str) -> str | None:
        return self._models.get(_full_name(name))

    def _expire_locked(self) -> None:
        now = time.monotonic()
        for name, deadline in list(self._expiry.items()):
            if deadline is not None and deadline <= now:
                del self._expiry[name]
                self._expires_at.pop(name, None)

    def _load(self, name: str, keep_alive: float | None) -> bool:
        """Make `name` resident for `keep_alive` seconds (None: forever); True if it was not."""
        with self._lock:
            self._expire_locked()
            was_loaded = name in self._expiry
            self._expiry[name] = None if keep_alive is None else time.monotonic() + keep_alive
            span = FOREVER if keep_alive is None else timedelta(seconds=keep_alive)
            self._expires_at[name] = datetime.now(UTC) + span
            return not was_loaded

    def _unload(self, name: str) -> None:
        with self._lock:
            self._expiry.pop(name, None)
            self._expires_at.pop(name, None)

    def _settle(self, name: str, keep_alive: float | None) -> None:
        if keep_alive == 0:
            self._unload(name)

    def _reply_for(self, name: str, fallback: str) -> str:
        with self._lock:
            queued = self._sequences.get(name)
            if queued:
                return queued.pop(0)
            scripted = self._scripts.get(name)
        if scripted is not None:
            return scripted
        if self.default_reply is not None:
            return self.default_reply
        return fallback

    async def _wait(self, name: str) -> None:
        seconds = self._delays.get(name, 0.0)
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        # Sleep in short steps so stop() does not have to wait for a long delay to pass.
        while not self._stopping.is_set():
            remaining = end - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))

    # -------------------------------------------------------------------- endpoints

    async def _record(self, request: Request) -> dict[str, Any] | None:
        body: dict[str, Any] | None = None
        if request.method == "POST":
            raw = await request.body()
            try:
                parsed = json.loads(raw) if raw else None
            except json.JSONDecodeError as exc:
                self.requests.append(RecordedRequest(request.method, request.url.path, None))
                raise _BadRequest(f"invalid character in request body: {exc.msg}") from exc
            if parsed is not None and not isinstance(parsed, dict):
                self.requests.append(RecordedRequest(request.method, request.url.path, None))
                raise _BadRequest("cannot unmarshal request body into an object")
            body = parsed
        self.requests.append(RecordedRequest(request.method, request.url.path, body))
        return body

    async def _root(self, request: Request) -> Response:
        await self._record(request)
        return PlainTextResponse("Ollama is running")

    async def _version(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"version": VERSION})

    async def _tags(self, request: Request) -> Response:
        await self._record(request)
        modified = _timestamp(datetime(2025, 1, 1, tzinfo=UTC))
        with self._lock:
            names = list(self._models)
        return JSONResponse(
            {
                "models": [
                    {
                        "name": full,
                        "model": full,
                        "modified_at": modified,
                        "size": _MODEL_SIZE,
                        "digest": _digest(full),
                        "details": _details(full),
                    }
                    for full in names
                ]
            }
        )

    async def _ps(self, request: Request) -> Response:
        await self._record(request)
        with self._lock:
            self._expire_locked()
            loaded = [(name, self._expires_at[name]) for name in self._expiry]
        return JSONResponse(
            {
                "models": [
                    {
                        "name": _full_name(name),
                        "model": _full_name(name),
                        "size": _MODEL_SIZE,
                        "digest": _digest(_full_name(name)),
                        "details": _details(name),
                        "expires_at": _timestamp(expires),
                        "size_vram": _MODEL_SIZE,
                        "context_length": 4096,
                    }
                    for name, expires in loaded
                ]
            }
        )

    async def _show(self, request: Request) -> Response:
        try:
            body = await self._record(request) or {}
        except _BadRequest as exc:
            return _error(400, str(exc))
        requested = body.get("model") or body.get("name") or ""
        name = self._registered(str(requested)) if requested else None
        if name is None:
            return _error(404, f"model {json.dumps(str(requested))} not found")
        return JSONResponse(
            {
                "modelfile": f"FROM {_full_name(name)}\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": _details(name),
                "model_info": {"general.architecture": _details(name)["family"]},
                "capabilities": ["completion"],
                "modified_at": _timestamp(datetime(2025, 1, 1, tzinfo=UTC)),
            }
        )

    async def _chat(self, request: Request) -> Response:
        return await self._complete(request, chat=True)

    async def _generate(self, request: Request) -> Response:
        return await self._complete(request, chat=False)

    async def _complete(self, request: Request, *, chat: bool) -> Response:
        started = time.perf_counter_ns()
        try:
            body = await self._record(request) or {}
            requested = body.get("model")
            if not isinstance(requested, str) or not requested:
                raise _BadRequest("model is required")
            keep_alive = parse_keep_alive(body.get("keep_alive"))
            if chat:
                messages = body.get("messages") or []
                if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                    raise _BadRequest("messages must be a list of objects")
                prompt = "\n".join(str(m.get("content") or "") for m in messages)
                users = [m for m in messages if m.get("role") == "user"]
                last_user = str(users[-1].get("content") or "") if users else ""
                empty = not messages
            else:
                prompt = str(body.get("prompt") or "")
                last_user = prompt
                empty = prompt == ""
        except _BadRequest as exc:
            return _error(400, str(exc))

        name = self._registered(requested)
        if name is None:
            return _error(404, f"model {json.dumps(requested)} not found, try pulling it first")
        stream = body.get("stream", True) is not False
        created = _timestamp()

        if empty:
            # Only load (or, with keep_alive 0, unload) the model; answered as one object.
            if keep_alive == 0:
                self._unload(name)
                reason = "unload"
            else:
                # Real loads take seconds (weights into memory); tests may ask for that.
                await asyncio.sleep(self._load_delays.get(name, 0.0))
                self._load(name, keep_alive)
                reason = "load"
            done: dict[str, Any] = {"model": requested, "created_at": created}
            if chat:
                done["message"] = {"role": "assistant", "content": ""}
            else:
                done["response"] = ""
            done.update({"done": True, "done_reason": reason})
            return JSONResponse(done)

        newly_loaded = self._load(name, keep_alive)
        load_ns = 1_500_000 if newly_loaded else 50_000
        reply = self._reply_for(name, "echo: " + last_user)
        reply, done_reason = _capped(reply, body.get("options"))
        prompt_tokens = _words(prompt)
        reply_tokens = _words(reply)

        def final(text: str) -> dict[str, Any]:
            total = time.perf_counter_ns() - started + load_ns
            obj: dict[str, Any] = {"model": requested, "created_at": _timestamp()}
            if chat:
                obj["message"] = {"role": "assistant", "content": text}
            else:
                obj["response"] = text
            obj.update(
                {
                    "done": True,
                    "done_reason": done_reason,
                    "total_duration": total,
                    "load_duration": load_ns,
                    "prompt_eval_count": prompt_tokens,
                    "prompt_eval_duration": 1_000 * max(prompt_tokens, 1),
                    "eval_count": reply_tokens,
                    "eval_duration": 10_000 * max(reply_tokens, 1),
                }
            )
            if not chat:
                obj["context"] = list(range(1, min(prompt_tokens + reply_tokens, 64) + 1))
            return obj

        if not stream:
            try:
                await self._wait(name)
                return JSONResponse(final(reply))
            finally:
                self._settle(name, keep_alive)

        async def lines() -> AsyncIterator[bytes]:
            try:
                await self._wait(name)
                for piece in _CHUNK.split(reply):
                    if not piece:
                        continue
                    part: dict[str, Any] = {"model": requested, "created_at": _timestamp()}
                    if chat:
                        part["message"] = {"role": "assistant", "content": piece}
                    else:
                        part["response"] = piece
                    part["done"] = False
                    yield json.dumps(part).encode() + b"\n"
                yield json.dumps(final("")).encode() + b"\n"
            finally:
                self._settle(name, keep_alive)

        return StreamingResponse(lines(), media_type="application/x-ndjson")


# ---------------------------------------------------------------------- as a process


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_server.demo.fake_ollama", description="A fake Ollama HTTP server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--models", default="llama3.2", help="comma-separated model names it has (pulled)"
    )
    parser.add_argument("--reply", default=None, help="answer every call with this text")
    parser.add_argument(
        "--delay",
        action="append",
        default=[],
        metavar="MODEL=SECONDS",
        help="make a model's chat and generate calls slow (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    fake = FakeOllama(models, reply=args.reply, host=args.host, port=args.port)
    for item in args.delay:
        model, _, seconds = str(item).partition("=")
        fake.delay(model, float(seconds))
    return serve_until_signalled(fake)


if __name__ == "__main__":
    sys.exit(main())
