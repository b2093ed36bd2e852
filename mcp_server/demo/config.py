"""The demo project's script (`<project>/aura/demo.toml`): employees, budget, job, the fake's
answer. Read into plain dataclasses; anything missing or malformed is one `InvalidInput` that
names the file and the key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.errors import InvalidInput

SCRIPT = Path("aura") / "demo.toml"
POLICY = Path("aura") / "policy.toml"


@dataclass(frozen=True)
class DemoBudget:
    name: str
    limit_usd: str


@dataclass(frozen=True)
class DemoJob:
    employee: str
    prompt: str
    acceptance: tuple[str, ...]


@dataclass(frozen=True)
class DemoScript:
    """What `aura demo` does with a project: hire `employees` (API hire bodies), set `budget`,
    submit `job`, with the fake serving every employee's model and answering `fake_model`'s
    calls with `fake_reply`."""

    project: Path
    policy_file: Path
    employees: tuple[dict[str, Any], ...]
    budget: DemoBudget
    job: DemoJob
    fake_model: str
    fake_reply: str

    @property
    def models(self) -> list[str]:
        return sorted({str(e["model"]) for e in self.employees})


def load_script(project: Path) -> DemoScript:
    """The script of the demo project at `project`."""
    path = project / SCRIPT
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}; is {project} a demo project?") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    reader = _Reader(path, data)
    employees = reader.table_list("employees")
    if not employees:
        raise InvalidInput(f"{path}: [[employees]] needs at least one employee")
    for index, employee in enumerate(employees):
        for key in ("name", "adapter", "model"):
            if not isinstance(employee.get(key), str) or not employee[key]:
                raise InvalidInput(f"{path}: employees[{index}].{key} must be a non-empty string")
    reply_file = path.parent / reader.text("fake", "reply_file")
    try:
        reply = reply_file.read_text("utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: fake.reply_file {reply_file}: {exc.strerror}") from None
    job = DemoJob(reader.text("job", "employee"), reader.text("job", "prompt"),
                  tuple(reader.texts("job", "acceptance")))
    if job.employee not in {e["name"] for e in employees}:
        raise InvalidInput(f"{path}: job.employee {job.employee!r} is not one of [[employees]]")
    return DemoScript(
        project=project, policy_file=project / POLICY, employees=tuple(employees),
        budget=DemoBudget(reader.text("budget", "name"), reader.text("budget", "limit_usd")),
        job=job, fake_model=reader.text("fake", "model"), fake_reply=reply,
    )


@dataclass(frozen=True)
class _Reader:
    path: Path
    data: dict[str, Any]

    def _table(self, table: str) -> dict[str, Any]:
        value = self.data.get(table)
        if not isinstance(value, dict):
            raise InvalidInput(f"{self.path}: the [{table}] table is missing")
        return value

    def text(self, table: str, key: str) -> str:
        value = self._table(table).get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{self.path}: {table}.{key} must be a non-empty string")
        return value

    def texts(self, table: str, key: str) -> list[str]:
        value = self._table(table).get(key)
        if not isinstance(value, list) or not value or not all(
                isinstance(item, str) and item for item in value):
            raise InvalidInput(f"{self.path}: {table}.{key} must be a list of commands")
        return value

    def table_list(self, key: str) -> list[dict[str, Any]]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise InvalidInput(f"{self.path}: {key} must be [[{key}]] tables")
        return [dict(item) for item in value]
