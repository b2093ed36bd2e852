"""The `aura` verbs against a real Director API (uvicorn on loopback, real PostgreSQL): the
human output, the JSON output, short job ids, and a refusal as one line with exit code 2."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import uvicorn

from mcp_server.app import System
from mcp_server.cli import EXIT_USAGE, main
from mcp_server.runner import SignalFreeServer
from tests.integration.helpers import add_finished_job, add_job, hire

FAILED_CHECKS = {"passed": False, "checks": [
    {"command": "pytest -q", "exit_code": 0, "passed": True, "duration_ms": 1200,
     "output_tail": "", "timed_out": False},
    {"command": "ruff check .", "exit_code": 1, "passed": False, "duration_ms": 300,
     "output_tail": "E501", "timed_out": False},
]}
FIRST = uuid.UUID("1234abcd-0000-4000-8000-000000000001")
TWIN_A = uuid.UUID("abcd0000-0000-4000-8000-000000000002")
TWIN_B = uuid.UUID("abcd0000-0000-4000-8000-000000000003")
LONG_DIFF = "".join(f"+line {n}\n" for n in range(30_000))


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Aura = Callable[..., Awaitable[Ran]]


@pytest.fixture
async def aura(
    system: System, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Aura]:
    """`aura …` run as a user would, against the system's API served on a loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(system.api_app(), log_config=None, lifespan="off",
                            access_log=False)
    server = SignalFreeServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # uvicorn has no started event to await
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "the API did not start"
    monkeypatch.setenv("AURA_API_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("AURA_DIRECTOR_KEY", system.director_key)
    monkeypatch.setenv("COLUMNS", "120")

    async def run(*args: str) -> Ran:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))  # the server answers on this loop
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    try:
        yield run
    finally:
        server.should_exit = True
        await serving
        sock.close()


@pytest.fixture
async def jobs(system: System) -> None:
    await add_job(system.db, FIRST, "fix the parser\nand its tests", output="done\n",
                  diff=LONG_DIFF, validation=FAILED_CHECKS, error="acceptance failed")
    await add_job(system.db, TWIN_A, "first twin")
    await add_job(system.db, TWIN_B, "second twin")


async def test_jobs_is_a_table_for_people_and_json_for_programs(aura: Aura, jobs: None) -> None:
    table = await aura("jobs", "--human")
    assert table.code == 0, table.err
    assert "1234abcd" in table.out and "abcd0000" in table.out
    assert "fix the parser" in table.out and "and its tests" not in table.out
    assert str(FIRST) not in table.out and "+line" not in table.out  # short ids, no diffs
    assert "queued" in table.out and "$0.0000" in table.out
    listed = (await aura("jobs")).json()["jobs"]  # not a terminal: JSON
    assert {j["job_id"] for j in listed} == {str(FIRST), str(TWIN_A), str(TWIN_B)}
    assert (await aura("--json", "jobs", "--limit", "1")).json()["jobs"][0]["job_id"]
    assert len((await aura("jobs", "--json", "--limit", "1")).json()["jobs"]) == 1
    assert (await aura("jobs", "--status", "failed")).json() == {"jobs": []}
    assert "no jobs with status failed" in (await aura("jobs", "--status", "failed",
                                                       "--human")).out


async def test_job_is_a_summary_with_checks_and_their_exit_codes(
    aura: Aura, jobs: None
) -> None:
    shown = await aura("job", "1234", "--human")
    assert shown.code == 0, shown.err
    for expected in (str(FIRST), "queued", "attempt 0 of", "exit 0", "pytest -q", "exit 1",
                     "ruff check .", "acceptance failed", "aura job 1234abcd --diff",
                     "aura job 1234abcd --runlog", f"aura://jobs/{FIRST}/runlog"):
        assert expected in shown.out, expected
    assert (await aura("job", "1234")).json()["job_id"] == str(FIRST)


async def test_job_text_options_print_the_whole_text(aura: Aura, jobs: None) -> None:
    diff = await aura("job", "1234abcd", "--diff")
    assert diff.code == 0 and diff.out == LONG_DIFF  # whole: past the 20,000-character cut
    assert (await aura("job", "1234", "--output")).out == "done\n"
    assert (await aura("job", "1234", "--runlog")).code == 0
    none = await aura("job", "abcd0000-0000-4000-8000-000000000002", "--diff")
    assert none.code == EXIT_USAGE and "has no diff" in none.err
    both = await aura("job", "1234", "--diff", "--output")
    assert both.code == EXIT_USAGE and "one of --diff" in both.err


async def test_job_prefixes_unique_ambiguous_and_unknown(aura: Aura, jobs: None) -> None:
    ambiguous = await aura("job", "abcd")
    assert ambiguous.code == EXIT_USAGE
    assert str(TWIN_A) in ambiguous.err and str(TWIN_B) in ambiguous.err
    assert len(ambiguous.err.splitlines()) == 1 and "Traceback" not in ambiguous.err
    unknown = await aura("job", "beef")
    assert unknown.code == EXIT_USAGE and "no job id starts with 'beef'" in unknown.err
    short = await aura("job", "abc")
    assert short.code == EXIT_USAGE and "at least its first 4 hex digits" in short.err


async def test_hire_edit_fire_confirm_each_change(aura: Aura, system: System) -> None:
    hired = await aura("hire", "scribe", "--adapter", "cli", "--command",
                       '["/bin/echo", "{prompt}"]', "--skills", "python,review", "--human")
    assert hired.code == 0, hired.err
    assert hired.out.startswith("hired scribe (cli, probation): /bin/echo {prompt}")
    table = await aura("employees", "--human")
    assert "scribe" in table.out and "probation" in table.out and "python,review" in table.out
    edited = await aura("employee", "edit", "scribe", "--command", '["/bin/cat"]',
                        "--price-out", "2.5", "--human")
    assert edited.code == 0, edited.err
    assert "edited scribe (command, price_out): /bin/cat" in edited.out
    roster = (await aura("employees")).json()["employees"]
    assert roster[0]["command"] == ["/bin/cat"] and roster[0]["price_out"] == "2.500000"
    fired = await aura("employee", "fire", "scribe", "--human")
    assert fired.code == 0 and fired.out.startswith("fired scribe: it takes no more work")
    again = await aura("employee", "fire", "scribe")
    assert again.code == EXIT_USAGE and "already terminated" in again.err
    assert (await system.roster.get("scribe")).status.value == "terminated"


async def test_hire_refuses_a_missing_command_and_no_check_allows_it(aura: Aura) -> None:
    refused = await aura("hire", "coder", "--adapter", "cli", "--command",
                         '["my-agent", "--prompt-file", "{prompt_file}"]')
    assert refused.code == EXIT_USAGE
    assert "'my-agent'" in refused.err and "--no-check" in refused.err
    allowed = await aura("hire", "coder", "--adapter", "cli", "--command", '["my-agent"]',
                         "--no-check")
    assert allowed.code == 0 and allowed.json()["command"] == ["my-agent"]
    nothing = await aura("employee", "edit", "coder")
    assert nothing.code == EXIT_USAGE and "nothing to change" in nothing.err


async def test_hire_an_openai_employee_by_url_and_key_variable(aura: Aura) -> None:
    hired = await aura("hire", "gpt", "--adapter", "openai", "--model", "gpt-4o-mini",
                       "--base-url", "http://127.0.0.1:1234/v1", "--api-key-env", "LMS_KEY")
    assert hired.code == 0, hired.err
    body = hired.json()
    assert (body["adapter"], body["model"], body["base_url"], body["api_key_env"]) == (
        "openai", "gpt-4o-mini", "http://127.0.0.1:1234/v1", "LMS_KEY")
    keyless = await aura("hire", "gpt2", "--adapter", "openai", "--model", "gpt-4o-mini")
    assert keyless.code == EXIT_USAGE and "needs api_key_env" in keyless.err


async def test_hire_offers_only_adapters_that_exist(aura: Aura) -> None:
    refused = await aura("hire", "g", "--adapter", "claude", "--model", "x")
    assert refused.code == EXIT_USAGE and "use cli or gemini or ollama or openai" in refused.err
    assert "cli|gemini|ollama|openai" in (await aura("hire", "--help")).out


async def test_hire_by_preset_shows_the_filled_in_command(aura: Aura) -> None:
    from tests.integration.test_presets import AGENTS

    codex = str(AGENTS / "codex")
    hired = await aura("hire", "coder", "--preset", "codex", "--program", codex, "--model",
                       "gpt-5", "--price-in", "1.25", "--price-out", "10", "--human")
    assert hired.code == 0, hired.err
    assert hired.out.startswith(
        f"hired coder (cli, preset codex, probation): {codex} exec --json --skip-git-repo-check "
        "--sandbox danger-full-access --model gpt-5 {prompt}")
    shown = (await aura("employees")).json()["employees"][0]
    assert (shown["preset"], shown["api_key_env"], shown["network"]) == (
        "codex", "CODEX_API_KEY", True)
    unknown = await aura("hire", "other", "--preset", "cursor")
    assert unknown.code == EXIT_USAGE
    assert "unknown preset 'cursor'; valid presets: claude-code, codex, gemini-cli, aider, " \
           "opencode" in unknown.err
    neither = await aura("hire", "other", "--model", "x")
    assert neither.code == EXIT_USAGE and "give --adapter, or --preset" in neither.err
    assert "--preset" in (await aura("hire", "--help")).out


async def test_ledger_marks_how_each_charge_was_priced(aura: Aura, system: System) -> None:
    await hire(system.db, "coder")
    async with system.db.connection() as conn:
        await conn.execute(
            "INSERT INTO ledger (employee, kind, tokens_in, tokens_out, cost, latency_ms,"
            " pricing) VALUES ('coder', 'call', 10, 5, NULL, 5, 'unpriced'),"
            " ('coder', 'call', 10, 5, 0.25, 5, 'reported')")
    table = await aura("ledger", "--human")
    assert table.code == 0, table.err
    assert "unpriced" in table.out and "$0.2500 reported" in table.out
    assert "$0.2500 spent (+ 1 unpriced call(s) not in it)" in table.out
    entries = (await aura("ledger")).json()["entries"]
    assert [(e["cost_usd"], e["pricing"]) for e in entries] == [
        ("0.25", "reported"), (None, "unpriced")]


async def test_tokens_shown_once_listed_revoked_and_their_names_reused(aura: Aura) -> None:
    created = await aura("token", "create", "cursor", "--human")
    token = created.out.strip().splitlines()[-1]
    assert created.code == 0 and token.startswith("aura_mcp_")
    listed = await aura("token", "list", "--human")
    assert "cursor" in listed.out and "active" in listed.out and token not in listed.out
    revoked = await aura("token", "revoke", "cursor", "--human")
    assert revoked.code == 0 and revoked.out.startswith("revoked token cursor")
    again = await aura("token", "create", "cursor")
    assert again.code == 0 and again.json()["name"] == "cursor"
    statuses = [t["revoked_at"] is None for t in (await aura("token", "list")).json()["tokens"]]
    assert statuses == [False, True]


async def test_pool_and_audit_verify(aura: Aura) -> None:
    pool = await aura("pool", "--human")
    assert pool.code == 0 and "SLOT" in pool.out and pool.out.count("empty") == 3
    assert len((await aura("pool")).json()["slots"]) == 3
    verified = await aura("audit", "verify", "--human")
    assert verified.code == 0 and verified.out.startswith("audit chain ok")
    assert (await aura("audit", "verify")).json()["ok"] is True


async def test_budgets_are_set_listed_and_deleted(aura: Aura, system: System) -> None:
    from tests.integration.helpers import hire

    await hire(system.db, "llama", "ollama")
    none = await aura("budgets", "--human")
    assert none.code == 0 and "no budgets" in none.out
    overall = await aura("budget", "set", "monthly", "--limit", "20", "--human")
    assert overall.code == 0, overall.err
    assert "budget monthly (overall): $20.0000 a month, $20.0000 left" in overall.out
    mine = await aura("budget", "set", "llama-cap", "--limit", "5", "--employee", "llama")
    assert mine.json()["scope"] == "employee" and mine.json()["employee"] == "llama"
    table = await aura("budgets", "--human")
    assert "2 budget(s), this month" in table.out
    assert "llama-cap" in table.out and "employee" in table.out and "$5.0000" in table.out
    bad = await aura("budget", "set", "monthly", "--limit", "lots")
    assert bad.code == EXIT_USAGE and "limit_usd" in bad.err and "(400)" in bad.err
    ghost = await aura("budget", "set", "b", "--limit", "1", "--employee", "ghost")
    assert ghost.code == EXIT_USAGE and "no employee named 'ghost'" in ghost.err
    gone = await aura("budget", "delete", "llama-cap", "--human")
    assert gone.code == 0 and "removed" in gone.out
    assert [b["name"] for b in (await aura("budgets")).json()["budgets"]] == ["monthly"]


async def test_ledger_shows_entries_and_totals(aura: Aura, system: System) -> None:
    from tests.integration.helpers import hire

    await hire(system.db, "llama", "ollama")
    async with system.db.connection() as conn:
        await conn.execute("INSERT INTO ledger (employee, kind, tokens_in, tokens_out, cost,"
                           " latency_ms) VALUES ('llama', 'call', 120, 30, 0.0042, 5)")
    table = await aura("ledger", "--human")
    assert table.code == 0, table.err
    assert "call" in table.out and "llama" in table.out and "120/30" in table.out
    assert "total: 1 call(s), $0.0042 spent, $0.0000 reserved now" in table.out
    page = (await aura("ledger", "--employee", "llama", "--limit", "1")).json()
    assert page["totals"]["calls"] == 1 and page["next_cursor"] is not None
    short = await aura("ledger", "--job", "1234abcd")
    assert short.code == EXIT_USAGE and "full id" in short.err


async def test_employees_shows_scores_to_people_and_programs(
    aura: Aura, system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    await hire(system.db, "scored", command=["/bin/echo"], skills=["python"])
    await hire(system.db, "fresh", command=["/bin/echo"])
    now = datetime.now(UTC)
    for latency_ms, status in ((1200, "succeeded"), (2400, "succeeded"), (9000, "failed"),
                               (1800, "succeeded")):
        await add_finished_job(system.db, "scored", status, now, latency_ms=latency_ms,
                               cost=Decimal("0.03"), acceptance=["pytest -q"],
                               validation={"passed": status == "succeeded", "checks": []})
    table = await aura("employees", "--human")  # 120 columns wide
    assert table.code == 0, table.err
    header, *rows = [line.split() for line in table.out.splitlines()[1:] if line.strip()]
    assert header == ["NAME", "STATUS", "ADAPTER", "COMMAND", "/", "MODEL", "SKILLS", "USD/M",
                      "IN/OUT", "JOBS", "OK%", "PASS%", "P50", "USD/OK"]
    assert rows == [["fresh", "probation", "cli", "/bin/echo", "-", "0/0", "0", "-", "-", "-",
                     "-"],
                    ["scored", "probation", "cli", "/bin/echo", "python", "0/0", "4", "75%",
                     "75%", "2.1s", "$0.0400"]]
    monkeypatch.setenv("COLUMNS", "80")
    narrow = await aura("employees", "--human")
    assert max(len(line) for line in narrow.out.splitlines()) <= 80
    assert "…" not in narrow.out and "ADAPTER" not in narrow.out
    assert narrow.out.splitlines()[-1].split() == ["scored", "probation", "/bin/echo", "python",
                                                   "4", "75%", "75%", "2.1s", "$0.0400"]
    listed = {e["name"]: e["score"] for e in (await aura("employees")).json()["employees"]}
    assert listed["scored"] == {"window": 50, "jobs": 4, "success_rate": 0.75,
                                "validation_pass_rate": 0.75, "p50_latency_ms": 2100,
                                "cost_per_success_usd": "0.04000000"}


async def test_apply_refuses_a_job_without_a_project_in_one_line(aura: Aura, jobs: None) -> None:
    refused = await aura("apply", "1234abcd")
    assert refused.code == EXIT_USAGE
    assert "worked on no project: there is nothing to apply (400)" in refused.err


async def test_threads_are_listed_and_one_is_shown_with_its_messages(
    aura: Aura, system: System
) -> None:
    from orchestra.models import JobKind, NewJob
    from tests.integration.helpers import running_worker

    await hire(system.db, "llama", "ollama")
    thread = uuid.uuid4()
    async with running_worker(system):
        submitted = await system.queue.submit(
            NewJob(prompt="what is a heron", kind=JobKind.ASK, employee="llama", client="zed",
                   thread_id=thread, starts_thread=True), actor="client:zed")
        for _ in range(200):
            if (await system.queue.get(submitted.job.id)).status.is_terminal:
                break
            await asyncio.sleep(0.05)
    listed = await aura("threads", "--human")
    assert listed.code == 0, listed.err
    assert "1 thread(s), newest first" in listed.out and str(thread) in listed.out
    assert "what is a heron" in listed.out and "zed" in listed.out
    shown = await aura("threads", str(thread), "--human")
    assert shown.code == 0, shown.err
    assert "#1 zed asked" in shown.out and "#2 llama answered" in shown.out
    assert "echo: what is a heron" in shown.out
    assert [m["role"] for m in (await aura("threads", str(thread))).json()["messages"]] == [
        "user", "assistant"]
    missing = await aura("threads", str(uuid.uuid4()))
    assert missing.code == EXIT_USAGE and "no thread" in missing.err
