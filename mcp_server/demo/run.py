"""`aura demo`: the whole system at work in one command, with no model installed.

It reads the demo project's script (`mcp_server.demo.config`), sets the stage
(`mcp_server.demo.stage`: a copy of the project, the fake Ollama, `aura up`), and then does what
a Director and an IDE would: hire the employees, set a budget, create an MCP token, delegate
"make the failing tests pass" over MCP, wait for it, and show the diff, the validation report,
the ledger and the audit check; finally it applies the change to the copy and runs the tests
there again. Each step is printed as it happens. A step that goes wrong ends the demo with one
line saying which and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from governance.policy import load_policy
from mcp_server.cli.client import ApiClient
from mcp_server.demo.config import DemoScript, load_script
from mcp_server.demo.stage import Stage, staged
from orchestra.errors import Unavailable

TOKEN_NAME = "demo-ide"
WAIT_STEP_S = 20  # one wait_job call; under the 45 s limit every IDE client lives with
JOB_WITHIN_S = 180.0
TERMINAL = {"succeeded", "failed", "cancelled", "rejected"}


class DemoFailed(Unavailable):
    """A step of the demo did not do what it should."""


def default_project() -> Path:
    """`demo_default_project/` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "demo_default_project"


def run_demo(project: Path, console: Console, keep: bool = False) -> None:
    """Run the demo on `project`; raises `DemoFailed` (or another `AuraError`) on a failure."""
    script = load_script(project.resolve())
    if shutil.which("bwrap") is None:
        raise DemoFailed("bubblewrap (bwrap) is not installed, and the demo's job has "
                         "acceptance checks, which only ever run confined; install it "
                         "(e.g. `apt-get install bubblewrap`)")
    demo = Demo(script, console)
    demo.check_before()
    if keep:
        root = Path(tempfile.mkdtemp(prefix="aura-demo-"))
        demo.play(root)
        demo.done(f"kept: {root} (the home, logs, sandboxes and snapshots)")
        return
    with tempfile.TemporaryDirectory(prefix="aura-demo-") as tmp:
        demo.play(Path(tmp))
    demo.done("the throwaway directory is removed (--keep keeps it)")


class Demo:
    """One run of the demo, step by step."""

    def __init__(self, script: DemoScript, console: Console) -> None:
        self.script = script
        self.console = console
        self.steps = 0

    def step(self, text: str) -> None:
        self.steps += 1
        self.console.print(f"\n[bold cyan]{self.steps}.[/] [bold]{text}[/]")

    def done(self, text: str) -> None:
        self.console.print(f"   [green]✓[/] {text}")

    def check_before(self) -> None:
        """The project's own acceptance check fails before the job: there is work to do."""
        self.step(f"The project {self.script.project.name}: its tests fail before the job")
        for command in self.script.job.acceptance:
            code, last = run_check(command, self.script.project)
            if code == 0:
                raise DemoFailed(f"`{command}` already passes in {self.script.project}: "
                                 "the demo has nothing to fix (was the fix applied to it?)")
            self.done(f"`{command}` exits {code}: {last}")

    def play(self, root: Path) -> None:
        self.step("Start Aura (embedded PostgreSQL, API, MCP server, a worker) against the "
                  "bundled fake Ollama: no model is needed")
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            with self.console.status("   starting aura up…"):
                stage = stack.enter_context(staged(self.script, root))
            self.done(f"ready in {time.monotonic() - started:.1f} s: API {stage.api_url}, "
                      f"MCP {stage.mcp_url}, home {root / 'home'}")
            director = stack.enter_context(
                ApiClient(stage.api_url + "/api/v1", stage.director_key, "the demo's home"))
            token = self.hire_and_budget(director)
            job = asyncio.run(self.delegate(stage, token))
            self.report(director, stage, job)
        self.step("Aura stopped (SIGTERM), the fake Ollama too")

    def hire_and_budget(self, director: ApiClient) -> str:
        self.step("The Director hires the employees, sets a budget and creates an IDE token")
        table = Table("employee", "adapter", "model", "skills", "status", "USD in/out per M")
        for body in self.script.employees:
            hired = director.json("POST", "/employees", body)
            table.add_row(hired["name"], hired["adapter"], hired["model"] or "",
                          ", ".join(hired["skills"]), hired["status"],
                          f"{hired['price_in']} / {hired['price_out']}")
        self.console.print(table)
        budget = self.script.budget
        director.json("PUT", f"/budgets/{budget.name}",
                      {"scope": "global", "limit_usd": budget.limit_usd, "period": "month"})
        self.done(f"budget {budget.name}: {budget.limit_usd} USD a month for everyone")
        policy = load_policy(self.script.policy_file, required=True)
        self.done(f"policy {self.script.policy_file.name} (version {policy.version}): a job "
                  f"whose worst case is over {policy.approvals.job_cost_over_usd} USD waits "
                  f"for the Director; acceptance commands allowed: "
                  f"{', '.join(policy.approvals.commands_allow)}")
        token = str(director.json("POST", "/tokens", {"name": TOKEN_NAME})["token"])
        self.done(f"MCP token {TOKEN_NAME!r} created (shown once; an IDE keeps it in "
                  "AURA_MCP_TOKEN)")
        return token

    async def delegate(self, stage: Stage, token: str) -> dict[str, Any]:
        """What an IDE does: submit_job over MCP, then wait_job until the job is finished."""
        job = self.script.job
        self.step(f"An IDE delegates over MCP: submit_job to {job.employee!r}, acceptance "
                  + ", ".join(f"`{c}`" for c in job.acceptance))
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        async with http, Client(streamable_http_client(stage.mcp_url, http_client=http)) as mcp:
            submitted = await mcp.call_tool("submit_job", {
                "prompt": job.prompt, "project": str(stage.project), "employee": job.employee,
                "acceptance": list(job.acceptance)})
            receipt = _structured(submitted, "submit_job")
            job_id = str(receipt["job_id"])
            self.done(f"job {job_id[:8]} {receipt['status']}")
            return await self._wait(mcp, job_id)

    async def _wait(self, mcp: Client, job_id: str) -> dict[str, Any]:
        seen: list[str] = []

        def note(text: str) -> None:
            if text and (not seen or seen[-1] != text):
                seen.append(text)
                self.done(text)

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            note(message or "")

        deadline = time.monotonic() + JOB_WITHIN_S
        with self.console.status("   wait_job…"):
            while True:
                result = await mcp.call_tool("wait_job", {"job_id": job_id,
                                                          "timeout_s": WAIT_STEP_S},
                                             progress_callback=on_progress)
                state = _structured(result, "wait_job")
                if state["status"] in TERMINAL:
                    note(f"job {job_id[:8]} {state['status']} after {state['attempts']} "
                         "attempt(s)")
                    return state
                if time.monotonic() > deadline:
                    raise DemoFailed(f"job {job_id[:8]} is still {state['status']} after "
                                     f"{JOB_WITHIN_S:g} s")

    def report(self, director: ApiClient, stage: Stage, job: dict[str, Any]) -> None:
        job_id = str(job["job_id"])
        if job["status"] != "succeeded":
            raise DemoFailed(f"job {job_id[:8]} {job['status']}: {job.get('error')}; the run "
                             f"log: GET /api/v1/jobs/{job_id}/runlog, Aura's log: "
                             f"{stage.log_path}")
        self.step("The change, as a diff against the project (the project itself is untouched)")
        self.console.print(Syntax(director.text(f"/jobs/{job_id}/diff"), "diff",
                                  theme="ansi_dark", background_color="default"))
        self.step("The validation report: the acceptance checks, run confined in the job's "
                  "sandbox")
        checks = Table("command", "exit code", "ms", "passed")
        for check in (job.get("validation") or {}).get("checks", []):
            checks.add_row(check["command"], str(check["exit_code"]),
                           str(check["duration_ms"]), "yes" if check["passed"] else "no")
        self.console.print(checks)
        self.step("The ledger: every model call and what it cost, and the budget")
        ledger = director.json("GET", "/ledger", job_id=job_id)
        entries = Table("kind", "employee", "tokens in", "tokens out", "USD", "pricing")
        for entry in ledger["entries"]:
            entries.add_row(entry["kind"], entry["employee"], str(entry["tokens_in"]),
                            str(entry["tokens_out"]), entry["cost_usd"] or "",
                            entry["pricing"] or "")
        self.console.print(entries)
        for budget in director.json("GET", "/budgets")["budgets"]:
            self.done(f"budget {budget['name']}: spent {budget['spent_usd']} of "
                      f"{budget['limit_usd']} USD, {budget['remaining_usd']} left")
        self.step("The audit log: every step above is an entry in a hash chain")
        verdict = director.json("GET", "/audit/verify")
        if not verdict["ok"]:
            raise DemoFailed(f"the audit chain is broken at entry {verdict['first_bad_seq']} "
                             f"({verdict['kind']})")
        self.done(f"audit chain ok: {verdict['entries']} entries verified")
        self.step("The Director applies the change to the project copy; its tests now pass")
        applied = director.json("POST", f"/jobs/{job_id}/apply")
        self.done(f"applied to {applied['project']}: {', '.join(applied['files'])}")
        for command in self.script.job.acceptance:
            code, last = run_check(command, stage.project)
            if code != 0:
                raise DemoFailed(f"`{command}` still fails after applying the change: {last}")
            self.done(f"`{command}` exits 0: {last}")


def _structured(result: Any, tool: str) -> dict[str, Any]:
    if result.is_error:
        text = " ".join(getattr(part, "text", "") for part in result.content)
        raise DemoFailed(f"{tool} failed: {text}")
    return dict(result.structured_content or {})


def run_check(command: str, project: Path) -> tuple[int, str]:
    """Run an acceptance command in `project` (outside any sandbox: it is the demo's own
    project); its exit code and the last line it printed."""
    done = subprocess.run(["/bin/sh", "-c", command], cwd=project, capture_output=True,
                          text=True, timeout=120, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else "(no output)"

