"""What the Director API accepts: request bodies, query strings and path parameters (DESIGN §10).

Strict models, so a wrong JSON type is refused instead of coerced (`"false"` is not false, and
`"python"` is not `["python"]`), with the database's own name patterns and sane lengths. The core
checks hires again (`orchestra.roster.validate_hire`) for callers that do not come through here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field, TypeAdapter

from governance.access import TOKEN_NAME_PATTERN
from mcp_server.payloads import Query, StrictBody
from orchestra.models import JobStatus
from orchestra.roster import (
    ENV_NAME_PATTERN,
    MAX_COMMAND_PART_CHARS,
    MAX_COMMAND_PARTS,
    MAX_ENV_NAME_CHARS,
    MAX_MODEL_CHARS,
    MAX_SKILLS,
    MAX_URL_CHARS,
    HireRequest,
)
from tools.inputs import CleanText, EmployeeName, FreeText, Line, Price, Skill

MAX_PAGE = 500

TokenName = Annotated[str, CleanText(
    pattern=TOKEN_NAME_PATTERN,
    rule="must be 1-63 characters of letters, digits, '_', '.', '-', "
    "starting with a letter or digit",
)]
EnvName = Annotated[str, Field(max_length=MAX_ENV_NAME_CHARS), CleanText(
    pattern=ENV_NAME_PATTERN, rule="must name an environment variable, not hold a key",
)]
Model = Annotated[Line, Field(min_length=1, max_length=MAX_MODEL_CHARS)]
Url = Annotated[Line, Field(min_length=1, max_length=MAX_URL_CHARS)]
# An argument may span lines; NUL is what neither an argv nor the database can hold.
CommandPart = Annotated[FreeText, Field(min_length=1, max_length=MAX_COMMAND_PART_CHARS)]

# A whole job id, or its first hex digits as listings show them; `JobQueue.resolve` decides.
JobRef = Annotated[str, CleanText(
    pattern=r"^[0-9a-fA-F-]{4,36}$",
    rule="must be a job id (a UUID) or at least its first 4 hex digits, such as 8fe6d434",
)]
Commands = Annotated[list[CommandPart], Field(min_length=1, max_length=MAX_COMMAND_PARTS)]
Skills = Annotated[list[Skill], Field(max_length=MAX_SKILLS)]

PER_MILLION = "USD per million tokens, as a number or a decimal string such as \"0.15\""


class NewToken(StrictBody):
    """`POST /api/v1/tokens`."""

    name: TokenName


class NewEmployee(StrictBody):
    """`POST /api/v1/employees`. Which fields an adapter needs is the core's rule."""

    name: EmployeeName
    # The values of `orchestra.models.Adapter` (a test keeps the two equal).
    adapter: Literal["ollama", "openai", "gemini", "cli"]
    model: Model | None = None
    base_url: Url | None = None
    api_key_env: EnvName | None = None
    command: Commands | None = None
    network: bool = False
    skills: Skills = []
    price_in: Price = Decimal(0)
    price_out: Price = Decimal(0)
    # false: do not look for command[0] on this host (it exists only on the worker hosts).
    check_command: bool = True

    hints: ClassVar[dict[str, str]] = {
        "command": 'a cli employee needs command: an argv list such as ["agent", "{prompt}"]',
        "skills": 'a list of strings such as ["python", "review"]',
        "price_in": PER_MILLION,
        "price_out": PER_MILLION,
    }

    def hire_request(self) -> HireRequest:
        return HireRequest(
            name=self.name, adapter=self.adapter, model=self.model, base_url=self.base_url,
            api_key_env=self.api_key_env,
            command=tuple(self.command) if self.command is not None else None,
            network=self.network, skills=tuple(self.skills), price_in=self.price_in,
            price_out=self.price_out, check_command=self.check_command,
        )


class EmployeeEdit(StrictBody):
    """`PATCH /api/v1/employees/{name}`: only the fields given change; `null` clears one.
    The merged employee is checked as a hire is (`orchestra.roster.Roster.edit`)."""

    model: Model | None = None
    base_url: Url | None = None
    api_key_env: EnvName | None = None
    command: Commands | None = None
    network: bool = False
    skills: Skills = []
    price_in: Price = Decimal(0)
    price_out: Price = Decimal(0)
    check_command: bool = True

    hints: ClassVar[dict[str, str]] = NewEmployee.hints

    def changes(self) -> dict[str, object]:
        """The fields the caller gave, as the core takes them."""
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

    status: JobStatus | None = None


class ExportQuery(Query):
    """`GET /api/v1/jobs/{id}/export?state=before|after`."""

    state: Literal["before", "after"]


JOB_REF: TypeAdapter[str] = TypeAdapter(JobRef)
EMPLOYEE_NAME: TypeAdapter[str] = TypeAdapter(EmployeeName)
TOKEN_NAME: TypeAdapter[str] = TypeAdapter(TokenName)
