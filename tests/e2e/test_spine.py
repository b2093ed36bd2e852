"""The spine, end to end: `aura up` as a subprocess, driven as a user and an IDE would.

One `aura up` (embedded PostgreSQL, its own ports and directories) and one fake Ollama process
serve the whole module. The Director's side goes through the HTTP API with the Director key;
the IDE's side goes over streamable HTTP with the MCP SDK's client and a token created through
the API. The last test stops the process and starts it again on the same data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import Ports, free_port
from tests.integration.helpers import TEST_POLICY

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_S = 60.0
STOP_WITHIN_S = 10.0
FAKE_REPLY = "the fake model says hello to the e2e test"
TOKEN_NAME = "e2e-ide"
OLLAMA_EMPLOYEE = "llama"
CLI_EMPLOYEE = "scribe"
ORIGINAL_NOTES = "first line\n"
ADDED_LINE = "added by the scribe"
TERMINAL = {"succeeded", "failed", "cancelled", "rejected"}

# The command-line employee: edits a file in its working directory (the sandbox) and talks.
# The short sleep keeps the job running long enough for wait_job to report progress.
SCRIBE_SCRIPT = f"""#!/bin/sh
sleep 0.5
echo "{ADDED_LINE}" >> notes.txt
echo "scribe appended a line to notes.txt"
"""


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Aura(Ports):
    """One `aura up` process and everything a test needs to talk to it."""

    root: Path
    ollama_url: str
    proc: subprocess.Popen[bytes] | None = None
    ready_seconds: list[float] = field(default_factory=list)
    starts: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def snapshot_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def log_path(self) -> Path:
        return self.root / f"aura-up-{self.starts}.log"

    @property
    def director_key(self) -> str:
        return (self.data_dir / "director.key").read_text("utf-8").strip()

    @property
    def database_url(self) -> str:
        """The embedded server listens on a Unix socket in its data directory and lets in only
        who has its password (`pg.password` in the data directory)."""
        password = (self.data_dir / "pg.password").read_text("utf-8").strip()
        return (f"postgresql://postgres:{password}@/postgres"
                f"?host={(self.data_dir / 'pg').resolve()}")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update({
            "AURA_DATA_DIR": str(self.data_dir),
            "AURA_POLICY_FILE": str(TEST_POLICY),
            "AURA_SANDBOX_DIR": str(self.root / "sandboxes"),
            "AURA_SNAPSHOT_DIR": str(self.snapshot_dir),
            "AURA_BACKUP_DIR": str(self.root / "backups"),
            "AURA_WORKSPACES": str(self.workspace),
            "AURA_API_PORT": str(self.api_port),
            "AURA_MCP_PORT": str(self.mcp_port),
            "AURA_OLLAMA_URL": self.ollama_url,
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def start(self) -> float:
        """Start `aura up` and return the seconds until `/ready` answered 200."""
        self.starts += 1
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mcp_server.cli", "up"],
                cwd=REPO_ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = started + READY_WITHIN_S
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    pytest.fail(f"aura up exited with {code}:\n{_tail(self.log_path)}")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.api}/ready").status_code == 200:
                        seconds = time.monotonic() - started
                        self.ready_seconds.append(seconds)
                        print(f"\naura up -> /ready in {seconds:.2f}s (start {self.starts})")
                        return seconds
                time.sleep(0.05)
        self.kill()
        pytest.fail(f"aura up was not ready within {READY_WITHIN_S}s:\n{_tail(self.log_path)}")

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int | None:
        """SIGINT (Ctrl-C) or SIGTERM (dev_down.sh, systemd); the exit code, or None when it did
        not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop_and_check(self, sig: signal.Signals = signal.SIGINT) -> None:
        code = self.stop(sig)
        assert code == 0, (
            f"aura up did not exit 0 within {STOP_WITHIN_S}s of {sig.name} (got {code}):\n"
            f"{_tail(self.log_path)}"
        )


@pytest.fixture(scope="module")
def fake_ollama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("ollama") / "fake-ollama.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.ollama_server", "--port", str(port),
             "--models", "llama3.2,qwen2.5", "--reply", FAKE_REPLY],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the fake Ollama exited:\n{_tail(log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/version", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the fake Ollama did not start:\n{_tail(log_path)}")
            time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def aura(tmp_path_factory: pytest.TempPathFactory, fake_ollama: str) -> Iterator[Aura]:
    root = tmp_path_factory.mktemp("aura")
    system = Aura(root=root, ollama_url=fake_ollama)
    system.workspace.mkdir()
    project = system.workspace / "project"
    project.mkdir()
    (project / "notes.txt").write_text(ORIGINAL_NOTES, encoding="utf-8")
    (project / "README.md").write_text("# a small project\n", encoding="utf-8")
    (root / "outside").mkdir()
    script = root / "scribe.sh"
    script.write_text(SCRIBE_SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    system.start()
    try:
        yield system
    finally:
        # The first process gets SIGINT (test_restart_reuses_the_data), the second SIGTERM.
        system.stop_and_check(signal.SIGTERM)


@pytest.fixture(scope="module")
def director(aura: Aura) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{aura.api}/api/v1", timeout=30,
        headers={"Authorization": f"Bearer {aura.director_key}"},
    ) as client:
        yield client


@pytest.fixture(scope="module")
def token(director: httpx.Client) -> str:
    response = director.post("/tokens", json={"name": TOKEN_NAME})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@pytest.fixture(scope="module")
def hired(aura: Aura, director: httpx.Client) -> dict[str, dict[str, Any]]:
    bodies: list[dict[str, Any]] = [
        {"name": OLLAMA_EMPLOYEE, "adapter": "ollama", "model": "llama3.2"},
        {"name": CLI_EMPLOYEE, "adapter": "cli",
         "command": ["/bin/sh", str(aura.root / "scribe.sh"), "{prompt}"]},
    ]
    hired: dict[str, dict[str, Any]] = {}
    for body in bodies:
        response = director.post("/employees", json=body)
        assert response.status_code == 201, response.text
        hired[body["name"]] = response.json()
    return hired


@contextlib.asynccontextmanager
async def director_api(aura: Aura) -> AsyncIterator[httpx.AsyncClient]:
    """The Director's view from inside an async test (a fresh key read: it survives restarts)."""
    async with httpx.AsyncClient(
        base_url=f"{aura.api}/api/v1", timeout=30,
        headers={"Authorization": f"Bearer {aura.director_key}"},
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def mcp_client(aura: Ports, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with http, Client(streamable_http_client(f"{aura.mcp}/mcp", http_client=http)) as c:
        yield c


def _error_text(result: Any) -> str:
    return " ".join(getattr(part, "text", "") for part in result.content)


async def _wait_until_done(
    client: Client, job_id: str, notes: list[tuple[float, float | None, str | None]]
) -> dict[str, Any]:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total, message))

    deadline = time.monotonic() + 60
    while True:
        result = await client.call_tool(
            "wait_job", {"job_id": job_id, "timeout_s": 20}, progress_callback=on_progress
        )
        assert not result.is_error, _error_text(result)
        job = dict(result.structured_content or {})
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after 60 s"


def _project(aura: Aura) -> Path:
    return aura.workspace / "project"


# ------------------------------------------------------------------------------- the tests


def test_aura_up_is_ready_with_both_ports_healthy(aura: Aura) -> None:
    assert aura.ready_seconds and aura.ready_seconds[0] < READY_WITHIN_S
    for base in (aura.api, aura.mcp):
        assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["ready"] is True


def test_director_creates_a_token_shown_once(director: httpx.Client) -> None:
    response = director.post("/tokens", json={"name": "e2e-second"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "e2e-second" and len(body["token"]) >= 20
    listed = director.get("/tokens").json()["tokens"]
    assert "e2e-second" in str(listed)
    assert body["token"] not in str(listed)


def test_api_refuses_without_the_director_key(aura: Aura) -> None:
    response = httpx.get(f"{aura.api}/api/v1/employees", timeout=5)
    assert response.status_code == 401
    response = httpx.get(
        f"{aura.api}/api/v1/employees", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert response.status_code == 401


def test_director_hires_an_ollama_and_a_cli_employee(
    director: httpx.Client, hired: dict[str, dict[str, Any]]
) -> None:
    assert hired[OLLAMA_EMPLOYEE]["adapter"] == "ollama"
    assert hired[OLLAMA_EMPLOYEE]["model"] == "llama3.2"
    assert hired[CLI_EMPLOYEE]["adapter"] == "cli"
    assert hired[CLI_EMPLOYEE]["command"][-1] == "{prompt}"
    names = {e["name"] for e in director.get("/employees").json()["employees"]}
    assert {OLLAMA_EMPLOYEE, CLI_EMPLOYEE} <= names


async def test_ask_is_answered_by_the_ollama_employee_with_token_counts(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    prompt = "what is the capital of the fake country"
    async with mcp_client(aura, token) as client:
        result = await client.call_tool("ask", {"prompt": prompt, "employee": OLLAMA_EMPLOYEE})
        assert not result.is_error, _error_text(result)
        answer = result.structured_content or {}
        assert answer["answered"] is True, answer
        assert answer["answer"] == FAKE_REPLY
        assert answer["employee"] == OLLAMA_EMPLOYEE and answer["status"] == "succeeded"
        job = await client.call_tool("get_job", {"job_id": answer["job_id"]})
    detail = job.structured_content or {}
    assert detail["status"] == "succeeded" and detail["kind"] == "ask"
    assert detail["tokens_out"] == len(FAKE_REPLY.split())
    assert detail["tokens_in"] >= len(prompt.split())


async def test_submit_job_edits_a_sandbox_copy_and_passes_acceptance(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    project = _project(aura)
    prompt = "append a line to notes.txt"
    progress: list[tuple[float, float | None, str | None]] = []
    async with mcp_client(aura, token) as client:
        submitted = await client.call_tool("submit_job", {
            "prompt": prompt, "project": str(project), "employee": CLI_EMPLOYEE,
            "acceptance": [f'grep -q "{ADDED_LINE}" notes.txt'],
        })
        assert not submitted.is_error, _error_text(submitted)
        receipt = submitted.structured_content or {}
        assert receipt["status"] == "queued" and receipt["created"] is True
        job = await _wait_until_done(client, receipt["job_id"], progress)

    job_id = receipt["job_id"]
    assert job["status"] == "succeeded", job
    assert job["employee"] == CLI_EMPLOYEE and job["attempts"] == 1
    assert progress, "wait_job sent no progress notification"
    assert all(message for _, _, message in progress)
    # The validation report: every acceptance command and its exit code.
    validation = job["validation"]
    assert validation["passed"] is True
    assert [c["exit_code"] for c in validation["checks"]] == [0]
    # The diff against the project, git style.
    diff = job["diff"]
    assert "diff --git a/notes.txt b/notes.txt" in diff
    assert "--- a/notes.txt" in diff and "+++ b/notes.txt" in diff
    assert f"+{ADDED_LINE}" in diff
    assert "README.md" not in diff
    assert "scribe appended a line" in (job["output"] or "")
    # The run log: the prompt, the command and its exit code, the acceptance check.
    runlog = aura.snapshot_dir / job_id / "runlog.txt"
    assert runlog.is_file()
    log_text = runlog.read_text("utf-8")
    assert prompt in log_text
    assert "exit code 0" in log_text
    assert "grep -q" in log_text
    # The states, before and after: commits in the snapshot store, exported as tar files.
    store = aura.snapshot_dir / "objects.git"
    for name, expected in (("before", ORIGINAL_NOTES), ("after", ORIGINAL_NOTES + ADDED_LINE)):
        archive = aura.root / f"{name}.tar"
        exporting = await asyncio.create_subprocess_exec(
            "git", "--git-dir", str(store), "archive", "--format=tar", "-o", str(archive),
            f"refs/aura/jobs/{job_id}/{name}",
        )
        assert await exporting.wait() == 0
        with tarfile.open(archive) as tar:
            notes = [m for m in tar.getmembers() if m.name.endswith("notes.txt")]
            assert len(notes) == 1, tar.getnames()
            handle = tar.extractfile(notes[0])
            assert handle is not None
            assert handle.read().decode("utf-8").strip() == expected.strip()
    # The project itself is never modified.
    assert (project / "notes.txt").read_text("utf-8") == ORIGINAL_NOTES


async def test_failing_acceptance_fails_the_job_with_the_exit_code(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    async with mcp_client(aura, token) as client:
        submitted = await client.call_tool("submit_job", {
            "prompt": "append a line to notes.txt", "project": str(_project(aura)),
            "employee": CLI_EMPLOYEE,
            "acceptance": ["test -f notes.txt", "grep -q 'never written' notes.txt"],
        })
        assert not submitted.is_error, _error_text(submitted)
        job = await _wait_until_done(client, (submitted.structured_content or {})["job_id"], [])
    assert job["status"] == "failed", job
    validation = job["validation"]
    assert validation["passed"] is False
    assert [(c["exit_code"], c["passed"]) for c in validation["checks"]] == [(0, True), (1, False)]
    assert "acceptance failed" in (job["error"] or "")
    assert "never written" in (job["error"] or "")
    assert (_project(aura) / "notes.txt").read_text("utf-8") == ORIGINAL_NOTES


async def test_a_project_outside_the_workspaces_is_refused(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    async with mcp_client(aura, token) as client:
        result = await client.call_tool("submit_job", {
            "prompt": "do something", "project": str(aura.root / "outside"),
            "employee": CLI_EMPLOYEE,
        })
    assert result.is_error
    assert "outside the workspaces" in _error_text(result)


async def test_an_unknown_employee_is_refused_by_name(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    async with mcp_client(aura, token) as client:
        submitted = await client.call_tool(
            "submit_job", {"prompt": "do something", "employee": "nobody-here"}
        )
        asked = await client.call_tool("ask", {"prompt": "hello?", "employee": "nobody-here"})
    for result in (submitted, asked):
        assert result.is_error
        assert "nobody-here" in _error_text(result)


def test_mcp_refuses_a_missing_or_bad_token(aura: Aura) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    missing = httpx.post(f"{aura.mcp}/mcp", json=body, headers=headers, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bad = httpx.post(
        f"{aura.mcp}/mcp", json=body, timeout=5,
        headers={**headers, "Authorization": "Bearer not-a-real-token"},
    )
    assert bad.status_code == 401


async def test_tool_calls_are_audited_under_the_token_name_and_the_chain_verifies(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    async with mcp_client(aura, token) as client:
        listed = await client.call_tool("list_employees", {})
        assert not listed.is_error
        missing = await client.call_tool("get_job", {"job_id": "not-a-uuid"})
        assert missing.is_error
    async with director_api(aura) as director:
        report = (await director.get("/audit/verify")).json()
    assert report["ok"] is True, report
    assert report["entries"] > 0 and report["first_bad_seq"] is None
    # Tool-call entries are appended by a batching journal within 100 ms of the call.
    wanted = {("list_employees", "ok"), ("get_job", "error")}
    calls: set[tuple[str, str]] = set()
    conn = await asyncpg.connect(aura.database_url)
    try:
        for _ in range(50):
            rows = await conn.fetch(
                "SELECT subject, details->>'outcome' AS outcome FROM audit_log "
                "WHERE action = 'mcp.tool_call' AND actor = $1", f"client:{TOKEN_NAME}",
            )
            calls = {(r["subject"], r["outcome"]) for r in rows}
            if wanted <= calls:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    assert wanted <= calls


async def test_metrics_on_both_ports(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    async with mcp_client(aura, token) as client:
        await client.call_tool("pool_status", {})
    async with httpx.AsyncClient(timeout=10) as http:
        for base in (aura.api, aura.mcp):
            response = await http.get(f"{base}/metrics")
            assert response.status_code == 200
            text = response.text
            assert 'aura_mcp_tool_calls_total{outcome="ok",tool="pool_status"}' in text
            assert 'aura_jobs_finished_total{status="succeeded"}' in text
            assert "aura_pool_slots" in text


def test_cli_audit_verify_and_token_list_go_through_the_api(
    aura: Aura, token: str
) -> None:
    def aura_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mcp_server.cli", *args], cwd=REPO_ROOT, env=aura.env(),
            capture_output=True, text=True, timeout=60,
        )

    verify = aura_cli("audit", "verify")
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
    tokens = aura_cli("token", "list")
    assert tokens.returncode == 0 and TOKEN_NAME in tokens.stdout
    assert token not in tokens.stdout  # listed by name, never shown again
    unknown = aura_cli("job", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and "404" in unknown.stderr


def test_pool_shape(director: httpx.Client, hired: dict[str, dict[str, Any]]) -> None:
    slots = director.get("/pool").json()["slots"]
    assert len(slots) == 3
    assert [s["index"] for s in slots] == [0, 1, 2]
    for slot in slots:
        assert set(slot) == {"index", "state", "employee", "job_id", "since"}
        assert slot["state"] in {"empty", "idle", "busy", "loading"}
    # The employees that worked earlier stay resident in their slots.
    if any(s["employee"] for s in slots):
        assert {s["employee"] for s in slots if s["employee"]} <= {OLLAMA_EMPLOYEE, CLI_EMPLOYEE}


# Last: stops the module's process and starts another one on the same data.
async def test_restart_reuses_the_data(
    aura: Aura, token: str, hired: dict[str, dict[str, Any]]
) -> None:
    aura.stop_and_check()
    await asyncio.to_thread(aura.start)
    async with director_api(aura) as director:
        employees = (await director.get("/employees")).json()["employees"]
        assert {OLLAMA_EMPLOYEE, CLI_EMPLOYEE} <= {e["name"] for e in employees}
        jobs = (await director.get("/jobs")).json()["jobs"]
        assert any(j["status"] == "succeeded" for j in jobs)
        assert (await director.get("/audit/verify")).json()["ok"] is True
    # The token issued before the restart still opens the MCP endpoint.
    async with mcp_client(aura, token) as client:
        listed = await client.call_tool("list_employees", {})
    assert not listed.is_error
    assert OLLAMA_EMPLOYEE in str(listed.structured_content)
