"""An employee that is a command-line program (a coding agent, a script) run in the sandbox."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import shlex
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestra.employees.base import EmployeeFailed, EmployeeTimeout, WorkRequest, WorkResult
from orchestra.errors import InvalidInput
from orchestra.hooks import Usage
from orchestra.models import Employee
from orchestra.snapshots import RunLog

_PLACEHOLDER = re.compile(r"\{prompt(?:_file)?\}")
_SHOWN_PROMPT_CHARS = 60  # longer prompts are elided from the logged command line
_TAIL_LINES = 20  # lines of output quoted in a failure message
_PIPE_GRACE_S = 2.0  # how long output may keep flowing after the command itself exited
_READ_SIZE = 65536
_POLL_S = 0.1


def _substitute(argv: Sequence[str], prompt: str, prompt_file: str) -> list[str]:
    """Replace `{prompt}` and `{prompt_file}` in one pass (a prompt quoting them stays as is)."""

    def value(match: re.Match[str]) -> str:
        return prompt_file if match.group(0) == "{prompt_file}" else prompt

    return [_PLACEHOLDER.sub(value, arg) for arg in argv]


async def _exited(proc: asyncio.subprocess.Process, pumps: Sequence[asyncio.Task[None]]) -> None:
    """Return once the command itself has exited.

    Not just `proc.wait()`: on some Python versions that also waits for the pipes to close,
    which a child that inherited them can put off indefinitely. The exit code is known as soon
    as the process is reaped, so look at it whenever the output or the waiter moves, and at
    least every `_POLL_S`.
    """
    if proc.returncode is not None:
        return
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while proc.returncode is None:
            watched = [waiter, *(pump for pump in pumps if not pump.done())]
            await asyncio.wait(watched, timeout=_POLL_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class CliEmployee:
    """A command-line program as an employee.

    `employee.command` is an argv list in which `{prompt}` becomes the prompt and
    `{prompt_file}` the path of a temporary file holding it (outside the sandbox, deleted
    afterwards); the prompt is also written to the program's stdin. The program runs in the
    request's workdir (its sandbox, which it edits itself) in a session of its own, so that on
    timeout, cancellation or exit the whole process group is killed. Its stdout is the reply;
    stdout and stderr go to the run log as they arrive. It reports no tokens. The environment
    is this process's plus `env`. `load` and `unload` do nothing: the slot is only a
    concurrency token.
    """

    def __init__(self, employee: Employee, env: Mapping[str, str] | None = None) -> None:
        if not employee.command:
            raise InvalidInput(
                f"employee {employee.name!r} is a command-line employee with no command"
            )
        self.employee = employee
        self.command: tuple[str, ...] = tuple(employee.command)
        self.env_overrides: dict[str, str] = dict(env or {})

    async def load(self) -> None:
        return None

    async def unload(self) -> None:
        return None

    async def work(self, request: WorkRequest, runlog: RunLog) -> WorkResult:
        name = self.employee.name
        runlog.write(f"PROMPT to {name} (cli)", request.prompt)
        scratch = Path(tempfile.mkdtemp(prefix="aura-cli-"))
        try:
            prompt_file = scratch / "prompt.txt"
            prompt_file.write_text(request.prompt, encoding="utf-8")
            if request.workdir is not None:
                workdir = request.workdir
            else:
                workdir = scratch / "work"
                workdir.mkdir()
            return await self._run(request, runlog, str(prompt_file), workdir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _shown(self, prompt: str, prompt_file: str) -> str:
        shown = prompt if len(prompt) <= _SHOWN_PROMPT_CHARS else f"<prompt: {len(prompt)} chars>"
        return shlex.join(_substitute(self.command, shown, prompt_file))

    async def _run(
        self, request: WorkRequest, runlog: RunLog, prompt_file: str, workdir: Path
    ) -> WorkResult:
        name = self.employee.name
        argv = _substitute(self.command, request.prompt, prompt_file)
        runlog.write(
            f"COMMAND {name}", f"{self._shown(request.prompt, prompt_file)}\n(in {workdir})"
        )
        env = {**os.environ, **self.env_overrides}
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            message = f"employee {name!r} could not start {argv[0]!r} in {workdir}: {exc}"
            runlog.write(f"ERROR {name}", message)
            raise EmployeeFailed(message) from exc

        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdout_parts: list[str] = []
        tail: deque[str] = deque(maxlen=_TAIL_LINES)

        def emit(label: str, text: str) -> None:
            if label == "STDOUT":
                stdout_parts.append(text)
            tail.extend(text.splitlines())
            runlog.write(f"{label} from {name}", text)

        pumps = [
            asyncio.create_task(self._pump(proc.stdout, "STDOUT", emit)),
            asyncio.create_task(self._pump(proc.stderr, "STDERR", emit)),
        ]
        feeder = asyncio.create_task(self._feed(proc.stdin, request.prompt))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(request.timeout_s):
                    await _exited(proc, pumps)
                    # Children that inherited the pipes may keep them open; give them a moment.
                    await asyncio.wait(pumps, timeout=_PIPE_GRACE_S)
            except TimeoutError:
                timed_out = True
        finally:
            # Nothing the command started outlives it: kill its whole group (it leads it).
            _kill_group(proc.pid)
            await _exited(proc, pumps)
            _, pending = await asyncio.wait([*pumps, feeder], timeout=_PIPE_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pumps, feeder, return_exceptions=True)

        elapsed = time.monotonic() - started
        code = proc.returncode
        output_tail = "\n".join(tail)
        if timed_out:
            message = (
                f"employee {name!r} did not finish within {request.timeout_s:g}s; "
                f"its process group was killed. Last output:\n{output_tail}"
            )
            runlog.write(f"TIMEOUT {name}", message)
            raise EmployeeTimeout(message)
        runlog.write(f"EXIT {name}", f"exit code {code} after {elapsed:.2f}s")
        if code != 0:
            raise EmployeeFailed(
                f"employee {name!r} exited with code {code}. Last output:\n{output_tail}"
            )
        return WorkResult(text="".join(stdout_parts), usage=Usage(), exit_code=code)

    @staticmethod
    async def _pump(
        stream: asyncio.StreamReader, label: str, emit: Callable[[str, str], None]
    ) -> None:
        """Forward complete lines as they arrive; whatever is left when the stream ends."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            while chunk := await stream.read(_READ_SIZE):
                head, newline, pending = (pending + decoder.decode(chunk)).rpartition("\n")
                if newline:
                    emit(label, head + newline)
        finally:
            rest = pending + decoder.decode(b"", final=True)
            if rest:
                emit(label, rest)

    @staticmethod
    async def _feed(stdin: asyncio.StreamWriter, prompt: str) -> None:
        try:
            stdin.write(prompt.encode("utf-8"))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the program does not read its stdin
        finally:
            stdin.close()
