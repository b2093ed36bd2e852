"""Escapes tried from inside a command-line employee's command, and each one failing;
the job's limits and its network, also seen from inside.

One job, run as `aura up` runs it (the embedded PostgreSQL with its password, the Director
key and the first MCP token in the data directory, the Director API served on loopback, a
canary in the service's environment), whose employee is a shell script that tries every
escape and prints what it got. Each test asserts one escape's failure, from the script's
report and, where the evidence is on the host, from the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest
import uvicorn

from governance.validation import BwrapValidator
from mcp_server import embedded_pg
from mcp_server.app import System, build_system
from mcp_server.runner import ensure_first_token
from mcp_server.settings import Settings
from orchestra.confine import Cgroups, Confiner, JobLimits
from orchestra.employees.base import EmployeeFailed, WorkRequest
from orchestra.employees.cli import CliEmployee
from orchestra.migrations import migrate
from orchestra.models import Adapter, Employee, Job, JobStatus, NewJob
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy
from tests.integration.helpers import hire

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")

ESCAPE_SCRIPT = """\
#!/bin/sh
# Every attempt prints `NAME: escaped …` when it worked and `NAME: blocked …` when it did not.
try() {{
    name=$1; shift
    if "$@" >/tmp/out 2>&1; then
        echo "$name: escaped $(head -c 300 /tmp/out)"
    else
        echo "$name: blocked $(head -c 200 /tmp/out | tr '\\n' ' ')"
    fi
}}
# Its /tmp and the project's path take writes: the host has to show where they went.
try host_tmp sh -c 'echo pwned > /tmp/{marker}'
try real_project sh -c 'echo pwned > {project}/escape.txt'
try host_home sh -c 'echo pwned > {host_home}/aura-escape-{marker}'
try data_dir_write sh -c 'echo pwned > {data_dir}/escape-{marker}'
try director_key cat {data_dir}/director.key
try mcp_token cat {data_dir}/first-mcp.token
try other_sandboxes cat {sandbox_dir}/other-job/secret.txt
try snapshots ls -A {snapshot_dir}/objects.git
key=$(cat {data_dir}/director.key 2>/dev/null || echo no-key)
api=http://127.0.0.1:{api_port}/api/v1/jobs
try director_api sh -c 'c=$(curl -s -m 3 -o /dev/null -w "%{{http_code}}" \\
    -H "Authorization: Bearer $1" "$2"); echo "http $c"; test "$c" = 200' - "$key" "$api"
try server_environ sh -c 'cat /proc/$PPID/environ /proc/{server_pid}/environ \\
    /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n" | grep {canary}'
try signal_server kill -USR1 {server_pid}
pg="postgresql://postgres@/postgres?host={pg_socket_dir}"
try postgres_superuser psql -X -w "$pg" -c "select 'in'"
try postgres_tcp psql -X -w -h 127.0.0.1 -U postgres -c "select 'in'"
(setsid sleep {leftover} >/dev/null 2>&1 &)
nohup sleep {leftover} >/dev/null 2>&1 &
echo "leftover: started"
exit 0
"""


ESCAPE_ROOT = "/var/tmp" if os.path.isdir("/var/tmp") else None


@dataclass(frozen=True)
class Escape:
    """What the escape script printed, and what the host saw around it."""

    report: dict[str, str]
    status: JobStatus
    diff: str
    director_key: str
    mcp_token: str
    canary: str
    marker: str
    leftover: str
    project: Path
    data_dir: Path
    signals: int
    leftover_alive: bool
    login_without_password: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _parse(output: str) -> dict[str, str]:
    report = {}
    for line in output.splitlines():
        name, sep, rest = line.partition(": ")
        if sep and name.replace("_", "").isalnum():
            report[name] = rest
    return report


def _sleeping(argument: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"sleep {argument}"], capture_output=True)
    return bool(found.stdout.strip())


def _kill_leftovers(argument: str) -> None:
    """Kill, by pid, the `sleep` processes of this test (its unique argument), if any."""
    found = subprocess.run(["pgrep", "-f", f"sleep {argument}"], capture_output=True, text=True)
    for pid in found.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


async def _login_without_password(dsn: str) -> str:
    import asyncpg

    bare = embedded_pg.with_password(dsn, "").replace(":@", "@", 1)
    try:
        conn = await asyncpg.connect(bare)
    except Exception as exc:  # the refusal's kind is the evidence
        return type(exc).__name__
    await conn.close()
    return "connected"


async def _attempt(root: Path) -> Escape:
    marker = f"aura-escape-{uuid.uuid4().hex[:10]}"
    leftover = f"1000.{uuid.uuid4().int % 10**9:09d}"
    canary = f"canary{uuid.uuid4().hex}"
    workspace, data_dir = root / "workspace", root / "data"
    project = workspace / "project"
    project.mkdir(parents=True)
    (project / "README.md").write_text("hello\n")
    other = root / "sandboxes" / "other-job"  # another job's working copy
    other.mkdir(parents=True)
    (other / "secret.txt").write_text("another job's work\n")
    os.environ["AURA_ESCAPE_CANARY"] = canary  # the service's environment holds a secret
    signals: list[int] = []

    def count(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)

    previous = signal.signal(signal.SIGUSR1, count)
    database = embedded_pg.start(data_dir)
    try:
        await migrate(database.dsn)
        settings = Settings(
            data_dir=data_dir, sandbox_dir=root / "sandboxes", snapshot_dir=root / "snapshots",
            backup_dir=root / "backups", workspaces=str(workspace), api_port=_free_port(),
            _env_file=None,  # type: ignore[call-arg]
        )
        system = await build_system(settings, database.dsn)
        api = uvicorn.Server(uvicorn.Config(system.api_app(), host="127.0.0.1",
                                            port=settings.api_port, log_config=None))
        serving = asyncio.create_task(api.serve())
        try:
            await ensure_first_token(system)
            for _ in range(500):
                if api.started:
                    break
                await asyncio.sleep(0.02)
            job = await _run_escape_job(system, settings, root, project, marker, leftover,
                                        canary, database.dsn)
            await asyncio.sleep(0.5)  # anything left behind would still be running now
            return Escape(
                report=_parse(job.output or ""), status=job.status, diff=job.diff or "",
                director_key=settings.ensure_director_key(),
                mcp_token=(data_dir / "first-mcp.token").read_text().strip(),
                canary=canary, marker=marker, leftover=leftover, project=project,
                data_dir=data_dir, signals=len(signals),
                leftover_alive=_sleeping(leftover),
                login_without_password=await _login_without_password(database.dsn),
            )
        finally:
            api.should_exit = True
            await serving
            await system.close()
    finally:
        _kill_leftovers(leftover)
        database.stop()
        signal.signal(signal.SIGUSR1, previous)
        os.environ.pop("AURA_ESCAPE_CANARY", None)


async def _run_escape_job(
    system: System, settings: Settings, root: Path, project: Path, marker: str,
    leftover: str, canary: str, dsn: str,
) -> Job:
    socket_dir = dsn.split("host=", 1)[1]
    script = root / "escape.sh"
    script.write_text(ESCAPE_SCRIPT.format(
        marker=marker, project=project,
        host_home=Path.home(), data_dir=settings.data_dir.resolve(),
        sandbox_dir=settings.sandbox_dir.resolve(),
        snapshot_dir=settings.snapshot_dir.resolve(), api_port=settings.api_port,
        server_pid=os.getpid(), canary=canary, pg_socket_dir=socket_dir, leftover=leftover,
    ))
    script.chmod(0o755)
    await hire(system.db, "escaper", command=[str(script)])
    await system.queue.submit(
        NewJob(prompt="escape", employee="escaper", project=str(project)), actor="t")
    claim = await system.manager.claim()
    assert claim is not None
    return await system.manager.run_attempt(claim)


@pytest.fixture(scope="module")
def escape() -> Iterator[Escape]:
    # Not under pytest's tmp_path (the embedded server's own user must reach its data), and
    # not under /tmp either: the command's private /tmp would hide it for the wrong reason.
    root = Path(tempfile.mkdtemp(prefix="aura-escape-", dir=ESCAPE_ROOT))
    try:
        yield asyncio.run(_attempt(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_escape_job_ran_to_its_end(escape: Escape) -> None:
    assert escape.status is JobStatus.SUCCEEDED
    assert "leftover" in escape.report, escape.report


def test_it_cannot_write_the_hosts_tmp(escape: Escape) -> None:
    # It wrote its private /tmp, which was gone with it.
    assert not Path("/tmp", escape.marker).exists(), escape.report["host_tmp"]


def test_it_cannot_write_the_real_project(escape: Escape) -> None:
    # It wrote its working copy, seen at the project's path; the project is untouched.
    assert not (escape.project / "escape.txt").exists()
    assert "+pwned" in escape.diff


def test_it_cannot_write_the_hosts_home(escape: Escape) -> None:
    assert escape.report["host_home"].startswith("blocked")
    assert not (Path.home() / f"aura-escape-{escape.marker}").exists()


def test_it_cannot_write_the_data_dir(escape: Escape) -> None:
    assert escape.report["data_dir_write"].startswith("blocked")
    assert not (escape.data_dir / f"escape-{escape.marker}").exists()


def test_it_cannot_read_the_director_key(escape: Escape) -> None:
    assert escape.report["director_key"].startswith("blocked")
    assert escape.director_key not in str(escape.report)


def test_it_cannot_read_the_first_mcp_token(escape: Escape) -> None:
    assert escape.report["mcp_token"].startswith("blocked")
    assert escape.mcp_token not in str(escape.report)


def test_it_cannot_see_other_jobs_sandboxes(escape: Escape) -> None:
    assert escape.report["other_sandboxes"].startswith("blocked")


def test_it_cannot_see_the_snapshots(escape: Escape) -> None:
    assert escape.report["snapshots"].startswith("blocked")


def test_it_cannot_use_the_director_api(escape: Escape) -> None:
    assert escape.report["director_api"].startswith("blocked http 000")


def test_it_cannot_read_the_servers_environment(escape: Escape) -> None:
    assert escape.report["server_environ"].startswith("blocked")
    assert escape.canary not in str(escape.report)


def test_it_cannot_signal_the_server(escape: Escape) -> None:
    assert escape.report["signal_server"].startswith("blocked")
    assert escape.signals == 0


def test_it_leaves_no_process_running_after_the_job(escape: Escape) -> None:
    assert escape.report["leftover"] == "started"
    assert not escape.leftover_alive


def test_it_cannot_log_in_to_the_embedded_postgres(escape: Escape) -> None:
    assert escape.report["postgres_superuser"].startswith("blocked")
    assert escape.report["postgres_tcp"].startswith("blocked")
    # Nor can any other local process without the password.
    assert escape.login_without_password in {
        "InvalidPasswordError", "InvalidAuthorizationSpecificationError"}


# Limits and network, also from inside a command-line employee's command.

needs_cgroups = pytest.mark.skipif(
    Cgroups().mechanism == "rlimit",
    reason="no writable cgroup (v1 memory+pids or v2): job-wide limits cannot be held here")

SMALL = JobLimits(memory_mb=256, tmp_mb=16, pids=32)
HOG = "import time; x = b'x' * ({mb} * 1024 * 1024); time.sleep(3)"


async def _inside(tmp_path: Path, text: str, *, network: bool = False,
                  limits: JobLimits = SMALL, timeout_s: float = 60) -> str:
    """What the employee's script printed (its stdout, on exit 0 or not)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    script = tmp_path / f"agent-{uuid.uuid4().hex[:6]}.sh"
    script.write_text("#!/bin/sh\n" + text)
    script.chmod(0o755)
    employee = CliEmployee(
        Employee(name="agent", adapter=Adapter.CLI, command=(str(script),), network=network),
        confiner=Confiner(limits))
    try:
        result = await employee.work(WorkRequest("x", JobCopy.of_directory(work), timeout_s),
                                     RunLog(tmp_path / "runlog.txt"))
    except EmployeeFailed as failure:
        return str(failure)
    return result.text


@needs_cgroups
async def test_memory_is_capped_for_the_job_in_total(tmp_path: Path) -> None:
    # Two processes, each taking 60 % of the cap: alone each would fit, together they do not.
    each = SMALL.memory_mb * 6 // 10
    text = await _inside(tmp_path, (
        f'python3 -c "{HOG.format(mb=each)}" & a=$!\n'
        f'python3 -c "{HOG.format(mb=each)}" & b=$!\n'
        'wait $a; ra=$?; wait $b; rb=$?\necho "exits $ra $rb"\n'))
    assert "exits" in text and "137" in text, text  # one of them was killed (SIGKILL)
    assert "memory limit stopped a process" in (tmp_path / "runlog.txt").read_text()


@needs_cgroups
async def test_tmp_is_capped(tmp_path: Path) -> None:
    text = await _inside(tmp_path, (
        f"dd if=/dev/zero of=/tmp/fill bs=1M count={SMALL.tmp_mb * 4} 2>&1\n"
        "echo size $(du -m /tmp/fill | cut -f1)\n"))
    assert "No space left on device" in text, text
    size = int(text.rsplit("size ", 1)[1].split()[0])
    assert size <= SMALL.tmp_mb


@needs_cgroups
async def test_a_fork_storm_is_stopped_by_the_process_cap(tmp_path: Path) -> None:
    storm = (
        "import os, time\n"
        "started = 0\n"
        "for _ in range(1000):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        started += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print('forked', started, flush=True)\n"
    )
    text = await _inside(tmp_path, f"python3 - <<'EOF'\n{storm}EOF\n", timeout_s=20)
    forked = int(text.rsplit("forked ", 1)[1].split()[0])
    assert forked < SMALL.pids, text


@pytest.fixture
async def loopback_port() -> AsyncIterator[int]:
    """A TCP service on the host's loopback that greets whoever connects."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello-from-the-host\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


CONNECT = ('python3 -c "import socket; s = socket.create_connection((\'127.0.0.1\', {port}), 3);'
           ' print(s.recv(100).decode().strip())" 2>&1 | tail -1\n')


async def test_without_network_the_host_is_unreachable(
    tmp_path: Path, loopback_port: int
) -> None:
    text = await _inside(tmp_path, CONNECT.format(port=loopback_port))
    assert "hello-from-the-host" not in text
    assert "Connection refused" in text or "unreachable" in text, text


async def test_with_network_the_host_is_reachable(tmp_path: Path, loopback_port: int) -> None:
    text = await _inside(tmp_path, CONNECT.format(port=loopback_port), network=True)
    assert text.strip() == "hello-from-the-host", text


@needs_cgroups
async def test_acceptance_checks_share_the_cap_in_total(tmp_path: Path) -> None:
    each = SMALL.memory_mb * 6 // 10
    both = (f'python3 -c "{HOG.format(mb=each)}" & a=$!; python3 -c "{HOG.format(mb=each)}" '
            '& b=$!; wait $a && wait $b')
    fill = f"dd if=/dev/zero of=/tmp/fill bs=1M count={SMALL.tmp_mb * 4}"
    work = tmp_path / "work"
    work.mkdir()
    report = await BwrapValidator(limits=SMALL).validate(
        JobCopy.of_directory(work), [both, fill], RunLog(tmp_path / "runlog.txt"))
    memory, tmp = report.checks
    assert not memory.passed and "memory limit stopped" in memory.output_tail
    assert not tmp.passed and "No space left on device" in tmp.output_tail


async def test_the_settings_limits_reach_employees_and_checks(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", sandbox_dir=tmp_path / "sandboxes",
        snapshot_dir=tmp_path / "snapshots", backup_dir=tmp_path / "backups",
        director_key="k", job_memory_mb=300, job_tmp_mb=20, job_pids=40,
        _env_file=None,  # type: ignore[call-arg]
    )
    system = await build_system(settings, db_url)
    try:
        await hire(system.db, "agent")
        employee = await system.manager.attempts.adapters.get("agent")
        assert isinstance(employee, CliEmployee)
        expected = JobLimits(memory_mb=300, tmp_mb=20, pids=40)
        assert employee.confiner.limits == expected
        validator = system.manager.attempts.validator
        assert isinstance(validator, BwrapValidator)
        assert validator.confiner is employee.confiner
    finally:
        await system.close()
