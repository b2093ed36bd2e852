"""An employee that is a command-line program (a coding agent, a script) run in the sandbox."""

from __future__ import annotations

import codecs
import errno
import os
import re
import shlex
import shutil
import tempfile
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestra.confine import Confiner
from orchestra.employees.base import (
    EmployeeFailed,
    EmployeeTimeout,
    WorkRequest,
    WorkResult,
    failed_having_spent,
    is_service_variable,
)
from orchestra.employees.presets import UsageUnreadable, preset
from orchestra.errors import InvalidInput
from orchestra.hooks import Usage
from orchestra.models import Employee
from orchestra.process import ProcessStartError
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy
from orchestra.sandbox.view import program_paths

_PLACEHOLDER = re.compile(r"\{prompt(?:_file)?\}")
_SHOWN_PROMPT_CHARS = 60  # longer prompts are elided from the logged command line
_TAIL_LINES = 20  # lines of output quoted in a failure message
_TAIL_LINE_CHARS = 2000  # longer lines are cut in that quote
_PIPE_GRACE_S = 2.0  # how long output may keep flowing after the command itself exited
MAX_OUTPUT_BYTES = 1024 * 1024  # stdout kept as the reply; the run log still gets all of it
# The only variables of the service's environment a command sees (besides the employee's own
# key variable, see `CliEmployee`): never the service's secrets (AURA_*, provider keys, …).
# HOME is not taken from the service: it is the job's private home (see `CliEmployee`).
ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "USER", "LOGNAME",
             "SHELL", "PYENV_ROOT", "PYENV_VERSION", "JAVA_HOME", "GOROOT")


def _substitute(argv: Sequence[str], prompt: str, prompt_file: str) -> list[str]:
    """Replace `{prompt}` and `{prompt_file}` in one pass (a prompt quoting them stays as is)."""

    def value(match: re.Match[str]) -> str:
        return prompt_file if match.group(0) == "{prompt_file}" else prompt

    return [_PLACEHOLDER.sub(value, arg) for arg in argv]


def _clip(line: str) -> str:
    return line if len(line) <= _TAIL_LINE_CHARS else line[:_TAIL_LINE_CHARS] + " […]"


class CliEmployee:
    """A command-line program as an employee.

    `employee.command` is an argv list in which `{prompt}` becomes the prompt and
    `{prompt_file}` the path of a temporary file holding it (outside the sandbox, deleted
    afterwards); the prompt is also written to the program's stdin. The program runs confined
    by `confiner` (bubblewrap, as the acceptance checks: see `orchestra.confine`) in the job
    view of the request's working copy (it edits the copy itself; without a copy, an empty
    throwaway directory), with no network unless the employee has `network: true`, the job's
    limits for its whole process tree, and a private home (`home_for`) as $HOME, removed with
    the copy. The files its command names by absolute path (a script, an interpreter and its
    prefix) are shown read-only. On timeout, cancellation or exit the whole tree is killed.
    Its stdout is the reply
    (the first `max_output_bytes` of it, then a note of how much was left out); stdout and
    stderr go to the run log as they arrive. It reports no tokens, unless it is a coding agent
    hired with a preset: then the reply is the agent's answer and its usage and cost are read
    from its output (`orchestra.employees.presets`).

    The environment is built, never inherited whole: the variables in `ENV_ALLOW` that are set,
    the variable named by `employee.api_key_env` if set (how an employee gets its own key), and
    the `env` overrides. No `AURA_*` variable ever reaches the program (an `api_key_env` naming
    one is withheld and noted in the run log; an override naming one is refused). `load` and
    `unload` do nothing: the slot is only a concurrency token.
    """

    def __init__(
        self,
        employee: Employee,
        env: Mapping[str, str] | None = None,
        *,
        max_output_bytes: int = MAX_OUTPUT_BYTES,
        confiner: Confiner | None = None,
    ) -> None:
        if not employee.command:
            raise InvalidInput(
                f"employee {employee.name!r} is a command-line employee with no command"
            )
        overrides = dict(env or {})
        refused = sorted(name for name in overrides if is_service_variable(name))
        if refused:
            raise InvalidInput(
                f"the service's own variables are never passed to an employee: {refused}"
            )
        if max_output_bytes <= 0:
            raise InvalidInput("max_output_bytes must be positive")
        self.employee = employee
        self.command: tuple[str, ...] = tuple(employee.command)
        self.env_overrides: dict[str, str] = overrides
        self.max_output_bytes = max_output_bytes
        self.confiner = confiner or Confiner()

    def environment(self) -> tuple[dict[str, str], str | None]:
        """The program's whole environment, and the name of a key variable withheld, if any."""
        env = {name: os.environ[name] for name in ENV_ALLOW if name in os.environ}
        withheld = None
        key = self.employee.api_key_env
        if key:
            if is_service_variable(key):
                withheld = key
            elif key in os.environ:
                env[key] = os.environ[key]
        env.update(self.env_overrides)
        return env, withheld

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
            if request.copy is not None:
                copy = request.copy
                home = home_for(copy)
            else:
                work = scratch / "work"
                work.mkdir()
                copy = JobCopy.of_directory(work)
                home = scratch / "home"
            home.mkdir(mode=0o700, exist_ok=True)
            return await self._run(request, runlog, prompt_file, copy, home)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _shown(self, prompt: str, prompt_file: str) -> str:
        shown = prompt if len(prompt) <= _SHOWN_PROMPT_CHARS else f"<prompt: {len(prompt)} chars>"
        return shlex.join(_substitute(self.command, shown, prompt_file))

    async def _run(
        self, request: WorkRequest, runlog: RunLog, prompt_file: Path, copy: JobCopy,
        home: Path,
    ) -> WorkResult:
        name = self.employee.name
        argv = _substitute(self.command, request.prompt, str(prompt_file))
        runlog.write(
            f"COMMAND {name}",
            f"{self._shown(request.prompt, str(prompt_file))}\n(in {copy.project}; "
            f"{self.confiner.describe(self.employee.network)})",
        )
        env, withheld = self.environment()
        env["HOME"] = str(home)
        # Git must find no repository above the copy: for a project inside a larger
        # repository that would be the user's real one (an agent that commits would move its
        # HEAD). The view also masks those `.git` entries.
        env["GIT_CEILING_DIRECTORIES"] = str(copy.project.parent)
        if withheld is not None:
            runlog.write(
                f"ENV {name}",
                f"api_key_env {withheld} is a variable of the service itself and is not passed",
            )
        tail: deque[str] = deque(maxlen=_TAIL_LINES)

        def on_output(stream: str, text: str) -> None:
            tail.extend(_clip(line) for line in text.splitlines())
            runlog.write(f"{stream.upper()} from {name}", text)

        try:
            _check_program(argv[0], env, copy.path)
            if self.confiner.executable() is None:
                raise ProcessStartError(
                    errno.ENOENT, "bubblewrap is not installed; command-line employees never "
                    "run unconfined", self.confiner.bwrap)
            run = await self.confiner.run(
                self._confined(argv, copy, home, prompt_file, env),
                job=copy.job_id,
                env=env,
                stdin=request.prompt.encode("utf-8"),
                timeout_s=request.timeout_s,
                on_output=on_output,
                keep_bytes=self.max_output_bytes,
                pipe_grace_s=_PIPE_GRACE_S,
            )
        except OSError as exc:  # ProcessStartError, or the job's cgroup could not be made
            message = f"employee {name!r} could not start {argv[0]!r} in {copy.project}: {exc}"
            runlog.write(f"ERROR {name}", message)
            raise EmployeeFailed(message) from exc

        result = run.result
        output_tail = "\n".join(tail)
        if run.limits_hit:
            runlog.write(f"LIMIT {name}",
                         f"the job's {' and '.join(run.limits_hit)} limit stopped a process")
        if result.timed_out:
            message = (
                f"employee {name!r} did not finish within {request.timeout_s:g}s; "
                f"its process tree was killed. Last output:\n{output_tail}"
            )
            runlog.write(f"TIMEOUT {name}", message)
            # Killed, but it may have spent money first: the caller charges it before failing.
            spent = self._settlement(result.stdout, result.stdout_dropped, None, runlog)
            raise failed_having_spent(EmployeeTimeout(message), spent)
        code = result.exit_code
        runlog.write(f"EXIT {name}", f"exit code {code} after {result.duration_s:.2f}s")
        if code != 0:
            spent = self._settlement(result.stdout, result.stdout_dropped, code, runlog)
            raise failed_having_spent(EmployeeFailed(
                f"employee {name!r} exited with code {code}. Last output:\n{output_tail}"
            ), spent)
        return self._settlement(result.stdout, result.stdout_dropped, code, runlog)

    def _settlement(
        self, stdout: bytes, dropped: int, code: int | None, runlog: RunLog
    ) -> WorkResult:
        """The reply and what the call used, as far as its output says."""
        reply = _reply(stdout, dropped)
        if self.employee.preset is None:
            # A program that reports no usage is unmetered: the accountant charges the call
            # its reserved worst case.
            return WorkResult(text=reply, usage=Usage(), exit_code=code, metered=False)
        return self._reported(reply, dropped, code, runlog)

    def _reported(self, stdout: str, dropped: int, code: int | None,
                  runlog: RunLog) -> WorkResult:
        """A coding agent's answer and the usage and cost it reported; output without them
        (cut short, or an agent that changed its format) is an unmetered call."""
        name = self.employee.name
        agent = preset(self.employee.preset or "")
        try:
            if dropped:
                # The kept head holds only the early usage events of a JSON-lines agent: their
                # sum would be recorded as the whole call's (reported, and too low).
                raise UsageUnreadable(f"stdout was cut after {self.max_output_bytes} bytes, "
                                      f"{dropped} more not kept")
            reported = agent.parse(stdout)
        except UsageUnreadable as exc:
            runlog.write(f"USAGE {name}", f"the {agent.name} output's usage could not be "
                         f"read ({exc}); the call is charged as unmetered")
            return WorkResult(text=stdout, usage=Usage(), exit_code=code, metered=False)
        cost = f"{reported.cost} USD" if reported.cost is not None else "no cost"
        runlog.write(f"USAGE {name}", f"{agent.name} reported {reported.usage.tokens_in} "
                     f"tokens in, {reported.usage.tokens_out} out, {cost}")
        return WorkResult(text=reported.text, usage=reported.usage, exit_code=code,
                          reported_cost=reported.cost)

    def _confined(
        self, argv: list[str], copy: JobCopy, home: Path, prompt_file: Path,
        env: Mapping[str, str],
    ) -> list[str]:
        """The bwrap command line: the job view, the home, the prompt file and the programs
        the employee's command names (from the command as hired, never from the prompt)."""
        program = self.command[0]
        if "/" not in program:
            found = shutil.which(program, path=env.get("PATH", os.defpath))
            program = found or program
        named = [program, *(arg for arg in self.command[1:] if os.path.isabs(arg))]
        return self.confiner.argv(
            copy, argv, network=self.employee.network, home=home,
            read_files=[*program_paths(named), prompt_file],
            masks=_enclosing_git_masks(copy.project),
        )


def home_for(copy: JobCopy) -> Path:
    """The job's private home: `<sandbox_dir>/<job-id>.home`, beside its copy."""
    return copy.path.with_name(copy.path.name + ".home")


def _check_program(program: str, env: Mapping[str, str], workdir: Path) -> None:
    """Refuse a program that cannot be found, as starting it directly would: inside bwrap a
    missing program is only an exit code and a message."""
    if "/" in program:
        path = Path(workdir, program)  # an absolute `program` stays as it is
        if os.access(path, os.X_OK) and path.is_file():
            return
    elif shutil.which(program, path=env.get("PATH", os.defpath)) is not None:
        return
    raise ProcessStartError(errno.ENOENT, "No such file or directory or not executable", program)


def _enclosing_git_masks(project: Path) -> list[str]:
    """bwrap arguments hiding every `.git` above `project` (an empty read-only directory over
    a repository, /dev/null over a `.git` file): the user's real repository stays unreachable
    from the job view even for a program that ignores GIT_CEILING_DIRECTORIES."""
    masks: list[str] = []
    for directory in project.parents:
        dot_git = directory / ".git"
        if dot_git.is_symlink() or not dot_git.exists():
            continue
        if dot_git.is_dir():
            masks += ["--tmpfs", str(dot_git), "--remount-ro", str(dot_git)]
        else:
            masks += ["--ro-bind", "/dev/null", str(dot_git)]
    return masks


def _reply(stdout: bytes, dropped: int) -> str:
    """The reply text: all of stdout, or its kept head and a note of what was left out."""
    if not dropped:
        return stdout.decode("utf-8", errors="replace")
    # Not final: a character cut in half at the end of the head is left out, not garbled.
    head = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(stdout, final=False)
    return (
        f"{head}\n[… output truncated: {dropped} more bytes not kept "
        f"(the run log has all of it) …]\n"
    )
