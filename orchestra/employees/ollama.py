"""An employee served by Ollama, reached through the official `ollama` client."""

from __future__ import annotations

import asyncio

import httpx
import ollama

from orchestra.employees.base import EmployeeFailed, EmployeeTimeout, WorkRequest, WorkResult
from orchestra.errors import InvalidInput
from orchestra.hooks import Usage
from orchestra.models import Employee
from orchestra.runlog import RunLog

# What a failed call to Ollama can raise: an error answer, a request the client refused, a
# transport failure (the client turns a refused connection into the builtin ConnectionError),
# or a reply that is not what the API promises (pydantic's ValidationError is a ValueError).
_CALL_ERRORS = (
    ollama.ResponseError,
    ollama.RequestError,
    httpx.HTTPError,
    httpx.InvalidURL,
    OSError,
    ValueError,
)


class OllamaEmployee:
    """An Ollama model as an employee.

    `load` makes the model resident (`generate` with an empty prompt and `keep_alive`),
    `unload` frees it (`keep_alive: 0`), `work` sends the prompt as one user message to
    `/api/chat` and keeps the model resident for `keep_alive` (seconds or a duration such as
    "10m"; negative: until unloaded). One client, and so one connection pool, per adapter.
    """

    def __init__(
        self,
        employee: Employee,
        base_url: str,
        keep_alive: str | float = -1,
        *,
        load_timeout_s: float = 600.0,
    ) -> None:
        if not employee.model:
            raise InvalidInput(f"employee {employee.name!r} uses Ollama but names no model")
        self.employee = employee
        self.model: str = employee.model
        self.base_url = base_url
        self.keep_alive = keep_alive
        self.load_timeout_s = load_timeout_s
        self._client = ollama.AsyncClient(host=base_url)

    def _describe(self) -> str:
        return f"employee {self.employee.name!r} (ollama model {self.model!r} at {self.base_url})"

    def _failure(self, what: str, exc: BaseException) -> EmployeeFailed:
        reason = str(exc) or type(exc).__name__
        return EmployeeFailed(f"{self._describe()} could not {what}: {reason}")

    async def load(self) -> None:
        """Make the model resident: a request with no prompt and our `keep_alive`."""
        await self._residency("load", "loaded", self.keep_alive)

    async def unload(self) -> None:
        """Free the model's memory at once: `keep_alive: 0`."""
        await self._residency("unload", "unloaded", 0)

    async def _residency(self, verb: str, done: str, keep_alive: float | str) -> None:
        try:
            async with asyncio.timeout(self.load_timeout_s):
                await self._client.generate(self.model, prompt="", keep_alive=keep_alive)
        except TimeoutError as exc:
            raise EmployeeTimeout(
                f"{self._describe()} was not {done} within {self.load_timeout_s:g}s"
            ) from exc
        except _CALL_ERRORS as exc:
            raise self._failure(verb, exc) from exc

    async def work(self, request: WorkRequest, runlog: RunLog) -> WorkResult:
        name = self.employee.name
        runlog.write(f"PROMPT to {name} (ollama {self.model})", request.prompt)
        try:
            async with asyncio.timeout(request.timeout_s):
                response = await self._client.chat(
                    self.model,
                    messages=[{"role": "user", "content": request.prompt}],
                    stream=False,
                    keep_alive=self.keep_alive,
                    options={"num_predict": request.max_output_tokens},
                )
        except TimeoutError as exc:
            message = f"{self._describe()} did not answer within {request.timeout_s:g}s"
            runlog.write(f"TIMEOUT {name}", message)
            raise EmployeeTimeout(message) from exc
        except _CALL_ERRORS as exc:
            failure = self._failure("answer", exc)
            runlog.write(f"ERROR from {name}", str(failure))
            raise failure from exc
        text = response.message.content or ""
        runlog.write(f"REPLY from {name}", text)
        if response.done_reason == "length":
            runlog.write(f"REPLY CUT from {name}",
                         f"the reply reached the output cap of {request.max_output_tokens} "
                         "tokens (max_output_tokens) and may be incomplete")
        usage = Usage(
            tokens_in=response.prompt_eval_count or 0, tokens_out=response.eval_count or 0
        )
        return WorkResult(text=text, usage=usage)

    async def aclose(self) -> None:
        """Close the client's connections; the adapter is unusable afterwards."""
        await self._client.close()  # type: ignore[no-untyped-call]
