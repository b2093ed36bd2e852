"""Prometheus metrics named `aura_*`, with units in the name (DESIGN §12).

Counters of events this process sees (tool calls) are kept in memory; totals that belong to
the whole system (jobs by status, slots by state, tokens and cost from the append-only ledger,
every budget's remaining money) are read from PostgreSQL at scrape time, so every process
reports the same truth and a budget's gauge is current whether or not calls are made.

Every label set is bounded, so no caller can grow a scrape: a tool label is a tool this
server has (any other name a client sends is `unknown`), an outcome one of `OUTCOMES`, and
the labels read from the database (employees, budgets: names the Director created, checked
by the schema to 63 characters) are cut to `MAX_SERIES` per family, the rest summed into
`other` (money and tokens) or left out (a budget's gauge, keeping the ones closest to empty;
a worker's heartbeat age, keeping the most silent).

The audit chain's verification is too long for a scrape (it reads every entry): a periodic task
of the serving process (`mcp_server.runner.verify_audit`) reports its outcome here.
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import nsmallest

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from orchestra.store.db import Database
from orchestra.store.queries import load

_Q = load("metrics")
_TERMINAL = ("succeeded", "failed", "cancelled", "rejected")
UNKNOWN_TOOL = "unknown"
OUTCOMES = frozenset({"ok", "error", "exception"})
MAX_SERIES = 200  # per label family read from the database
OTHER = "other"
# Job durations span a one-line answer to a long refactor.
DURATION_BOUNDS_S = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class _SystemCollector(Collector):
    def __init__(self) -> None:
        self.jobs: dict[str, int] = {}
        self.slots: dict[str, int] = {}
        self.workers: dict[str, int] = {}
        self.ledger: list[tuple[str, int, int, float]] = []
        self.budgets: dict[str, tuple[float, float]] = {}  # name → (remaining, limit)
        self.queue_oldest_s = 0.0
        self.heartbeat_ages: dict[str, float] = {}
        self.audit_verify: tuple[bool, float] | None = None  # (chain holds, when, Unix time)
        self.approvals_pending = 0
        self.durations: dict[int, tuple[int, float]] = {}  # width_bucket → (count, seconds)

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("aura_jobs", "Jobs by current status", labels=["status"])
        finished = CounterMetricFamily(
            "aura_jobs_finished", "Jobs that reached a terminal status", labels=["status"]
        )
        for status, n in self.jobs.items():
            jobs.add_metric([status], n)
        for status in _TERMINAL:
            finished.add_metric([status], self.jobs.get(status, 0))
        slots = GaugeMetricFamily("aura_pool_slots", "Pool slots by state", labels=["state"])
        for state in ("empty", "idle", "busy", "loading"):
            slots.add_metric([state], self.slots.get(state, 0))
        workers = GaugeMetricFamily("aura_workers", "Registered workers by status",
                                    labels=["status"])
        for status in ("running", "stopped", "dead"):
            workers.add_metric([status], self.workers.get(status, 0))
        tokens = CounterMetricFamily(
            "aura_tokens", "Model tokens by employee and direction",
            labels=["employee", "direction"],
        )
        cost = CounterMetricFamily("aura_cost_usd", "Spend in USD by employee", labels=["employee"])
        for employee, tin, tout, usd in self.ledger:
            tokens.add_metric([employee, "in"], tin)
            tokens.add_metric([employee, "out"], tout)
            cost.add_metric([employee], usd)
        remaining = GaugeMetricFamily(
            "aura_budget_remaining_usd", "Money left in each budget this period (limit minus "
            "spent and reserved)", labels=["budget"],
        )
        limit = GaugeMetricFamily("aura_budget_limit_usd", "Each budget's limit per period",
                                  labels=["budget"])
        for name, (usd, limit_usd) in self.budgets.items():
            remaining.add_metric([name], usd)
            limit.add_metric([name], limit_usd)
        pending = GaugeMetricFamily("aura_approvals_pending",
                                    "Approvals waiting for the Director")
        pending.add_metric([], self.approvals_pending)
        oldest = GaugeMetricFamily("aura_queue_oldest_seconds",
                                   "Seconds the oldest queued job has waited (0 with none)")
        oldest.add_metric([], self.queue_oldest_s)
        ages = GaugeMetricFamily("aura_worker_heartbeat_age_seconds",
                                 "Seconds since each running worker's last heartbeat",
                                 labels=["worker"])
        for worker, age in self.heartbeat_ages.items():
            ages.add_metric([worker], age)
        return [jobs, finished, slots, workers, tokens, cost, remaining, limit, pending, oldest,
                ages, *self._audit_verify(), self._duration_histogram()]

    def _audit_verify(self) -> list[Metric]:
        # Absent until this process has verified once: "unknown" is not "failing".
        if self.audit_verify is None:
            return []
        ok, at = self.audit_verify
        holds = GaugeMetricFamily("aura_audit_verify_ok",
                                  "1 when the last audit chain verification held, else 0")
        holds.add_metric([], 1 if ok else 0)
        when = GaugeMetricFamily("aura_audit_verify_timestamp_seconds",
                                 "Unix time of the last audit chain verification")
        when.add_metric([], at)
        return [holds, when]

    def _duration_histogram(self) -> Metric:
        buckets: list[tuple[str, float]] = []
        cumulative = 0
        for k, bound in enumerate(DURATION_BOUNDS_S):
            # width_bucket k (0-based here): at or above bound k-1 and below bound k.
            cumulative += self.durations.get(k, (0, 0.0))[0]
            buckets.append((str(bound), cumulative))
        total = sum(n for n, _ in self.durations.values())
        buckets.append(("+Inf", total))
        seconds = sum(s for _, s in self.durations.values())
        return HistogramMetricFamily(
            "aura_job_duration_seconds", "Claim to terminal status, finished jobs",
            buckets=buckets, sum_value=seconds,
        )


class Metrics:
    """One registry per process; the HTTP edges render it at `/metrics`."""

    def __init__(self, db: Database, pool_size: int, timezone: str = "UTC") -> None:
        self.db = db
        self.pool_size = pool_size
        self.timezone = timezone
        self.registry = CollectorRegistry()
        self.tool_calls = Counter(
            "aura_mcp_tool_calls", "MCP tool calls by tool and outcome",
            ["tool", "outcome"], registry=self.registry,
        )
        self.tool_seconds = Histogram(
            "aura_mcp_tool_call_duration_seconds", "MCP tool call latency",
            ["tool"], registry=self.registry,
        )
        self._system = _SystemCollector()
        self.registry.register(self._system)
        self._known_tools: set[str] = set()

    def know_tools(self, names: Iterable[str]) -> None:
        """The tool names that may become labels (the MCP server's own tools)."""
        self._known_tools.update(names)

    def observe_tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        # The name is whatever the client sent: a label per name would let any client grow
        # every scrape without bound (twenty 10 KB names once added 4 MB).
        tool = tool if tool in self._known_tools else UNKNOWN_TOOL
        outcome = outcome if outcome in OUTCOMES else "error"
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_seconds.labels(tool).observe(seconds)

    def audit_verified(self, ok: bool, at: float) -> None:
        """The outcome of the latest audit chain verification, and when it ran."""
        self._system.audit_verify = (ok, at)

    async def render(self) -> bytes:
        async with self.db.connection() as conn:
            jobs = await conn.fetch(_Q["jobs_by_status"])
            slots = await conn.fetch(_Q["slots_by_state"], self.pool_size)
            workers = await conn.fetch(_Q["workers_by_status"])
            ledger = await conn.fetch(_Q["ledger_by_employee"])
            durations = await conn.fetch(_Q["job_durations"], list(DURATION_BOUNDS_S))
            budgets = await conn.fetch(_Q["budgets_remaining"], self.timezone)
            pending = await conn.fetchval(_Q["approvals_pending"])
            oldest = await conn.fetchval(_Q["queue_oldest"])
            beats = await conn.fetch(_Q["worker_heartbeats"], MAX_SERIES)
        self._system.jobs = {r["status"]: r["n"] for r in jobs}
        self._system.slots = {r["state"]: r["n"] for r in slots}
        self._system.workers = {r["status"]: r["n"] for r in workers}
        self._system.ledger = _fold_ledger(
            [(r["employee"], int(r["tin"]), int(r["tout"]), float(r["cost"])) for r in ledger])
        self._system.budgets = dict(nsmallest(
            MAX_SERIES, ((r["name"], (float(r["remaining"]), float(r["limit_usd"])))
                         for r in budgets),
            key=lambda item: item[1][0]))
        self._system.approvals_pending = int(pending)
        self._system.queue_oldest_s = float(oldest)
        self._system.heartbeat_ages = {r["id"]: float(r["age"]) for r in beats}
        self._system.durations = {
            r["bucket"]: (int(r["n"]), float(r["total"])) for r in durations
        }
        return generate_latest(self.registry)


def _fold_ledger(rows: list[tuple[str, int, int, float]]) -> list[tuple[str, int, int, float]]:
    """At most `MAX_SERIES` employees by spend; the rest summed as `other`, so totals hold."""
    if len(rows) <= MAX_SERIES:
        return rows
    ranked = sorted(rows, key=lambda row: row[3], reverse=True)
    kept, rest = ranked[:MAX_SERIES - 1], ranked[MAX_SERIES - 1:]
    return [*kept, (OTHER, sum(r[1] for r in rest), sum(r[2] for r in rest),
                    sum(r[3] for r in rest))]
