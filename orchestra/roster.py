"""The roster: hiring employees and finding who does a job."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orchestra.errors import Conflict, InvalidInput, NotFound
from orchestra.hooks import AuditTrail
from orchestra.models import Adapter, Employee, EmployeeStatus
from orchestra.store.db import Database
from orchestra.store.queries import load
from orchestra.store.rows import employee_from_row

_E = load("employees")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Adapters whose code exists; the others are refused rather than faked.
AVAILABLE_ADAPTERS = frozenset({Adapter.OLLAMA, Adapter.CLI})


@dataclass(frozen=True, slots=True)
class HireRequest:
    """What the Director asks for when hiring (DESIGN §10, `POST /api/v1/employees`)."""

    name: str
    adapter: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    command: Sequence[str] | None = None
    network: bool = False
    skills: Sequence[str] = field(default_factory=tuple)
    price_in: Any = 0
    price_out: Any = 0


class Roster:
    """Reads and writes the `employees` table."""

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit

    async def hire(self, request: HireRequest, *, actor: str) -> Employee:
        employee = validate_hire(request)
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                _E["insert_employee"], employee.name, employee.adapter.value, employee.model,
                employee.base_url, employee.api_key_env,
                list(employee.command) if employee.command is not None else None,
                employee.network, list(employee.skills), employee.price_in, employee.price_out,
                employee.status.value,
            )
            if row is None:
                raise Conflict(f"an employee named {employee.name!r} already exists")
            hired = employee_from_row(row)
            await self.audit.record(
                conn, actor=actor, action="employee.hired", subject=hired.name,
                details=hired.public(),
            )
        return hired

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


def validate_hire(request: HireRequest) -> Employee:
    """Check a hire request field by field; the message names the field that is wrong."""
    if not _NAME.match(request.name or ""):
        raise InvalidInput(
            "name must be 1-63 characters of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )
    try:
        adapter = Adapter(request.adapter)
    except ValueError:
        choices = ", ".join(a.value for a in Adapter)
        raise InvalidInput(f"adapter must be one of {choices}") from None
    if adapter not in AVAILABLE_ADAPTERS:
        raise InvalidInput(f"adapter {adapter.value!r} is not available yet (use ollama or cli)")
    if adapter is Adapter.OLLAMA and not request.model:
        raise InvalidInput("an ollama employee needs a model (e.g. 'llama3.2:3b')")
    command = _check_command(adapter, request.command)
    if request.api_key_env is not None and not _ENV_NAME.match(request.api_key_env):
        raise InvalidInput("api_key_env must name an environment variable, not hold a key")
    if request.base_url is not None and not request.base_url.startswith(("http://", "https://")):
        raise InvalidInput("base_url must start with http:// or https://")
    skills = tuple(str(s).strip() for s in request.skills if str(s).strip())
    return Employee(
        name=request.name,
        adapter=adapter,
        model=request.model,
        base_url=request.base_url,
        api_key_env=request.api_key_env,
        command=command,
        network=bool(request.network),
        skills=skills,
        price_in=_price("price_in", request.price_in),
        price_out=_price("price_out", request.price_out),
        status=EmployeeStatus.PROBATION,
    )


def _check_command(adapter: Adapter, command: Sequence[str] | None) -> tuple[str, ...] | None:
    if adapter is not Adapter.CLI:
        if command is not None:
            raise InvalidInput("only a cli employee takes a command")
        return None
    if not command or isinstance(command, str):
        raise InvalidInput(
            'a cli employee needs command: an argv list such as ["agent", "{prompt}"]'
        )
    if not all(isinstance(part, str) and part for part in command):
        raise InvalidInput("command must be a list of non-empty strings")
    return tuple(command)


def _price(field_name: str, value: Any) -> Decimal:
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput(f"{field_name} must be a number (USD per million tokens)") from None
    if not price.is_finite() or price < 0:
        raise InvalidInput(f"{field_name} must be a non-negative number")
    return price
