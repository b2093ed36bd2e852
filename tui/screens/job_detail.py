"""One job: what it is and where it stands, its status history, its checks' report, its run
log (followed while the job is live) and its diff in colour. `c` cancels it; `p` applies a
succeeded job's change to its project after the Director confirms (the apply is recorded as
the Director's approval of exactly this change)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Log, Static, TabbedContent, TabPane

from mcp_server.api.models import Event, Job, JobHistory
from tui import format as fmt
from tui.client import ConsoleError
from tui.screens.base import ConsoleScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.styles import STATUS_STYLE

LIVE = {"pending_approval", "queued", "running", "validating"}
FOLLOW_EVERY_S = 1.0
TAIL_LINES = 2000  # what the run-log view keeps


class JobDetailScreen(ConsoleScreen):
    """Pushed over the Jobs table; `escape` goes back."""

    CSS_PATH = "job_detail.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("c", "cancel", "Cancel"),
        Binding("p", "apply", "Apply"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: Job | None = None
        self._log_seen = ""

    def body(self) -> Iterable[Any]:
        yield Static(id="summary")
        with TabbedContent(id="tabs"):
            with TabPane("History", id="history-tab"):
                yield DataTable(id="history", cursor_type="row")
            with TabPane("Checks", id="checks-tab"), VerticalScroll():
                yield Static(id="checks")
            with TabPane("Run log", id="runlog-tab"):
                yield Log(id="runlog", max_lines=TAIL_LINES, auto_scroll=True)
            with TabPane("Diff", id="diff-tab"), VerticalScroll():
                yield Static(id="diff")

    def on_mount(self) -> None:
        self.title = f"Job {fmt.short_id(self.job_id)}"
        history = self.query_one("#history", DataTable)
        for name in ("at", "status", "from", "attempt", "employee"):
            history.add_column(name, key=name)
        self.set_interval(FOLLOW_EVERY_S, self._follow_log)

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="job")
    async def _load(self) -> None:
        client = self.console.client
        try:
            job = await client.job(self.job_id)
            history = await client.job_history(self.job_id)
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot load the job", severity="error")
            return
        self.job = job
        self._show_summary(job)
        self._show_history(history)
        self._show_checks(job)
        self._show_diff(job)
        await self._read_log()

    def on_live_event(self, event: Event) -> None:
        if event.kind == "job" and event.subject == self.job_id:
            self.reload()

    # ---- the run log, followed while the job is live --------------------------------------

    def _follow_log(self) -> None:
        if self.job is not None and self.job.status in LIVE:
            self._poll_log()

    @work(exclusive=True, group="runlog")
    async def _poll_log(self) -> None:
        await self._read_log()

    async def _read_log(self) -> None:
        try:
            text = await self.console.client.runlog(self.job_id)
        except ConsoleError:
            return  # the next poll tries again; the summary shows the job's own state
        log = self.query_one("#runlog", Log)
        if text.startswith(self._log_seen):
            log.write(text[len(self._log_seen):])
        else:
            log.clear()
            log.write(text)
        self._log_seen = text

    # ---- panels -------------------------------------------------------------------------

    def _show_summary(self, job: Job) -> None:
        now = self.console.clock()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        status = Text(job.status, style=STATUS_STYLE.get(job.status, ""))
        if job.error:
            status.append(f"  {fmt.one_line(job.error, 120)}", style="red")
        grid.add_row("job", f"{job.job_id} ({job.kind})")
        grid.add_row("status", status)
        grid.add_row("employee", f"{job.employee or '—'} · attempt {job.attempts}/"
                                 f"{job.max_attempts} · {fmt.since(job.created_at, now)} ago")
        grid.add_row("cost", f"{fmt.usd(job.cost)} · {job.tokens_in} in / {job.tokens_out} out")
        grid.add_row("project", job.project or "—")
        grid.add_row("prompt", fmt.one_line(job.prompt, 300))
        self.query_one("#summary", Static).update(grid)

    def _show_history(self, history: JobHistory) -> None:
        table = self.query_one("#history", DataTable)
        table.clear()
        for change in history.changes:
            data = change.data
            status = change.status or ""
            table.add_row(fmt.clock(change.at), Text(status, style=STATUS_STYLE.get(status, "")),
                          str(data.get("previous") or "—"), str(data.get("attempts", "")),
                          str(data.get("employee") or "—"))

    def _show_checks(self, job: Job) -> None:
        checks = self.query_one("#checks", Static)
        if job.validation is None:
            checks.update(Text("no checks have run", style="dim"))
            return
        text = Text()
        passed = bool(job.validation.get("passed"))
        text.append("passed\n\n" if passed else "failed\n\n", style="green" if passed else "red")
        for check in job.validation.get("checks", []):
            ok = bool(check.get("passed"))
            text.append("✔ " if ok else "✘ ", style="green" if ok else "red")
            text.append(f"{check.get('command')}", style="bold")
            text.append(f"  exit {check.get('exit_code')} · {check.get('duration_ms')} ms"
                        f"{' · timed out' if check.get('timed_out') else ''}\n", style="dim")
            output = str(check.get("output") or "").rstrip()
            if output:
                text.append(output + "\n\n")
        checks.update(text)

    def _show_diff(self, job: Job) -> None:
        diff = self.query_one("#diff", Static)
        if not job.diff:
            diff.update(Text("no diff", style="dim"))
            return
        note = "\n… cut here: `aura job ID --diff` has it whole" if job.diff_truncated else ""
        diff.update(Syntax(job.diff + note, "diff", theme="ansi_dark", word_wrap=False))

    # ---- actions ------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.reload()

    def action_cancel(self) -> None:
        self._cancel()

    @work(group="job-actions")
    async def _cancel(self) -> None:
        try:
            job = await self.console.client.cancel(self.job_id)
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot cancel", severity="error")
            return
        self.notify(f"job {fmt.short_id(self.job_id)} is {job.status}")
        self.reload()

    def action_apply(self) -> None:
        if self.job is None or self.job.status != "succeeded":
            self.notify("only a succeeded job's change can be applied", severity="warning")
            return
        question = (f"Write job {fmt.short_id(self.job_id)}'s change into "
                    f"{self.job.project}? This is recorded as your approval.")
        self.app.push_screen(ConfirmScreen(question), self._apply_if_confirmed)

    def _apply_if_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self._apply()

    @work(group="job-actions")
    async def _apply(self) -> None:
        try:
            result = await self.console.client.apply(self.job_id)
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot apply", severity="error")
            return
        done = "already held the change" if result.already_applied else "now has the change"
        self.notify(f"{result.project} {done} ({len(result.files)} file(s))")
