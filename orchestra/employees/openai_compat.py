"""An employee behind an OpenAI-compatible chat completions API, reached through the official
`openai` client: OpenAI itself, LM Studio, vLLM, llama.cpp's server, Ollama's `/v1`."""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletionChunk

from orchestra.employees.base import (
    EmployeeFailed,
    EmployeeTimeout,
    WorkRequest,
    WorkResult,
    refuse_service_key,
)
from orchestra.errors import InvalidInput
from orchestra.hooks import Usage
from orchestra.models import Employee
from orchestra.runlog import RunLog

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# OpenAI's own API documents `max_completion_tokens` (its reasoning models refuse
# `max_tokens`); the compatible servers (vLLM, llama.cpp, LM Studio, Ollama) read `max_tokens`.
_OPENAI_HOST = "api.openai.com"
# The client refuses to run without a key; servers that need none ignore the header.
_NO_KEY = "no-key"
RETRIES = 3
BACKOFF_S = 0.5  # the first wait when the provider gives no Retry-After; doubled each time
MAX_BACKOFF_S = 8.0


@dataclass(frozen=True, slots=True)
class _Reply:
    text: str
    finish_reason: str | None
    usage: Usage | None  # None: the server sent no usage chunk


class OpenAIEmployee:
    """A model behind an OpenAI-compatible `/chat/completions` as an employee.

    The key is read from the environment variable the employee names (`api_key_env`) at each
    call, so it is never stored and a rotated key is used at once. The reply is streamed with
    `stream_options.include_usage`, whose last chunk carries the token counts; a server that
    sends none leaves the call unmetered (charged its reserved worst case). 429 and 5xx are
    retried up to `retries` times, waiting `Retry-After` seconds when the provider says,
    within the request's timeout; the client's own retries are off so these are the only
    ones. `load` and `unload` do nothing: the slot is only a concurrency token.
    """

    def __init__(
        self,
        employee: Employee,
        *,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        if not employee.model:
            raise InvalidInput(f"employee {employee.name!r} uses the openai adapter but names "
                               "no model")
        self.employee = employee
        self.model: str = employee.model
        self.base_url = employee.base_url or DEFAULT_BASE_URL
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.retries = retries
        self.backoff_s = backoff_s
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=_NO_KEY, max_retries=0)

    def _describe(self) -> str:
        return f"employee {self.employee.name!r} (openai-compatible model {self.model!r} at " \
               f"{self.host})"

    async def load(self) -> None:
        """Nothing to load: the provider keeps its models."""

    async def unload(self) -> None:
        """Nothing to free."""

    def _api_key(self) -> str:
        variable = self.employee.api_key_env
        if variable is None:
            return _NO_KEY
        refuse_service_key(self._describe(), variable)
        key = os.environ.get(variable)
        if not key:
            # Name the variable, never a value.
            raise EmployeeFailed(f"{self._describe()} needs its API key in the environment "
                                 f"variable {variable}, which is not set on this worker")
        return key

    async def work(self, request: WorkRequest, runlog: RunLog) -> WorkResult:
        name = self.employee.name
        runlog.write(f"PROMPT to {name} (openai {self.model} at {self.host})", request.prompt)
        try:
            client = self._client.with_options(api_key=self._api_key())
            async with asyncio.timeout(request.timeout_s):
                reply = await self._with_retries(client, request, runlog)
        except (TimeoutError, openai.APITimeoutError) as exc:
            message = f"{self._describe()} did not answer within {request.timeout_s:g}s"
            runlog.write(f"TIMEOUT {name}", message)
            raise EmployeeTimeout(message) from exc
        except EmployeeFailed as failure:
            runlog.write(f"ERROR from {name}", str(failure))
            raise
        runlog.write(f"REPLY from {name}", reply.text)
        if reply.finish_reason == "length":
            runlog.write(f"REPLY CUT from {name}",
                         f"the reply reached the output cap of {request.max_output_tokens} "
                         "tokens (max_output_tokens) and may be incomplete")
        if reply.usage is None:
            runlog.write(f"UNMETERED {name}", f"{self.host} reported no token usage; the call "
                         "is charged its reserved worst case")
            return WorkResult(text=reply.text, usage=Usage(0, 0), metered=False)
        return WorkResult(text=reply.text, usage=reply.usage)

    async def _with_retries(
        self, client: openai.AsyncOpenAI, request: WorkRequest, runlog: RunLog
    ) -> _Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout_s
        attempt = 1
        while True:
            try:
                return await self._complete(client, request)
            except openai.APIStatusError as exc:
                wait = self._wait_before_retry(exc, attempt)
                if wait is None or loop.time() + wait >= deadline:
                    raise self._status_failure(exc, attempt) from exc
                runlog.write(f"RETRY {self.employee.name}",
                             f"{self.host} answered HTTP {exc.status_code}: "
                             f"{_provider_message(exc)}; attempt {attempt + 1} of "
                             f"{self.retries + 1} in {wait:g}s")
                await asyncio.sleep(wait)
                attempt += 1
            except openai.APITimeoutError:
                raise
            except openai.APIConnectionError as exc:
                raise EmployeeFailed(f"{self._describe()} could not reach {self.host}: "
                                     f"{_cause(exc)}") from exc
            except (openai.OpenAIError, ValueError) as exc:
                # An error event inside the stream, or a reply that is not the API's shape.
                raise EmployeeFailed(f"{self._describe()} could not answer: "
                                     f"{str(exc) or type(exc).__name__}") from exc

    def _wait_before_retry(self, exc: openai.APIStatusError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when this error is final."""
        if not (exc.status_code == 429 or exc.status_code >= 500) or attempt > self.retries:
            return None
        told = _retry_after_s(exc.response.headers.get("retry-after"))
        if told is not None:
            return told
        return min(self.backoff_s * 2.0 ** (attempt - 1), MAX_BACKOFF_S)

    def _status_failure(self, exc: openai.APIStatusError, attempts: int) -> EmployeeFailed:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        return EmployeeFailed(f"{self._describe()} could not answer: {self.host} answered "
                              f"HTTP {exc.status_code}: {_provider_message(exc)}{tries}")

    async def _complete(self, client: openai.AsyncOpenAI, request: WorkRequest) -> _Reply:
        # The cap bounds what the accountant reserved; see _OPENAI_HOST for the field's name.
        cap = request.max_output_tokens
        on_openai = self.host == _OPENAI_HOST
        stream = await client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": request.prompt}],
            stream=True,
            stream_options={"include_usage": True},
            max_completion_tokens=cap if on_openai else openai.omit,
            max_tokens=openai.omit if on_openai else cap,
        )
        parts: list[str] = []
        finish_reason: str | None = None
        usage: Usage | None = None
        async with stream:
            async for chunk in stream:
                finish_reason = _gather(chunk, parts) or finish_reason
                if chunk.usage is not None:
                    usage = Usage(tokens_in=chunk.usage.prompt_tokens,
                                  tokens_out=chunk.usage.completion_tokens)
        return _Reply("".join(parts), finish_reason, usage)

    async def aclose(self) -> None:
        """Close the client's connections; the adapter is unusable afterwards."""
        await self._client.close()


def _gather(chunk: ChatCompletionChunk, parts: list[str]) -> str | None:
    """Append the chunk's text to `parts`; its finish reason, if it has one."""
    finish_reason: str | None = None
    for choice in chunk.choices:
        if choice.index != 0:
            continue  # we ask for one choice; a server that sends more is not read further
        if choice.delta.content:
            parts.append(choice.delta.content)
        if choice.finish_reason:
            finish_reason = choice.finish_reason
    return finish_reason


def _retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds; None when absent or not a number of seconds (an HTTP date is
    rare from these APIs and the backoff serves then)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _provider_message(exc: openai.APIStatusError) -> str:
    """The provider's own words: `error.message` of OpenAI's error shape, else the body."""
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body:
        return body[:500]
    return exc.message


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return str(cause) if cause is not None and str(cause) else str(exc)
