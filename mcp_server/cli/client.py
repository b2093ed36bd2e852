"""The Director API as the CLI sees it: where it is, the Director key, and errors as one line.

Where: `--url`, else `AURA_API_URL`, else the running Aura's own record (`run.json` in its
home, found from any directory by `mcp_server.home`), else `http://AURA_API_HOST:AURA_API_PORT`.
The key: `AURA_DIRECTOR_KEY`, else the file `AURA_DIRECTOR_KEY_FILE` names, else
`<home>/director.key`. The CLI never creates a key. Variables come from the environment, then
`.env` in the current directory, as the server reads them (`mcp_server.settings`), without
importing the server's settings (pydantic-settings) on every verb.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import httpx
from dotenv import dotenv_values

from mcp_server.cli.errors import CliError
from mcp_server.home import director_key_path, find_running, locate_home

API_PREFIX = "/api/v1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "8000"
# Long enough for an export of a large project's state to start streaming.
TIMEOUT_S = 60.0

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


def environment(cwd: Path | None = None) -> dict[str, str]:
    """`AURA_*` variables: the process environment over `.env` (the server's own order)."""
    dotenv = dotenv_values((cwd or Path.cwd()) / ".env")
    values = {k: v for k, v in dotenv.items() if k.startswith("AURA_") and v is not None}
    return {**values, **os.environ}


def api_base(url: str | None, env: Mapping[str, str]) -> str:
    """The API's root URL, ending in `/api/v1`."""
    base = url or env.get("AURA_API_URL")
    if not base:
        running = find_running(env)
        base = running.api_url if running is not None else _from_host_and_port(env)
    base = base.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


def _from_host_and_port(env: Mapping[str, str]) -> str:
    port = env.get("AURA_API_PORT") or DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"AURA_API_PORT must be a port number (1-65535), not {port!r}")
    return f"http://{env.get('AURA_API_HOST') or DEFAULT_HOST}:{port}"


def director_key(env: Mapping[str, str]) -> tuple[str, str]:
    """The key and where it came from (for messages)."""
    if env.get("AURA_DIRECTOR_KEY"):
        return env["AURA_DIRECTOR_KEY"], "AURA_DIRECTOR_KEY"
    named = env.get("AURA_DIRECTOR_KEY_FILE")
    path = Path(named) if named else director_key_path(locate_home(env))
    try:
        key = path.read_text("utf-8").strip()
    except OSError as exc:
        raise CliError(
            f"cannot read the Director key at {path} ({exc.strerror}); start Aura once with "
            "`aura up`, set AURA_HOME to its home, or set AURA_DIRECTOR_KEY"
        ) from exc
    return key, str(path)


def parsed(model: type[M], answer: Any) -> M:
    """An answer as its wire model (`mcp_server.api.models`); a shape this CLI does not know
    (a server of another version) is one line, not a traceback. pydantic and the models are
    imported by the verbs that parse (about 80 ms), not by every verb."""
    from mcp_server.api.models import AnswerMismatch, read_answer

    try:
        return read_answer(model, answer)
    except AnswerMismatch as exc:
        raise CliError(str(exc)) from None


class ApiClient:
    """A synchronous client for the Director API; every failure is a `CliError`."""

    def __init__(self, base_url: str, key: str, key_source: str) -> None:
        self.base_url = base_url
        self.key_source = key_source
        self._http = httpx.Client(
            base_url=base_url, timeout=TIMEOUT_S, headers={"Authorization": f"Bearer {key}"}
        )

    @classmethod
    def from_environment(cls, url: str | None) -> ApiClient:
        env = environment()
        base = api_base(url, env)
        key, source = director_key(env)
        return cls(base, key, source)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.close()

    def json(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """The decoded JSON answer (None for an empty one)."""
        response = self._send(method, path, body, params)
        return response.json() if response.content else None

    def text(self, path: str) -> str:
        return self._send("GET", path, None, {}).text

    def download(self, path: str, target: Path, **params: Any) -> None:
        """Stream a binary answer into `target` (written beside it, then renamed)."""
        partial = target.with_name(target.name + ".partial")
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    self._refused(response)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror}") from exc
        partial.replace(target)

    def _send(self, method: str, path: str, body: Any, params: dict[str, Any]) -> httpx.Response:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.request(method, path, json=body, params=query)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            self._refused(response)
        return response

    def _unreachable(self, exc: httpx.HTTPError) -> CliError:
        return CliError(
            f"cannot reach the API at {self.base_url}: {exc or type(exc).__name__}; is Aura "
            "running (`aura up`)? --url or AURA_API_URL point to another one"
        )

    def _refused(self, response: httpx.Response) -> NoReturn:
        """The problem+json detail as one line, with the status for scripts and searches."""
        try:
            detail = str(response.json().get("detail") or response.text)
        except ValueError:
            detail = response.text.strip() or response.reason_phrase
        if response.status_code == 401:
            detail = f"the API refused the Director key from {self.key_source}"
        raise CliError(f"{' '.join(detail.split())} ({response.status_code})")
