"""Running a child program in a process group of its own, and always ending that group.

Used by the command-line employee (`orchestra.employees.cli`) and by the validator
(`governance.validation`). `run_process` starts the program in a new session (so it leads its
own process group), feeds it `stdin`, pumps its output, enforces a wall-clock limit, and on
every way out (normal exit, timeout, cancellation) kills the whole group with SIGKILL, so
nothing the program started outlives it. The output it keeps in memory is bounded.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

STDOUT = "stdout"
STDERR = "stderr"

OnOutput = Callable[[str, str], None]
"""`on_output(stream, text)`: `stream` is `STDOUT` or `STDERR`; `text` is decoded output."""

Keep = Literal["head", "tail"]

_READ_SIZE = 65536
_POLL_S = 0.1
# Output is handed to `on_output` in whole lines; a line longer than this is handed on in
# pieces, so a program that never prints a newline cannot make us buffer without bound.
_MAX_PENDING_CHARS = 65536


class ProcessStartError(OSError):
    """The program could not be started (missing, not executable, bad working directory…)."""


@dataclass(frozen=True, slots=True)
class ProcessResult:
    """How a program run by `run_process` ended, and the output kept from it.

    `exit_code` is None when the program was killed because its time ran out (`timed_out`);
    otherwise it is the exit status (negative for a signal). `stdout` holds at most
    `keep_bytes` bytes (the first or the last ones, as asked) and `stdout_dropped` counts the
    bytes not kept; likewise `stderr`. With `merge_stderr`, `stdout` is both, interleaved as
    written, and `stderr` is empty.
    """

    exit_code: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes
    stdout_dropped: int
    stderr_dropped: int
    duration_s: float


class _Kept:
    """The first (`head`) or last (`tail`) `limit` bytes of a stream, and how many were dropped."""

    def __init__(self, limit: int, keep: Keep) -> None:
        self.limit = limit
        self.keep = keep
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        if self.keep == "head":
            room = max(0, self.limit - len(self.data))
            self.data += chunk[:room]
            self.dropped += max(0, len(chunk) - room)
            return
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess


def kill_group(pgid: int) -> None:
    """SIGKILL every process in group `pgid`; nothing if the group is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _exited(proc: asyncio.subprocess.Process, pumps: Sequence[asyncio.Task[None]]) -> None:
    """Return once the program itself has exited.

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


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    keep_bytes: int,
    keep: Keep = "head",
    cwd: Path | str | None = None,
    stdin: bytes | None = None,
    on_output: OnOutput | None = None,
    merge_stderr: bool = False,
    pipe_grace_s: float = 2.0,
) -> ProcessResult:
    """Run `argv` in a session of its own and return how it ended.

    - `env` is the program's whole environment (nothing is inherited); `cwd` its directory.
    - `stdin` is written to the program's standard input, which is then closed; None gives it
      /dev/null.
    - `timeout_s` bounds the wall time until the program exits. When it runs out, the result
      is `timed_out` with no exit code.
    - `on_output(stream, text)` is called as output arrives, with UTF-8 decoded text (invalid
      bytes replaced) cut at line ends; a line longer than 64 Ki characters comes in pieces, and
      whatever is left when a stream ends comes last. An exception it raises stops further
      calls (output is still drained) and is re-raised once the process group is gone.
    - `keep_bytes` and `keep` bound the raw output kept in the result, per stream: its first
      (`"head"`) or last (`"tail"`) `keep_bytes` bytes.
    - `merge_stderr` sends standard error into standard output (one ordered stream).
    - After the program exits, its output may keep flowing for `pipe_grace_s` (a child that
      inherited the pipes); then it is cut off.

    On a normal exit, on timeout and on cancellation alike the program's whole process group
    is killed (it is the group's leader), and the program is reaped before this returns or
    re-raises. Raises `ProcessStartError` when the program cannot be started.
    """
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        raise ProcessStartError(exc.errno, exc.strerror, exc.filename) from exc

    kept = {STDOUT: _Kept(keep_bytes, keep), STDERR: _Kept(keep_bytes, keep)}
    callback_errors: list[BaseException] = []

    def deliver(stream: str, text: str) -> None:
        if on_output is None or callback_errors:
            return
        try:
            on_output(stream, text)
        except Exception as exc:
            callback_errors.append(exc)

    async def pump(reader: asyncio.StreamReader, stream: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            while chunk := await reader.read(_READ_SIZE):
                kept[stream].add(chunk)
                if on_output is None:
                    continue
                head, newline, pending = (pending + decoder.decode(chunk)).rpartition("\n")
                if newline:
                    deliver(stream, head + newline)
                if len(pending) > _MAX_PENDING_CHARS:
                    deliver(stream, pending)
                    pending = ""
        finally:
            if on_output is not None:
                rest = pending + decoder.decode(b"", final=True)
                if rest:
                    deliver(stream, rest)

    async def feed(writer: asyncio.StreamWriter, data: bytes) -> None:
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the program does not read its stdin
        finally:
            writer.close()

    assert proc.stdout is not None
    pumps = [asyncio.create_task(pump(proc.stdout, STDOUT))]
    if proc.stderr is not None:
        pumps.append(asyncio.create_task(pump(proc.stderr, STDERR)))
    tasks = list(pumps)
    if stdin is not None:
        assert proc.stdin is not None
        tasks.append(asyncio.create_task(feed(proc.stdin, stdin)))

    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout_s):
                await _exited(proc, pumps)
                # Children that inherited the pipes may keep them open; give them a moment.
                await asyncio.wait(pumps, timeout=pipe_grace_s)
        except TimeoutError:
            timed_out = proc.returncode is None
    finally:
        # Nothing the program started outlives it: kill its whole group (it leads it).
        kill_group(proc.pid)
        await _exited(proc, pumps)
        _, pending = await asyncio.wait(tasks, timeout=pipe_grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    if callback_errors:
        raise callback_errors[0]
    return ProcessResult(
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        stdout=bytes(kept[STDOUT].data),
        stderr=bytes(kept[STDERR].data),
        stdout_dropped=kept[STDOUT].dropped,
        stderr_dropped=kept[STDERR].dropped,
        duration_s=time.monotonic() - started,
    )
