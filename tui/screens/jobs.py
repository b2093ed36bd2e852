"""Jobs: every job in a table that filters as you type (`/`), narrows to one status (`f`),
sorts by a column (`s`, `S` reverses), opens a job (`enter`) and cancels one (`c`). Job
events change a row's status in place; a job the table has not seen reloads it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from mcp_server.api.models import Event, JobSummary
from tui import format as fmt
from tui.client import ConsoleError
from tui.screens.base import ConsoleScreen
from tui.screens.job_detail import JobDetailScreen
from tui.widgets.styles import STATUS_STYLE

STATUSES = (None, "pending_approval", "queued", "running", "validating", "succeeded", "failed",
            "cancelled", "rejected")
SORTS: dict[str, Callable[[JobSummary], Any]] = {
    "created": lambda j: j.created_at,
    "status": lambda j: j.status,
    "employee": lambda j: j.employee or "",
    "cost": lambda j: Decimal(j.cost),
}
COLUMNS = (("job", 8), ("status", 16), ("employee", 10), ("age", 7), ("cost", 7),
           ("prompt", 40))
# Everything but the prompt: the other columns, each column's two cells of padding, and the
# vertical scrollbar. The prompt takes the rest of the width, cut with an ellipsis.
FIXED_WIDTH = sum(w for name, w in COLUMNS if name != "prompt") + 2 * len(COLUMNS) + 2
MIN_PROMPT = 12
RELOAD_AFTER_S = 0.25


class JobsScreen(ConsoleScreen):
    """The queue and its history, newest first by default."""

    TITLE = "Jobs"
    CSS_PATH = "jobs.tcss"
    AUTO_FOCUS = "#jobs"
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "filter", "Filter"),
        Binding("f", "next_status", "Status"),
        Binding("s", "next_sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, JobSummary] = {}
        self.status_filter: str | None = None
        self.sort = "created"
        self.descending = True
        self._reload_timer: Timer | None = None
        self.prompt_width = dict(COLUMNS)["prompt"]

    def body(self) -> Iterable[Any]:
        yield Input(placeholder="filter: id, employee, status or prompt words", id="filter")
        yield Static(id="view")
        table: DataTable[Any] = DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#jobs", DataTable)
        for name, width in COLUMNS:
            table.add_column(name, key=name, width=width)
        self._show_view()

    def on_resize(self, event: events.Resize) -> None:
        width = max(MIN_PROMPT, event.size.width - FIXED_WIDTH)
        if width != self.prompt_width:
            self.prompt_width = width
            self.query_one("#jobs", DataTable).columns[ColumnKey("prompt")].width = width
            self._fill()

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="jobs")
    async def _load(self) -> None:
        try:
            answer = await self.console.client.jobs(status=self.status_filter)
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot load jobs", severity="error")
            return
        self.jobs = {j.job_id: j for j in answer.jobs}
        self._fill()

    # ---- the table ----------------------------------------------------------------------

    def shown_jobs(self) -> list[JobSummary]:
        """The jobs the filter lets through, in the chosen order."""
        words = self.query_one("#filter", Input).value.lower().split()
        rows = [j for j in self.jobs.values()
                if (self.status_filter is None or j.status == self.status_filter)
                and all(w in _haystack(j) for w in words)]
        return sorted(rows, key=SORTS[self.sort], reverse=self.descending)

    def _fill(self) -> None:
        table = self.query_one("#jobs", DataTable)
        now = self.console.clock()
        selected = self.selected_id()
        table.clear()
        for job in self.shown_jobs():
            table.add_row(
                fmt.short_id(job.job_id), _status(job.status), job.employee or "—",
                fmt.since(job.created_at, now), fmt.usd(job.cost),
                fmt.one_line(job.prompt, self.prompt_width), key=job.job_id)
        if selected in self.jobs and table.row_count:
            with contextlib.suppress(KeyError):
                table.move_cursor(row=table.get_row_index(selected))
        self._show_view()

    def _show_view(self) -> None:
        arrow = "↓" if self.descending else "↑"
        shown = self.query_one("#jobs", DataTable).row_count
        self.query_one("#view", Static).update(
            f"status: {self.status_filter or 'all'} · sort: {self.sort} {arrow} · "
            f"{shown} of {len(self.jobs)} jobs")

    def selected_id(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    # ---- live -------------------------------------------------------------------------

    def on_live_event(self, event: Event) -> None:
        if event.kind != "job":
            return
        job = self.jobs.get(event.subject)
        if job is None or event.status is None:
            self._reload_soon()
            return
        self.jobs[job.job_id] = job.model_copy(update={
            "status": event.status, "employee": event.data.get("employee") or job.employee,
            "attempts": event.data.get("attempts", job.attempts)})
        table = self.query_one("#jobs", DataTable)
        if job.job_id in table.rows:
            table.update_cell(job.job_id, "status", _status(event.status))
            table.update_cell(job.job_id, "employee", self.jobs[job.job_id].employee or "—")
        if self.status_filter is not None or self.sort == "status":
            self._fill()
        if event.status in ("succeeded", "failed"):
            self._reload_soon()  # the cost and the finish time are in the summary

    def _reload_soon(self) -> None:
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(RELOAD_AFTER_S, self._reload_now)

    def _reload_now(self) -> None:
        self._reload_timer = None
        self.reload()

    # ---- actions ------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#jobs", DataTable).focus()

    @on(DataTable.RowSelected, "#jobs")
    def _row_chosen(self) -> None:
        self.action_open()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.query_one("#jobs", DataTable).focus()

    def action_next_status(self) -> None:
        self.status_filter = STATUSES[(STATUSES.index(self.status_filter) + 1) % len(STATUSES)]
        self.reload()

    def action_next_sort(self) -> None:
        names = list(SORTS)
        self.sort = names[(names.index(self.sort) + 1) % len(names)]
        self._fill()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self._fill()

    def action_reload(self) -> None:
        self.reload()

    def action_open(self) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self.app.push_screen(JobDetailScreen(job_id))

    def action_cancel(self) -> None:
        job_id = self.selected_id()
        if job_id is not None:
            self._cancel(job_id)

    @work(group="job-actions")
    async def _cancel(self, job_id: str) -> None:
        try:
            job = await self.console.client.cancel(job_id)
        except ConsoleError as exc:
            self.notify(str(exc), title="cannot cancel", severity="error")
            return
        self.notify(f"job {fmt.short_id(job_id)} is {job.status}")


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _haystack(job: JobSummary) -> str:
    return " ".join((job.job_id, job.status, job.employee or "", job.project or "",
                     job.prompt)).lower()
