"""Acceptance checks confined by bubblewrap: results, isolation, limits and the run log."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from governance.validation import BwrapValidator
from orchestra.confine import JobLimits
from orchestra.errors import Unavailable
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")

# An interpreter outside /tmp: the sandbox mounts a private /tmp, which would hide a virtualenv
# that lives there (as a fresh clone under /tmp does).
PY = shlex.quote(next(
    (p for p in (shutil.which("python3", path="/usr/bin:/bin"), sys.executable)
     if p and not p.startswith("/tmp/")),
    "python3",
))
ETC_ESCAPE = Path("/etc/aura-escape")


def _exists(path: Path) -> bool:
    return path.exists()



def job(sandbox: Path) -> JobCopy:
    """The sandbox directory as a job's working copy, seen at its own path."""
    return JobCopy.of_directory(sandbox)

@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "sandbox"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    return root


@pytest.fixture
def runlog(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "snap" / "runlog.txt")


@pytest.fixture
def outside() -> Iterator[Path]:
    """A host directory outside the sandbox and outside /tmp (which is private inside), so it
    would be visible to commands if the host's root were bound."""
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("/var/tmp is not writable here")
    path = Path(tempfile.mkdtemp(prefix="aura-outside-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def test_passing_commands_pass_and_run_in_the_sandbox(sandbox: Path, runlog: RunLog) -> None:
    report = await BwrapValidator().validate(
        job(sandbox), ["grep -q hello hello.txt", "test \"$(pwd)\" = " + shlex.quote(str(sandbox))],
        runlog,
    )
    assert report.passed
    assert [c.exit_code for c in report.checks] == [0, 0]


async def test_a_failure_fails_the_report_but_every_command_still_runs(
    sandbox: Path, runlog: RunLog
) -> None:
    report = await BwrapValidator().validate(
        job(sandbox), ["echo first", "echo boom >&2; exit 3", "echo third > third.txt"], runlog
    )
    assert not report.passed
    assert [(c.passed, c.exit_code) for c in report.checks] == [(True, 0), (False, 3), (True, 0)]
    assert report.checks[1].output_tail == "boom\n"  # stderr is captured with stdout
    assert (sandbox / "third.txt").read_text() == "third\n"


async def test_no_commands_is_an_empty_passing_report(sandbox: Path, runlog: RunLog) -> None:
    report = await BwrapValidator().validate(job(sandbox), [], runlog)
    assert report.passed and report.checks == ()


async def test_the_network_is_unreachable_inside(sandbox: Path, runlog: RunLog) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        # The probe works on the host, so a failure inside is the sandbox's doing.
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        report = await BwrapValidator().validate(
            job(sandbox), [f"{PY} -c {shlex.quote(probe)}"], runlog
        )
    assert not report.passed
    assert "ConnectionRefusedError" in report.checks[0].output_tail


async def test_only_the_sandbox_is_writable(
    sandbox: Path, runlog: RunLog, tmp_path: Path
) -> None:
    beside = tmp_path / "beside.txt"  # outside the sandbox, on the host
    in_usr = Path("/usr") / f"aura-test-{uuid.uuid4().hex}"
    in_root = Path("/root") / f"aura-test-{uuid.uuid4().hex}"
    report = await BwrapValidator().validate(
        job(sandbox),
        [
            f"touch {shlex.quote(str(in_usr))}",
            f"mkdir -p {shlex.quote(str(in_root))}",  # /root is not there; nor can it be made
            f"touch {shlex.quote(str(beside))}",  # lands in the private /tmp, if anywhere
            "touch inside.txt",
            f"mount -o remount,rw,bind / 2>&1; touch {ETC_ESCAPE}",
        ],
        runlog,
    )
    assert [c.passed for c in report.checks] == [False, False, True, True, False]
    assert "Read-only file system" in report.checks[0].output_tail
    assert "Read-only file system" in report.checks[1].output_tail
    assert [_exists(p) for p in (in_usr, in_root, beside, ETC_ESCAPE)] == [False] * 4
    assert _exists(sandbox / "inside.txt")


async def test_secrets_in_the_service_environment_do_not_reach_commands(
    sandbox: Path, runlog: RunLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    report = await BwrapValidator().validate(job(sandbox), ['test -z "$OPENAI_API_KEY"'], runlog)
    assert report.passed


async def test_time_limit_kills_the_command_and_marks_it_timed_out(
    sandbox: Path, runlog: RunLog
) -> None:
    started = time.monotonic()
    report = await BwrapValidator(time_limit_s=1).validate(
        job(sandbox), ["echo started; sleep 30", "echo next"], runlog
    )
    assert time.monotonic() - started < 10
    slow, after = report.checks
    assert slow.timed_out and slow.exit_code is None and not slow.passed
    assert slow.output_tail == "started\n"
    assert after.passed
    assert "timed out after 1 s" in runlog.path.read_text()


async def test_memory_limit_stops_a_greedy_command(sandbox: Path, runlog: RunLog) -> None:
    # Written, not only reserved: a cgroup counts the memory a command uses.
    greedy = f"{PY} -c 'x = b\"x\" * (1024 * 1024 * 1024)'"
    validator = BwrapValidator(limits=JobLimits(memory_mb=256))
    report = await validator.validate(job(sandbox), [greedy], runlog)
    assert not report.passed
    tail = report.checks[0].output_tail
    if validator.confiner.cgroups.mechanism == "rlimit":
        assert "MemoryError" in tail
    else:
        assert "memory limit stopped this command" in tail, tail


async def test_output_tail_keeps_the_last_4000_characters(sandbox: Path, runlog: RunLog) -> None:
    report = await BwrapValidator().validate(
        job(sandbox), [f"{PY} -c \"print('x' * 10000 + 'END')\""], runlog
    )
    tail = report.checks[0].output_tail
    assert len(tail) == 4000 and tail.endswith("END\n")


async def test_run_log_records_each_command_its_exit_code_duration_and_output(
    sandbox: Path, runlog: RunLog
) -> None:
    await BwrapValidator().validate(job(sandbox), ["echo out-one", "echo out-two; exit 7"], runlog)
    log = runlog.path.read_text()
    assert "CHECK 1/2 $ echo out-one" in log
    assert "CHECK 1/2 passed: exit 0;" in log
    assert "CHECK 2/2 $ echo out-two; exit 7" in log
    assert "CHECK 2/2 failed: exit 7;" in log
    assert " ms\nout-two\n" in log
    assert log.index("out-one") < log.index("out-two")
    assert "VALIDATION failed" in log


async def test_missing_bubblewrap_is_unavailable_never_unconfined(
    sandbox: Path, runlog: RunLog
) -> None:
    marker = sandbox / "ran.txt"
    validator = BwrapValidator(bwrap="/nonexistent/bwrap")
    with pytest.raises(Unavailable, match="install it"):
        await validator.validate(job(sandbox), [f"touch {marker}"], runlog)
    assert not marker.exists()


async def test_cancelling_validation_kills_the_running_command(
    sandbox: Path, runlog: RunLog
) -> None:
    task = asyncio.create_task(
        BwrapValidator().validate(job(sandbox), ["sleep 1; touch late.txt"], runlog)
    )
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(1.5)
    assert not _exists(sandbox / "late.txt")


SECRET = "s3cr3t-" + uuid.uuid4().hex


async def test_files_outside_the_sandbox_cannot_be_read(
    sandbox: Path, runlog: RunLog, tmp_path: Path, outside: Path
) -> None:
    key = outside / "director.key"
    key.write_text(SECRET)
    other_job = tmp_path / "other-job"  # a sibling sandbox
    other_job.mkdir()
    (other_job / "notes.txt").write_text(SECRET)
    report = await BwrapValidator().validate(
        job(sandbox),
        [
            f"cat {shlex.quote(str(key))}",
            f"cat {shlex.quote(str(other_job / 'notes.txt'))}",
            f"ls {shlex.quote(str(outside))}",
        ],
        runlog,
    )
    assert [c.passed for c in report.checks] == [False, False, False]
    assert all(SECRET not in c.output_tail for c in report.checks)
    assert "No such file or directory" in report.checks[0].output_tail
    assert SECRET not in runlog.path.read_text()


async def test_the_home_directory_is_not_visible(
    sandbox: Path, runlog: RunLog
) -> None:
    home = Path.home().resolve()
    if not os.access(home, os.W_OK) or str(home) in ("/", "/tmp") or any(
        home.is_relative_to(d) for d in ("/usr", "/etc", "/opt", "/tmp")
    ):
        pytest.skip(f"no separate writable home directory here ({home})")
    secret = home / f".aura-test-secret-{uuid.uuid4().hex}"
    secret.write_text(SECRET)
    try:
        report = await BwrapValidator().validate(
            job(sandbox),
            [f"cat {shlex.quote(str(secret))}", 'test "$HOME" = /tmp && test -w "$HOME"'],
            runlog,
        )
    finally:
        secret.unlink()
    unreadable, home_is_tmp = report.checks
    assert not unreadable.passed and SECRET not in unreadable.output_tail
    assert home_is_tmp.passed, home_is_tmp.output_tail


async def test_only_system_directories_of_the_host_are_visible(
    sandbox: Path, runlog: RunLog
) -> None:
    hidden = ["/root", "/home", "/run", "/var", "/srv", "/mnt", "/media"]
    report = await BwrapValidator().validate(
        job(sandbox),
        [" && ".join(f"test ! -e {d}" for d in hidden), "test -d /usr/bin && test -d /etc"],
        runlog,
    )
    assert [c.passed for c in report.checks] == [True, True], report.checks


async def test_host_unix_sockets_cannot_be_reached(
    sandbox: Path, runlog: RunLog, outside: Path
) -> None:
    path = outside / "db.sock"  # e.g. an embedded PostgreSQL's socket, or docker.sock
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        # The probe works on the host, so a failure inside is the sandbox's doing.
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
        probe = (
            "import socket; s = socket.socket(socket.AF_UNIX); "
            f"s.connect({str(path)!r}); print('connected')"
        )
        report = await BwrapValidator().validate(
            job(sandbox), [f"{PY} -c {shlex.quote(probe)}"], runlog
        )
    check = report.checks[0]
    assert not check.passed
    assert "connected" not in check.output_tail
    assert "FileNotFoundError" in check.output_tail


async def test_extra_read_paths_are_readable_but_not_writable(
    sandbox: Path, runlog: RunLog, outside: Path
) -> None:
    toolchain = outside / "toolchain"
    toolchain.mkdir()
    (toolchain / "VERSION").write_text("1.2.3\n")
    (outside / "beside.txt").write_text(SECRET)  # next to the exposed directory, not in it
    validator = BwrapValidator(extra_read_paths=[toolchain, outside / "missing"])
    report = await validator.validate(
        job(sandbox),
        [
            f"cat {shlex.quote(str(toolchain / 'VERSION'))}",
            f"touch {shlex.quote(str(toolchain / 'new.txt'))}",
            f"cat {shlex.quote(str(outside / 'beside.txt'))}",
            "touch inside.txt",
        ],
        runlog,
    )
    read, write, beside, inside = report.checks
    assert read.passed and read.output_tail == "1.2.3\n"
    assert not write.passed and "Read-only file system" in write.output_tail
    assert not (toolchain / "new.txt").exists()
    assert not beside.passed and SECRET not in beside.output_tail
    assert inside.passed


async def test_python_from_the_system_still_runs_a_script(
    sandbox: Path, runlog: RunLog
) -> None:
    if shutil.which("python3", path="/usr/bin:/bin") is None:
        pytest.skip("no system python3 in /usr/bin")
    (sandbox / "check.py").write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    report = await BwrapValidator().validate(
        job(sandbox), ["python3 check.py a b", "/usr/bin/python3 check.py c"], runlog
    )
    assert [c.output_tail for c in report.checks] == ['["a", "b"]\n', '["c"]\n']
    assert report.passed


async def test_owner_only_files_in_etc_stay_hidden_from_a_root_service(
    sandbox: Path, runlog: RunLog
) -> None:
    shadow = Path("/etc/shadow")
    if not os.access(shadow, os.R_OK) or shadow.stat().st_mode & 0o004:
        pytest.skip("/etc/shadow is not a private file this process can read")
    first_line = shadow.read_text().splitlines()[0]
    report = await BwrapValidator().validate(job(sandbox), ["cat /etc/shadow"], runlog)
    assert first_line not in report.checks[0].output_tail
