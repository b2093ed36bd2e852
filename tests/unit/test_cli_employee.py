"""The command-line employee, running real scripts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from orchestra.employees.base import EmployeeFailed, EmployeeTimeout, WorkRequest
from orchestra.employees.cli import ENV_ALLOW, MAX_OUTPUT_BYTES, CliEmployee
from orchestra.errors import InvalidInput
from orchestra.models import Adapter, Employee
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy

RECORDER = """\
import json, os, sys
prompt_file = sys.argv[2]
record = {
    "arg": sys.argv[1],
    "prompt_file": prompt_file,
    "file_text": open(prompt_file, encoding="utf-8").read(),
    "stdin": sys.stdin.read(),
    "cwd": os.getcwd(),
    "env": os.environ.get("AURA_TEST_FLAVOUR"),
}
with open("record.json", "w", encoding="utf-8") as out:
    json.dump(record, out)
print("recorded")
"""


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def cli(name: str, *argv: str) -> CliEmployee:
    return CliEmployee(Employee(name=name, adapter=Adapter.CLI, command=tuple(argv)))



def job(sandbox: Path) -> JobCopy:
    """The sandbox directory as a job's working copy, seen at its own path."""
    return JobCopy.of_directory(sandbox)

@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox"
    path.mkdir()
    (path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return path


@pytest.fixture
def runlog(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "snapshots" / "job" / "runlog.txt")


def missing(path: Path) -> bool:
    return not path.exists()


def unique_sleep() -> str:
    """A `sleep` argument no other process has: commands run in a PID namespace of their own,
    so their pids mean nothing outside, and the host finds them by command line instead."""
    return f"1000.{uuid.uuid4().int % 10**9:09d}"


def sleeping(argument: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"sleep {argument}"], capture_output=True)
    return bool(found.stdout.strip())


async def wait_no_process(argument: str, within: float = 5.0) -> bool:
    """True once no process on the host has `sleep <argument>` as its command line."""
    deadline = time.monotonic() + within
    while True:
        if not sleeping(argument):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


async def test_command_gets_the_prompt_as_argument_file_and_stdin(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    recorder = script(tmp_path, "recorder.py", RECORDER)
    employee = cli("rec", sys.executable, str(recorder), "{prompt}", "{prompt_file}")
    prompt = "fix add() in calc.py"

    result = await employee.work(WorkRequest(prompt, job(sandbox), timeout_s=30), runlog)

    record = json.loads((sandbox / "record.json").read_text())
    assert record["arg"] == prompt
    assert record["file_text"] == prompt
    assert record["stdin"] == prompt
    assert Path(record["cwd"]) == sandbox
    prompt_file = Path(record["prompt_file"])
    assert not prompt_file.is_relative_to(sandbox)  # never part of the sandbox's diff
    assert missing(prompt_file)  # deleted afterwards
    assert result.text == "recorded\n"
    assert result.exit_code == 0


async def test_a_prompt_quoting_a_placeholder_is_passed_verbatim(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    recorder = script(tmp_path, "recorder.py", RECORDER)
    employee = cli("rec", sys.executable, str(recorder), "{prompt}", "{prompt_file}")
    prompt = "explain {prompt_file} and {prompt}"

    await employee.work(WorkRequest(prompt, job(sandbox), timeout_s=30), runlog)

    record = json.loads((sandbox / "record.json").read_text())
    assert record["arg"] == prompt
    assert record["file_text"] == prompt


async def test_command_edits_files_in_the_workdir_and_stdout_is_the_reply(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    fixer = script(
        tmp_path,
        "fixer.sh",
        "#!/bin/bash\n"
        "sed -i 's/a - b/a + b/' calc.py\n"
        "echo 'fixed calc.py'\n"
        "echo 'a warning' >&2\n",
    )
    result = await cli("fixer", str(fixer)).work(
        WorkRequest("fix it", job(sandbox), timeout_s=30), runlog
    )

    assert (sandbox / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert result.text == "fixed calc.py\n"  # stderr is logged, not part of the reply
    assert result.usage.tokens_in == 0 and result.usage.tokens_out == 0


async def test_non_zero_exit_raises_employee_failed_with_the_code_and_last_output(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    failing = script(
        tmp_path,
        "failing.sh",
        "#!/bin/bash\n"
        "for i in $(seq 1 50); do echo line $i; done\n"
        "echo 'fatal: broke' >&2\n"
        "exit 3\n",
    )
    with pytest.raises(EmployeeFailed) as failure:
        await cli("flaky", str(failing)).work(WorkRequest("x", job(sandbox), timeout_s=30), runlog)

    message = str(failure.value)
    assert not isinstance(failure.value, EmployeeTimeout)
    assert "'flaky'" in message and "code 3" in message
    assert "fatal: broke" in message and "line 50" in message
    assert "line 1\n" not in message  # only the last lines are quoted
    assert "exit code 3" in runlog.path.read_text()


async def test_timeout_kills_the_whole_process_group_including_children(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    pause = unique_sleep()
    hanging = script(
        tmp_path, "hang.sh", f"#!/bin/bash\nsleep {pause} &\necho started\nwait\n")
    start = time.monotonic()
    with pytest.raises(EmployeeTimeout, match="did not finish within 1s"):
        await cli("hanger", str(hanging)).work(WorkRequest("x", job(sandbox), timeout_s=1), runlog)

    assert time.monotonic() - start < 5
    assert await wait_no_process(pause), "the child `sleep` survived the timeout"
    log = runlog.path.read_text()
    assert "TIMEOUT hanger" in log and "started" in log


async def test_background_children_do_not_outlive_a_finished_command(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    pause = unique_sleep()
    # The child inherits stdout, so the output does not end when the script does.
    leaver = script(tmp_path, "leaver.sh", f"#!/bin/bash\nsleep {pause} &\necho done\n")
    start = time.monotonic()
    result = await cli("leaver", str(leaver)).work(
        WorkRequest("x", job(sandbox), timeout_s=30), runlog
    )

    assert time.monotonic() - start < 10
    assert result.text == "done\n" and result.exit_code == 0
    assert await wait_no_process(pause)


async def test_cancelling_the_work_kills_the_process_group(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    pause = unique_sleep()
    hanging = script(
        tmp_path, "hang.sh", f"#!/bin/bash\nsleep {pause} &\necho $! > child.pid\nwait\n")
    task = asyncio.create_task(
        cli("hanger", str(hanging)).work(WorkRequest("x", job(sandbox), timeout_s=60), runlog)
    )
    pid_file = sandbox / "child.pid"
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_no_process(pause)


async def test_run_log_records_prompt_command_output_and_exit_code(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    talker = script(tmp_path, "talker.sh", '#!/bin/bash\necho "got: $1"\necho oops >&2\n')
    await cli("talker", str(talker), "{prompt}").work(
        WorkRequest("short prompt", job(sandbox), timeout_s=30), runlog
    )

    log = runlog.path.read_text()
    order = [
        log.index("PROMPT to talker (cli)\nshort prompt\n"),
        log.index(f"COMMAND talker\n{talker} 'short prompt'\n"),
        log.index("STDOUT from talker\ngot: short prompt\n"),
        log.index("EXIT talker\nexit code 0"),
    ]
    assert order == sorted(order)
    assert "STDERR from talker\noops\n" in log


async def test_a_long_prompt_is_elided_from_the_logged_command(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    talker = script(tmp_path, "talker.sh", "#!/bin/bash\necho ok\n")
    prompt = "word " * 100
    await cli("talker", str(talker), "--message={prompt}").work(
        WorkRequest(prompt, job(sandbox), timeout_s=30), runlog
    )

    log = runlog.path.read_text()
    assert f"--message=<prompt: {len(prompt)} chars>" in log
    assert log.count(prompt) == 1  # once, in the PROMPT entry


async def test_without_a_workdir_the_command_runs_in_a_throwaway_directory(
    tmp_path: Path, runlog: RunLog
) -> None:
    pwd = script(tmp_path, "pwd.sh", "#!/bin/bash\npwd\n")
    result = await cli("pwd", str(pwd)).work(WorkRequest("x", None, timeout_s=30), runlog)
    where = Path(result.text.strip())
    assert where.is_absolute()
    assert missing(where)  # removed afterwards


ENV_DUMP = "import json, os; print(json.dumps(dict(os.environ)))\n"


async def test_the_environment_is_an_allow_list_plus_the_key_variable_and_overrides(
    tmp_path: Path, sandbox: Path, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "director-secret")
    monkeypatch.setenv("aura_database_url", "postgresql://secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-employees")
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-secret")
    monkeypatch.setenv("ACME_AGENT_KEY", "acme-key")
    monkeypatch.setenv("LANG", "C.UTF-8")
    dump = script(tmp_path, "env.py", ENV_DUMP)
    employee = CliEmployee(
        Employee(
            name="env", adapter=Adapter.CLI, command=(sys.executable, str(dump)),
            api_key_env="ACME_AGENT_KEY",
        ),
        env={"AGENT_FLAVOUR": "vanilla", "LANG": "en_GB.UTF-8"},
    )
    result = await employee.work(WorkRequest("x", job(sandbox), timeout_s=30), runlog)
    env = json.loads(result.text)
    for name in ("AURA_DIRECTOR_KEY", "aura_database_url", "OPENAI_API_KEY",
                 "SOME_SERVICE_TOKEN"):
        assert name not in env
    assert not any(name.upper().startswith("AURA_") for name in env)
    assert env["ACME_AGENT_KEY"] == "acme-key"  # the employee's own key variable
    assert env["AGENT_FLAVOUR"] == "vanilla"  # overrides apply…
    assert env["LANG"] == "en_GB.UTF-8"  # …over allowed variables too
    assert env["PATH"] == os.environ["PATH"]
    # bubblewrap (the job view) sets PWD to the working directory: not a secret.
    assert env.get("PWD", str(sandbox)) == str(sandbox)
    # …and git looks for no repository above the project (see the job view's decisions).
    assert env["GIT_CEILING_DIRECTORIES"] == str(sandbox.parent)
    assert set(env) - {"PWD", "GIT_CEILING_DIRECTORIES", "HOME"} <= {
        *ENV_ALLOW, "ACME_AGENT_KEY", "AGENT_FLAVOUR"}
    # HOME is the job's private home, never the service's.
    assert env["HOME"] != os.environ.get("HOME") and env["HOME"].endswith(".home")
    assert "director-secret" not in runlog.path.read_text()


async def test_a_key_variable_of_the_service_itself_is_withheld(
    tmp_path: Path, sandbox: Path, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "director-secret")
    dump = script(tmp_path, "env.py", ENV_DUMP)
    employee = CliEmployee(
        Employee(
            name="sly", adapter=Adapter.CLI, command=(sys.executable, str(dump)),
            api_key_env="AURA_DIRECTOR_KEY",
        )
    )
    result = await employee.work(WorkRequest("x", job(sandbox), timeout_s=30), runlog)
    assert "AURA_DIRECTOR_KEY" not in json.loads(result.text)
    assert "director-secret" not in result.text
    assert "api_key_env AURA_DIRECTOR_KEY is a variable of the service" in (
        runlog.path.read_text()
    )


def test_overrides_may_not_name_service_variables() -> None:
    with pytest.raises(InvalidInput, match="never passed to an employee"):
        CliEmployee(
            Employee(name="e", adapter=Adapter.CLI, command=("true",)),
            env={"AURA_DATABASE_URL": "postgresql://x"},
        )


async def test_the_reply_keeps_only_the_head_of_a_huge_output(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    size = 3 * MAX_OUTPUT_BYTES
    chatty = script(
        tmp_path,
        "chatty.py",
        f"import sys\nsys.stdout.write('HEAD' + 'x' * ({size} - 8) + 'TAIL')\n",
    )
    result = await cli("chatty", sys.executable, str(chatty)).work(
        WorkRequest("x", job(sandbox), timeout_s=60), runlog
    )
    assert result.text.startswith("HEADxxx")
    assert "TAIL" not in result.text
    assert len(result.text.encode()) < MAX_OUTPUT_BYTES + 200
    assert f"{size - MAX_OUTPUT_BYTES} more bytes not kept" in result.text
    assert "TAIL" in runlog.path.read_text()  # the run log still has everything


async def test_a_small_output_cap_cuts_between_characters(
    tmp_path: Path, sandbox: Path, runlog: RunLog
) -> None:
    wide = script(tmp_path, "wide.py", "print('é' * 10)\n")  # 2 bytes a character
    employee = CliEmployee(
        Employee(name="wide", adapter=Adapter.CLI, command=(sys.executable, str(wide))),
        max_output_bytes=5,
    )
    result = await employee.work(WorkRequest("x", job(sandbox), timeout_s=30), runlog)
    assert result.text.startswith("éé\n[… output truncated: 16 more bytes not kept")


async def test_a_missing_program_raises_employee_failed(sandbox: Path, runlog: RunLog) -> None:
    employee = cli("nobody", "/nonexistent/agent", "{prompt}")
    with pytest.raises(EmployeeFailed, match="could not start '/nonexistent/agent'"):
        await employee.work(WorkRequest("x", job(sandbox), timeout_s=30), runlog)


async def test_load_and_unload_are_no_ops_and_a_command_is_required() -> None:
    employee = cli("noop", "true")
    await employee.load()
    await employee.unload()
    with pytest.raises(InvalidInput, match="no command"):
        CliEmployee(Employee(name="empty", adapter=Adapter.CLI))
