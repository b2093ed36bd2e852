"""infra/prometheus/ and infra/grafana/ query only metrics a real server exposes.

Every `aura_*` name in the alert rules and in the dashboard's queries must be in the `/metrics`
of the API built on a real database (after one audit verification, as the serving process
runs at start). With `promtool` installed (Debian's `prometheus` package) the rules, the
scrape configuration and the rules' unit tests are checked too, and every dashboard query is
parsed as PromQL.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mcp_server.app import System
from mcp_server.runner import verify_audit_once

INFRA = Path(__file__).resolve().parents[2] / "infra"
PROMETHEUS = INFRA / "prometheus"
DASHBOARD = INFRA / "grafana" / "dashboards" / "aura.json"
METRIC = re.compile(r"\baura_[a-z0-9_]+\b")
# The four alerts, by the names the runbook uses.
REQUIRED_ALERTS = {"AuraQueueStuck", "AuraBudgetNearLimit", "AuraAuditVerifyFailing",
                   "AuraWorkerSilent"}
# prometheus_client's TYPE line names a counter with its `_total` already.
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count")}


def _rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())

    def walk(panels: list[dict[str, Any]]) -> list[str]:
        found = []
        for panel in panels:
            found += [t["expr"] for t in panel.get("targets", [])]
            found += walk(panel.get("panels", []))  # panels inside a row
        return found

    return walk(dashboard["panels"])


def _exposed(text: str) -> set[str]:
    """Every sample name `/metrics` has or would have: the samples present, and each declared
    family's sample names (a labelled family with no child yet shows only its TYPE line)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            names |= {family + suffix for suffix in SUFFIXES.get(kind, ("",))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


async def test_every_metric_the_rules_and_the_dashboard_query_is_exposed(
    system: System, api: httpx.AsyncClient
) -> None:
    await verify_audit_once(system)
    response = await api.get("/metrics")
    assert response.status_code == 200
    exposed = _exposed(response.text)
    rules, queries = _rules(), _dashboard_queries()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    wanted: dict[str, set[str]] = {}
    for where, expr in [*((r["alert"], r["expr"]) for r in rules),
                        *((f"dashboard: {q}", q) for q in queries)]:
        names = set(METRIC.findall(expr))
        assert names, f"{where} queries no aura_ metric: {expr}"
        for name in names:
            wanted.setdefault(name, set()).add(where)
    missing = {name: sorted(where) for name, where in wanted.items() if name not in exposed}
    assert not missing, missing
    # The dashboard shows every family the server has, bar the ones only alerts need.
    assert len(wanted) >= 15, sorted(wanted)


def test_the_scrape_configuration_loads_the_rules() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"


needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool is not installed (apt: prometheus)")


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> None:
    done = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    _promtool("check", "rules", "alerts.yml")
    _promtool("test", "rules", "alerts_test.yml")


@needs_promtool
def test_promtool_accepts_the_scrape_configuration(tmp_path: Path) -> None:
    # The credentials file must exist for the check; the shipped path is the server's.
    token = tmp_path / "aura-metrics.token"
    token.write_text("t\n")
    text = (PROMETHEUS / "prometheus.yml").read_text()
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/aura-metrics.token", str(token)))
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    _promtool("check", "config", "prometheus.yml", cwd=tmp_path)


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses recording rules' expressions: one rule per dashboard query.
    rules = [{"record": f"aura_dashboard:query{i}", "expr": q}
             for i, q in enumerate(_dashboard_queries())]
    (tmp_path / "dashboard.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
