"""Turns database rows into the core's value types."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from orchestra.models import (
    Adapter,
    Employee,
    EmployeeStatus,
    Job,
    JobKind,
    JobStatus,
    Scores,
    Slot,
    SlotState,
)


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        kind=JobKind(row["kind"]),
        status=JobStatus(row["status"]),
        prompt=row["prompt"],
        project=row["project"],
        requested_employee=row["requested_employee"],
        employee=row["employee"],
        acceptance=tuple(row["acceptance"]),
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        client=row["client"],
        idempotency_key=row["idempotency_key"],
        output=row["output"],
        diff=row["diff"],
        validation=row["validation"],
        error=row["error"],
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
        cost=Decimal(row["cost"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        lease_owner=row["lease_owner"],
        max_cost_usd=_money(row["max_cost_usd"]),
        budget_refusal=row["budget_refusal"],
        unpriced_calls=row["unpriced_calls"],
        skills=tuple(row["skills"]),
        approval_id=row.get("approval_id"),
        thread_id=row.get("thread_id"),
    )


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def employee_from_row(row: Mapping[str, Any]) -> Employee:
    command = row["command"]
    return Employee(
        name=row["name"],
        adapter=Adapter(row["adapter"]),
        model=row["model"],
        base_url=row["base_url"],
        api_key_env=row["api_key_env"],
        command=tuple(command) if command is not None else None,
        network=row["network"],
        skills=tuple(row["skills"]),
        price_in=Decimal(row["price_in"]),
        price_out=Decimal(row["price_out"]),
        status=EmployeeStatus(row["status"]),
        created_at=row["created_at"],
        max_output_tokens=row["max_output_tokens"],
        preset=row["preset"],
        context_tokens=row["context_tokens"],
    )


def scores_from_row(row: Mapping[str, Any]) -> Scores:
    """A row of the `employee_scores` query."""
    rate = row["success_rate"]
    passed = row["validation_pass_rate"]
    per_success = row["cost_per_success"]
    return Scores(
        window=row["score_window"],
        jobs=row["jobs"],
        successes=row["successes"],
        success_rate=float(rate) if rate is not None else None,
        validation_pass_rate=float(passed) if passed is not None else None,
        p50_latency_ms=row["p50_latency_ms"],
        cost_per_success=Decimal(per_success) if per_success is not None else None,
    )


def slot_from_row(row: Mapping[str, Any]) -> Slot:
    return Slot(
        index=row["index"],
        state=SlotState(row["state"]),
        employee=row["employee"],
        job_id=row["job_id"],
        since=row["since"],
        last_used_at=row["last_used_at"],
    )
