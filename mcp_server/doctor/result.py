"""One doctor check's outcome: ok, warn or fail, what was seen, and how to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but something will bite later; the exit code stays 0
    FAIL = "fail"  # Aura will not work (or not safely) until this is fixed


@dataclass(frozen=True, slots=True)
class CheckResult:
    """`fix` is empty when there is nothing to do."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.OK, detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)


def worst(results: list[CheckResult]) -> Status:
    """The worst status among `results` (ok when there are none)."""
    order = [Status.OK, Status.WARN, Status.FAIL]
    return max((r.status for r in results), key=order.index, default=Status.OK)
