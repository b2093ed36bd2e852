"""What goes over the wire of the Director API (DESIGN §10): request bodies and query strings,
and the answers, as pydantic models.

The server validates requests with them and builds its answers from them; `openapi.py`
describes the API with their JSON schemas; the CLI parses answers with them. A leaf (pydantic
and `fields.py` only, an import-linter contract says so), so importing it costs no server.

Requests are strict, so a wrong JSON type is refused instead of coerced (`"false"` is not
false, `"python"` is not `["python"]`); answers ignore fields they do not know, so an older CLI
still reads a newer server.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcp_server.api.fields import (
    MAX_CONTEXT_TOKENS,
    MAX_OUTPUT_TOKENS,
    MAX_PAGE,
    MIN_CONTEXT_TOKENS,
    AdapterName,
    ApprovalStatusName,
    BreakKindName,
    BudgetScopeName,
    CommandPart,
    Commands,
    Cursor,
    EmployeeName,
    EmployeeStatusName,
    EnvName,
    JobId,
    JobKindName,
    JobStatusName,
    LedgerKindName,
    Line,
    ModelTag,
    Money,
    Note,
    PresetName,
    Price,
    PricingName,
    Skills,
    SlotStateName,
    TokenName,
    Url,
    Usd,
)

DEFAULT_OUTPUT_TOKENS = 4096
OutputCap = Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
DEFAULT_CONTEXT_TOKENS = 8192
ContextWindow = Annotated[int, Field(
    ge=MIN_CONTEXT_TOKENS, le=MAX_CONTEXT_TOKENS,
    description="the employee's context window in tokens; a thread's history is cut to fit")]
PER_MILLION = "USD per million tokens, as a number or a decimal string such as \"0.15\""


# ---- requests ----------------------------------------------------------------------------


class StrictBody(BaseModel):
    """A request body: exact JSON types (no "false" for false, no "x" for ["x"]), no unknown
    fields. `hints` say what a field should look like; they are added to its refusals."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    hints: ClassVar[Mapping[str, str]] = {}


class Query(BaseModel):
    """A query string: values arrive as text and are converted (`"50"` → 50); no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NewToken(StrictBody):
    """`POST /api/v1/tokens`."""

    name: TokenName


class NewEmployee(StrictBody):
    """`POST /api/v1/employees`. Which fields an adapter needs is the core's rule."""

    name: EmployeeName
    # Optional with a preset (a coding agent is a cli employee).
    adapter: AdapterName | None = None
    model: ModelTag | None = None
    base_url: Url | None = None
    api_key_env: EnvName | None = None
    command: Commands | None = None
    # Left out: the preset's (true: a coding agent calls its provider), else false.
    network: bool = False
    skills: Skills = []
    price_in: Price = Decimal(0)
    price_out: Price = Decimal(0)
    max_output_tokens: OutputCap = DEFAULT_OUTPUT_TOKENS
    context_tokens: ContextWindow = DEFAULT_CONTEXT_TOKENS
    # false: do not look for command[0] on this host (it exists only on the worker hosts).
    check_command: bool = True
    # A coding agent (claude-code, codex, gemini-cli, aider, opencode): fills in its command,
    # key variable and network, and how its usage and cost are read. The core checks the name
    # (an unknown one is refused with the valid ones listed).
    preset: ModelTag | None = None
    # The agent's program, if not its usual name on PATH (an absolute path).
    program: CommandPart | None = None

    hints: ClassVar[Mapping[str, str]] = {
        "command": 'a cli employee needs command: an argv list such as ["agent", "{prompt}"]',
        "skills": 'a list of strings such as ["python", "review"]',
        "price_in": PER_MILLION,
        "price_out": PER_MILLION,
    }


class EmployeeEdit(StrictBody):
    """`PATCH /api/v1/employees/{name}`: only the fields given change; `null` clears one.
    The merged employee is checked as a hire is (`orchestra.roster.Roster.edit`)."""

    model: ModelTag | None = None
    base_url: Url | None = None
    api_key_env: EnvName | None = None
    command: Commands | None = None
    network: bool = False
    skills: Skills = []
    price_in: Price = Decimal(0)
    price_out: Price = Decimal(0)
    max_output_tokens: OutputCap = DEFAULT_OUTPUT_TOKENS
    context_tokens: ContextWindow = DEFAULT_CONTEXT_TOKENS
    check_command: bool = True

    hints: ClassVar[Mapping[str, str]] = NewEmployee.hints

    def changes(self) -> dict[str, object]:
        """The fields the caller gave, as the core takes them (lists as tuples)."""
        values: dict[str, object] = {}
        for name in self.model_fields_set - {"check_command"}:
            value = getattr(self, name)
            values[name] = tuple(value) if isinstance(value, list) else value
        return values


class Page(Query):
    """`?limit=`: how many rows, newest first."""

    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50


class JobFilter(Page):
    """`GET /api/v1/jobs?status=&limit=`."""

    status: JobStatusName | None = None


class BudgetBody(StrictBody):
    """`PUT /api/v1/budgets/{name}`: create or change a monthly limit, overall (`global`) or
    for one employee."""

    scope: BudgetScopeName
    employee: EmployeeName | None = None
    limit_usd: Usd
    period: Literal["month"] = "month"

    hints: ClassVar[Mapping[str, str]] = {
        "limit_usd": 'USD as a decimal string such as "12.50" (or a number)',
        "period": 'budgets run per calendar month: "month"',
    }


class LedgerFilter(Page):
    """`GET /api/v1/ledger?employee=&job_id=&since=&until=&limit=&cursor=`."""

    employee: EmployeeName | None = None
    job_id: JobId | None = None
    since: datetime | None = Field(None, description="ISO time, inclusive")
    until: datetime | None = Field(None, description="ISO time, exclusive")
    cursor: Cursor | None = None


class AuditFilter(Page):
    """`GET /api/v1/audit?actor=&action=&subject=&seq=&cursor=&limit=`: the log's tail."""

    actor: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    action: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    subject: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    seq: Annotated[int, Field(ge=1, description="exactly this entry")] | None = None
    cursor: Cursor | None = None


class SpendQuery(Query):
    """`GET /api/v1/ledger/spend?days=`: the last `days` calendar days, today included."""

    days: Annotated[int, Field(ge=1, le=366)] = 30


class ApprovalFilter(Page):
    """`GET /api/v1/approvals?status=&limit=`."""

    status: ApprovalStatusName | None = None


class ApproveBody(StrictBody):
    """`POST /api/v1/approvals/{id}/approve`: an optional note (the body may be empty)."""

    note: Note | None = None


class DenyBody(StrictBody):
    """`POST /api/v1/approvals/{id}/deny`: the note is required; the caller gets it back."""

    note: Note

    hints: ClassVar[Mapping[str, str]] = {
        "note": "a denial needs a note saying why; it is returned to the caller"}


class RecentQuery(Query):
    """`GET /api/v1/events/recent?limit=`."""

    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 20


class ExportQuery(Query):
    """`GET /api/v1/jobs/{id}/export?state=before|after`."""

    state: Literal["before", "after"]


# ---- answers -----------------------------------------------------------------------------


class AnswerMismatch(ValueError):
    """An answer is not the model a client expected (a server of another version)."""


A = TypeVar("A", bound=BaseModel)


def read_answer(model: type[A], answer: Any) -> A:
    """An answer as its model; a shape the client does not know is one line, not a traceback
    (for the CLI and the console alike)."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        raise AnswerMismatch(f"the API's answer is not a {model.__name__} ({where}: "
                             f"{first['msg']}); is the server another version of Aura?") from None


class Answer(BaseModel):
    """An answer body. Unknown fields are ignored when parsing, so clients survive additions."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class FieldProblem(Answer):
    field: str
    message: str


class Problem(Answer):
    """Every error (RFC 9457, `application/problem+json`)."""

    type: str = "about:blank"
    title: str = Field(description="a short kind: invalid_input, not_found, conflict, …")
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="each refused field, when the input was refused field by field")
    matches: list[str] | None = Field(
        default=None, description="the job ids an ambiguous prefix matched")
    budget: dict[str, str] | None = Field(
        default=None, description="when a budget refused: budget, scope, limit_usd, spent_usd, "
        "reserved_usd, worst_case_usd")


class TokenIssued(Answer):
    """`POST /api/v1/tokens`: the token, shown this once."""

    name: str
    token: str


class TokenInfo(Answer):
    name: str
    created_at: str
    revoked_at: str | None


class TokenList(Answer):
    tokens: list[TokenInfo]


class Employee(Answer):
    """An employee as clients see it (never a key: `api_key_env` names its variable)."""

    name: str
    adapter: AdapterName
    model: str | None
    base_url: str | None
    api_key_env: str | None
    command: list[str] | None
    network: bool
    skills: list[str]
    price_in: Money = Field(description="USD per million input tokens")
    price_out: Money = Field(description="USD per million output tokens")
    max_output_tokens: int = Field(description="the output cap sent with every call; with the "
                                   "prompt it bounds what a call can cost")
    context_tokens: int = Field(default=DEFAULT_CONTEXT_TOKENS, description="the context "
                                "window in tokens; a thread's history is cut to fit it")
    status: EmployeeStatusName
    created_at: str | None
    preset: PresetName | None = Field(None, description="the coding-agent preset whose "
                                      "output is read for usage and cost")


class Score(Answer):
    """HR's score over the employee's last `window` finished jobs (cancelled, rejected and
    budget-refused jobs left out); null rates when there is nothing to rate yet."""

    window: int
    jobs: int
    success_rate: float | None
    validation_pass_rate: float | None = Field(
        description="among the window's jobs that ran acceptance checks")
    p50_latency_ms: int | None
    cost_per_success_usd: Money | None


class RosterEntry(Employee):
    score: Score


class EmployeeList(Answer):
    """`GET /api/v1/employees`: the roster with each employee's score."""

    employees: list[RosterEntry]


class JobSummary(Answer):
    """A job in a list: no output, diff, whole prompt or check outputs (the job's own routes
    have them)."""

    job_id: str
    status: JobStatusName
    kind: JobKindName
    employee: str | None
    project: str | None
    attempts: int
    max_attempts: int
    cost: Money = Field(description="USD spent on model calls so far")
    tokens_in: int
    tokens_out: int
    prompt: str = Field(description="the prompt's first 200 characters")
    error: str | None = Field(description="the error's first line, when the job failed")
    validation_passed: bool | None = Field(
        description="whether the acceptance checks passed; null before validation")
    created_at: str
    finished_at: str | None


class JobList(Answer):
    jobs: list[JobSummary]


class Job(Answer):
    """One job: the MCP `get_job` result (DESIGN §10) with the prompt and project. Output and
    diff are cut at 20,000 characters (`*_truncated`); `/output` and `/diff` have them whole."""

    job_id: str
    status: JobStatusName
    kind: JobKindName
    employee: str | None
    attempts: int
    max_attempts: int
    validation: dict[str, Any] | None = Field(
        description="the acceptance checks' report: passed, and each check's command, "
        "exit code, duration and output")
    cost: Money = Field(description="USD spent on model calls so far")
    unpriced_calls: int = Field(0, description="model calls with no price (a coding agent "
                                "without a rate card): cost leaves them out")
    tokens_in: int
    tokens_out: int
    output: str | None
    output_truncated: bool
    diff: str | None
    diff_truncated: bool
    error: str | None
    created_at: str
    finished_at: str | None
    resources: dict[str, str] = Field(description="the MCP resources that hold the whole texts")
    skills: list[str] = Field(description="the skills the job asked its employee to have")
    max_cost_usd: Money | None = Field(description="the job's own spending ceiling, if any")
    budget_refusal: dict[str, str] | None = Field(
        description="when a budget refused the job's model call: budget, scope, limit_usd, "
        "spent_usd, reserved_usd, worst_case_usd")
    prompt: str
    project: str | None


class ApplyResult(Answer):
    """`POST /api/v1/jobs/{id}/apply`: the files given the job's after state."""

    job_id: str
    project: str
    applied: bool = Field(description="false when the project already held the change")
    already_applied: bool
    files: list[str] = Field(description="the files the change touches, relative to the "
                             "project")


class Slot(Answer):
    index: int
    state: SlotStateName
    employee: str | None
    job_id: str | None
    since: str | None


class Pool(Answer):
    """`GET /api/v1/pool`: one entry per slot."""

    slots: list[Slot]


class AuditReport(Answer):
    """`GET /api/v1/audit/verify`: the chain recomputed, and its first break if any."""

    ok: bool
    entries: int
    first_bad_seq: int | None
    kind: BreakKindName | None
    head_seq: int


class AuditEntry(Answer):
    seq: int
    ts: str
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]


class AuditPage(Answer):
    """`GET /api/v1/audit`: entries, newest first."""

    entries: list[AuditEntry]
    next_cursor: str | None = Field(description="pass as cursor for the next (older) page; "
                                    "null at the end")


class Budget(Answer):
    """A budget this period (DESIGN §10): money as decimal strings."""

    name: str
    scope: BudgetScopeName
    employee: str | None
    limit_usd: Money
    spent_usd: Money = Field(description="charged this period")
    reserved_usd: Money = Field(description="held now by calls under way (their worst case)")
    remaining_usd: Money = Field(description="limit minus spent and reserved, at least 0")
    period: Literal["month"]
    period_start: str = Field(description="the period's first instant (AURA_TIMEZONE's "
                              "midnight on the first)")
    period_end: str = Field(description="the next period's first instant")


class BudgetList(Answer):
    budgets: list[Budget]


class LedgerEntry(Answer):
    id: int
    ts: str
    kind: LedgerKindName = Field(description="call: a model call's charge; reservation: its "
                                 "worst case held before the call; release: a reservation "
                                 "let go without a charge")
    job_id: str | None
    employee: str
    tokens_in: int
    tokens_out: int
    cost_usd: Money | None = Field(description="null when the charge is unpriced (never 0)")
    pricing: PricingName | None = Field(
        description="a charge's pricing: reported (the agent's own cost), estimated (its "
        "tokens at the employee's rate card), unpriced (no cost can be derived), worst_case "
        "(an unmetered call, charged what was reserved); null for reservations, releases and "
        "charges recorded before pricing was")
    latency_ms: int
    reservation_id: int | None = Field(description="the reservation a charge or a release "
                                       "closes")


class LedgerTotals(Answer):
    """Over the whole filter, not only this page."""

    calls: int
    tokens_in: int
    tokens_out: int
    spent_usd: Money = Field(description="the charges' sum")
    reserved_usd: Money = Field(description="held now by open reservations of the filter's "
                                "employee and job")
    unpriced_calls: int = Field(description="charges with no price: spent_usd leaves them "
                                "out, so it is a lower bound when this is not 0")


class LedgerPage(Answer):
    """`GET /api/v1/ledger`: entries, newest first, and the filter's totals."""

    entries: list[LedgerEntry]
    totals: LedgerTotals
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at "
                                    "the end")


class EmployeeSpend(Answer):
    employee: str
    calls: int
    tokens_in: int
    tokens_out: int
    spent_usd: Money
    unpriced_calls: int = Field(description="calls with no price, left out of spent_usd")


class DaySpend(Answer):
    day: str = Field(description="a calendar day in AURA_TIMEZONE, YYYY-MM-DD")
    calls: int
    spent_usd: Money
    unpriced_calls: int = Field(description="calls with no price, left out of spent_usd")


class Spend(Answer):
    """`GET /api/v1/ledger/spend`: charges per employee (biggest first) and per day (days
    without charges left out), over `since`..`until` inclusive."""

    since: str
    until: str
    total_usd: Money
    by_employee: list[EmployeeSpend]
    by_day: list[DaySpend]


class Approval(Answer):
    """An approval (DESIGN §10): what waits for the Director, or was decided."""

    id: str
    action: str = Field(description="job, budget, hire, reinstate, apply_diff, "
                        "retention_prune or question")
    subject: str = Field(description="what it is about: a job id, an employee name, …")
    summary: str
    status: ApprovalStatusName = Field(description="expired counts as denied")
    requested_by: str
    created_at: str
    expires_at: str
    decided_by: str | None = Field(description="director, or policy:<version> when the "
                                   "policy let it through by itself")
    note: str | None = Field(description="the Director's note; a denial always has one")


class ApprovalList(Answer):
    """`GET /api/v1/approvals`: newest first."""

    approvals: list[Approval]


class ThreadSummary(Answer):
    """A conversation of `ask` (any client may continue it)."""

    thread_id: str
    title: str = Field(description="the start of its first question")
    created_by: str = Field(description="the client that started it")
    created_at: str
    last_activity: str = Field(description="when its last message was added")
    message_count: int = Field(description="questions and answers so far")


class ThreadList(Answer):
    """`GET /api/v1/threads`: newest first."""

    threads: list[ThreadSummary]


class ThreadMessage(Answer):
    seq: int
    role: Literal["user", "assistant"]
    text: str
    job_id: str
    client: str = Field(description="who asked (for an answer: whose question it answers)")
    employee: str | None = Field(description="who answered; null on a question")
    tokens: int = Field(description="estimated: UTF-8 bytes / 3, rounded up")
    created_at: str


class Thread(ThreadSummary):
    """`GET /api/v1/threads/{id}`: the thread and all its messages, oldest first."""

    messages: list[ThreadMessage]


class QueueCounts(Answer):
    """`GET /api/v1/queue`: how many jobs are in each status (every status, zeros included)."""

    counts: dict[str, int] = Field(description="jobs per status, every status present")
    total: int


class Event(Answer):
    """One event of the live feed, as `/events` sends it (`data` holds at least `id` and
    `status`)."""

    id: int
    kind: str = Field(description="job, slot, employee, budget or approval")
    subject: str = Field(description="the object's id (a job id, a slot index, a name)")
    status: str | None
    at: str
    data: dict[str, Any]


class RecentEvents(Answer):
    """`GET /api/v1/events/recent`: the newest events, oldest first, and the feed's newest id,
    to send as Last-Event-ID so that following misses nothing after this picture."""

    events: list[Event]
    last_id: int


class JobHistory(Answer):
    """`GET /api/v1/jobs/{id}/history`: the job's status changes the feed still keeps, oldest
    first (each event's data has `previous`, `attempts` and `employee`)."""

    job_id: str
    changes: list[Event]
