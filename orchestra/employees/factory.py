"""Builds the adapter that reaches an employee, by the kind of employee it is."""

from __future__ import annotations

from typing import assert_never

from orchestra.confine import Confiner
from orchestra.employees.base import EmployeeAdapter
from orchestra.employees.cli import CliEmployee
from orchestra.employees.gemini import GeminiEmployee
from orchestra.employees.ollama import OllamaEmployee
from orchestra.employees.openai_compat import OpenAIEmployee
from orchestra.models import Adapter, Employee


def build_adapter(
    employee: Employee, *, ollama_url: str, confiner: Confiner | None = None
) -> EmployeeAdapter:
    """The adapter for `employee`; Ollama employees without their own `base_url` use
    `ollama_url`, openai employees without one use OpenAI's API; command-line employees run
    under `confiner`."""
    match employee.adapter:
        case Adapter.OLLAMA:
            return OllamaEmployee(employee, employee.base_url or ollama_url)
        case Adapter.CLI:
            return CliEmployee(employee, confiner=confiner)
        case Adapter.GEMINI:
            return GeminiEmployee(employee)
        case Adapter.OPENAI:
            return OpenAIEmployee(employee)
        case _:
            assert_never(employee.adapter)
