"""The roster: hiring employees and finding who does a job."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orchestra import inputs
from orchestra.employees.base import is_service_variable
from orchestra.employees.presets import Preset, preset
from orchestra.errors import Conflict, InvalidInput, NotFound
from orchestra.hooks import AuditTrail
from orchestra.models import AVAILABLE_ADAPTERS as AVAILABLE_ADAPTERS  # also known here
from orchestra.models import Adapter, Employee, EmployeeStatus, Scores
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load
from orchestra.store.rows import employee_from_row, scores_from_row

_E = load("employees")
# The same patterns as the `employees` table's CHECK constraints (migration 001).
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = re.compile(NAME_PATTERN)
_ENV_NAME = re.compile(ENV_NAME_PATTERN)
# Lengths that no real hire comes near; they keep rows and prompts to a sane size.
MAX_MODEL_CHARS = 200
MAX_URL_CHARS = 2048
MAX_ENV_NAME_CHARS = 128
MAX_COMMAND_PARTS = 64
MAX_COMMAND_PART_CHARS = 4_000
MAX_SKILLS = 32
MAX_SKILL_CHARS = 64
# HR scores an employee over its last this many finished jobs (routing's window in migration
# 007's `choose_employee()` is the same 50).
SCORE_WINDOW = 50
# What `edit` may change; the name and adapter are who the employee is (hire another).
EDITABLE_FIELDS = (
    "model", "base_url", "api_key_env", "command", "network", "skills", "price_in", "price_out",
    "max_output_tokens", "context_tokens",
)
# The output cap sent with each call bounds what a call can cost (see governance/accountant).
MAX_OUTPUT_TOKENS = 1_000_000
# A context window, in tokens: a thread's history is cut to fit it (the same bounds as the
# `employees` table's CHECK, migration 012).
MIN_CONTEXT_TOKENS = 256
MAX_CONTEXT_TOKENS = 10_000_000
DEFAULT_CONTEXT_TOKENS = 8192
DEFAULT_OUTPUT_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class HireRequest:
    """What the Director asks for when hiring (DESIGN §10, `POST /api/v1/employees`)."""

    name: str
    adapter: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    command: Sequence[str] | None = None
    # None: the preset's (a coding agent needs its provider), else no network.
    network: bool | None = None
    skills: Sequence[str] = field(default_factory=tuple)
    price_in: Any = 0
    price_out: Any = 0
    max_output_tokens: Any = DEFAULT_OUTPUT_TOKENS
    # A coding-agent preset (`orchestra.employees.presets`): fills in the command (unless one
    # is given), the key variable and the network; `program` replaces the agent's program.
    preset: str | None = None
    program: str | None = None
    context_tokens: Any = DEFAULT_CONTEXT_TOKENS
    # Refuse a cli command whose program is not on this host (see `require_command_exists`);
    # off for a program that exists only on the worker hosts.
    check_command: bool = True


class Roster:
    """Reads and writes the `employees` table."""

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit

    async def hire(self, request: HireRequest, *, actor: str) -> Employee:
        employee = prepare_hire(request)
        async with self.db.transaction() as conn:
            return await self.hire_in(conn, employee, actor=actor)

    async def hire_in(self, conn: Connection, employee: Employee, *, actor: str) -> Employee:
        """Hire an employee checked by `prepare_hire`, on the caller's transaction (an approved
        proposal hires in the approval's transaction)."""
        row = await conn.fetchrow(
            _E["insert_employee"], employee.name, employee.adapter.value, employee.model,
            employee.base_url, employee.api_key_env,
            list(employee.command) if employee.command is not None else None,
            employee.network, list(employee.skills), employee.price_in, employee.price_out,
            employee.status.value, employee.max_output_tokens, employee.preset,
            employee.context_tokens,
        )
        if row is None:
            raise Conflict(f"an employee named {employee.name!r} already exists "
                           "(names stay taken after firing, for the history); "
                           "choose another name, or `aura employee edit` that one")
        hired = employee_from_row(row)
        await self.audit.record(
            conn, actor=actor, action="employee.hired", subject=hired.name,
            details=hired.public(),
        )
        return hired

    async def edit(
        self, name: str, changes: Mapping[str, Any], *, actor: str, check_command: bool = True
    ) -> Employee:
        """Change some of `EDITABLE_FIELDS`, checked as a hire is; audited as `employee.edited`
        with each changed field's old and new value, in the same transaction. A terminated
        employee cannot be edited; a change to nothing is no change (and no audit entry)."""
        unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
        if unknown:
            raise InvalidInput(f"cannot edit {', '.join(unknown)}; editable: "
                               f"{', '.join(EDITABLE_FIELDS)}")
        if not changes:
            raise InvalidInput(f"nothing to change; give one of {', '.join(EDITABLE_FIELDS)}")
        async with self.db.transaction() as conn:
            current = await _locked(conn, name)
            if current.status is EmployeeStatus.TERMINATED:
                raise Conflict(f"employee {name!r} is terminated and cannot be edited")
            edited = dataclasses.replace(
                validate_hire(_as_hire(current, changes)),
                status=current.status, created_at=current.created_at,
            )
            if check_command and "command" in changes and edited.command is not None:
                require_command_exists(edited.command)
            before, after = current.public(), edited.public()
            changed = {f: {"from": before[f], "to": after[f]}
                       for f in EDITABLE_FIELDS if before[f] != after[f]}
            if not changed:
                return current
            row = await conn.fetchrow(
                _E["update_employee"], name, edited.model, edited.base_url, edited.api_key_env,
                list(edited.command) if edited.command is not None else None, edited.network,
                list(edited.skills), edited.price_in, edited.price_out, edited.max_output_tokens,
                edited.context_tokens,
            )
            await self.audit.record(conn, actor=actor, action="employee.edited", subject=name,
                                    details={"changed": changed})
        return employee_from_row(row)

    async def terminate(self, name: str, *, actor: str) -> Employee:
        """Fire an employee: it takes no more work (queued jobs naming it fail at their claim,
        one already running finishes); its row and history stay. Twice is a `Conflict`."""
        async with self.db.transaction() as conn:
            current = await _locked(conn, name)
            if current.status is EmployeeStatus.TERMINATED:
                raise Conflict(f"employee {name!r} is already terminated")
            row = await conn.fetchrow(
                _E["set_employee_status"], name, EmployeeStatus.TERMINATED.value
            )
            await self.audit.record(conn, actor=actor, action="employee.terminated",
                                    subject=name, details={"was": current.status.value})
        return employee_from_row(row)

    async def suspend(self, name: str, *, actor: str) -> Employee:
        """Suspend a working employee: it takes no more work until reinstated."""
        return await self._move(name, EmployeeStatus.SUSPENDED, "employee.suspended",
                                allowed=(EmployeeStatus.PROBATION, EmployeeStatus.ACTIVE),
                                actor=actor)

    async def reinstate(self, name: str, *, actor: str) -> Employee:
        """Bring a suspended employee back (on probation, its failure streak cleared)."""
        return await self._move(name, EmployeeStatus.PROBATION, "employee.reinstated",
                                allowed=(EmployeeStatus.SUSPENDED,), actor=actor)

    async def _move(
        self, name: str, target: EmployeeStatus, action: str, *,
        allowed: tuple[EmployeeStatus, ...], actor: str,
    ) -> Employee:
        async with self.db.transaction() as conn:
            current = await _locked(conn, name)
            if current.status not in allowed:
                raise Conflict(f"employee {name!r} is {current.status.value}; only "
                               f"{' or '.join(s.value for s in allowed)} employees can be "
                               f"{action.split('.')[1]}")
            row = await conn.fetchrow(_E["set_employee_status"], name, target.value)
            await self.audit.record(conn, actor=actor, action=action, subject=name,
                                    details={"was": current.status.value})
        return employee_from_row(row)

    async def get(self, name: str) -> Employee:
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_E["get_employee"], name)
        if row is None:
            raise NotFound(f"no employee named {name!r}")
        return employee_from_row(row)

    async def list_employees(self) -> list[Employee]:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_E["list_employees"])
        return [employee_from_row(r) for r in rows]

    async def scores(self) -> dict[str, Scores]:
        """Every employee's scores over its last `SCORE_WINDOW` finished jobs, by name."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(_E["employee_scores"], SCORE_WINDOW)
        return {row["employee"]: scores_from_row(row) for row in rows}


def prepare_hire(request: HireRequest) -> Employee:
    """The employee a hire request would give, checked (and its program looked for)."""
    employee = validate_hire(request)
    if request.check_command and employee.command is not None:
        require_command_exists(employee.command)
    return employee


async def _locked(conn: Connection, name: str) -> Employee:
    row = await conn.fetchrow(_E["lock_employee"], name)
    if row is None:
        raise NotFound(f"no employee named {name!r}")
    return employee_from_row(row)


def _as_hire(current: Employee, changes: Mapping[str, Any]) -> HireRequest:
    """The hire that would give the employee as changed, so it is checked as hires are."""
    fields = {f: getattr(current, f) for f in EDITABLE_FIELDS}
    return HireRequest(name=current.name, adapter=current.adapter.value,
                       preset=current.preset, **{**fields, **changes})


def require_command_exists(command: Sequence[str]) -> None:
    """A cli employee's program must exist on this host: an absolute path to an executable, or
    a name on the server's PATH. A typo (or a placeholder copied from an example) would
    otherwise fail every job the employee takes."""
    program = command[0]
    fix = ("give the absolute path of an installed program or install it on the server; if it "
           "exists only on the worker hosts, hire with \"check_command\": false "
           "(`aura hire --no-check`)")
    if "/" in program and not os.path.isabs(program):
        raise InvalidInput(f"command[0] {program!r} is a relative path, which would be looked "
                           f"up in each job's sandbox; {fix}")
    if shutil.which(program) is None:
        where = ("is not an executable file" if "/" in program
                 else "is not found on the server's PATH")
        raise InvalidInput(f"command[0] {program!r} {where}; {fix}")


def validate_hire(request: HireRequest) -> Employee:
    """Check a hire request field by field; the message names the field that is wrong.

    The HTTP edge checks types first, but the CLI, MCP and tests reach this too, so wrong types,
    NUL and control characters are refused here as well, before anything meets the database.
    """
    name = _text("name", request.name)
    if not _NAME.match(name):
        raise InvalidInput(
            "name must be 1-63 characters of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )
    adapter = _adapter(_text("adapter", request.adapter))
    model = _optional_text("model", request.model, MAX_MODEL_CHARS)
    agent = _preset(request, adapter)
    if agent is not None:
        request = _filled_by(agent, request, model)
    if adapter is Adapter.OLLAMA and not model:
        raise InvalidInput("an ollama employee needs a model (e.g. 'llama3.2:3b')")
    if adapter is Adapter.GEMINI and not model:
        raise InvalidInput("a gemini employee needs a model (e.g. 'gemini-2.5-flash')")
    command = _check_command(adapter, request.command)
    api_key_env = _optional_text("api_key_env", request.api_key_env, MAX_ENV_NAME_CHARS)
    if api_key_env is not None and not _ENV_NAME.match(api_key_env):
        raise InvalidInput("api_key_env must name an environment variable, not hold a key")
    if api_key_env is not None and is_service_variable(api_key_env):
        # An employee's key is sent to its base_url: an AURA_* name would hand the service's
        # own secrets (the Director key, the database URL) to whoever runs that URL.
        raise InvalidInput(f"api_key_env {api_key_env} is a variable of the service itself "
                           "(AURA_*): the service's own variables are never given to an "
                           "employee; name a variable of its own (e.g. 'OPENAI_API_KEY')")
    if adapter is Adapter.GEMINI and api_key_env is None:
        raise InvalidInput("a gemini employee needs api_key_env: the environment variable "
                           "holding its API key (e.g. 'GEMINI_API_KEY')")
    base_url = _optional_text("base_url", request.base_url, MAX_URL_CHARS)
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise InvalidInput("base_url must start with http:// or https://")
    _check_openai(adapter, model, base_url, api_key_env)
    network = False if request.network is None else request.network
    if not isinstance(network, bool):
        raise InvalidInput(f"network must be true or false, not {inputs.describe(network)}")
    if not isinstance(request.check_command, bool):
        raise InvalidInput("check_command must be true or false, not "
                           f"{inputs.describe(request.check_command)}")
    return Employee(
        name=name,
        adapter=adapter,
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        command=command,
        network=network,
        skills=clean_skills(request.skills),
        price_in=_price("price_in", request.price_in),
        price_out=_price("price_out", request.price_out),
        status=EmployeeStatus.PROBATION,
        max_output_tokens=_output_cap(request.max_output_tokens),
        context_tokens=_whole("context_tokens", request.context_tokens, MIN_CONTEXT_TOKENS,
                              MAX_CONTEXT_TOKENS),
        preset=agent.name if agent is not None else None,
    )


def _preset(request: HireRequest, adapter: Adapter) -> Preset | None:
    """The coding-agent preset asked for, checked; None for a hire without one."""
    if request.preset is None:
        if request.program is not None:
            raise InvalidInput("program replaces a preset's program; give a preset too")
        return None
    agent = preset(_text("preset", request.preset))
    if adapter is not Adapter.CLI:
        raise InvalidInput(f"a {agent.name} employee is a command-line employee: its adapter "
                           f"is cli, not {adapter.value}")
    return agent


def _filled_by(agent: Preset, request: HireRequest, model: str | None) -> HireRequest:
    """The hire with what the preset fills in where the request left it out: the agent's
    command (with `model` and `program`), its key variable and its network."""
    program = _optional_text("program", request.program, MAX_COMMAND_PART_CHARS)
    if program is not None and request.command is not None:
        raise InvalidInput("give either command or program, not both: program replaces the "
                           "preset's program in the command it fills in")
    return dataclasses.replace(
        request,
        command=request.command if request.command is not None
        else agent.command(model, program),
        api_key_env=request.api_key_env if request.api_key_env is not None else agent.key_env,
        network=request.network if request.network is not None else agent.network,
    )


def _check_openai(
    adapter: Adapter, model: str | None, base_url: str | None, api_key_env: str | None
) -> None:
    """An openai employee needs a model; without a base_url it goes to OpenAI's own API,
    which answers nothing without a key. A local server (LM Studio, vLLM…) may need none."""
    if adapter is not Adapter.OPENAI:
        return
    if not model:
        raise InvalidInput("an openai employee needs a model (e.g. 'gpt-4o-mini')")
    if base_url is None and api_key_env is None:
        raise InvalidInput("an openai employee without base_url uses https://api.openai.com/v1 "
                           "and needs api_key_env (the variable that holds its key, e.g. "
                           "OPENAI_API_KEY)")


def _output_cap(value: object) -> int:
    return _whole("max_output_tokens", value, 1, MAX_OUTPUT_TOKENS)


def _whole(field_name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field_name} must be a whole number from {low} to {high}, not "
                           f"{inputs.describe(value)}")
    return value


def _text(field_name: str, value: object, max_chars: int = 200, *, free: bool = False) -> str:
    """`value` as a string that fits the database: no NUL (nor control characters unless
    `free`), at most `max_chars` long."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name} must be a string, not {inputs.describe(value)}")
    bad = inputs.bad_character(value, free_text=free)
    if bad is not None:
        raise InvalidInput(f"{field_name} contains {bad}")
    if len(value) > max_chars:
        raise InvalidInput(f"{field_name} must be at most {max_chars} characters")
    return value


def _optional_text(field_name: str, value: object, max_chars: int) -> str | None:
    return None if value is None else _text(field_name, value, max_chars)


def _adapter(value: str) -> Adapter:
    try:
        adapter = Adapter(value)
    except ValueError:
        choices = ", ".join(a.value for a in Adapter)
        raise InvalidInput(f"adapter must be one of {choices}") from None
    if adapter not in AVAILABLE_ADAPTERS:
        available = " or ".join(sorted(a.value for a in AVAILABLE_ADAPTERS))
        raise InvalidInput(f"adapter {adapter.value!r} is not available yet (use {available})")
    return adapter


def _check_command(adapter: Adapter, command: object) -> tuple[str, ...] | None:
    if adapter is not Adapter.CLI:
        if command is not None:
            raise InvalidInput("only a cli employee takes a command")
        return None
    if not command or not isinstance(command, list | tuple):
        raise InvalidInput(
            'a cli employee needs command: an argv list such as ["agent", "{prompt}"]'
            + ("" if command is None else f", not {inputs.describe(command)}")
        )
    if len(command) > MAX_COMMAND_PARTS:
        raise InvalidInput(f"command must have at most {MAX_COMMAND_PARTS} items")
    for index, part in enumerate(command):
        if not isinstance(part, str) or not part:
            raise InvalidInput(
                f"command[{index}] must be a non-empty string, not {inputs.describe(part)}; "
                "command must be a list of non-empty strings"
            )
        # An argument may span lines; only what the OS or the database cannot hold is refused.
        _text(f"command[{index}]", part, MAX_COMMAND_PART_CHARS, free=True)
    return tuple(command)


def clean_skills(skills: object, max_items: int = MAX_SKILLS) -> tuple[str, ...]:
    """Skills as an employee holds them and a job asks for them: at most `max_items` strings
    of at most `MAX_SKILL_CHARS` characters on one line, stripped, none empty."""
    if not isinstance(skills, list | tuple):
        raise InvalidInput(f"skills must be a list of strings, not {inputs.describe(skills)}")
    if len(skills) > max_items:
        raise InvalidInput(f"skills must have at most {max_items} items")
    cleaned = tuple(
        _text(f"skills[{index}]", skill, MAX_SKILL_CHARS).strip()
        for index, skill in enumerate(skills)
    )
    if "" in cleaned:
        raise InvalidInput(f"skills[{cleaned.index('')}] must not be empty")
    return cleaned


def _price(field_name: str, value: object) -> Decimal:
    try:
        return inputs.parse_price(value)
    except ValueError as exc:
        raise InvalidInput(f"{field_name} {exc} (USD per million tokens)") from None
