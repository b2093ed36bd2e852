"""An employee served by Google's Gemini API, reached through the official `google-genai`
client (never the retired `google-generativeai`)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from urllib.parse import urlsplit

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# The client's default is "v1"; the Gemini API documents (and first ships) its features on
# v1beta, so an employee gets the same API whether or not it names its own base_url.
API_VERSION = "v1beta"

# What a failed call can raise: an error answer (`APIError`, with the HTTP code, Google's
# status and message), a reply the client could not parse (`UnknownApiResponseError`, or
# pydantic's ValidationError, a ValueError), or a transport failure. The client sends through
# httpx2 (a fork of httpx under its own name, a dependency of google-genai 3), whose errors are
# not httpx's.
_CALL_ERRORS = (
    genai_errors.APIError,
    genai_errors.UnknownApiResponseError,
    httpx2.HTTPError,
    httpx2.InvalidURL,
    OSError,
    ValueError,
)

# Candidate finish reasons that mean the model answered (the reply may still be cut short).
_ANSWERED = frozenset({types.FinishReason.STOP, types.FinishReason.MAX_TOKENS, None})


class GeminiEmployee:
    """A Gemini model as an employee.

    `work` sends the prompt as one user turn to `models/{model}:generateContent` with
    `maxOutputTokens` set to the request's cap. The API key is read from the environment
    variable the employee names when each call is made, so a rotated key needs no restart; it
    is never written anywhere (run log, database, messages). One client, and so one connection
    pool, per adapter and key: building a client loads the CA bundle twice (about 70 ms of CPU),
    too much to pay per call. `load` and `unload` do nothing: the model lives at Google, the
    slot is only a concurrency token.
    """

    def __init__(self, employee: Employee) -> None:
        if not employee.model:
            raise InvalidInput(f"employee {employee.name!r} uses Gemini but names no model")
        self.employee = employee
        self.model: str = employee.model
        self.base_url = employee.base_url or DEFAULT_BASE_URL
        self.host = urlsplit(self.base_url).netloc or self.base_url
        # The client built for the key whose sha256 is the first element.
        self._client: tuple[bytes, genai.Client] | None = None

    def _describe(self) -> str:
        return f"employee {self.employee.name!r} (gemini model {self.model!r} at {self.host})"

    async def load(self) -> None:
        """Nothing to load: the model is served by Google."""

    async def unload(self) -> None:
        """Nothing to free."""

    def _api_key(self) -> str:
        variable = self.employee.api_key_env
        if not variable:
            raise EmployeeFailed(f"{self._describe()} names no api_key_env: the environment "
                                 "variable holding its Gemini API key")
        refuse_service_key(self._describe(), variable)
        key = os.environ.get(variable, "").strip()
        if not key:
            raise EmployeeFailed(f"{self._describe()} reads its API key from ${variable}, "
                                 "which is not set in the server's environment")
        return key

    def _client_for(self, api_key: str) -> genai.Client:
        digest = hashlib.sha256(api_key.encode()).digest()
        if self._client is not None and self._client[0] == digest:
            return self._client[1]
        # vertexai=False: GOOGLE_GENAI_USE_VERTEXAI in the environment must not turn this
        # employee into a Vertex AI one with other credentials. A replaced client (the key
        # was rotated) is left to the garbage collector: a call may still be using it.
        options = types.HttpOptions(base_url=self.base_url, api_version=API_VERSION)
        client = genai.Client(vertexai=False, api_key=api_key, http_options=options)
        self._client = (digest, client)
        return client

    async def aclose(self) -> None:
        """Close the client's connections; the adapter builds a new client if used again."""
        if self._client is not None:
            client = self._client[1]
            self._client = None
            client.close()
            await client.aio.aclose()

    def _failure(self, exc: BaseException) -> EmployeeFailed:
        if isinstance(exc, genai_errors.APIError):
            reason = f"HTTP {exc.code} {exc.status or ''}: {exc.message or exc.details}"
        else:
            reason = str(exc) or type(exc).__name__
        return EmployeeFailed(f"{self._describe()} could not answer: {reason}")

    async def work(self, request: WorkRequest, runlog: RunLog) -> WorkResult:
        name = self.employee.name
        runlog.write(f"PROMPT to {name} (gemini {self.model})", request.prompt)
        try:
            api_key = self._api_key()
        except EmployeeFailed as failure:
            runlog.write(f"ERROR from {name}", str(failure))
            raise
        config = types.GenerateContentConfig(max_output_tokens=request.max_output_tokens)
        try:
            client = self._client_for(api_key)
            async with asyncio.timeout(request.timeout_s):
                response = await client.aio.models.generate_content(
                    model=self.model, contents=request.prompt, config=config)
        except TimeoutError as exc:
            message = f"{self._describe()} did not answer within {request.timeout_s:g}s"
            runlog.write(f"TIMEOUT {name}", message)
            raise EmployeeTimeout(message) from exc
        except _CALL_ERRORS as exc:
            error = self._failure(exc)
            runlog.write(f"ERROR from {name}", str(error))
            raise error from exc
        return self._result(response, request, runlog)

    def _result(
        self, response: types.GenerateContentResponse, request: WorkRequest, runlog: RunLog
    ) -> WorkResult:
        name = self.employee.name
        refusal = _refusal(response)
        if refusal is not None:
            failure = EmployeeFailed(f"{self._describe()} gave no answer: {refusal}")
            runlog.write(f"BLOCKED {name}", str(failure))
            raise failure
        text = response.text or ""
        runlog.write(f"REPLY from {name}", text)
        # _refusal let it through, so there is a candidate.
        if response.candidates and \
                response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS:
            runlog.write(f"REPLY CUT from {name}",
                         f"the reply reached the output cap of {request.max_output_tokens} "
                         "tokens (max_output_tokens) and may be incomplete")
        metadata = response.usage_metadata
        return WorkResult(text=text, usage=_usage(metadata), metered=metadata is not None)


def _refusal(response: types.GenerateContentResponse) -> str | None:
    """Why the response holds no answer, or None when it holds one. A blocked prompt has
    `prompt_feedback.block_reason` and no candidates; a reply stopped by a filter has a
    candidate whose finish reason is SAFETY, RECITATION, BLOCKLIST…; either way, and with no
    text at all, the caller gets a failure that says so rather than an empty answer."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        detail = f" ({feedback.block_reason_message})" if feedback.block_reason_message else ""
        return f"the prompt was blocked: {feedback.block_reason.value}{detail}"
    if not response.candidates:
        return "the response has no candidates"
    candidate = response.candidates[0]
    if candidate.finish_reason not in _ANSWERED:
        reason = candidate.finish_reason.value if candidate.finish_reason else "unknown"
        detail = f" ({candidate.finish_message})" if candidate.finish_message else ""
        return f"the reply was stopped: finish reason {reason}{detail}"
    if not response.text:
        return "the reply is empty"
    return None


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    """Tokens in and out. Thinking tokens (`thoughts_token_count`) are billed as output and
    fall under `maxOutputTokens`, so they count as output; tool-use prompt tokens as input."""
    if metadata is None:  # the caller charges the worst case (metered=False)
        return Usage(tokens_in=0, tokens_out=0)
    tokens_in = (metadata.prompt_token_count or 0) + (metadata.tool_use_prompt_token_count or 0)
    tokens_out = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return Usage(tokens_in=tokens_in, tokens_out=tokens_out)
